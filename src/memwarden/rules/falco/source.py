"""Where things are in a rules file: YAML nodes with positions, and condition offsets mapped
back to file lines and columns (through folded and literal blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


def line_col(source: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` in ``source``."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


class Locator:
    """Maps offsets in a scalar's value to (line, col) in the file: the value's non-blank
    characters are matched, in order, against the scalar's text in the file."""

    __slots__ = ("value", "node", "source", "file", "_map")

    def __init__(self, value: str, node: yaml.Node, source: str, file: str = "") -> None:
        self.value = value
        self.node = node
        self.source = source
        self.file = file
        self._map: list[int] | None = None

    def _build(self) -> list[int]:
        start, end = self.node.start_mark.index, self.node.end_mark.index
        raw = self.source[start:end]
        out = []
        j = 0
        for ch in self.value:
            if ch.isspace():
                out.append(-1)
                continue
            k = raw.find(ch, j)
            if k == -1:
                out.append(-1)
                continue
            out.append(start + k)
            j = k + 1
        return out

    def locate(self, offset: int) -> tuple[int, int]:
        if self._map is None:
            self._map = self._build()
        m = self._map
        for i in range(max(0, offset), len(m)):
            if m[i] >= 0:
                return line_col(self.source, m[i])
        mark = self.node.start_mark
        return mark.line + 1, mark.column + 1


@dataclass
class CondText:
    """A condition's text, possibly made of appended pieces, each from its own place."""

    text: str
    pieces: list[tuple[int, Locator | None]] = field(default_factory=list)

    def locate(self, offset: int) -> tuple[int, int]:
        loc = None
        base = 0
        for start, piece in self.pieces:
            if start <= offset:
                loc, base = piece, start
        if loc is None:
            return 0, 0
        return loc.locate(offset - base)

    def file_at(self, offset: int) -> str | None:
        """The file the text at ``offset`` came from (appends may come from later files)."""
        found = None
        for start, piece in self.pieces:
            if start <= offset and piece is not None:
                found = piece.file
        return found or None

    def appended(self, other: CondText) -> CondText:
        shift = len(self.text) + 1
        return CondText(self.text + " " + other.text,
                        self.pieces + [(s + shift, p) for s, p in other.pieces])


def compose_documents(text: str) -> list[yaml.Node]:
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.compose_all(text, Loader=loader_cls))


_CONSTRUCTOR = yaml.SafeLoader("")


def to_python(node: yaml.Node):
    """The plain Python value of a node (scalars typed as YAML 1.1 resolves them)."""
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    finally:
        _CONSTRUCTOR.constructed_objects = {}
        _CONSTRUCTOR.recursive_objects = {}
