"""May this benefit be paid this month? The facts are read (`app.db.facts`), the pure engine in
`app.domain.eligibility` decides, one recipient at a time (`answers`) or ten thousand at once
(`batch`), under the province rules loaded as data (`policies`)."""
