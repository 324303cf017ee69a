"""32-bit (compat) syscalls on x86_64, live: a real i386 program (``csrc/compat32.c``, built
with ``gcc -m32`` here) and a hand-written ``int $0x80`` fire none of the per-syscall
tracepoints; the sensor's raw ``sys_exit`` program sees them and produces the same events, so
the signatures fire with the 32-bit process as the actor (``contextFlags.isCompat``, the
``syscall`` named from the i386 table).

This kernel has no /proc/kcore: the reads of it run in a private mount namespace where a tmpfs
is mounted on /proc with a file named kcore in it (as in test_live_ebpf_kcore.py).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, build_actor, require_sensor

from memwarden.core.requirements import PathFilter
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

FAKE_KCORE = "mount -t tmpfs none /proc && echo fake > /proc/kcore"
CHANGE_EVENTS = ("security_inode_unlink", "security_inode_rename")


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="memwarden-compat-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def compat32(work: Path) -> Path:
    if platform.machine() != "x86_64":
        pytest.skip("32-bit compat syscalls: an x86_64 kernel")
    exe = build_actor("compat32.c", work, "-m32", needs="gcc-multilib")
    r = subprocess.run([str(exe), "open", str(exe)], capture_output=True, text=True, timeout=30)
    if r.stdout.strip() != "ok":
        pytest.skip(f"this kernel runs no 32-bit programs (ia32_emulation): {r.stderr}")
    return exe


@pytest.fixture(scope="module")
def int80_64(work: Path, compat32: Path) -> Path:
    return build_actor("int80_64.c", work, "-no-pie")


@pytest.fixture(scope="module")
def watched(work: Path) -> Path:
    d = work / "watched"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def sensor(compat32: Path, watched: Path) -> Iterator[LiveSensor]:
    require_sensor()
    needs = Needs(CHANGE_EVENTS, [PathFilter(n, "prefix", f"{watched}/") for n in CHANGE_EVENTS],
                  detector_id="TEST-WATCHED-DIR")
    live = LiveSensor([*load_builtin(), needs]).start()
    yield live
    live.stop()


def run(*cmd: str | Path) -> int:
    """Run an actor to its end; its pid."""
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "ok", (cmd, out, err)
    return p.pid


def in_private_proc(body: str) -> int:
    """``body`` in a private mount namespace with the fake /proc/kcore; it prints its pid
    (``echo $$``) and execs the reader, whose pid that is."""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"{FAKE_KCORE} && echo $$ && exec {body}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split()[-1] == "ok", r
    return int(r.stdout.split()[0])


def finding(sensor: LiveSensor, pid: int, sig_id: str):
    found = sensor.wait_for(f"{sig_id} for pid {pid}", lambda: sensor.findings_of(pid, sig_id))
    return found


def assert_compat(event, syscall: str, comm: str = "compat32") -> None:
    d = event.data
    assert d["contextFlags"]["isCompat"] is True
    assert d["syscall"] == syscall
    assert d["processName"] == comm
    assert d["hostProcessId"] == d["hostThreadId"]


@pytest.mark.parametrize("how, syscall", [("open", "openat"), ("int80", "open")])
def test_32bit_read_of_kcore_raises_trc_1021(sensor: LiveSensor, compat32: Path, how: str,
                                             syscall: str) -> None:
    """open(3) from an i386 program (glibc's openat syscall), and the open syscall through
    ``int $0x80`` by hand: TRC-1021, once (no native tracepoint reports it a second time)."""
    pid = in_private_proc(f"{compat32} {how} /proc/kcore")
    [f] = finding(sensor, pid, "TRC-1021")
    assert_compat(f.event, syscall)
    a = args(f.event)
    assert a["pathname"] == "/proc/kcore" and a["syscall_pathname"] == "/proc/kcore"
    assert f.event.data["returnValue"] >= 0
    assert f.event.data["executable"]["path"] == str(compat32)
    sensor.settle()  # the shell (same pid) made the fake kcore: its open is not counted
    assert len([e for e in sensor.events_of(pid, "security_file_open")
                if e.data["processName"] == "compat32"]) == 1


def test_int80_from_a_64bit_program_raises_trc_1021(sensor: LiveSensor,
                                                     int80_64: Path) -> None:
    """A 64-bit program making the i386 open syscall through ``int $0x80`` (a way past 64-bit
    syscall monitoring): a compat syscall all the same, TRC-1021 once."""
    pid = in_private_proc(f"{int80_64} /proc/kcore")
    [f] = finding(sensor, pid, "TRC-1021")
    assert_compat(f.event, "open", comm="int80_64")
    assert args(f.event)["syscall_pathname"] == "/proc/kcore"
    sensor.settle()  # the shell (same pid) made the fake kcore: its open is not counted
    assert len([e for e in sensor.events_of(pid, "security_file_open")
                if e.data["processName"] == "int80_64"]) == 1


def test_32bit_reads_of_a_siblings_memory(sensor: LiveSensor, compat32: Path) -> None:
    """/proc/PID/mem read, process_vm_readv and ptrace attach + PEEKDATA of a sibling, then a
    kill of it, all from an i386 program: TRC-1023, MW-1005, MW-1006 and the kill event, with
    the 32-bit process as the actor and the sibling as the target."""
    victim = subprocess.Popen([str(compat32), "victim"], stdout=subprocess.PIPE, text=True)
    try:
        addr = victim.stdout.readline().strip()  # type: ignore[union-attr]
        actor = run(compat32, "memory", victim.pid, addr)
        [mem] = finding(sensor, actor, "TRC-1023")
        assert_compat(mem.event, "openat")
        assert args(mem.event)["pathname"] == f"/proc/{victim.pid}/mem"
        assert mem.data["target_pid"] == victim.pid
        [vm] = finding(sensor, actor, "MW-1005")
        assert_compat(vm.event, "process_vm_readv")
        assert args(vm.event)["pid"] == victim.pid
        assert vm.event.data["returnValue"] == 4  # one 32-bit word
        pt = finding(sensor, actor, "MW-1006")
        for f in pt:
            assert_compat(f.event, "ptrace")
            assert args(f.event)["pid"] == victim.pid
        killer = run(compat32, "kill", victim.pid)
        kill = sensor.wait_for("the kill", lambda: sensor.events_of(killer, "kill"))
        assert len(kill) == 1
        assert_compat(kill[0], "kill")
        assert (args(kill[0])["pid"], args(kill[0])["sig"]) == (victim.pid, 9)
        assert kill[0].data["returnValue"] == 0
        victim.wait(10)
    finally:
        victim.kill()
        victim.wait()


def test_32bit_read_of_its_own_memory_is_quiet(sensor: LiveSensor, compat32: Path) -> None:
    """The near miss: /proc/self/mem of the i386 reader itself is delivered and raises
    nothing."""
    pid = run(compat32, "ownmem")
    ev = sensor.wait_for("the open of its own mem", lambda: sensor.events_of(
        pid, "security_file_open"))
    assert_compat(ev[0], "openat")
    assert args(ev[0])["pathname"] == f"/proc/{pid}/mem"
    sensor.settle()
    assert sensor.findings_of(pid) == []


def test_32bit_rename_and_unlink_under_a_watched_directory(sensor: LiveSensor, compat32: Path,
                                                           watched: Path, work: Path) -> None:
    """rename(2) and unlink(2) from an i386 program are delivered with absolute paths; the
    same under an unwatched directory are not."""
    (watched / "a").write_text("x")
    renamer = run(compat32, "rename", watched / "a", watched / "b")
    unlinker = run(compat32, "unlink", watched / "b")
    other = work / "other"
    other.mkdir(exist_ok=True)
    (other / "a").write_text("x")
    quiet = [run(compat32, "rename", other / "a", other / "b"),
             run(compat32, "unlink", other / "b")]
    [ren] = sensor.wait_for("the rename", lambda: sensor.events_of(
        renamer, "security_inode_rename"))
    assert_compat(ren, "rename")
    assert (args(ren)["old_path"], args(ren)["new_path"]) == (f"{watched}/a", f"{watched}/b")
    [unl] = sensor.wait_for("the unlink", lambda: sensor.events_of(
        unlinker, "security_inode_unlink"))
    assert_compat(unl, "unlink")
    assert args(unl)["pathname"] == f"{watched}/b"
    sensor.settle()
    for pid in quiet:
        assert [e for e in sensor.events_of(pid) if e.name in CHANGE_EVENTS] == []
