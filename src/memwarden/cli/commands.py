"""The ``memwarden`` command.

Exit status: 0 ok; 1 findings were raised and ``--fail-on-finding`` was given (or ``simulate``
had a FAIL); 2 usage or input error (bad option, unreadable file, malformed record with
``--strict``, sensor could not start).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import orjson

from memwarden import __version__
from memwarden.core.event import ORIGINS
from memwarden.engine.allowlist import Allowlist, AllowlistError
from memwarden.engine.allowlist import load_for as load_allowlist_for
from memwarden.engine.dispatch import Engine, Stats
from memwarden.signatures import BUILTIN_SIGNATURES, UnknownSignatureError, find_signature
from memwarden.signatures import load_builtin as load_builtin_signatures
from memwarden.signatures.base import SignatureSettings

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UsageFailure(click.ClickException):
    """A user-facing error: printed as ``memwarden: message``, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ARG002 - click's signature
        click.echo(f"memwarden: {self.format_message()}", err=True)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="memwarden")
def main() -> None:
    """memwarden: detect attacks on memory (/proc/kcore, core dumps, /proc/PID/mem, ptrace).

    Exit status: 0 ok, 1 findings with --fail-on-finding, 2 usage or input error.
    """


# -- shared options ---------------------------------------------------------------------------

def _parse_origins(values: tuple[str, ...]) -> dict[str, SignatureSettings]:
    settings: dict[str, SignatureSettings] = {}
    for item in values:
        name, sep, origin = item.partition("=")
        if not sep or origin not in ORIGINS:
            raise UsageFailure(f"--origin {item!r}: expected NAME=ORIGIN, ORIGIN one of "
                               f"{', '.join(ORIGINS)}")
        try:
            find_signature(name)
        except UnknownSignatureError as exc:
            raise UsageFailure(f"--origin {item!r}: {exc}") from None
        settings.setdefault(name, SignatureSettings()).origin = origin
    return settings


def detection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command that detects shares (replay, run, record)."""

    @click.option("--format", "fmt", type=click.Choice(["tracee", "falco", "table"]),
                  default="tracee", show_default=True,
                  help="How findings are written (outputs without their own FORMAT: prefix).")
    @click.option("--output", "-o", "output", multiple=True, metavar="OUTPUT",
                  help="Where findings go (repeatable; default stdout): stdout, file:PATH (or "
                       "PATH), syslog[:ADDR], http(s)://URL; 'FORMAT:' before it picks its "
                       "own format, e.g. falco:http://127.0.0.1:2801/.")
    @click.option("--config", "config_path", metavar="FILE", default=None,
                  help="Configuration file (default /etc/memwarden/config.yaml if present); "
                       "flags override it; SIGHUP reloads it.")
    @click.option("--metrics-addr", "metrics_addr", metavar="HOST:PORT", default=None,
                  help="Serve Prometheus metrics on http://HOST:PORT/metrics.")
    @click.option("--enable", "enabled", multiple=True, metavar="NAME",
                  help="Run only these signatures (ID or event name; repeatable).")
    @click.option("--disable", "disabled", multiple=True, metavar="NAME",
                  help="Do not run this signature (ID or event name; repeatable).")
    @click.option("--stats", "show_stats", is_flag=True,
                  help="Print counters (events, findings, errors) on stderr at the end.")
    @click.option("--fail-on-finding", is_flag=True, help="Exit with status 1 if anything fired.")
    @click.option("--origin", "origins", multiple=True, metavar="NAME=ORIGIN",
                  help="Per-signature origin: any, host, container, container-init.")
    @click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
                  help="Allowlist YAML merged over the built-in defaults (repeatable; "
                       "'memwarden signatures show NAME' prints what is in force).")
    @click.option("--rules", "rules_files", multiple=True, metavar="FILE",
                  help="Falco rules file, run beside the built-in signatures (repeatable; "
                       "loaded in order, later files modify earlier ones; 'memwarden rules "
                       "check FILE...' lists what runs).")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from memwarden.app.operations import apply_config
        from memwarden.app.settings import ConfigError

        try:  # the config file fills in every flag not given (before anything reads them)
            apply_config(click.get_current_context(), kwargs)
        except ConfigError as exc:
            raise UsageFailure(str(exc)) from None
        # kept in the context for build_engine, so the commands need not pass it along
        click.get_current_context().meta[ALLOWLIST_FILES] = kwargs.pop("allowlist_files", ())
        kwargs.pop("rules_files", None)  # build_engine reads the merged settings' rules
        return func(*args, **kwargs)

    return wrapper


def open_findings_sink(output: tuple[str, ...], fmt: str):
    """The sink of --output/--format; one that cannot be opened exits 2."""
    from memwarden.outputs.sinks import open_sink

    try:
        return open_sink(output, fmt)
    except OSError as exc:
        raise UsageFailure(f"{exc.filename or output}: cannot write: {exc.strerror}") from None
    except ValueError as exc:  # a bad --output spec or format
        raise UsageFailure(str(exc)) from None


def build_engine(origins: tuple[str, ...], sink) -> Engine:
    from memwarden.app import operations
    from memwarden.app.settings import ConfigError

    signatures = load_builtin_signatures(_signature_settings(origins))
    engine = Engine([*signatures, *_falco_rule_detectors()], sink=sink)
    engine.allowlist = load_allowlist(engine.detectors)
    try:  # metrics endpoint, SIGHUP reload, flush on exit (once per command)
        operations.start(engine, sink)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    return engine


def _falco_rule_detectors() -> list:
    """The active rules of the --rules files (or the config's rules:); a bad file exits 2."""
    from memwarden.app.operations import current_settings

    settings = current_settings()
    paths = list(settings.rules) if settings is not None else []
    if not paths:
        return []
    from memwarden.rules.falco import RulesError, load_rules

    try:
        loaded = load_rules(paths)
    except RulesError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo(f"memwarden: Falco rules: {loaded.counts['rules']} rules, "
               f"{loaded.counts['active']} active ({', '.join(paths)}); "
               f"'memwarden rules check' lists them with reasons", err=True)
    return loaded.detectors


def _signature_settings(origins: tuple[str, ...]) -> dict[str, SignatureSettings]:
    """--origin, plus --enable/--disable (or the config's signatures.enabled/disabled)."""
    from memwarden.app.operations import signature_switches

    settings = _parse_origins(origins)
    enabled, disabled = signature_switches()
    try:
        chosen = {find_signature(n).metadata.event_name for n in enabled}
        off = {find_signature(n).metadata.event_name for n in disabled}
    except UnknownSignatureError as exc:
        raise UsageFailure(f"--enable/--disable: {exc}") from None
    for cls in BUILTIN_SIGNATURES:
        name = cls.metadata.event_name
        if (chosen and name not in chosen) or name in off:
            settings.setdefault(name, SignatureSettings()).enabled = False
    return settings


ALLOWLIST_FILES = "memwarden.allowlist_files"


def load_allowlist(detectors) -> Allowlist:
    """Defaults plus the --allowlist files of the current command; a bad file exits 2."""
    ctx = click.get_current_context(silent=True)
    files = ctx.meta.get(ALLOWLIST_FILES, ()) if ctx is not None else ()
    try:
        return load_allowlist_for(detectors, files)
    except AllowlistError as exc:
        raise UsageFailure(str(exc)) from None


def print_stats(stats: Stats, extra: dict[str, Any] | None = None) -> None:
    from memwarden.app import operations

    d = stats.as_dict()
    ops = operations.current()
    if ops is not None:  # per-output counters, detection latency, reloads
        d.update(ops.stats_extra())
    if extra:
        d.update(extra)
    err = click.get_text_stream("stderr")
    err.write("memwarden stats:\n")
    for key, value in d.items():
        if isinstance(value, dict) and not value:
            err.write(f"  {key}: none\n")
        elif isinstance(value, dict):
            err.write(f"  {key}:\n")
            for k, v in value.items():
                err.write(f"    {k}: {v}\n")
        else:
            err.write(f"  {key}: {value}\n")


# -- replay -----------------------------------------------------------------------------------

@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|-...")
@detection_options
@click.option("--strict", is_flag=True, help="Stop at the first malformed record (exit 2).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--source", type=click.Choice(["auto", "tracee", "audit"]), default="auto",
              show_default=True,
              help="Input kind: Tracee JSON lines, or Linux audit logs (auditd's audit.log, "
                   "rotated, gzip); auto tells them apart by the first record.")
def replay(inputs: tuple[str, ...], fmt: str, output: str | None, show_stats: bool,
           fail_on_finding: bool, origins: tuple[str, ...], strict: bool,
           progress: bool | None, source: str) -> None:
    """Run the detections on recorded events: Tracee JSON lines (either shape), memwarden
    recordings or Linux audit logs, plain or gzip; '-' reads stdin."""
    sink = open_findings_sink(output, fmt)
    engine = build_engine(origins, sink)
    if _replay_source(source, inputs, sink) == "audit":
        from memwarden.sources.audit.commands import replay_audit

        extra, error = replay_audit(inputs, engine, strict=strict)
    else:
        extra, error = None, _replay_json(inputs, engine, strict=strict, progress=progress)
    sink.close()
    if show_stats:
        print_stats(engine.stats, extra)
    if error is not None:
        raise UsageFailure(error)
    if fail_on_finding and engine.stats.findings:
        sys.exit(EXIT_FINDINGS)


def _replay_json(inputs: tuple[str, ...], engine: Engine, *, strict: bool,
                 progress: bool | None) -> str | None:
    """Replay Tracee JSON lines files in order; the input error that stopped it, if any."""
    from memwarden.sources.tracee_json import InputError, JsonLinesReplay, input_size

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

                    JsonLinesReplay(path, engine, strict=strict, progress=advance).run()
            else:
                JsonLinesReplay(path, engine, strict=strict).run()
    except InputError as exc:
        return str(exc)
    return None


def _replay_source(source: str, inputs: tuple[str, ...], sink) -> str:
    from memwarden.sources.audit.commands import SourceChoiceError, replay_source_of

    try:
        return replay_source_of(source, inputs)
    except SourceChoiceError as exc:
        sink.close()
        raise UsageFailure(str(exc)) from None


# -- run, record (the live eBPF sensor) -------------------------------------------------------

def sensor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the commands that run the live sensor (run, record)."""

    options = (
        click.option("--duration", type=click.FloatRange(min=0), default=None,
                     metavar="SECONDS",
                     help="Stop after SECONDS (default: until SIGINT or SIGTERM)."),
        click.option("--all-events", is_flag=True,
                     help="Deliver every event of every kind, unfiltered (debugging)."),
        click.option("--hooks", type=click.Choice(["auto", "lsm", "fentry", "tracepoint"]),
                     default="auto", show_default=True,
                     help="How opens are hooked; auto takes the best the kernel allows."),
        click.option("--ring-buffer-mb", type=click.IntRange(1, 1024), default=16,
                     show_default=True, help="Kernel ring buffer size (MiB, a power of two)."),
    )
    for option in reversed(options):  # as stacked decorators would: the first listed first
        func = option(func)
    return func


def _live(engine: Engine, sink, *, duration: float | None, all_events: bool, hooks: str,
          ring_buffer_mb: int, show_stats: bool, recorder=None) -> None:
    from memwarden.sources.ebpf.command import run_live
    from memwarden.sources.ebpf.errors import SensorError
    from memwarden.sources.ebpf.sensor import SensorOptions

    options = SensorOptions(all_events=all_events, hooks=hooks, ring_buffer_mb=ring_buffer_mb)
    try:
        run_live(engine, options=options, duration=duration, show_stats=show_stats,
                 print_stats=print_stats, recorder=recorder)
    except SensorError as exc:
        raise UsageFailure(str(exc)) from None
    finally:
        sink.close()


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
def run(fmt: str, output: str | None, show_stats: bool, fail_on_finding: bool,
        origins: tuple[str, ...], duration: float | None, all_events: bool, hooks: str,
        ring_buffer_mb: int, source: str, audit_input: str) -> None:
    """Watch this host live with eBPF (or audit) and raise findings as they happen (as root).

    Prints 'memwarden: ready (...)' on stderr once attached; SIGINT or SIGTERM stops it
    cleanly (exit 0)."""
    sink = open_findings_sink(output, fmt)
    engine = build_engine(origins, sink)
    if source == "ebpf":
        _live(engine, sink, duration=duration, all_events=all_events, hooks=hooks,
              ring_buffer_mb=ring_buffer_mb, show_stats=show_stats)
    else:
        _live_audit(engine, sink, source=source, audit_input=audit_input, duration=duration,
                    show_stats=show_stats, all_events=all_events, hooks=hooks,
                    ring_buffer_mb=ring_buffer_mb)
    if fail_on_finding and engine.stats.findings:
        sys.exit(EXIT_FINDINGS)


def _live_audit(engine: Engine, sink, *, source: str, audit_input: str,
                duration: float | None, show_stats: bool, **sensor: Any) -> None:
    """``run --source audit`` (or ``auto``: eBPF, and audit if the kernel refuses eBPF)."""
    from memwarden.sources.audit.commands import (
        AuditSourceError,
        LiveOptions,
        run_audit_or_fallback,
    )

    def ebpf() -> None:
        from memwarden.sources.ebpf.command import run_live
        from memwarden.sources.ebpf.sensor import SensorOptions

        run_live(engine, options=SensorOptions(**sensor), duration=duration,
                 show_stats=show_stats, print_stats=print_stats)

    try:
        run_audit_or_fallback(engine, source=source, options=LiveOptions(input=audit_input),
                              duration=duration, run_ebpf=ebpf, show_stats=show_stats,
                              print_stats=print_stats)
    except AuditSourceError as exc:
        raise UsageFailure(str(exc)) from None
    finally:
        sink.close()


@main.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE")
@detection_options
@sensor_options
def record(file: str, fmt: str, output: str | None, show_stats: bool, fail_on_finding: bool,
           origins: tuple[str, ...], duration: float | None, all_events: bool, hooks: str,
           ring_buffer_mb: int) -> None:
    """Like run, and write every event the sensor delivers to FILE (Tracee JSON lines, gzip
    if FILE ends in .gz), for 'memwarden replay'. --all-events records everything."""
    from memwarden.outputs.recording import EventRecorder

    sink = open_findings_sink(output, fmt)
    engine = build_engine(origins, sink)
    try:
        recorder = EventRecorder(file)
    except OSError as exc:
        sink.close()
        raise UsageFailure(f"{file}: cannot write: {exc.strerror}") from None
    _live(engine, sink, duration=duration, all_events=all_events, hooks=hooks,
          ring_buffer_mb=ring_buffer_mb, show_stats=show_stats, recorder=recorder)
    if fail_on_finding and engine.stats.findings:
        sys.exit(EXIT_FINDINGS)


# -- signatures -------------------------------------------------------------------------------

@main.group(context_settings=CONTEXT)
def signatures() -> None:
    """List the built-in signatures and show their documentation."""


@signatures.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable metadata.")
def signatures_list(as_json: bool) -> None:
    """Every built-in signature with its metadata."""
    if as_json:
        rows = []
        for cls in BUILTIN_SIGNATURES:
            d = cls.metadata.as_dict()
            d["Events"] = list(cls.events)
            d["Origin"] = cls.default_origin
            rows.append(d)
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{'ID':<10} {'NAME':<28} {'SEV':<3} {'MITRE':<10} {'EVENTS':<28} DESCRIPTION")
    for cls in BUILTIN_SIGNATURES:
        md = cls.metadata
        click.echo(f"{md.id:<10} {md.event_name:<28} {md.properties.severity:<3} "
                   f"{md.properties.external_id:<10} {','.join(cls.events):<28} {md.name}")


@signatures.command("show")
@click.argument("name")
@click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
              help="Also apply this allowlist file (as run/replay --allowlist would).")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file whose allowlists apply when no --allowlist is given "
                   "(default /etc/memwarden/config.yaml if present).")
def signatures_show(name: str, allowlist_files: tuple[str, ...], config_path: str | None
                    ) -> None:
    """The manual page of one signature (by event name or ID), with the allowlist in force."""
    from memwarden.app.settings import ConfigError, load_settings
    from memwarden.signatures.lib.docs import render

    try:
        cls = find_signature(name)
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    try:  # as for run: --allowlist flags replace the config file's allowlists
        files = allowlist_files or tuple(load_settings(config_path).allowlists)
        allowlist = load_allowlist_for((), files)
    except (AllowlistError, ConfigError) as exc:
        raise UsageFailure(str(exc)) from None
    lines = allowlist.describe(cls.metadata.id, cls.metadata.event_name)
    click.echo(render(cls, allowlist_lines=lines), nl=False)


@signatures.command("docs")
@click.option("--out", "out_dir", default="docs/signatures", show_default=True,
              type=click.Path(file_okay=False))
def signatures_docs(out_dir: str) -> None:
    """Write one markdown page per signature (and an index) into a directory."""
    from pathlib import Path

    from memwarden.signatures.lib.docs import write_all

    defaults = Allowlist.load()  # the pages document the built-in allowlist
    for path in write_all(Path(out_dir), BUILTIN_SIGNATURES, defaults):
        click.echo(str(path))


# -- rules ------------------------------------------------------------------------------------

@main.group("rules", context_settings=CONTEXT)
def rules_group() -> None:
    """Falco-compatible rules files: check them, list the fields, measure them."""


@rules_group.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--quiet-warnings", is_flag=True, help="Do not print the load warnings.")
def rules_check(files: tuple[str, ...], quiet_warnings: bool) -> None:
    """Load Falco rules files in order (as 'run --rules' would) and list every rule: active
    (with the events it runs on) or inactive with the exact reason. Exit status 0 when the
    files load (inactive rules are fine), 2 on a load error ('file:line:col: rule ...')."""
    from memwarden.rules.falco import RulesError, load_rules
    from memwarden.rules.falco.report import render_check

    try:
        loaded = load_rules(files)
    except RulesError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo(render_check(loaded), nl=False)
    if not quiet_warnings:
        for w in loaded.warnings:
            click.echo(str(w), err=True)


@rules_group.command("fields")
def rules_fields() -> None:
    """The Falco fields memwarden fills (from which event data) and those it cannot (why)."""
    from memwarden.rules.falco.fields import field_table

    click.echo(field_table(), nl=False)


@rules_group.command("bench")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--events", default=300_000, show_default=True, help="Events to generate.")
def rules_bench(files: tuple[str, ...], events: int) -> None:
    """Replay throughput with these Falco rules loaded vs the built-in signatures only."""
    from memwarden.benchmarks.rules import run_rules_bench
    from memwarden.rules.falco import RulesError

    try:
        run_rules_bench(list(files), events)
    except RulesError as exc:
        raise UsageFailure(str(exc)) from None


# -- export -----------------------------------------------------------------------------------

@main.group(context_settings=CONTEXT)
def export() -> None:
    """Write other tools' configuration from what the detectors need."""


@export.command("auditd")
@click.option("--output", "-o", "output", metavar="FILE", default=None,
              help="Write the rules to FILE instead of stdout (e.g. "
                   "/etc/audit/rules.d/memwarden.rules).")
@click.option("--signature", "-s", "names", multiple=True, metavar="NAME",
              help="Only this signature (event name or ID; repeatable). Default: all.")
@click.option("--machine", default=None, metavar="ARCH",
              help="Machine the rules are for (x86_64, aarch64, …). Default: this one.")
@click.option("--broad", is_flag=True,
              help="Also load rules that record every call of a syscall (for basenames "
                   "auditd cannot match); costly on busy hosts.")
@click.option("--keep-missing", is_flag=True,
              help="Keep rules on paths missing here (for a file meant for another host).")
def export_auditd(output: str | None, names: tuple[str, ...], machine: str | None,
                  broad: bool, keep_missing: bool) -> None:
    """Audit rules (auditctl -R / augenrules) that make auditd record exactly what the
    signatures need, keyed by signature ID."""
    from memwarden.export.auditd import ExportError, build_rules

    try:
        classes = [find_signature(n) for n in names]
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    detectors = [c() for c in classes] if classes else load_builtin_signatures()
    try:
        ruleset = build_rules(detectors, machine=machine, broad=broad,
                              keep_missing=keep_missing)
    except ExportError as exc:
        raise UsageFailure(str(exc)) from None
    what = ", ".join(d.detector_id for d in detectors)
    text = ruleset.render(what)
    if output in (None, "-"):
        click.echo(text, nl=False)
    else:
        try:
            with open(output, "w") as f:
                f.write(text)
        except OSError as exc:
            raise UsageFailure(f"{output}: cannot write: {exc.strerror}") from None
    for det_id, notes in ruleset.uncovered.items():
        for note in notes:
            click.echo(f"memwarden: {det_id}: not recorded by auditd: {note}", err=True)


# -- simulate ---------------------------------------------------------------------------------

@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--deadline", default=5.0, show_default=True, metavar="SECONDS",
              help="How long each scenario waits for its findings.")
@click.option("--ready-timeout", default=60.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the sensor to attach.")
@click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
              help="Passed to the sensor (memwarden run --allowlist FILE).")
@click.option("--sensor-arg", "sensor_args", multiple=True, metavar="ARG",
              help="Extra argument for 'memwarden run' (repeatable), e.g. "
                   "--sensor-arg=--source --sensor-arg=audit.")
@click.option("--record", "record_file", metavar="FILE", default=None,
              help="Run the sensor as 'memwarden record FILE': keep the live event stream.")
@click.option("--report-json", "report_file", metavar="FILE", default=None,
              help="Also write the results and what each action did as JSON.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
def simulate(names: tuple[str, ...], deadline: float, ready_timeout: float,
             allowlist_files: tuple[str, ...], sensor_args: tuple[str, ...],
             record_file: str | None, report_file: str | None, list_only: bool) -> None:
    """Perform each signature's real trigger, safely, under a live sensor ('memwarden run'),
    and report whether its finding arrived: a PASS/FAIL table, exit status 1 on any FAIL.

    NAME is a signature event name or ID (default: all). Everything the actions create lives
    in private mount namespaces and dies with them; no setting is changed. Needs root.
    """
    import os

    from memwarden.simulate.harness import FAIL, SensorError
    from memwarden.simulate.harness import simulate as run_simulation
    from memwarden.simulate.scenarios import PLANS

    try:
        chosen = [find_signature(n).metadata.event_name for n in names] or [
            c.metadata.event_name for c in BUILTIN_SIGNATURES]
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    chosen = [n for n in dict.fromkeys(chosen) if n in PLANS]
    if list_only:
        from memwarden.simulate.actors import ACTIONS

        for name in chosen:
            doc = " ".join((ACTIONS[name].__doc__ or "").split())
            click.echo(f"{find_signature(name).metadata.id:<10} {name:<26} {doc}")
        return
    if os.geteuid() != 0:
        raise UsageFailure("simulate needs root: it runs the sensor and the real actions "
                           "(mount namespaces, ptrace, /proc/<pid>/mem)")
    sensor = ["record", record_file] if record_file else ["run"]
    cmd = [sys.executable, "-m", "memwarden", *sensor, "--format", "tracee"]
    for f in allowlist_files:
        cmd += ["--allowlist", f]
    cmd += list(sensor_args)
    err = click.get_text_stream("stderr")
    try:
        results = run_simulation(chosen, cmd, deadline, ready_timeout,
                                 click.get_text_stream("stdout"),
                                 progress=lambda line: err.write(
                                     line + "\n" if line.startswith("memwarden:")
                                     else f"memwarden: {line}\n"))
    except SensorError as exc:
        raise UsageFailure(f"simulate: {exc}") from None
    if report_file:
        from memwarden.simulate.harness import results_json

        with open(report_file, "wb") as f:
            f.write(orjson.dumps(results_json(results), option=orjson.OPT_INDENT_2))
    if any(r.status == FAIL for r in results):
        sys.exit(EXIT_FINDINGS)


# -- config, service --------------------------------------------------------------------------

@main.group("config", context_settings=CONTEXT)
def config_group() -> None:
    """The configuration file (/etc/memwarden/config.yaml or --config)."""


@config_group.command("show")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file (default /etc/memwarden/config.yaml if present).")
def config_show(config_path: str | None) -> None:
    """Print the effective configuration (built-in defaults, then the file) as YAML; a bad
    value is an error naming the key."""
    from memwarden.app.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo(settings.to_yaml(), nl=False)


@main.group("service", context_settings=CONTEXT)
def service_group() -> None:
    """Run memwarden as a systemd service."""


@service_group.command("install")
@click.option("--unit-dir", default="/etc/systemd/system", show_default=True,
              type=click.Path(file_okay=False), help="Where the unit file goes.")
@click.option("--config-dir", default="/etc/memwarden", show_default=True,
              type=click.Path(file_okay=False),
              help="Where config.yaml is created if absent (an existing one is kept).")
@click.option("--no-start", is_flag=True, help="Install only; do not enable and start.")
def service_install(unit_dir: str, config_dir: str, no_start: bool) -> None:
    """Install memwarden.service (starts at boot, restarts on failure, logs to the journal,
    'systemctl reload memwarden' re-reads the configuration) and start it."""
    from pathlib import Path

    from memwarden.app.service import ServiceError, install

    try:
        report = install(unit_dir=Path(unit_dir), config_dir=Path(config_dir),
                         start=not no_start)
    except ServiceError as exc:
        raise UsageFailure(str(exc)) from None
    for path in report.written:
        click.echo(f"wrote {path}")
    for path in report.kept:
        click.echo(f"kept {path} (already there)")
    for cmd in report.commands:
        click.echo(f"ran {cmd}")
    if report.note:
        click.echo(f"memwarden: {report.note}", err=True)


# -- bench ------------------------------------------------------------------------------------

@main.command(context_settings=CONTEXT)
@click.option("--events", default=1_000_000, show_default=True, help="Events to generate.")
@click.option("--hit-rate", default=0.01, show_default=True,
              help="Fraction of events that hit a signature.")
@click.option("--audit", "audit", is_flag=True,
              help="Audit-log replay instead (records/s), beside Tracee JSON replay.")
def bench(events: int, hit_rate: float, audit: bool) -> None:
    """Replay throughput: JSON parsing alone vs the full replay with all detectors."""
    if audit:
        from memwarden.benchmarks.audit import run_audit_bench

        run_audit_bench(events, hit_rate)
        return
    from memwarden.benchmarks.replay import run_replay_bench

    run_replay_bench(events, hit_rate)


main.add_command(__import__("memwarden.cli.ui", fromlist=["ui"]).ui)  # memwarden ui (issue 22)


if __name__ == "__main__":  # pragma: no cover
    main()
