"""Capsule8 (Sophos Linux Sensor) policies: load a team's policy files unchanged and run them
as detectors beside the Falco rules and the built-in signatures.

``load_policies(paths)`` reads each file (:mod:`.reader`, with positions), checks and compiles
every policy (:mod:`.compiler`) and returns a :class:`LoadedPolicies`: the compiled policies
(active, or inactive with reasons), the warnings, and the detectors of the active ones. What
is supported and what is not is in docs/capsule8.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from memwarden.rules.capsule8.compiler import CompiledPolicy, PolicyCompiler
from memwarden.rules.capsule8.detector import Capsule8PolicyDetector
from memwarden.rules.capsule8.reader import PolicyReader, compose
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where

__all__ = ["LoadedPolicies", "RulesError", "load_policies", "read_source"]


@dataclass
class LoadedPolicies:
    files: list[str]
    policies: list[CompiledPolicy]
    lists: int
    warnings: list[LoadWarning]
    detectors: list[Capsule8PolicyDetector]

    @property
    def active(self) -> list[CompiledPolicy]:
        return [p for p in self.policies if p.active]


def read_source(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError(Where(str(path)), f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise RulesError(Where(str(path)), f"cannot read: {exc.strerror}") from None


def load_policies(paths: Sequence[str | Path],
                  documents: dict[str, tuple[str, yaml.Node | None]] | None = None
                  ) -> LoadedPolicies:
    """Read, check and compile Capsule8 policy files; raises :class:`RulesError`.

    Lists are visible in the file that defines them; policy names are unique across files
    (they are the detectors' ids). ``documents`` may carry files already read and composed
    (name -> (text, node)) by the format dispatcher.
    """
    warnings: list[LoadWarning] = []
    compiled: list[CompiledPolicy] = []
    seen: dict[str, CompiledPolicy] = {}
    files = [str(p) for p in paths]
    nlists = 0
    for name in files:
        if documents is not None and name in documents:
            source, node = documents[name]
        else:
            source = read_source(name)
            node = compose(name, source)
        pfile = PolicyReader(name, source, warnings).read(node)
        nlists += len(pfile.lists)
        compiler = PolicyCompiler(pfile, warnings)
        for policy in pfile.policies:
            if policy.name in seen:
                first = seen[policy.name].policy.where
                raise RulesError(policy.where, f"policy '{policy.name}' is already defined at "
                                               f"{first.file}:{first.line}:{first.col}")
            c = compiler.compile(policy)
            seen[policy.name] = c
            compiled.append(c)
    detectors = [Capsule8PolicyDetector(c) for c in compiled if c.active]
    return LoadedPolicies(files, compiled, nlists, warnings, detectors)
