"""Assembly: from :class:`~memwarden.app.settings.Settings` to a running whole: the outputs, the
engine with its detectors (the built-in signatures the settings enable, the Falco rules files
they name) and allowlist, and the operations around them (metrics, reload, exit flush).

The command line parses its arguments into a :class:`~memwarden.app.settings.SettingsSource`,
calls :func:`command_settings` and :func:`build_runtime`, and runs a source into
``runtime.engine``; a reload calls :func:`build_detection` again through the rebuild function
given to :class:`~memwarden.app.operations.Operations`. Failures are
:class:`~memwarden.app.settings.ConfigError` or :class:`~memwarden.app.errors.AssemblyError`,
never a command-line exception.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import IO, Any

from memwarden.app.errors import AssemblyError
from memwarden.app.operations import Detection, Operations, defer_early_sighup
from memwarden.app.settings import Settings, SettingsSource
from memwarden.core.text import printable
from memwarden.engine.allowlist import AllowlistError
from memwarden.engine.allowlist import load_for as load_allowlist_for
from memwarden.engine.dispatch import Engine
from memwarden.engine.enforce import EnforceError
from memwarden.engine.enforce import build_policy as build_enforce_policy
from memwarden.enrich import cri
from memwarden.enrich.containers import ContainerResolver, build_resolver
from memwarden.enrich.proctable import ProcessTable
from memwarden.outputs.fanout import Outputs, open_outputs
from memwarden.signatures import BUILTIN_SIGNATURES, UnknownSignatureError, find_signature
from memwarden.signatures import load_builtin as load_builtin_signatures
from memwarden.signatures.base import SignatureSettings

__all__ = ["AssemblyError", "Detection", "Runtime", "build_detection", "build_runtime",
           "command_settings", "signature_settings"]


def command_settings(source: SettingsSource) -> Settings:
    """The settings of a long-running command: a SIGHUP from now on is kept for the reload
    machinery (not the default action, death), then the file and the flags are read. Raises
    :class:`~memwarden.app.settings.ConfigError`."""
    defer_early_sighup()
    return source.load()


def signature_settings(settings: Settings) -> dict[str, SignatureSettings]:
    """Per-signature settings: the origins, and ``enabled: False`` for every built-in
    signature that ``enabled``/``disabled`` turn off. Raises :class:`AssemblyError`."""
    out: dict[str, SignatureSettings] = {}
    for name, origin in settings.origins.items():
        out.setdefault(name, SignatureSettings()).origin = origin
    try:
        chosen = {find_signature(n).metadata.event_name for n in settings.enabled}
        off = {find_signature(n).metadata.event_name for n in settings.disabled}
    except UnknownSignatureError as exc:
        raise AssemblyError(f"--enable/--disable: {exc}") from None
    for cls in BUILTIN_SIGNATURES:
        name = cls.metadata.event_name
        if (chosen and name not in chosen) or name in off:
            out.setdefault(name, SignatureSettings()).enabled = False
    return out


def rule_file_detectors(paths: list[str], err: IO[str]) -> list[Any]:
    """The active rules of these rules files (Falco rules in order, Capsule8 policies, told
    apart by shape); says how many on ``err``, with the load warnings that matter at run time
    (a Capsule8 responseAction that is not enforced)."""
    if not paths:
        return []
    from memwarden.rules.formats import RulesError, load_rule_files

    try:
        loaded = load_rule_files(paths)
    except RulesError as exc:
        raise AssemblyError(str(exc)) from None
    for line in loaded.summary():
        print(f"memwarden: {printable(line)}; 'memwarden rules check' lists them with reasons",
              file=err, flush=True)
    for w in loaded.capsule8.warnings if loaded.capsule8 else ():
        print(f"memwarden: {printable(w)}", file=err, flush=True)
    return loaded.detectors


def build_detection(settings: Settings, err: IO[str] | None = None) -> Detection:
    """Detectors (built-in signatures, then the rules files) and the allowlist in force for them
    (defaults plus ``settings.allowlists``). Raises :class:`AssemblyError`."""
    err = err if err is not None else sys.stderr
    signatures = load_builtin_signatures(signature_settings(settings))
    detectors = [*signatures, *rule_file_detectors(list(settings.rules), err)]
    try:
        allowlist = load_allowlist_for(detectors, settings.allowlists)
        enforce = build_enforce_policy(settings.enforce, settings.enforce_mode, detectors,
                                       allowlist)
    except (AllowlistError, EnforceError) as exc:
        raise AssemblyError(str(exc)) from None
    return Detection(settings, detectors, allowlist, enforce)


def build_process_table(live: bool) -> ProcessTable:
    """The process table every event consults lazily: fed by the stream's fork/exec/exit
    events; live, seeded from /proc first so running processes have their context."""
    table = ProcessTable(live=live)
    if live:
        table.seed_from_proc()
    return table


def open_settings_outputs(settings: Settings) -> Outputs:
    """The outputs the settings name, each in its format; raises :class:`AssemblyError`."""
    try:
        return open_outputs(settings.outputs, settings.format,
                            delivery=settings.output_delivery(), tokens=settings.output_tokens)
    except OSError as exc:
        raise AssemblyError(f"{exc.filename or tuple(settings.outputs)}: cannot write: "
                            f"{exc.strerror}") from None
    except ValueError as exc:  # a bad output spec or format
        raise AssemblyError(str(exc)) from None


@dataclass
class Runtime:
    """What a detecting command runs: the engine, writing to the outputs, and the operations
    (None when not started, e.g. embedded or in tests)."""

    settings: Settings
    engine: Engine
    outputs: Outputs
    operations: Operations | None = None
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    #: container metadata for live findings (None: replay, or ``containers.enabled: false``)
    containers: ContainerResolver | None = None

    def stats(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The counters ``--stats`` prints: the engine's, the outputs' and reloads', then
        ``extra`` (a source's own)."""
        d: dict[str, Any] = self.engine.stats.as_dict()
        table = self.engine.enricher
        if isinstance(table, ProcessTable):
            d.update(table.stats_dict())
        if self.operations is not None:
            d.update(self.operations.stats_extra())
        if self.containers is not None:
            d.update(self.containers.stats.as_dict())
        if extra:
            d.update(extra)
        return d

    def close(self) -> None:
        if self.containers is not None:
            self.containers.close()
        self.outputs.close()


def start_containers(settings: Settings, err: IO[str]) -> ContainerResolver | None:
    """The container metadata resolver of a live command (None when turned off). With no
    runtime socket to ask, it says so once, at the first finding from a container: a host
    without containers starts without a warning."""
    if not settings.containers.enabled:
        return None
    return build_resolver(settings.containers.sockets, wait=settings.containers.wait, err=err,
                          cri_client=cri.CriClient if cri.available() else None)


def build_runtime(settings: Settings, *, source: SettingsSource | None = None,
                  live: bool = False, operations: bool = True,
                  err: IO[str] | None = None) -> Runtime:
    """Open the outputs, build the engine, and (``operations``) start the metrics endpoint,
    SIGHUP reload (re-reading ``source``) and the exit flush. ``live``: the events' timestamps
    are now, so detection latency is observed. Raises :class:`AssemblyError`."""
    err = err if err is not None else sys.stderr
    outputs = open_settings_outputs(settings)
    try:
        detection = build_detection(settings, err)
    except BaseException:
        outputs.close(0.0)
        raise
    containers = start_containers(settings, err) if live else None
    engine = Engine(detection.detectors, sink=outputs, allowlist=detection.allowlist,
                    enricher=build_process_table(live),
                    enrich_finding=containers.enrich if containers is not None else None,
                    complete_event=containers.complete if containers is not None else None)
    engine.enforce = detection.enforce
    runtime = Runtime(settings, engine, outputs, err=err, containers=containers)
    if not operations:
        return runtime

    def rebuild() -> Detection:
        return build_detection(source.load() if source is not None else settings, err)

    ops = Operations(engine, outputs, settings, rebuild, err=err)
    if containers is not None:
        ops.containers = containers.stats.as_dict
    if live:
        outputs.latency = ops.latency  # live timestamps only: recorded ones are in the past
    ops.install_signal_handlers()
    if settings.metrics_addr:
        try:
            ops.start_metrics(settings.metrics_addr)
        except (OSError, ValueError, OverflowError) as exc:
            raise AssemblyError(f"--metrics-addr {settings.metrics_addr}: cannot listen: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    runtime.operations = ops
    return runtime
