"""Who may call the service and what they did: API clients and their keys (`clients`), the
append-only audit trail every write leaves (`audit`)."""
