"""Live audit inputs that need no privileges: following a log across rotation, and stdin (the
auditd plugin input). Real files, real threads and processes; no timed assertions (waits poll
for a condition with a generous deadline)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event
from memwarden.core.requirements import Requirements, Selector
from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.live import AuditLive, LineBuffer, LiveOptions, LogFollower


class Recorder:
    detector_id = "TEST-REC"
    requirements = Requirements((Selector("kill"),))

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> Sequence[Any]:
        self.events.append(event)
        return NO_FINDINGS


def kill_event(serial: int, pid: int, proctitle: bool = True) -> str:
    stamp = f"1700000000.{serial:03d}:{serial}"
    lines = [f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=62 success=yes exit=0 "
             f"a0={pid:x} a1=b a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 "
             f'suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="k" exe="/k" '
             f"key=(null)"]
    if proctitle:
        lines.append(f"type=PROCTITLE msg=audit({stamp}): proctitle=6B")
    return "\n".join(lines) + "\n"


def wait_for(cond: Callable[[], bool], what: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def pids(rec: Recorder) -> list[int]:
    return [e.int_arg("pid") for e in rec.events]


def test_line_buffer_keeps_partial_lines() -> None:
    buf = LineBuffer()
    assert buf.push(b"a\nb") == [b"a\n"]
    assert buf.push(b"c\n\nd") == [b"bc\n", b"\n"]
    assert buf.partial == b"d"
    assert buf.push(b"\ra\x1dENRICHED\n") == [b"d\ra\x1dENRICHED\n"]  # only \n ends a line


def test_follower_reads_new_lines_across_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("old line\nhalf of a li")  # auditd in the middle of a line
    opened: list[str] = []
    f = LogFollower(str(log), on_open=opened.append)
    assert f.poll() == ([], b"")  # starts at the end, after the line being written
    with log.open("a") as w:
        w.write("ne\none\ntw")
    assert f.poll() == ([b"one\n"], b"")
    with log.open("a") as w:
        w.write("o\nlast-partial")
    log.rename(tmp_path / "audit.log.1")  # auditd's rotation: rename, then a new file
    assert f.poll() == ([b"two\n"], b"")
    log.write_text("fresh\n")
    lines, left = f.poll()
    assert (lines, left) == ([b"fresh\n"], b"last-partial")
    assert f.rotations == 1 and opened == [str(log), str(log)]
    log.write_text("")  # truncated in place (copytruncate), then less than before written
    with log.open("a") as w:
        w.write("ok\n")
    assert f.poll()[0] == [b"ok\n"]
    f.close()


def test_live_follow_builds_events_across_rotation_and_flushes_by_wall_clock(tmp_path: Path
                                                                             ) -> None:
    log = tmp_path / "audit.log"
    log.write_text(kill_event(1, 100))  # before the start: not read
    rec = Recorder()
    err = io.StringIO()
    live = AuditLive(Engine([rec]), LiveOptions(input=str(log), timeout=0.5), err=err)
    assert live.start() == f"following {log}"
    thread = threading.Thread(target=live.run)
    thread.start()
    try:
        with log.open("a") as w:
            w.write(kill_event(2, 200))
            w.flush()
        wait_for(lambda: pids(rec) == [200], "the first event")
        os.rename(log, tmp_path / "audit.log.1")
        log.write_text(kill_event(3, 300) + kill_event(4, 400, proctitle=False))
        # event 4 never gets its PROCTITLE: flushed after the 0.5 s timeout, reported
        wait_for(lambda: pids(rec) == [200, 300, 400], "events after rotation")
    finally:
        live.stop()
        thread.join(20)
    assert not thread.is_alive()
    stats = live.stats()
    assert stats["audit_log_rotations"] == 1 and stats["audit_events_incomplete"] == 1
    assert f"{log}:3: audit event 1700000000.004:4 incomplete (no end of event after " \
           "0.5 s)" in err.getvalue()


def test_stdin_input_as_an_auditd_plugin(tmp_path: Path) -> None:
    # A child process runs the live source on its stdin, as auditd would start a plugin; it
    # exits when its input closes and prints what it built.
    program = (
        "import sys\n"
        "from memwarden.engine.dispatch import Engine\n"
        "from memwarden.core.requirements import Requirements, Selector\n"
        "class R:\n"
        "    detector_id = 'R'; requirements = Requirements((Selector('kill'),))\n"
        "    def on_event(self, e):\n"
        "        print(e.int_arg('pid'), flush=True); return ()\n"
        "from memwarden.sources.audit.live import AuditLive, LiveOptions\n"
        "live = AuditLive(Engine([R()]), LiveOptions(input='-'))\n"
        "live.start(); live.run(); print('stats', live.stats()['audit_records_malformed'])\n"
    )
    data = (kill_event(1, 11) + "garbage\n" + kill_event(2, 22)).encode()
    r = subprocess.run([sys.executable, "-c", program], input=data, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["11", "22", "stats", "1"]
    assert b"<stdin>:3: not an audit record" in r.stderr
