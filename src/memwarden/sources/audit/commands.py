"""What the ``memwarden`` commands do with audit: kept here so that cli.py stays a thin layer."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.live import NETLINK, AuditLive, AuditSourceError, LiveOptions
from memwarden.sources.audit.logfile import AuditLogReplay, sniff_is_audit
from memwarden.sources.tracee_json import InputError

__all__ = ["AuditSourceError", "LiveOptions", "REPLAY_SOURCES", "SourceChoiceError",
           "replay_audit", "replay_source_of", "rule_warnings", "run_audit_or_fallback",
           "run_live", "start_live"]

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
    replay = AuditLogReplay(inputs, engine, strict=strict, err=err or sys.stderr)
    try:
        replay.run()
    except InputError as exc:
        return replay.stats(), str(exc)
    return replay.stats(), None


# -- live ------------------------------------------------------------------------------------

RULES_HINT = ("memwarden export auditd -o /etc/audit/rules.d/memwarden.rules && "
              "augenrules --load")


def loaded_rule_keys(timeout: float = 10.0) -> set[str] | None:
    """The keys of the audit rules loaded in the kernel (``auditctl -l``); None when they
    cannot be listed."""
    try:
        proc = subprocess.run(["auditctl", "-l"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    keys: set[str] = set()
    for line in proc.stdout.splitlines():
        words = line.split()
        for i, word in enumerate(words):
            if word.startswith("key="):
                keys.add(word[4:])
            elif word == "-k" and i + 1 < len(words):
                keys.add(words[i + 1])
    return keys


def rule_warnings(detectors: Sequence[Any]) -> list[str]:
    """What the loaded audit rules fail to record for ``detectors`` (by rule key)."""
    from memwarden.export.auditd import ExportError, build_rules

    try:
        ruleset = build_rules(detectors)
    except ExportError as exc:
        return [str(exc)]
    expected = {k for rule in ruleset.rules if not rule.disabled for k in rule.keys}
    if not expected:
        return []
    keys = loaded_rule_keys()
    if keys is None:
        return ["cannot list the loaded audit rules (auditctl -l); make sure memwarden's are "
                f"loaded: {RULES_HINT}"]
    missing = sorted(expected - keys)
    if not missing:
        return []
    return [f"no loaded audit rule has the key {', '.join(missing)}: unless rules of your own "
            "record the same syscalls, those detectors see nothing. Load memwarden's rules: "
            + RULES_HINT]


def start_live(engine: Engine, options: LiveOptions, err: IO[str] | None = None) -> AuditLive:
    """Open the live audit input and say so (``memwarden: source: …``, warnings about audit
    state and missing rules). Raises :class:`AuditSourceError` when it cannot start."""
    err = err or sys.stderr
    live = AuditLive(engine, options, err=err)
    what = live.start()
    print(f"memwarden: source: {what}", file=err)
    if options.input == NETLINK:
        for warning in rule_warnings(engine.detectors):
            print(f"memwarden: warning: {warning}", file=err)
    return live


def run_live(engine: Engine, options: LiveOptions, err: IO[str] | None = None,
             duration: float | None = None) -> dict[str, Any]:
    """``memwarden run --source audit``: start, print ``memwarden: ready (…)``, run until
    SIGINT/SIGTERM, EOF on stdin or ``duration``; returns the audit counters."""
    err = err or sys.stderr
    live = start_live(engine, options, err)

    def ready() -> None:
        print(f"memwarden: ready (source: audit; {live.description})", file=err, flush=True)

    live.run(duration, on_ready=ready)
    return live.stats()


def run_audit_or_fallback(engine: Engine, *, source: str, options: LiveOptions,
                          duration: float | None, run_ebpf: Callable[[], None],
                          show_stats: bool, print_stats: Callable[..., None],
                          err: IO[str] | None = None) -> None:
    """``memwarden run --source audit|auto``. ``auto`` runs the eBPF sensor (``run_ebpf``)
    and falls back to the audit source, saying why, when the kernel refuses it. Raises
    :class:`AuditSourceError` when the audit source cannot start either."""
    err = err or sys.stderr
    if source == "auto":
        from memwarden.sources.ebpf.errors import SensorError

        print("memwarden: source auto: starting the eBPF sensor", file=err, flush=True)
        try:
            run_ebpf()
            return
        except SensorError as exc:
            print(f"memwarden: source auto: the eBPF sensor cannot run ({exc}); falling back "
                  "to the audit source", file=err, flush=True)
    elif source != "audit":
        raise ValueError(f"not an audit source: {source!r}")
    stats = run_live(engine, options, err, duration)
    if show_stats:
        print_stats(engine.stats, stats)
