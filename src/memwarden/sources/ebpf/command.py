"""What ``memwarden run`` and ``memwarden record`` do once their options are parsed: start the
sensor, say ``ready``, process events until told to stop, clean up, report."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from memwarden.engine.dispatch import Engine
from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions

RECORDING_FLUSH_S = 1.0


def run_live(engine: Engine, *, options: SensorOptions, duration: float | None,
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
