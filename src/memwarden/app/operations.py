"""What a long-running command does besides detecting: the metrics endpoint, SIGHUP reload, and
flushing the outputs on SIGTERM/SIGINT/exit.

:class:`Operations` is handed the engine, its outputs, the settings they were built from and a
*rebuild* function (re-read the settings, build detectors and allowlist from them); it knows
nothing of how either is assembled (:mod:`memwarden.app.runtime` does that) nor of the command
line.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from memwarden.app.errors import AssemblyError
from memwarden.app.metrics import LatencyHistogram, MemwardenCollector, MetricsServer
from memwarden.app.settings import ConfigError, Settings
from memwarden.core.text import printable
from memwarden.core.threads import start_daemon
from memwarden.outputs.base import OutputSpecError
from memwarden.outputs.fanout import Outputs, open_outputs


@dataclass(frozen=True)
class Detection:
    """The detectors and allowlist built from one set of settings: what a reload swaps in."""

    settings: Settings
    detectors: list[Any]
    allowlist: Any
    enforce: Any = None  # memwarden.engine.enforce.EnforcePolicy (--enforce)


#: re-reads the settings and builds their detectors; raises ConfigError or AssemblyError
Rebuild = Callable[[], Detection]

_early_sighup = threading.Event()


def defer_early_sighup() -> None:
    """Until the reload machinery is up, a SIGHUP (``systemctl reload`` right after start)
    must not kill the process (its default action): remember it, reload once ready."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        signal.signal(signal.SIGHUP, lambda *_: _early_sighup.set())

#: how long a reload waits for a live source to put the new detectors' filters in force
FILTERS_PUSH_TIMEOUT = 5.0


class Operations:
    """Per-command services around one engine and its fan-out sink."""

    def __init__(self, engine: Any, outputs: Outputs | None, settings: Settings,
                 rebuild: Rebuild, err: IO[str] | None = None) -> None:
        self.engine = engine
        self.outputs = outputs
        self.settings = settings
        self._rebuild = rebuild
        self.err = err if err is not None else sys.stderr
        self.latency = LatencyHistogram()
        self.metrics: MetricsServer | None = None
        self.reloads = 0
        self.reload_failures = 0
        self._wake = threading.Event()
        self._reload_lock = threading.Lock()
        self._self_wakes = 0  # SIGHUPs we sent ourselves to wake the main thread
        self._thread: threading.Thread | None = None
        #: a running source's own counters (a NATS consumer), for the metrics endpoint
        self.sources: list[Callable[[], dict[str, Any]]] = []
        #: the container resolver's counters (set by the assembly of a live command)
        self.containers: Callable[[], dict[str, int]] | None = None

    # -- metrics ----------------------------------------------------------------------------
    def start_metrics(self, addr: str) -> None:
        collector = MemwardenCollector(
            stats=lambda: self.engine.stats, outputs=lambda: self.outputs,
            latency=self.latency,
            extra=lambda: {"config_reloads": self.reloads,
                           "config_reload_failures": self.reload_failures},
            sources=lambda: self.sources,
            containers=lambda: self.containers() if self.containers is not None else None)
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
        self._thread = start_daemon(threading.Thread(target=self._reload_loop,
                                                     name="memwarden-reload"))
        signal.signal(signal.SIGHUP, self._on_sighup)
        if _early_sighup.is_set():  # one came while starting: the file may have changed
            _early_sighup.clear()
            self._wake.set()
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if self.outputs is not None:
            outputs = self.outputs
            timeout = self.settings.delivery.flush_timeout
            atexit.register(lambda: outputs.close(timeout))

    def _on_sighup(self, signum: int, frame: Any) -> None:
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
        """Runs for the life of the process: one failed reload, of whatever kind, is reported
        and counted by :meth:`reload`; nothing that happens in it may end this loop, or every
        later SIGHUP would be ignored, even once the file is fixed."""
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.reload()
            except Exception as exc:  # reporting itself failed: keep going
                self.reload_failures += 1
                with contextlib.suppress(Exception):
                    print(f"memwarden: reload failed: {printable(f'{type(exc).__name__}: {exc}')}",
                          file=self.err, flush=True)

    def reload(self) -> bool:
        """Re-read the config file, rebuild the detectors and allowlists, reopen or replace
        the outputs, and swap them in; on any error keep everything as it was and say why."""
        with self._reload_lock:
            try:
                summary = self._reload()
            except (ConfigError, AssemblyError, OutputSpecError, OSError, ValueError) as exc:
                self._failed(str(exc))
                return False
            except Exception as exc:  # a bug or an unforeseen input: say which
                # what the readers did not foresee (a library error, a bug) must not end
                # reloading either: the old configuration stays, the next SIGHUP tries again
                self._failed(f"{type(exc).__name__}: {exc}")
                return False
            self.reloads += 1
            print(f"memwarden: reloaded configuration: {printable(summary)}", file=self.err,
                  flush=True)
            return True

    def _failed(self, why: str) -> None:
        self.reload_failures += 1
        print(f"memwarden: reload failed, keeping the previous configuration: {printable(why)}",
              file=self.err, flush=True)

    def _reload(self) -> str:
        old = self.settings
        fresh = self._rebuild()
        settings = fresh.settings
        new_outputs = None
        if self.outputs is not None and (settings.outputs != old.outputs
                                         or settings.format != old.format
                                         or settings.output_delivery() != old.output_delivery()
                                         or settings.output_tokens != old.output_tokens):
            try:
                new_outputs = open_outputs(settings.outputs, settings.format,
                                           latency=self.outputs.latency,
                                           delivery=settings.output_delivery(),
                                           tokens=settings.output_tokens)
            except OSError as exc:
                raise ConfigError(f"{settings.source}: outputs: {exc.filename}: cannot "
                                  f"open: {exc.strerror}") from None
        # everything is built: swap (the sensor writes the enforcement policy with the filters
        # of the new detector set)
        self.engine.enforce = fresh.enforce
        self.engine.replace_detectors(fresh.detectors)
        self.engine.allowlist = fresh.allowlist
        self._wake_main_thread()
        # "reloaded" means in force: a live sensor has rewritten its kernel filters by then
        if not self.engine.filters_pushed.wait(FILTERS_PUSH_TIMEOUT):
            print("memwarden: warning: the new detectors' kernel filters are not in place yet "
                  f"after {FILTERS_PUSH_TIMEOUT:g} s", file=self.err, flush=True)
        if new_outputs is not None and self.outputs is not None:
            self.outputs.replace(new_outputs.outputs, old.delivery.flush_timeout)
        elif self.outputs is not None:
            self.outputs.reopen()
        self.settings = settings
        return (f"{len(fresh.detectors)} detectors, "
                f"{len(self.outputs.outputs) if self.outputs else 0} outputs "
                f"(config: {settings.source or 'none'})")


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # SystemExit unwinds the command, and atexit flushes the outputs (bounded)
    raise SystemExit(128 + signal.SIGTERM)
