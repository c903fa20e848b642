"""The queries of certifications (app/services/certifications/): the rows ingest reads and
writes, on PostgreSQL straight on asyncpg or through SQLAlchemy elsewhere (`ingest`), the
stored records read back, revoked and imported (`records`), and home-visit requests with the
outreach look-up (`home_visits`)."""
