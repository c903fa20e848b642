"""What the service tells others: events written in the same transaction as the change
(`outbox`), delivered to subscribers (`webhooks`, `delivery`) through the egress allow-list
(`egress`)."""
