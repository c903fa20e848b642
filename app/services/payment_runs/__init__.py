"""The monthly answer to the payment system: a run is recorded (`runs`), claimed by a worker
(`queue`), decided page by page (`compute`), by a big run's decision processes on PostgreSQL
(`workers`). What a run reads and stores, and the ledger of earlier runs its back pay is
reconciled against, live in the data layer (`app.db.runs`)."""
