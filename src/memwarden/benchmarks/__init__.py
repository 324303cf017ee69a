"""Benchmarks (run with ``make bench`` or ``memwarden bench``; never part of the test suite)."""
