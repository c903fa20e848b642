"""The monthly answer to the payment system: a run is recorded (`runs`), claimed by a worker
(`queue`), computed span by span (`compute`, `workers`) on PostgreSQL (`postgresql`) or any
database (`portable`), and reconciled against earlier runs (`ledger`)."""
