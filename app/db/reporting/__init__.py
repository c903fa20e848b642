"""The queries behind what an agency office reads (docs/reporting.md): statistics
(`progress`), the recipients of a region in chunks and the county report's figures
(`regions`), and risk signals (`signals`). They count and filter stored facts and answers;
every rule they filter by comes from `app.domain` (`app.domain.progress.ProgressScope`)."""
