"""Path filters compiled into one test: the engine gates recorded events with it, the sensor
compiles the same filters into BPF maps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from memwarden.core.requirements import PathFilter


class PathSet:
    """A compiled set of path filters: one set lookup, one startswith and one endswith call
    over tuples, whatever the number of filters. The sensor compiles the same filters into BPF
    maps; the engine uses this to reject recorded events the same way."""

    __slots__ = ("exact", "prefixes", "suffixes", "basenames")

    def __init__(self, filters: Sequence[PathFilter]) -> None:
        self.exact = frozenset(f.value for f in filters if f.kind == "exact")
        self.prefixes = tuple(sorted({f.value for f in filters if f.kind == "prefix"}))
        self.suffixes = tuple(sorted({f.value for f in filters if f.kind == "suffix"}))
        self.basenames = frozenset(f.value for f in filters if f.kind == "basename")

    def matches(self, path: str) -> bool:
        if path in self.exact:
            return True
        if self.prefixes and path.startswith(self.prefixes):
            return True
        if self.suffixes and path.endswith(self.suffixes):
            return True
        return bool(self.basenames) and path[path.rfind("/") + 1:] in self.basenames

    def test_constants(self) -> dict[str, Any]:
        """The constants :meth:`test_expression` refers to."""
        return {
            "_pfx": self.prefixes,
            "_sfx": tuple(sorted(set(self.suffixes) | {"/" + b for b in self.basenames})),
            "_whole": self.exact | self.basenames,
        }

    def test_expression(self, var: str) -> str:
        """A Python expression equivalent to ``matches(var)`` over :meth:`test_constants`
        (basenames are the suffixes ``/b``, or the whole of a path without a slash)."""
        c = self.test_constants()
        parts = []
        if c["_sfx"]:
            parts.append(f"{var}.endswith(_sfx)")
        if c["_pfx"]:
            parts.append(f"{var}.startswith(_pfx)")
        if c["_whole"]:
            parts.append(f"{var} in _whole")
        return " or ".join(parts) or "False"

    def compile(self) -> Callable[[str], bool]:
        """A closure equivalent to :meth:`matches`: :meth:`test_expression` compiled once
        (the engine inlines the same expression into its path gates)."""
        return eval(
            f"lambda path: {self.test_expression('path')}", self.test_constants())
