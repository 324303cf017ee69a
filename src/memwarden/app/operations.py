"""What a long-running command does besides detecting: the config file laid under the flags,
the metrics endpoint, SIGHUP reload, and flushing the outputs on SIGTERM/SIGINT/exit.

The shared options of ``replay``/``run``/``record`` call :func:`apply_config` before the
command runs, and ``build_engine`` calls :func:`start` once the engine exists, so the commands
themselves need not know about any of this.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from typing import IO, Any

import click

from memwarden.app.metrics import LatencyHistogram, MemwardenCollector, MetricsServer
from memwarden.app.settings import FLAG_OF, ConfigError, Settings, load_settings, merge_flags
from memwarden.outputs.sinks import Outputs, OutputSpecError, open_outputs

# ctx.meta keys
CONFIG_PATH = "memwarden.config_path"
FILE_SETTINGS = "memwarden.file_settings"
GIVEN_FLAGS = "memwarden.given_flags"
SETTINGS = "memwarden.settings"
OPERATIONS = "memwarden.app.operations"
RELOADING = "memwarden.reloading"

_GIVEN_SOURCES = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT,
                  click.core.ParameterSource.PROMPT)


def _param_for(ctx: click.Context, flag: str) -> click.Parameter | None:
    for p in ctx.command.params:
        if flag in getattr(p, "opts", ()):
            return p
    return None


def apply_config(ctx: click.Context, kwargs: dict[str, Any]) -> Settings:
    """Read the config file (``--config``, ``$MEMWARDEN_CONFIG`` or the default path) and put
    its values into ``kwargs`` wherever the flag was not given on the command line. Pops the
    options the commands do not take themselves (``--config``, ``--metrics-addr``,
    ``--enable``, ``--disable``) into ``ctx.meta``. Raises :class:`ConfigError`."""
    _defer_early_sighup()
    config_path = kwargs.pop("config_path", None)
    file_settings = load_settings(config_path)
    given: dict[str, Any] = {}
    defaults = Settings()
    for name, (flag, value_of) in FLAG_OF.items():
        param = _param_for(ctx, flag)
        if param is None or param.name not in kwargs:
            if value_of(file_settings) != value_of(defaults):
                key = {"enabled": "signatures.enabled", "disabled": "signatures.disabled",
                       "origins": "signatures.origins", "metrics_addr": "metrics.addr"
                       }.get(name, name)
                raise ConfigError(f"{file_settings.source}: {key}: not supported by "
                                  f"'memwarden {ctx.command.name}' ({flag} is not one of its "
                                  f"options)")
            continue
        if ctx.get_parameter_source(param.name) in _GIVEN_SOURCES:  # type: ignore[arg-type]
            given[name] = kwargs[param.name]  # type: ignore[index]
        else:
            kwargs[param.name] = value_of(file_settings)  # type: ignore[index]
    settings = merge_flags(file_settings, given)
    ctx.meta[CONFIG_PATH] = config_path
    ctx.meta[FILE_SETTINGS] = file_settings
    ctx.meta[GIVEN_FLAGS] = given
    ctx.meta[SETTINGS] = settings
    for popped in ("metrics_addr", "enabled", "disabled"):
        kwargs.pop(popped, None)
    return settings


_early_sighup = threading.Event()


def _defer_early_sighup() -> None:
    """Until the reload machinery is up, a SIGHUP (``systemctl reload`` right after start)
    must not kill the process (its default action): remember it, reload once ready."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        signal.signal(signal.SIGHUP, lambda *_: _early_sighup.set())


def current_settings() -> Settings | None:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(SETTINGS) if ctx is not None else None


def signature_switches() -> tuple[list[str], list[str]]:
    """(enabled, disabled) signature names of the current command."""
    s = current_settings()
    return (list(s.enabled), list(s.disabled)) if s is not None else ([], [])


class Operations:
    """Per-command services around one engine and its fan-out sink."""

    def __init__(self, ctx: click.Context, engine: Any, outputs: Outputs | None,
                 err: IO[str] | None = None) -> None:
        self.ctx = ctx
        self.engine = engine
        self.outputs = outputs
        self.err = err if err is not None else sys.stderr
        self.latency = LatencyHistogram()
        self.metrics: MetricsServer | None = None
        self.reloads = 0
        self.reload_failures = 0
        self._wake = threading.Event()
        self._reload_lock = threading.Lock()
        self._self_wakes = 0  # SIGHUPs we sent ourselves to wake the main thread
        self._thread: threading.Thread | None = None

    # -- metrics ----------------------------------------------------------------------------
    def start_metrics(self, addr: str) -> None:
        collector = MemwardenCollector(
            stats=lambda: self.engine.stats, outputs=lambda: self.outputs,
            latency=self.latency,
            extra=lambda: {"config_reloads": self.reloads,
                           "config_reload_failures": self.reload_failures})
        self.metrics = MetricsServer(addr, collector)
        print(f"memwarden: metrics on http://{self.metrics.host}:{self.metrics.port}/metrics",
              file=self.err, flush=True)

    def stats_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.outputs is not None:
            extra["outputs"] = {name: " ".join(f"{k}={v}" for k, v in c.items())
                                for name, c in self.outputs.stats().items()}
        if self.latency.count:
            extra["detection_latency"] = self.latency.as_dict()
        if self.reloads or self.reload_failures:
            extra["config_reloads"] = self.reloads
            extra["config_reload_failures"] = self.reload_failures
        return extra

    # -- reload -----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._thread = threading.Thread(target=self._reload_loop, name="memwarden-reload",
                                        daemon=True)
        self._thread.start()
        signal.signal(signal.SIGHUP, self._on_sighup)
        if _early_sighup.is_set():  # one came while starting: the file may have changed
            _early_sighup.clear()
            self._wake.set()
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if self.outputs is not None:
            outputs = self.outputs
            settings = self.ctx.meta.get(SETTINGS)
            timeout = settings.delivery.flush_timeout if settings else 5.0
            atexit.register(lambda: outputs.close(timeout))

    def _on_sighup(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal API
        if self._self_wakes:
            self._self_wakes -= 1
            return
        self._wake.set()

    def _wake_main_thread(self) -> None:
        """Interrupt the main thread's wait (the live sensor's epoll has the signal wake-up
        fd; a blocking read gets EINTR and resumes) so that it sees the new detectors at once:
        the sensor then rewrites its kernel filters for them."""
        if threading.main_thread().ident is None:
            return
        self._self_wakes += 1
        signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)  # type: ignore[arg-type]

    def _reload_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.reload()

    def reload(self) -> bool:
        """Re-read the config file, rebuild the detectors and allowlists, reopen or replace
        the outputs, and swap them in; on any error keep everything as it was and say why."""
        with self._reload_lock:
            try:
                summary = self._reload()
            except (ConfigError, OutputSpecError, click.ClickException, OSError,
                    ValueError) as exc:
                self.reload_failures += 1
                msg = exc.format_message() if isinstance(exc, click.ClickException) else exc
                print(f"memwarden: reload failed, keeping the previous configuration: {msg}",
                      file=self.err, flush=True)
                return False
            self.reloads += 1
            print(f"memwarden: reloaded configuration: {summary}", file=self.err, flush=True)
            return True

    def _reload(self) -> str:
        from memwarden.cli import commands as cli

        meta = self.ctx.meta
        old: Settings = meta[SETTINGS]
        file_settings = load_settings(meta[CONFIG_PATH])
        settings = merge_flags(file_settings, meta[GIVEN_FLAGS])
        saved = {k: meta.get(k) for k in (SETTINGS, cli.ALLOWLIST_FILES, RELOADING)}
        try:
            with self.ctx:
                meta[SETTINGS] = settings
                meta[cli.ALLOWLIST_FILES] = tuple(settings.allowlists)
                meta[RELOADING] = True
                fresh = cli.build_engine(tuple(f"{k}={v}" for k, v in settings.origins.items()),
                                         None)
        except BaseException:
            meta.update(saved)
            raise
        meta[RELOADING] = saved[RELOADING]
        new_outputs = None
        if self.outputs is not None and (settings.outputs != old.outputs
                                         or settings.format != old.format
                                         or settings.delivery != old.delivery
                                         or settings.output_tokens != old.output_tokens):
            d = settings.delivery
            try:
                new_outputs = open_outputs(settings.outputs, settings.format,
                                           latency=self.outputs.latency,
                                           queue_size=d.queue_size, retries=d.retries,
                                           timeout=d.timeout, flush_timeout=d.flush_timeout,
                                           tokens=settings.output_tokens)
            except OSError as exc:
                raise ConfigError(f"{file_settings.source}: outputs: {exc.filename}: cannot "
                                  f"open: {exc.strerror}") from None
        # everything is built: swap
        self.engine.replace_detectors(fresh.detectors)
        self.engine.allowlist = getattr(fresh, "allowlist", None)
        self._wake_main_thread()
        if new_outputs is not None and self.outputs is not None:
            self.outputs.replace(new_outputs.outputs, old.delivery.flush_timeout)
        elif self.outputs is not None:
            self.outputs.reopen()
        meta[FILE_SETTINGS] = file_settings
        return (f"{len(fresh.detectors)} detectors, "
                f"{len(self.outputs.outputs) if self.outputs else 0} outputs "
                f"(config: {file_settings.source or 'none'})")


def _exit_on_sigterm(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal API
    # SystemExit unwinds the command, and atexit flushes the outputs (bounded)
    raise SystemExit(128 + signal.SIGTERM)


def start(engine: Any, sink: Any) -> Operations | None:
    """Called by ``build_engine``: metrics, reload, exit flush for the current command (once;
    not for the engine a reload builds, nor outside a command)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.meta.get(RELOADING) or SETTINGS not in ctx.meta:
        return None
    outputs = sink if isinstance(sink, Outputs) else None
    ops = Operations(ctx, engine, outputs)
    settings: Settings = ctx.meta[SETTINGS]
    if outputs is not None and ctx.command.name == "run":
        outputs.latency = ops.latency  # live timestamps only: recorded ones are in the past
    ops.install_signal_handlers()
    if settings.metrics_addr:
        try:
            ops.start_metrics(settings.metrics_addr)
        except OSError as exc:
            raise ConfigError(f"--metrics-addr {settings.metrics_addr}: cannot listen: "
                              f"{exc.strerror or exc}") from None
    ctx.meta[OPERATIONS] = ops
    return ops


def current() -> Operations | None:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(OPERATIONS) if ctx is not None else None

