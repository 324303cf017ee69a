"""Exports: configuration for other tools derived from what memwarden's detectors need."""
