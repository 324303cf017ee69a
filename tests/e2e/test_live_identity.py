"""Issue 15: the live sensor detects by what a file is, not by what it is called.

- a procfs somewhere else (a second procfs, a bind mount of /proc/PID or /proc/sys/kernel) is
  known by its superblock: its files are named by their path in that procfs under /proc, so
  TRC-1023 and TRC-1011 fire, and ``real_pathname`` keeps where they were opened;
- a device node made with mknod under any name is the device its number says (``rdev``);
- a file bind-mounted onto /proc/kcore keeps its own dentry name: the kernel's name check must
  not drop what the path filters accept;
- near misses stay silent: a process's own mem through another procfs, ps-like reads of
  status, files on a tmpfs merely called .../proc/<pid>/mem or .../proc/kcore.

Every action runs in a private mount namespace (``unshare -m``), so nothing global changes;
the opens for writing never write.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, require_sensor

from memwarden.core.linux_abi import O_ACCMODE, O_RDWR, PROC_SUPER_MAGIC, kernel_dev
from memwarden.core.requirements import PathFilter
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

PYTHON = os.path.realpath(sys.executable)


#: the signatures these tests judge: they select only opens and writes, with path filters, so
#: a busy host's exec/fork/exit storm cannot fill the ring buffer while a test waits on it
SIGNATURES = {"TRC-1011", "TRC-1021", "TRC-1023", "TRC-1024", "MW-1007"}
#: a device of the memory driver that opens on every kernel and that almost nothing opens:
#: the device-number test's target and the quiet tests' closing marker
MARKER = "/dev/full"


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor()
    needs = Needs(["security_file_open"], [PathFilter("security_file_open", "exact", MARKER)])
    detectors = [d for d in load_builtin() if d.detector_id in SIGNATURES]
    assert {d.detector_id for d in detectors} == SIGNATURES
    live = LiveSensor([*detectors, needs]).start()
    yield live
    live.stop()


@pytest.fixture
def victim() -> Iterator[int]:
    """A process that is not the reader: it waits on its stdin until the test ends."""
    p = subprocess.Popen([PYTHON, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline() == "up\n"
    yield p.pid
    p.kill()
    p.wait()


def in_private_ns(setup: str, code: str, tmp: Path) -> int:
    """Run ``setup`` (shell) in a private mount namespace, then exec Python running ``code``
    there; returns the reader's pid (the shell's, which exec'd Python)."""
    body = f"{setup} && echo $$ && exec {PYTHON} -c {shlex.quote(code)}"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       capture_output=True, text=True, timeout=60, cwd=tmp)
    # 137: the reader was SIGKILLed after its open, by an enforcing sensor sharing the host
    # (memwarden run --enforce): what this sensor saw is still what is judged
    assert r.returncode in (0, 137, -9) and r.stdout.split(), r.stderr
    return int(r.stdout.split()[0])


def read_open(path: str) -> str:
    return f"import os; os.close(os.open({path!r}, os.O_RDONLY))"


def write_open(path: str) -> str:
    """Opens for writing and writes nothing: the open is what the signatures judge."""
    return f"import os; os.close(os.open({path!r}, os.O_WRONLY))"


def one_finding(sensor: LiveSensor, pid: int, sig: str):
    found = sensor.wait_for(f"{sig} for pid {pid}", lambda: sensor.findings_of(pid, sig))
    assert len(found) == 1, found
    return found[0]


def opens(sensor: LiveSensor, pid: int, real: str) -> list:
    return [e for e in sensor.events_of(pid, "security_file_open")
            if args(e)["real_pathname"] == real or args(e)["pathname"] == real]


# -- 1. a procfs somewhere else ------------------------------------------------------------------

def test_second_procfs_mem_read(sensor: LiveSensor, victim: int, tmp_path: Path) -> None:
    p2 = tmp_path / "p2"
    p2.mkdir()
    real = f"{p2}/{victim}/mem"
    pid = in_private_ns(f"mount -t proc proc {p2}", read_open(real), tmp_path)
    f = one_finding(sensor, pid, "TRC-1023")
    a = args(f.event)
    assert a["pathname"] == f"/proc/{victim}/mem"
    assert a["real_pathname"] == real
    assert a["fs_magic"] == PROC_SUPER_MAGIC
    assert a["proc_host_pid"] == victim
    assert f.data["target_pid"] == victim
    assert sensor.findings_of(pid, "TRC-1024") == []


def test_bind_mount_of_proc_pid(sensor: LiveSensor, victim: int, tmp_path: Path) -> None:
    v = tmp_path / "v"
    v.mkdir()
    pid = in_private_ns(f"mount --bind /proc/{victim} {v}", read_open(f"{v}/mem"), tmp_path)
    f = one_finding(sensor, pid, "TRC-1023")
    assert args(f.event)["pathname"] == f"/proc/{victim}/mem"
    assert args(f.event)["real_pathname"] == f"{v}/mem"


def test_bind_mount_of_proc_sys_kernel(sensor: LiveSensor, tmp_path: Path) -> None:
    k = tmp_path / "k"
    k.mkdir()
    pid = in_private_ns(f"mount --bind /proc/sys/kernel {k}", write_open(f"{k}/core_pattern"),
                        tmp_path)
    f = one_finding(sensor, pid, "TRC-1011")
    assert f.data["setting"] == "core_pattern"
    assert args(f.event)["pathname"] == "/proc/sys/kernel/core_pattern"
    assert args(f.event)["real_pathname"] == f"{k}/core_pattern"


def test_second_procfs_coredump_filter(sensor: LiveSensor, victim: int, tmp_path: Path) -> None:
    p2 = tmp_path / "p2"
    p2.mkdir()
    pid = in_private_ns(f"mount -t proc proc {p2}",
                        write_open(f"{p2}/{victim}/coredump_filter"), tmp_path)
    f = one_finding(sensor, pid, "TRC-1011")
    assert f.data == {"setting": "coredump_filter", "target_pid": victim}


def test_own_mem_through_a_second_procfs_is_quiet(sensor: LiveSensor, tmp_path: Path) -> None:
    p2 = tmp_path / "p2"
    p2.mkdir()
    pid = in_private_ns(f"mount -t proc proc {p2}", read_open(f"{p2}/self/mem"), tmp_path)
    ev = sensor.wait_for("the open of its own mem", lambda: opens(sensor, pid, f"{p2}/{pid}/mem"))
    assert args(ev[0])["pathname"] == f"/proc/{pid}/mem"
    assert args(ev[0])["proc_host_pid"] == pid
    sensor.settle()
    assert sensor.findings_of(pid) == []


def test_ps_reading_status_is_quiet(sensor: LiveSensor, victim: int, tmp_path: Path) -> None:
    p2 = tmp_path / "p2"
    p2.mkdir()
    code = (f"import os; [open(f'{p2}/{{n}}/status').read() for n in os.listdir('{p2}') "
            f"if n.isdigit() and os.path.exists(f'{p2}/{{n}}/status')]; "
            f"os.close(os.open({MARKER!r}, os.O_RDONLY))")
    pid = in_private_ns(f"mount -t proc proc {p2}", code, tmp_path)
    sensor.wait_for("the closing marker open", lambda: opens(sensor, pid, MARKER))
    sensor.settle()
    assert sensor.findings_of(pid) == []
    assert [args(e)["pathname"] for e in sensor.events_of(pid, "security_file_open")
            if "status" in args(e)["pathname"]] == []


def test_files_merely_named_like_procfs_are_quiet(sensor: LiveSensor, victim: int,
                                                  tmp_path: Path) -> None:
    fake = tmp_path / "x" / "proc"
    code = (f"import os; os.close(os.open('{fake}/{victim}/mem', os.O_RDWR)); "
            f"os.close(os.open('{fake}/kcore', os.O_RDONLY)); "
            f"os.close(os.open('{fake}/sys/kernel/core_pattern', os.O_WRONLY))")
    setup = (f"mkdir -p {fake} && mount -t tmpfs none {fake} && "
             f"mkdir -p {fake}/{victim} {fake}/sys/kernel && "
             # made under other names and renamed: an enforcing sensor sharing the host
             # (path rules) would kill an open of .../proc/<pid>/mem
             f"touch {fake}/{victim}/m {fake}/kcore {fake}/sys/kernel/core_pattern && "
             f"mv {fake}/{victim}/m {fake}/{victim}/mem")
    pid = in_private_ns(setup, code, tmp_path)
    # the sensor delivers them (the path filters match their names) ...
    ev = sensor.wait_for("the three opens", lambda: len(opens(sensor, pid,
                         f"{fake}/sys/kernel/core_pattern")) == 1 and
                         sensor.events_of(pid, "security_file_open"))
    assert all(args(e)["fs_magic"] not in (0, PROC_SUPER_MAGIC) for e in ev)
    # ... and the signatures, knowing they are tmpfs files, raise nothing
    sensor.settle()
    assert sensor.findings_of(pid) == []


# -- 2. devices by number --------------------------------------------------------------------------

def test_a_device_node_under_another_name(sensor: LiveSensor, tmp_path: Path) -> None:
    # /dev/mem (1:1) does not open on this kernel (ENXIO: no such driver), so the in-kernel
    # match by number is shown on another device of the same driver that does: 1:7, /dev/full
    node = tmp_path / "nothing-to-see"
    pid = in_private_ns(f"mount -t tmpfs none {tmp_path} && mknod {node} c 1 7",
                        read_open(str(node)), tmp_path)
    ev = sensor.wait_for("the open of the node", lambda: opens(sensor, pid, str(node)))
    a = args(ev[0])
    assert (a["pathname"], a["real_pathname"]) == (MARKER, str(node))
    assert a["rdev"] == kernel_dev(1, 7)


# -- 3. a file that is a mount root ----------------------------------------------------------------

def test_a_file_bound_onto_proc_kcore(sensor: LiveSensor, tmp_path: Path) -> None:
    other = tmp_path / "innocent"
    setup = (f"echo x > {other} && mount -t tmpfs none /proc && echo fake > /proc/kcore && "
             f"mount --bind {other} /proc/kcore")
    pid = in_private_ns(setup, read_open("/proc/kcore"), tmp_path)
    f = one_finding(sensor, pid, "TRC-1021")
    assert args(f.event)["pathname"] == "/proc/kcore"


# -- 8. TRC-1024 on memory written, not on an open for writing ------------------------------------

def rw_mapping(pid: int) -> int:
    """The start of a writable private mapping of ``pid`` (its data or heap)."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        addr, perms = line.split()[:2]
        if perms.startswith("rw") and perms.endswith("p"):
            return int(addr.split("-")[0], 16)
    raise AssertionError(f"no writable mapping in /proc/{pid}/maps")


def mem_rw(victim: int, *, write: bool) -> str:
    """Open the victim's memory read-write, read 8 bytes and, if ``write``, put the same bytes
    back (nothing changes, but memory is written)."""
    addr = rw_mapping(victim)
    back = "os.pwrite(fd, b, a)" if write else "None"
    return (f"import os; a = {addr}; fd = os.open('/proc/{victim}/mem', os.O_RDWR); "
            f"b = os.pread(fd, 8, a); {back}; os.close(fd)")


def spawn(argv: list[str]) -> int:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = p.communicate(timeout=120)
    assert p.returncode in (0, -9), err  # -9: see in_private_ns
    return p.pid


def test_written_memory_raises_trc_1024(sensor: LiveSensor, victim: int) -> None:
    pid = spawn([PYTHON, "-c", mem_rw(victim, write=True)])
    f = one_finding(sensor, pid, "TRC-1024")
    assert f.event.name == "vfs_write"
    assert f.data["target_pid"] == victim and f.data["bytes_written"] == 8
    assert f.data["pos"] == rw_mapping(victim)
    assert args(f.event)["pathname"] == f"/proc/{victim}/mem"
    assert f.event.data["syscall"] == "pwrite64"


def test_written_through_a_second_procfs(sensor: LiveSensor, victim: int,
                                         tmp_path: Path) -> None:
    p2 = tmp_path / "p2"
    p2.mkdir()
    code = mem_rw(victim, write=True).replace("'/proc/", f"'{p2}/")
    pid = in_private_ns(f"mount -t proc proc {p2}", code, tmp_path)
    f = one_finding(sensor, pid, "TRC-1024")
    assert args(f.event)["pathname"] == f"/proc/{victim}/mem"
    assert args(f.event)["real_pathname"] == f"{p2}/{victim}/mem"


def test_read_write_open_that_only_reads_is_not_injection(sensor: LiveSensor,
                                                          victim: int) -> None:
    pid = spawn([PYTHON, "-c", mem_rw(victim, write=False)])
    one_finding(sensor, pid, "TRC-1023")  # it did read another process's memory
    sensor.settle()
    assert sensor.findings_of(pid, "TRC-1024") == []


@pytest.mark.parametrize("tool", ["gcore", "gdb"])
def test_gdb_and_gcore_are_not_injection(sensor: LiveSensor, victim: int, tmp_path: Path,
                                         tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"no {tool}")
    if tool == "gcore":
        argv = ["gcore", "-o", str(tmp_path / "core"), str(victim)]
    else:
        argv = ["gdb", "-nx", "-batch", "-p", str(victim), "-ex", "info registers rip"]
    spawn(argv)

    def about_victim(sig: str) -> list:  # gcore is a script: the reader is gdb, its child
        with sensor.lock:
            return [f for f in sensor.findings if f.metadata.id == sig
                    and f.data["target_pid"] == victim]

    (read,) = sensor.wait_for(f"{tool}'s read of the victim's memory",
                              lambda: about_victim("TRC-1023"))
    assert args(read.event)["flags"] & O_ACCMODE == O_RDWR  # opened read-write ...
    sensor.settle()
    assert about_victim("TRC-1024") == []  # ... and only read


# -- 7. denied attempts -------------------------------------------------------------------------

def test_a_refused_read_of_another_process_memory(sensor: LiveSensor, victim: int) -> None:
    code = (f"import os, sys; os.setuid(65534)\n"
            f"try:\n    os.open('/proc/{victim}/mem', os.O_RDONLY)\n"
            f"except PermissionError:\n    sys.exit(0)\nsys.exit(3)")
    pid = spawn([PYTHON, "-c", code])
    f = one_finding(sensor, pid, "TRC-1023")
    assert f.data["refused"] == "EACCES" and f.data["target_pid"] == victim
    assert f.event.data["returnValue"] == -13
    assert args(f.event)["pathname"] == f"/proc/{victim}/mem"


def test_a_refused_open_of_dev_mem(sensor: LiveSensor, tmp_path: Path) -> None:
    # no /dev/mem driver here: opening a 1:1 node fails with ENXIO, an attempt all the same
    code = ("import os, sys\ntry:\n    os.open('/dev/mem', os.O_RDONLY)\n"
            "except OSError as e:\n    sys.exit(0 if e.errno == 6 else 3)\nsys.exit(0)")
    pid = in_private_ns("mount -t tmpfs none /dev && mknod /dev/mem c 1 1", code, tmp_path)
    f = one_finding(sensor, pid, "MW-1007")
    assert f.data["device"] and f.data["access"] == "read"
    assert f.data["refused"] in ("ENXIO", "EPERM", "EACCES")


def test_refused_opens_of_unwatched_files_are_quiet(sensor: LiveSensor, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0o600)
    code = (f"import os\nos.setuid(65534)\n"
            f"for p in ({str(secret)!r}, '/proc/kcore-none', '/proc/no-such/mem'):\n"
            f"    try:\n        os.open(p, os.O_RDONLY)\n    except OSError:\n        pass\n"
            f"os.close(os.open({MARKER!r}, os.O_RDONLY))")
    pid = spawn([PYTHON, "-c", code])
    sensor.wait_for("the closing marker open", lambda: opens(sensor, pid, MARKER))
    sensor.settle()
    assert sensor.findings_of(pid) == []
    assert [args(e)["pathname"] for e in sensor.events_of(pid, "security_file_open")
            if e.data["returnValue"] < 0] == []
