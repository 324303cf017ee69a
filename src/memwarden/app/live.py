"""Running a live source into an engine until told to stop: the eBPF sensor (``run``,
``record``), the audit source (``run --source audit``) and ``auto``, which falls back from the
first to the second when the kernel refuses eBPF. Each starts its source, says
``memwarden: ready (...)`` on stderr, handles SIGINT/SIGTERM as a clean stop, and reports its
counters through the ``print_stats`` it is given. The sources themselves (sensor, audit input)
live in :mod:`memwarden.sources`; this module is the glue a command needs around them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from memwarden.core.text import EscapedLines
from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.live import NETLINK, AuditLive, AuditSourceError, LiveOptions
from memwarden.sources.ebpf.errors import SensorError
from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions

__all__ = ["AuditSourceError", "LiveOptions", "SensorError", "SensorOptions", "rule_warnings",
           "run_audit", "run_audit_or_fallback", "run_ebpf", "start_audit"]

RECORDING_FLUSH_S = 1.0


def run_ebpf(engine: Engine, *, options: SensorOptions, duration: float | None,
             show_stats: bool, print_stats: Callable[..., None],
             recorder: Any | None = None) -> EbpfSensor:
    """Run the sensor until SIGINT, SIGTERM or ``duration``; the sensor is closed on return
    (also on errors). Raises :class:`memwarden.sources.ebpf.errors.SensorError` when it
    cannot start. The caller closes the findings sink."""
    sensor = EbpfSensor(engine, options, on_event=recorder)
    previous: dict[int, Any] = {}
    rfd = wfd = -1
    old_wakeup = -1
    try:
        sensor.start()
        if recorder is not None:
            # only now: a sensor that could not start must leave an old recording alone
            recorder.open()
        # stop (and wake the loop at once) on SIGINT/SIGTERM: drain, report, exit 0
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        os.set_blocking(rfd, False)

        def empty_pipe() -> None:
            try:
                while os.read(rfd, 512):
                    pass
            except BlockingIOError:
                pass

        sensor.add_wakeup_fd(rfd, empty_pipe)
        old_wakeup = signal.set_wakeup_fd(wfd)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: sensor.request_stop())
        print(sensor.ready_line(), file=sys.stderr, flush=True)

        last_flush = [time.monotonic()]

        def tick() -> None:
            if time.monotonic() - last_flush[0] >= RECORDING_FLUSH_S:
                recorder.flush()
                last_flush[0] = time.monotonic()

        sensor.run(duration, on_tick=tick if recorder is not None else None)
        if show_stats:
            extra = sensor.stats()
            if recorder is not None:
                extra["events_recorded"] = recorder.events
            print_stats(engine.stats, extra)
        return sensor
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if old_wakeup != -1 or wfd != -1:
            signal.set_wakeup_fd(old_wakeup)
        sensor.close()
        for fd in (rfd, wfd):
            if fd != -1:
                os.close(fd)
        if recorder is not None:
            recorder.close()


# -- audit -----------------------------------------------------------------------------------

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
    from memwarden.export.auditd import ExportError, build_rules  # only when audit runs

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


def start_audit(engine: Engine, options: LiveOptions, err: IO[str] | None = None) -> AuditLive:
    """Open the live audit input and say so (``memwarden: source: …``, warnings about audit
    state and missing rules). Raises :class:`AuditSourceError` when it cannot start."""
    err = err or sys.stderr
    # the audit source quotes records in its messages: each line escaped
    live = AuditLive(engine, options, err=EscapedLines(err))  # type: ignore[arg-type]
    what = live.start()
    print(f"memwarden: source: {what}", file=err)
    if options.input == NETLINK:
        for warning in rule_warnings(engine.detectors):
            print(f"memwarden: warning: {warning}", file=err)
    return live


def run_audit(engine: Engine, options: LiveOptions, err: IO[str] | None = None,
             duration: float | None = None) -> dict[str, Any]:
    """``memwarden run --source audit``: start, print ``memwarden: ready (…)``, run until
    SIGINT/SIGTERM, EOF on stdin or ``duration``; returns the audit counters."""
    err = err or sys.stderr
    live = start_audit(engine, options, err)

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
        print("memwarden: source auto: starting the eBPF sensor", file=err, flush=True)
        try:
            run_ebpf()
            return
        except SensorError as exc:
            print(f"memwarden: source auto: the eBPF sensor cannot run ({exc}); falling back "
                  "to the audit source", file=err, flush=True)
    elif source != "audit":
        raise ValueError(f"not an audit source: {source!r}")
    stats = run_audit(engine, options, err, duration)
    if show_stats:
        print_stats(engine.stats, stats)
