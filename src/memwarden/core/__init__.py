"""The types every pipeline stage shares: events, findings, detector requirements, metadata.

Imports nothing of memwarden's outside this package."""
