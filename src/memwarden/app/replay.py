"""Replay glue: which reader a ``replay`` input needs (Tracee JSON lines or Linux audit logs),
and the audit log replay with its counters. The readers themselves live in
:mod:`memwarden.sources`; this module only chooses and runs them for a command."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from memwarden.core.text import EscapedLines
from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.logfile import AuditLogReplay, sniff_is_audit
from memwarden.sources.tracee_json import InputError

__all__ = ["REPLAY_SOURCES", "SourceChoiceError", "replay_audit", "replay_source_of"]

REPLAY_SOURCES = ("auto", "tracee", "audit")


class SourceChoiceError(ValueError):
    """``--source auto`` cannot decide (inputs of both kinds)."""


def replay_source_of(source: str, inputs: Sequence[str]) -> str:
    """``tracee`` or ``audit`` for ``replay --source SOURCE INPUTS``. ``auto`` looks at the
    first record of each input: audit records (``type=… msg=audit(…)``) make it ``audit``,
    anything else keeps the JSON reader (which reports what it cannot read)."""
    if source != "auto":
        return source
    kinds = {path: "audit" if sniff_is_audit(path) else "tracee" for path in inputs}
    if len(set(kinds.values())) > 1:
        audit = [p for p, k in kinds.items() if k == "audit"]
        other = [p for p, k in kinds.items() if k != "audit"]
        raise SourceChoiceError(
            f"inputs mix audit logs ({', '.join(audit)}) and other input "
            f"({', '.join(other)}); replay them separately or choose --source")
    return next(iter(kinds.values()), "tracee")


def replay_audit(inputs: Sequence[str], engine: Engine, *, strict: bool = False,
                 err: IO[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """Replay audit logs into ``engine``: (audit counters, the error that stopped it)."""
    # the audit reader quotes bad records in its messages: each line escaped
    replay = AuditLogReplay(inputs, engine, strict=strict,
                            err=EscapedLines(err or sys.stderr))  # type: ignore[arg-type]
    try:
        replay.run()
    except InputError as exc:
        return replay.stats(), str(exc)
    return replay.stats(), None
