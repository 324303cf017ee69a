"""io_uring, live (the "curing" rootkit's trick): files opened and read, renamed, linked and
removed with io_uring requests (``csrc/uring_actor.c``, built with liburing here) make none of
the syscalls whose tracepoints the sensor hooks; its io_uring programs see them and produce the
same events, so TRC-1021 and TRC-1023 fire with the submitting process as the actor, also when
an io worker thread (``iou-wrk-N``, IOSQE_ASYNC) ran the open.

This kernel has no /proc/kcore: the reads of it run in a private mount namespace where a tmpfs
is mounted on /proc with a file named kcore in it (as in test_live_ebpf_kcore.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, build_actor, require_sensor

from memwarden.core.requirements import PathFilter
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

FAKE_KCORE = "mount -t tmpfs none /proc && echo fake > /proc/kcore"
CHANGE_EVENTS = ("security_inode_unlink", "security_inode_rename", "security_inode_link")
#: a process with a readable address: a bytes object's (CPython's id() is its address)
VICTIM = "import signal; b = b'x' * 64; print(hex(id(b)), flush=True); signal.pause()"


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="memwarden-uring-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def actor(work: Path) -> Path:
    disabled = Path("/proc/sys/kernel/io_uring_disabled")
    if disabled.exists() and disabled.read_text().strip() != "0":
        pytest.skip("io_uring is disabled here (kernel.io_uring_disabled)")
    exe = build_actor("uring_actor.c", work, "-luring", needs="liburing-dev")
    r = subprocess.run([str(exe), "openat", str(exe)], capture_output=True, text=True,
                       timeout=30)
    if r.stdout.strip() != "ok":
        pytest.skip(f"io_uring refused here: {r.stderr}")
    return exe


@pytest.fixture(scope="module")
def watched(work: Path) -> Path:
    d = work / "watched"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def sensor(actor: Path, watched: Path) -> Iterator[LiveSensor]:
    require_sensor()
    needs = Needs(CHANGE_EVENTS, [PathFilter(n, "prefix", f"{watched}/") for n in CHANGE_EVENTS],
                  detector_id="TEST-WATCHED-DIR")
    live = LiveSensor([*load_builtin(), needs]).start()
    yield live
    live.stop()


def run(*cmd: str | Path, ok: bool = True) -> int:
    """Run an actor to its end; its pid."""
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out, err = p.communicate(timeout=60)
    assert (p.returncode == 0 and out.strip() == "ok") == ok, (cmd, out, err)
    return p.pid


def assert_uring(event) -> None:
    d = event.data
    assert d["syscall"] == "io_uring_enter"
    assert d["processName"] == "uring_actor"  # the process's name, also from an iou-wrk thread
    assert d["contextFlags"]["isCompat"] is False


@pytest.mark.parametrize("how", ["openat", "openat2", "async", "sqpoll", "direct",
                                 "directalloc"])
def test_io_uring_read_of_kcore_raises_trc_1021(sensor: LiveSensor, actor: Path,
                                                how: str) -> None:
    """IORING_OP_OPENAT, OPENAT2, OPENAT with IOSQE_ASYNC (run by an io worker thread), on an
    IORING_SETUP_SQPOLL ring (submitted by its SQ thread, no io_uring_enter), and into the
    ring's fixed file table (a direct descriptor: slot 2, or one the kernel allocates), which
    leaves the fd table alone, then IORING_OP_READ: TRC-1021 once, with the submitting
    process."""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"{FAKE_KCORE} && echo $$ && exec {actor} {how} /proc/kcore"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split()[-1] == "ok", r
    pid = int(r.stdout.split()[0])
    [f] = sensor.wait_for(f"TRC-1021 for pid {pid}", lambda: sensor.findings_of(pid, "TRC-1021"))
    assert_uring(f.event)
    a = args(f.event)
    assert a["pathname"] == "/proc/kcore"
    assert f.event.data["returnValue"] >= 0
    assert f.event.data["executable"]["path"] == str(actor)
    if how in ("async", "sqpoll"):
        assert f.event.data["hostThreadId"] != pid  # an io thread of the process ran it
    sensor.settle()  # the shell (same pid) made the fake kcore: its open is not counted
    assert len([e for e in sensor.events_of(pid, "security_file_open")
                if e.data["processName"] == "uring_actor"]) == 1


def test_io_uring_read_of_a_siblings_memory_raises_trc_1023(sensor: LiveSensor,
                                                            actor: Path) -> None:
    victim = subprocess.Popen([sys.executable, "-c", VICTIM], stdout=subprocess.PIPE, text=True)
    try:
        addr = victim.stdout.readline().strip()  # type: ignore[union-attr]
        pid = run(actor, "async", f"/proc/{victim.pid}/mem", addr)
        [f] = sensor.wait_for(f"TRC-1023 for pid {pid}",
                              lambda: sensor.findings_of(pid, "TRC-1023"))
        assert_uring(f.event)
        assert args(f.event)["pathname"] == f"/proc/{victim.pid}/mem"
        assert f.data["target_pid"] == victim.pid
    finally:
        victim.kill()
        victim.wait()


def test_io_uring_read_of_its_own_memory_is_quiet(sensor: LiveSensor, actor: Path) -> None:
    """The near miss: /proc/self/mem opened by io_uring (in an io worker thread, whose
    /proc/self is still its process) is delivered and raises nothing."""
    pid = run(actor, "async", "/proc/self/mem", "own")
    ev = sensor.wait_for("the open of its own mem",
                         lambda: sensor.events_of(pid, "security_file_open"))
    assert_uring(ev[0])
    assert args(ev[0])["pathname"] == f"/proc/{pid}/mem"
    sensor.settle()
    assert sensor.findings_of(pid) == []


def test_io_uring_rename_link_unlink_under_a_watched_directory(sensor: LiveSensor, actor: Path,
                                                               watched: Path,
                                                               work: Path) -> None:
    """IORING_OP_RENAMEAT, LINKAT and UNLINKAT under a watched directory are delivered with
    absolute paths once they succeeded; a failed one and the same elsewhere are not."""
    (watched / "a").write_text("x")
    renamer = run(actor, "rename", watched / "a", watched / "b")
    linker = run(actor, "link", watched / "b", watched / "c")
    unlinker = run(actor, "unlink", watched / "b")
    failed = run(actor, "unlink", watched / "missing", ok=False)
    other = work / "other"
    other.mkdir(exist_ok=True)
    (other / "a").write_text("x")
    quiet = [run(actor, "rename", other / "a", other / "b"), run(actor, "unlink", other / "b")]
    [ren] = sensor.wait_for("the rename", lambda: sensor.events_of(
        renamer, "security_inode_rename"))
    assert (args(ren)["old_path"], args(ren)["new_path"]) == (f"{watched}/a", f"{watched}/b")
    [lnk] = sensor.wait_for("the link", lambda: sensor.events_of(
        linker, "security_inode_link"))
    assert (args(lnk)["old_path"], args(lnk)["new_path"]) == (f"{watched}/b", f"{watched}/c")
    [unl] = sensor.wait_for("the unlink", lambda: sensor.events_of(
        unlinker, "security_inode_unlink"))
    assert args(unl)["pathname"] == f"{watched}/b"
    for e in (ren, lnk, unl):
        assert_uring(e)
        assert e.data["returnValue"] == 0
    sensor.settle()
    for pid in (failed, *quiet):
        assert [e for e in sensor.events_of(pid) if e.name in CHANGE_EVENTS] == []
