"""Proof of life, from arrival to storage: a certification request is parsed (`request`),
checked against the channel rules (`acceptance`, the rules in app.domain.acceptance), judged
item by item (`judging`), stored exactly once with its evidence (`ingest`, `exactly_once`,
`store`), and read back (`reading`). Legacy files (`imports`) and home visits (`home_visits`)
enter through the same store. The queries are in app.db.certifications."""
