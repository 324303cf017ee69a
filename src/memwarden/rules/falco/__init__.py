"""Falco-compatible rules: load Falco rules files as they are and run them as detectors.

``load_rules(paths)`` reads the files in order (later ones modify earlier ones), compiles every
rule and returns a :class:`LoadedRules`: the compiled rules (active or inactive, with reasons),
the warnings, and the detectors of the active ones for the engine.

The package only re-exports (from ``ruleset`` and ``errors``); no module inside it imports
the package, so importing any one of them never runs a cycle.
"""

from __future__ import annotations

from memwarden.rules.falco.errors import RulesError
from memwarden.rules.falco.ruleset import LoadedRules, load_rules

__all__ = ["LoadedRules", "RulesError", "load_rules"]
