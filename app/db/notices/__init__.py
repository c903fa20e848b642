"""Queries of what the service tells others (app/services/notices): outbox events and their
fan-out (`outbox`), webhook subscriptions and their listings (`webhooks`), and the delivery
worker's claims and outcomes (`deliveries`)."""
