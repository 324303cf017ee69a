"""Enrichers: what the kernel cannot say about an event, looked up off the hot path."""
