"""Persistence: engine and sessions, typed models."""
