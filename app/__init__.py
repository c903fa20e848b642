"""certsvc: benefit-eligibility (survival) certification service."""
