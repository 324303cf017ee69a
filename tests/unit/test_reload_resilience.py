"""A failed reload, of any kind, is reported and counted, keeps the previous configuration, and
leaves reloading working: the reload thread must survive whatever the rebuild raises (issue 12,
class 7). The thread is the real one, woken as SIGHUP wakes it."""

from __future__ import annotations

import io
import signal
import threading
import time

import pytest
import yaml

from memwarden.app.operations import Detection, Operations
from memwarden.app.settings import Settings

WAIT = 10.0


@pytest.fixture(autouse=True)
def sighup_ignored() -> object:
    """A successful reload wakes the main thread with SIGHUP (the sensor's loop): here, a
    no-op handler instead of the default action (death)."""
    previous = signal.signal(signal.SIGHUP, lambda *_: None)
    yield
    signal.signal(signal.SIGHUP, previous)


class FakeEngine:
    def __init__(self) -> None:
        self.detectors: list[object] = []
        self.allowlist: object = None
        self.filters_pushed = threading.Event()  # no live sensor: always in force
        self.filters_pushed.set()

    def replace_detectors(self, detectors: list[object]) -> None:
        self.detectors = list(detectors)


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.parametrize("failure", [
    RuntimeError("a bug"), KeyError("missing"), TypeError("bad type"),
    yaml.reader.ReaderError("x", 3, 7, "utf-8", "special characters are not allowed"),
    RecursionError("deep"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
])
def test_the_reload_thread_survives_any_failure_and_the_fix_then_applies(
        failure: Exception) -> None:
    err = io.StringIO()
    engine = FakeEngine()
    attempts: list[str] = []
    fail = [True]

    def rebuild() -> Detection:
        attempts.append("x")
        if fail[0]:
            raise failure
        return Detection(Settings(), ["fixed"], "allow")

    ops = Operations(engine, None, Settings(), rebuild, err=err)
    thread = threading.Thread(target=ops._reload_loop, daemon=True)
    thread.start()
    ops._wake.set()  # what SIGHUP does
    wait_for(lambda: ops.reload_failures == 1, "the failure to be counted")
    assert thread.is_alive()
    assert "reload failed, keeping the previous configuration" in err.getvalue()
    assert type(failure).__name__ in err.getvalue() or str(failure) in err.getvalue()
    assert engine.detectors == []  # the old configuration is kept

    fail[0] = False  # the file is fixed
    ops._wake.set()
    wait_for(lambda: ops.reloads == 1, "the second reload")
    assert engine.detectors == ["fixed"] and engine.allowlist == "allow"
    assert thread.is_alive() and ops.reload_failures == 1


def test_a_failing_error_stream_does_not_end_the_loop() -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError(5, "EIO")

    calls = []

    def rebuild() -> Detection:
        calls.append(1)
        raise RuntimeError("bad")

    ops = Operations(FakeEngine(), None, Settings(), rebuild, err=Broken())
    thread = threading.Thread(target=ops._reload_loop, daemon=True)
    thread.start()
    ops._wake.set()
    wait_for(lambda: ops.reload_failures >= 1, "the failure")
    ops._wake.set()
    wait_for(lambda: len(calls) == 2, "a second attempt")
    assert thread.is_alive()
