"""Use cases: load facts, apply the domain rules, persist. Services flush, never commit."""
