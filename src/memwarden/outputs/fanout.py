"""The fan-out sink given to the engine: every finding to every output, each output's failure
its own. Also what a reload swaps (:meth:`Outputs.replace`) and what exit flushes
(:meth:`Outputs.close`, bounded)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import IO, Any

from memwarden.core.event import Finding
from memwarden.outputs.base import Delivery, Output
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.registry import OutputSpec, open_output, parse_output


class Outputs:
    """The fan-out sink given to the engine: every finding goes to every output. A failing
    output (disk full, closed pipe) is counted and reported; the others still get the finding.

    ``latency``, when given, observes the time from the event's kernel timestamp to the finding
    having left for every output (live sources only: recorded timestamps are in the past).
    """

    def __init__(self, outputs: Sequence[Output], latency: Any = None,
                 err: IO[str] | None = None) -> None:
        self.outputs: list[Output] = list(outputs)
        self.latency = latency
        self._err = err if err is not None else sys.stderr
        self._reported: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        #: seconds ``close()`` gives the network queues when called without a timeout
        self.flush_timeout = 5.0

    def __call__(self, finding: Finding) -> None:
        for out in self.outputs:
            try:
                out(finding)
            except Exception as exc:  # one broken output never stops the others
                out.counters.add(errors=1, dropped=1)
                if out.name not in self._reported:
                    self._reported.add(out.name)
                    print(f"memwarden: warning: output {out.name}: cannot write a finding "
                          f"({exc}); further failures of it are only counted",
                          file=self._err, flush=True)
        latency = self.latency
        if latency is not None:
            ts = finding.event.timestamp
            if ts:
                latency.observe((time.time_ns() - ts) / 1e9)

    @property
    def counters(self) -> list[OutputCounters]:
        return [o.counters for o in self.outputs]

    def stats(self) -> dict[str, dict[str, int]]:
        return {o.name: o.counters.as_dict() for o in self.outputs}

    def reopen(self) -> None:
        for out in self.outputs:
            out.reopen()

    def replace(self, outputs: Sequence[Output], timeout: float = 5.0) -> None:
        """Swap in a new set of outputs (config reload), then close the old ones."""
        with self._lock:
            old, self.outputs = self.outputs, list(outputs)
        for out in old:
            if out not in self.outputs:
                out.close(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close every output (once); network queues get ``timeout`` seconds in all
        (default: :attr:`flush_timeout`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        for out in self.outputs:
            try:
                out.close(max(0.0, deadline - time.monotonic()))
            except OSError as exc:
                print(f"memwarden: warning: output {out.name}: closing failed: {exc}",
                      file=self._err, flush=True)


def open_outputs(specs: Iterable[str | OutputSpec] | str | None, fmt: str, *,
                 latency: Any = None, delivery: Delivery | None = None,
                 tokens: dict[str, str] | None = None) -> Outputs:
    """Open every output (stdout when none is given) with these delivery options; closes what
    was opened if one fails (``OSError``, :class:`~memwarden.outputs.base.OutputSpecError`).
    ``tokens``: output spec (as written back) -> the bearer token that output sends."""
    delivery = delivery or Delivery()
    if specs is None or isinstance(specs, str):
        specs = (specs,) if specs else ()
    parsed = [s if isinstance(s, OutputSpec) else parse_output(s) for s in specs]
    if not parsed:
        parsed = [parse_output("stdout")]
    opened: list[Output] = []
    try:
        for spec in parsed:
            token = (tokens or {}).get(str(spec))
            opened.append(open_output(spec, fmt, replace(delivery, bearer_token=token)
                                      if token else delivery))
    except BaseException:
        for out in opened:
            out.close(0.0)
        raise
    outputs = Outputs(opened, latency=latency)
    outputs.flush_timeout = delivery.flush_timeout
    return outputs
