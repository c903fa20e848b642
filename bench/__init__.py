"""Benchmarks and their data generator; run by hand, never part of the test suite."""
