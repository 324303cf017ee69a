"""Load errors and warnings of Falco rules files: every one names file, line, column and item."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a rules file (1-based line and column) and the item it belongs to."""

    file: str
    line: int = 0
    col: int = 0
    kind: str = ""  # rule, macro, list, exception, required_engine_version, ...
    name: str = ""

    def prefix(self) -> str:
        pos = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        item = f" {self.kind} '{self.name}'" if self.kind and self.name else (
            f" {self.kind}" if self.kind else "")
        return f"{pos}:{item}:" if item else f"{pos}:"

    def at(self, line: int, col: int) -> Where:
        return Where(self.file, line, col, self.kind, self.name)


class RulesError(Exception):
    """A rules file cannot be loaded: ``file:line:col: rule 'X': what``."""

    def __init__(self, where: Where, message: str) -> None:
        super().__init__(f"{where.prefix()} {message}")
        self.where = where
        self.message = message


class ConditionSyntaxError(ValueError):
    """A condition does not parse; ``offset`` is the character index in the condition."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class LoadWarning:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where.prefix()} warning: {self.message}"
