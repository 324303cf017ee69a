"""Enrichers: what the engine's events learn beyond their own record (the process table)."""
