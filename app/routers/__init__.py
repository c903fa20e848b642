"""HTTP routes: thin, one resource per module."""
