"""The live sensor with every built-in detector raises TRC-1021 for real reads of /proc/kcore,
whichever way the reader names the file, with the reader's process context; a write-only open
is seen by the sensor and raises nothing.

This kernel has no /proc/kcore: each action runs in a private mount namespace where a tmpfs is
mounted on /proc and a file named kcore is created in it. The sensor resolves the opened file
by walking dentries and mounts, so every spelling ends as /proc/kcore.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, args, require_sensor

from memwarden.core.linux_abi import O_ACCMODE, O_RDONLY, O_WRONLY
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

PYTHON = os.path.realpath(sys.executable)
FAKE_KCORE = "mount -t tmpfs none /proc && echo fake > /proc/kcore"


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor()
    live = LiveSensor(load_builtin()).start()
    yield live
    live.stop()


def in_private_ns(body: str, tmp: Path) -> tuple[int, int]:
    """Run ``body`` in a private mount namespace (unshare execs the shell, so its parent is
    this process); the body prints the shell's pid (``echo $$``) and execs its last command,
    the reader. Returns (pid, start ns)."""
    start = time.time_ns()
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       capture_output=True, text=True, timeout=60, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[0]), start


def reader_finding(sensor: LiveSensor, pid: int):
    found = sensor.wait_for(f"TRC-1021 for pid {pid}",
                            lambda: sensor.findings_of(pid, "TRC-1021"))
    assert len(found) == 1, found
    return found[0]


def assert_context(f, pid: int, comm: str, exe: str, start: int) -> None:
    ev = f.event
    d = ev.data
    assert d["eventName"] == "security_file_open"
    assert (d["hostProcessId"], d["hostThreadId"], d["processId"], d["threadId"]) == (pid,) * 4
    assert d["hostParentProcessId"] == os.getpid()  # unshare exec'ed the shell: our child
    assert d["parentProcessId"] == os.getpid()
    assert d["processName"] == comm
    assert d["executable"]["path"] == exe
    assert d["userId"] == os.getuid() == 0
    # the private mount namespace, the host's pid namespace
    assert d["mountNamespace"] != os.stat("/proc/self/ns/mnt").st_ino
    assert d["pidNamespace"] == os.stat("/proc/self/ns/pid").st_ino
    assert d["cgroupId"] > 0
    assert d["containerId"] == "" and not d["contextFlags"]["containerStarted"]
    assert start <= d["timestamp"] <= time.time_ns()
    assert d["threadStartTime"] <= d["timestamp"]
    assert d["returnValue"] >= 0
    a = args(ev)
    assert a["pathname"] == "/proc/kcore"
    assert a["flags"] & O_ACCMODE == O_RDONLY
    assert a["inode"] > 0 and a["dev"] > 0 and a["ctime"] > 0


def test_absolute_path(sensor: LiveSensor, tmp_path: Path) -> None:
    pid, start = in_private_ns(f"{FAKE_KCORE} && echo $$ && exec cat /proc/kcore", tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, "cat", "/usr/bin/cat", start)
    assert f.event.data["syscall"] == "openat"
    assert args(f.event)["syscall_pathname"] == "/proc/kcore"
    assert f.metadata.event_name == "proc_kcore_read"


def test_relative_path_from_proc(sensor: LiveSensor, tmp_path: Path) -> None:
    pid, start = in_private_ns(f"{FAKE_KCORE} && cd /proc && echo $$ && exec cat kcore",
                               tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, "cat", "/usr/bin/cat", start)
    assert args(f.event)["syscall_pathname"] == "kcore"


def test_symlink(sensor: LiveSensor, tmp_path: Path) -> None:
    link = tmp_path / "innocent-looking"
    pid, start = in_private_ns(f"{FAKE_KCORE} && ln -s /proc/kcore {link} && echo $$ && "
                               f"exec cat {link}", tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, "cat", "/usr/bin/cat", start)
    assert args(f.event)["syscall_pathname"] == str(link)


def test_dot_dot_and_doubled_slashes(sensor: LiveSensor, tmp_path: Path) -> None:
    pid, start = in_private_ns(f"{FAKE_KCORE} && echo $$ && exec cat /proc/../proc//./kcore",
                               tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, "cat", "/usr/bin/cat", start)


def test_openat2(sensor: LiveSensor, tmp_path: Path) -> None:
    code = ("import ctypes, struct, sys; libc = ctypes.CDLL(None, use_errno=True); "
            "how = struct.pack('QQQ', 0, 0, 0); "
            "fd = libc.syscall(437, -100, b'/proc/kcore', how, len(how)); "
            "sys.exit(0 if fd >= 0 else 1)")
    pid, start = in_private_ns(f"{FAKE_KCORE} && echo $$ && exec {PYTHON} -c "
                               f"{shlex.quote(code)}", tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, Path(PYTHON).name[:15], PYTHON, start)
    assert f.event.data["syscall"] == "openat2"


def test_proc_self_root(sensor: LiveSensor, tmp_path: Path) -> None:
    # /proc is a tmpfs here, so the real procfs is mounted aside and the reader's own pid
    # directory bound onto /proc/self: /proc/self/root is then the magic link to its root
    real = tmp_path / "realproc"
    real.mkdir()
    body = (f"mount -t proc proc {real} && {FAKE_KCORE} && mkdir /proc/self && "
            f"mount --bind {real}/$$ /proc/self && echo $$ && "
            "exec cat /proc/self/root/proc/kcore")
    pid, start = in_private_ns(body, tmp_path)
    f = reader_finding(sensor, pid)
    assert_context(f, pid, "cat", "/usr/bin/cat", start)
    assert args(f.event)["syscall_pathname"] == "/proc/self/root/proc/kcore"


def test_write_only_open_is_seen_and_does_not_fire(sensor: LiveSensor, tmp_path: Path) -> None:
    code = "import os; os.close(os.open('/proc/kcore', os.O_WRONLY))"
    pid, _ = in_private_ns(f"{FAKE_KCORE} && echo $$ && exec {PYTHON} -c {shlex.quote(code)}",
                           tmp_path)
    # the sensor delivered the open (the filter is on the path, not on the flags) ...
    opens = sensor.wait_for(
        "the write-only open", lambda: [e for e in sensor.events_of(pid, "security_file_open")
                                        if args(e)["pathname"] == "/proc/kcore"])
    assert args(opens[0])["flags"] & O_ACCMODE == O_WRONLY
    # ... and the detector, having seen it, raised nothing
    sensor.settle()
    assert sensor.findings_of(pid, "TRC-1021") == []
