"""The queries behind what an agency office reads (docs/reporting.md): statistics
(`progress`), risk signals (`signals`) and the county report's own figures (`county`); the
recipients of a region, a chunk at a time, are app/db/regions.py. They count and filter
stored facts and answers; every rule they filter by comes from `app.domain`
(`app.domain.progress.ProgressScope`)."""
