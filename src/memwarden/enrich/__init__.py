"""Enrichers: what an event or a finding learns beyond its own record, looked up off the hot
path: the process table (proctable.py) and container metadata from the runtime (containers.py)."""
