"""The detecting commands: ``replay`` (recorded events), ``run`` (the live sensor) and
``record`` (run, keeping the event stream). Each parses its options, builds its runtime through
:mod:`memwarden.app` and runs one source into its engine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from memwarden.app.replay import REPLAY_SOURCES
from memwarden.app.runtime import Runtime
from memwarden.app.settings import Settings, SettingsSource
from memwarden.cli.group import CONTEXT, EXIT_FINDINGS, UsageFailure, main, seconds
from memwarden.cli.options import detection_options, open_runtime, print_stats, stats_printer
from memwarden.engine.dispatch import Engine

# -- replay -----------------------------------------------------------------------------------

@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|-...")
@detection_options
@click.option("--strict", is_flag=True, help="Stop at the first malformed record (exit 2).")
@click.option("--prefilter/--no-prefilter", default=None,
              help="Tracee JSON: skip, before parsing, the lines whose bytes prove that no "
                   "detector can want them (counted as events_prefiltered; never with "
                   "--strict). Default: on when Hyperscan is installed (the 'fast' extra).")
@click.option("--scan-process/--no-scan-process", default=None,
              help="Prefiltered Tracee JSON: read, decompress and scan the input in a second "
                   "process while this one parses and detects. Default: with two CPUs or "
                   "more, for a file of 4 MiB or more (not a pipe: there a reload reaches "
                   "the next event).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--source", type=click.Choice(list(REPLAY_SOURCES)), default="auto",
              show_default=True,
              help="Input kind: Tracee JSON lines, or Linux audit logs (auditd's audit.log, "
                   "rotated, gzip); auto tells them apart by the first record.")
@click.option("--duration", type=seconds(), default=None, metavar="SECONDS",
              help="nats:// input: stop after SECONDS (default: until SIGINT or SIGTERM).")
def replay(inputs: tuple[str, ...], settings: Settings, settings_source: SettingsSource,
           fail_on_finding: bool, strict: bool, prefilter: bool | None,
           scan_process: bool | None, progress: bool | None, source: str,
           duration: float | None) -> None:
    """Run the detections on recorded events: Tracee JSON lines (either shape), memwarden
    recordings or Linux audit logs, plain or gzip; '-' reads stdin. A
    nats://HOST:PORT/SUBJECT?durable=NAME input consumes events from NATS JetStream, sharing
    the stream with every process of the same durable name (docs/fleet.md)."""
    from memwarden.app.fleet import is_nats_url

    runtime = open_runtime(settings, settings_source)
    engine = runtime.engine
    if any(is_nats_url(i) for i in inputs):
        if len(inputs) != 1:
            runtime.close()
            raise UsageFailure("a nats:// input is replayed alone")
        from memwarden.app.fleet import replay_nats

        extra, error = replay_nats(inputs[0], runtime, duration=duration)
    else:
        kind, order = _replay_source(source, inputs, runtime)
        if kind == "audit":
            from memwarden.app.replay import replay_audit

            extra, error = replay_audit(inputs, engine, strict=strict, order=order)
        else:
            extra, error = None, _replay_json(inputs, engine, strict=strict,
                                              progress=progress, prefilter=prefilter,
                                              scan_process=scan_process)
    runtime.close()
    if settings.stats:
        print_stats(runtime, extra)
    if error is not None:
        raise UsageFailure(error)
    if fail_on_finding and engine.stats.findings:
        sys.exit(EXIT_FINDINGS)


def _replay_json(inputs: tuple[str, ...], engine: Engine, *, strict: bool,
                 progress: bool | None, prefilter: bool | None = None,
                 scan_process: bool | None = None) -> str | None:
    """Replay Tracee JSON lines files in order; the input error that stopped it, if any."""
    from memwarden.sources.tracee_json import (
        InputError,
        JsonLinesReplay,
        discard_handed_on,
        input_size,
    )

    show_progress = progress if progress is not None else sys.stderr.isatty()
    try:
        for path in inputs:
            size = input_size(path) if show_progress else None
            if size:
                with click.progressbar(length=size, label=path, file=sys.stderr) as bar:
                    done = [0]

                    def advance(pos: int, bar=bar, done=done) -> None:
                        bar.update(pos - done[0])
                        done[0] = pos

                    JsonLinesReplay(path, engine, strict=strict, progress=advance,
                                    prefilter=prefilter, scan_process=scan_process).run()
            else:
                JsonLinesReplay(path, engine, strict=strict, prefilter=prefilter,
                                scan_process=scan_process).run()
    except InputError as exc:
        return str(exc)
    finally:
        discard_handed_on()  # what a strict stop left unread
    return None


def _replay_source(source: str, inputs: tuple[str, ...], runtime: Runtime
                   ) -> tuple[str, bool]:
    """The reader the inputs need, each opened once (see open_replay_inputs)."""
    from memwarden.app.replay import SourceChoiceError, open_replay_inputs

    try:
        return open_replay_inputs(source, inputs)
    except SourceChoiceError as exc:
        runtime.close()
        raise UsageFailure(str(exc)) from None


# -- run, record (the live eBPF sensor) -------------------------------------------------------

def sensor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the commands that run the live sensor (run, record)."""

    options = (
        click.option("--duration", type=seconds(), default=None,
                     metavar="SECONDS",
                     help="Stop after SECONDS (default: until SIGINT or SIGTERM)."),
        click.option("--all-events", is_flag=True,
                     help="Deliver every event of every kind, unfiltered (debugging)."),
        click.option("--hooks", type=click.Choice(["auto", "lsm", "fentry", "tracepoint"]),
                     default="auto", show_default=True,
                     help="How opens are hooked; auto takes the best the kernel allows."),
        click.option("--ring-buffer-mb", type=click.IntRange(1, 1024), default=16,
                     show_default=True, help="Kernel ring buffer size (MiB, a power of two)."),
        click.option("--enforce", "enforce", multiple=True, metavar="NAME",
                     help="Kill the process in the kernel, before its syscall returns, when "
                          "this signature fires (ID or event name; repeatable; "
                          "docs/enforcement.md)."),
        click.option("--dry-run-enforce", "enforce_mode", is_flag=True, default=None,
                     help="With --enforce: report action=would_kill, kill nothing."),
    )
    for option in reversed(options):  # as stacked decorators would: the first listed first
        func = option(func)
    return func


def _live(runtime: Runtime, *, duration: float | None, all_events: bool, hooks: str,
          ring_buffer_mb: int, recorder: Any = None) -> None:
    from memwarden.app.live import SensorError, SensorOptions, run_ebpf

    options = SensorOptions(all_events=all_events, hooks=hooks, ring_buffer_mb=ring_buffer_mb)
    try:
        run_ebpf(runtime.engine, options=options, duration=duration,
                 show_stats=runtime.settings.stats, print_stats=stats_printer(runtime),
                 recorder=recorder)
    except SensorError as exc:
        raise UsageFailure(str(exc)) from None
    except OSError as exc:  # the recording could not be created, once the sensor ran
        if recorder is None:
            raise
        raise UsageFailure(f"{recorder.path}: cannot write: {exc.strerror}") from None
    finally:
        runtime.close()


@main.command(context_settings=CONTEXT)
@detection_options
@sensor_options
@click.option("--source", type=click.Choice(["ebpf", "audit", "auto"]), default="ebpf",
              show_default=True,
              help="Where events come from: the eBPF sensor, the Linux audit subsystem, or "
                   "eBPF with a fallback to audit when the kernel refuses eBPF.")
@click.option("--audit-input", default="netlink", show_default=True,
              metavar="netlink|FILE|-",
              help="With --source audit/auto: the kernel's audit multicast stream (beside "
                   "auditd), an audit log to follow across rotation, or '-' (stdin, as an "
                   "auditd plugin).")
def run(settings: Settings, settings_source: SettingsSource, fail_on_finding: bool,
        duration: float | None, all_events: bool, hooks: str, ring_buffer_mb: int,
        source: str, audit_input: str) -> None:
    """Watch this host live with eBPF (or audit) and raise findings as they happen (as root).

    Prints 'memwarden: ready (...)' on stderr once attached; SIGINT or SIGTERM stops it
    cleanly (exit 0)."""
    if settings.enforce and source != "ebpf":
        raise UsageFailure(f"--enforce needs the eBPF sensor (--source ebpf): the audit "
                           f"source sees a syscall only after it returned, and cannot kill "
                           f"(not --source {source})")
    runtime = open_runtime(settings, settings_source, live=True)
    if source == "ebpf":
        _live(runtime, duration=duration, all_events=all_events, hooks=hooks,
              ring_buffer_mb=ring_buffer_mb)
    else:
        _live_audit(runtime, source=source, audit_input=audit_input, duration=duration,
                    all_events=all_events, hooks=hooks, ring_buffer_mb=ring_buffer_mb)
    if fail_on_finding and runtime.engine.stats.findings:
        sys.exit(EXIT_FINDINGS)


def _live_audit(runtime: Runtime, *, source: str, audit_input: str, duration: float | None,
                **sensor: Any) -> None:
    """``run --source audit`` (or ``auto``: eBPF, and audit if the kernel refuses eBPF)."""
    from memwarden.app.live import (
        AuditSourceError,
        LiveOptions,
        SensorOptions,
        run_audit_or_fallback,
        run_ebpf,
    )

    engine, show_stats, printer = runtime.engine, runtime.settings.stats, stats_printer(runtime)

    def ebpf() -> None:
        run_ebpf(engine, options=SensorOptions(**sensor), duration=duration,
                 show_stats=show_stats, print_stats=printer)

    try:
        run_audit_or_fallback(engine, source=source, options=LiveOptions(input=audit_input),
                              duration=duration, run_ebpf=ebpf, show_stats=show_stats,
                              print_stats=printer)
    except AuditSourceError as exc:
        raise UsageFailure(str(exc)) from None
    finally:
        runtime.close()


@main.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE")
@detection_options
@sensor_options
def record(file: str, settings: Settings, settings_source: SettingsSource,
           fail_on_finding: bool, duration: float | None, all_events: bool, hooks: str,
           ring_buffer_mb: int) -> None:
    """Like run, and write every event the sensor delivers to FILE (Tracee JSON lines, gzip
    if FILE ends in .gz), for 'memwarden replay'. --all-events records everything. FILE may be
    nats://HOST:PORT/SUBJECT: the events are published to NATS JetStream in batches, for
    'memwarden replay nats://...' elsewhere (docs/fleet.md)."""
    from memwarden.app.fleet import is_nats_url
    from memwarden.outputs.recording import EventRecorder

    recorder = EventRecorder(file, settings.file_mode)  # created once the sensor runs
    try:
        if not is_nats_url(file):
            recorder.check()
    except OSError as exc:
        raise UsageFailure(f"{file}: cannot write: {exc.strerror}") from None
    # live, as for run: the process table is seeded from /proc, so the context of processes
    # older than the sensor is known (and, for nats://, forwarded with the events)
    runtime = open_runtime(settings, settings_source, live=True)
    if is_nats_url(file):
        from memwarden.app.fleet import open_event_forwarder

        try:
            recorder = open_event_forwarder(file, runtime)
        except ValueError as exc:  # a bad nats:// address, nats-py missing
            runtime.close()
            raise UsageFailure(str(exc)) from None
        except OSError as exc:
            runtime.close()
            raise UsageFailure(f"{file}: cannot write: {exc.strerror or exc}") from None
    _live(runtime, duration=duration, all_events=all_events, hooks=hooks,
          ring_buffer_mb=ring_buffer_mb, recorder=recorder)
    if fail_on_finding and runtime.engine.stats.findings:
        sys.exit(EXIT_FINDINGS)
