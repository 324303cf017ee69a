"""Shared helpers of the built-in signatures (paths, signals, bounded state, doc pages)."""
