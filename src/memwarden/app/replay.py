"""Replay glue: which reader a ``replay`` input needs (Tracee JSON lines or Linux audit logs),
and the audit log replay with its counters. The readers themselves live in
:mod:`memwarden.sources`; this module only chooses and runs them for a command."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from typing import IO, Any

from memwarden.core.text import EscapedLines
from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.logfile import AuditLogReplay, looks_like_audit
from memwarden.sources.tracee_json import (
    InputError,
    OpenedInput,
    discard_handed_on,
    hand_on,
    open_sniffed,
)

__all__ = ["REPLAY_SOURCES", "SourceChoiceError", "open_replay_inputs", "replay_audit",
           "replay_source_of"]

REPLAY_SOURCES = ("auto", "tracee", "audit")


class SourceChoiceError(ValueError):
    """``--source auto`` cannot decide (inputs of both kinds)."""


def replay_source_of(source: str, inputs: Sequence[str]) -> str:
    """``tracee`` or ``audit`` for ``replay --source SOURCE INPUTS``, each input opened once
    (:func:`open_replay_inputs`); the streams wait for the reader. Raises
    :class:`SourceChoiceError` (and then keeps nothing open)."""
    return open_replay_inputs(source, inputs)[0]


def open_replay_inputs(source: str, inputs: Sequence[str]) -> tuple[str, bool]:
    """(``tracee`` or ``audit``, whether audit logs may be ordered by their first record).

    Every input is opened once and read up to its first non-blank line, which ``auto``
    looks at: audit records (``type=… msg=audit(…)``) make it ``audit``, anything else keeps
    the JSON reader (which reports what it cannot read). The open streams, first line kept,
    are handed on to the reader (:func:`~memwarden.sources.tracee_json.hand_on`): a FIFO, a
    pipe, a socket or stdin cannot be opened or read again. Ordering rotated audit logs reads
    each one's first records once more, so it is only done when every input is a regular
    file (which can be); those are then read from a fresh open."""
    opened: list[OpenedInput] = []
    kinds: dict[str, str] = {}
    for path in inputs:
        try:
            one = open_sniffed(path)
        except InputError:  # the reader reports it, in its place
            kinds.setdefault(path, "tracee" if source == "auto" else source)
            continue
        opened.append(one)
        if source == "auto":
            kinds.setdefault(path, "audit" if looks_like_audit(one.head) else "tracee")
    if source == "auto" and len(set(kinds.values())) > 1:
        for one in opened:
            one.close()
        audit = [p for p, k in kinds.items() if k == "audit"]
        other = [p for p, k in kinds.items() if k != "audit"]
        raise SourceChoiceError(
            f"inputs mix audit logs ({', '.join(audit)}) and other input "
            f"({', '.join(other)}); replay them separately or choose --source")
    kind = source if source != "auto" else next(iter(kinds.values()), "tracee")
    order = kind == "audit" and len(inputs) > 1 and all(_regular(p) for p in inputs)
    for one in opened:
        if order:
            one.close()  # regular files: ordering and reading open them again, unchanged
        else:
            hand_on(one)
    return kind, order


def _regular(path: str) -> bool:
    try:
        return path != "-" and stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def replay_audit(inputs: Sequence[str], engine: Engine, *, strict: bool = False,
                 err: IO[str] | None = None, order: bool = True
                 ) -> tuple[dict[str, Any], str | None]:
    """Replay audit logs into ``engine``: (audit counters, the error that stopped it).
    ``order``: oldest first by their first records (regular files only: see
    :func:`open_replay_inputs`)."""
    # the audit reader quotes bad records in its messages: each line escaped
    replay = AuditLogReplay(inputs, engine, strict=strict, order=order,
                            err=EscapedLines(err or sys.stderr))  # type: ignore[arg-type]
    try:
        replay.run()
    except InputError as exc:
        return replay.stats(), str(exc)
    finally:
        discard_handed_on()
    return replay.stats(), None
