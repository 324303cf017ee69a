"""The engine: detectors indexed by event name, path gates, counters, allowlist."""

from memwarden.engine.dispatch import Engine, FindingSink, Stats

__all__ = ["Engine", "FindingSink", "Stats"]
