"""Every event kind the sensor produces, from real actions, with its arguments and process
context as docs/events.md describes them: process exit (code, signal, core dumped), the signal
syscalls, ptrace, process_vm_readv/writev, unlink/rename/link under a watched directory
(relative paths, "." and ".." resolved), exec and fork, container ids from the cgroup, pids in
a pid namespace."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, require_sensor

from memwarden.core.requirements import PathFilter
from memwarden.sources.ebpf import layout as L

pytestmark = pytest.mark.live

COREDUMP_DIR = "/var/lib/systemd/coredump/"
SYSCALL_NR = {name: nr for nr, name in L.syscall_table().items()}
PROCESS_EVENTS = ("sched_process_exec", "sched_process_fork", "sched_process_exit", "kill",
                  "tkill", "tgkill", "pidfd_send_signal", "ptrace", "process_vm_readv",
                  "process_vm_writev")
CHANGE_EVENTS = ("security_inode_unlink", "security_inode_rename", "security_inode_link")


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor()
    detectors = [
        Needs(PROCESS_EVENTS, detector_id="TEST-PROCESS"),
        Needs(CHANGE_EVENTS, [PathFilter(n, "prefix", COREDUMP_DIR) for n in CHANGE_EVENTS],
              detector_id="TEST-COREDUMP-DIR"),
    ]
    live = LiveSensor(detectors).start()
    yield live
    live.stop()


def one(sensor: LiveSensor, what: str, pid: int, name: str, pred=lambda e: True):
    got = sensor.wait_for(what, lambda: [e for e in sensor.events_of(pid, name) if pred(e)])
    assert len(got) == 1, got
    return got[0]


def _core_limit(n: int):
    return lambda: resource.setrlimit(resource.RLIMIT_CORE, (n, n))


# -- exit, kill ----------------------------------------------------------------------------------

def test_killed_with_sigsegv_dumps_core(sensor: LiveSensor, tmp_path: Path) -> None:
    """Seed 004's validation: sleep 300 &; kill -s SIGSEGV $PID (core limit raised)."""
    victim = subprocess.Popen(["sleep", "300"], cwd=tmp_path,
                              preexec_fn=_core_limit(resource.RLIM_INFINITY))
    time.sleep(0.2)
    os.kill(victim.pid, signal.SIGSEGV)
    assert victim.wait(30) == -signal.SIGSEGV
    kill = one(sensor, "the kill", os.getpid(), "kill", lambda e: args(e)["pid"] == victim.pid)
    assert args(kill) == {"pid": victim.pid, "sig": signal.SIGSEGV}
    assert kill.data["returnValue"] == 0 and kill.data["syscall"] == "kill"
    assert kill.data["processName"] == Path(sys.executable).name[:15]
    ex = one(sensor, "the victim's exit", victim.pid, "sched_process_exit")
    a = args(ex)
    assert a["signal"] == signal.SIGSEGV and a["core_dumped"] is True
    assert a["exit_code"] & 0x7F == signal.SIGSEGV and a["exit_code"] & 0x80
    assert a["process_group_exit"] is True
    assert ex.data["processName"] == "sleep"
    assert ex.data["executable"]["path"] == "/usr/bin/sleep"
    assert ex.data["hostParentProcessId"] == os.getpid()
    # the kernel really wrote a core file (core_pattern here: "core", in the cwd)
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("core"):
        assert any(p.name.startswith("core") for p in tmp_path.iterdir())


def test_killed_without_core_limit_dumps_no_core(sensor: LiveSensor, tmp_path: Path) -> None:
    victim = subprocess.Popen(["sleep", "300"], cwd=tmp_path, preexec_fn=_core_limit(0))
    time.sleep(0.2)
    os.kill(victim.pid, signal.SIGSEGV)
    victim.wait(30)
    a = args(one(sensor, "the victim's exit", victim.pid, "sched_process_exit"))
    assert a["signal"] == signal.SIGSEGV and a["core_dumped"] is False


def test_exit_status(sensor: LiveSensor) -> None:
    p = subprocess.run(["sh", "-c", "exit 3"])
    assert p.returncode == 3
    a = args(one(sensor, "sh's exit", _pid_of_last_child(sensor, "sh"), "sched_process_exit"))
    assert a == {"exit_code": 3 << 8, "process_group_exit": True, "signal": 0,
                 "core_dumped": False}


def _pid_of_last_child(sensor: LiveSensor, comm: str) -> int:
    """The host pid of our most recent child called ``comm`` (from its exec event)."""
    def find():
        execs = [e for e in sensor.events if e.name == "sched_process_exec"
                 and e.data["hostParentProcessId"] == os.getpid()
                 and e.data["processName"] == comm]
        return execs[-1].host_pid if execs else None
    return sensor.wait_for(f"the exec of {comm}", find)


def test_tkill_tgkill_pidfd_send_signal(sensor: LiveSensor) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    target = subprocess.Popen(["sleep", "300"])
    try:
        time.sleep(0.1)
        assert libc.syscall(SYSCALL_NR["tkill"], target.pid, 0) == 0
        assert libc.syscall(SYSCALL_NR["tgkill"], target.pid, target.pid, 0) == 0
        pidfd = os.pidfd_open(target.pid)
        try:
            assert libc.syscall(SYSCALL_NR["pidfd_send_signal"], pidfd, 0, None, 0) == 0
        finally:
            os.close(pidfd)
        me = os.getpid()
        t = one(sensor, "tkill", me, "tkill", lambda e: args(e)["tid"] == target.pid)
        assert args(t) == {"tid": target.pid, "sig": 0}
        g = one(sensor, "tgkill", me, "tgkill", lambda e: args(e)["tgid"] == target.pid)
        assert args(g) == {"tgid": target.pid, "tid": target.pid, "sig": 0}
        p = one(sensor, "pidfd_send_signal", me, "pidfd_send_signal",
                lambda e: args(e)["pidfd"] == pidfd)
        assert args(p) == {"pidfd": pidfd, "sig": 0, "info": 0, "flags": 0,
                           "target_pid": target.pid}
        assert {e.data["returnValue"] for e in (t, g, p)} == {0}
    finally:
        target.kill()
        target.wait()


# -- ptrace, process_vm_* -----------------------------------------------------------------------

HOLDER = ("import ctypes, sys, time\n"
          "buf = ctypes.create_string_buffer(b'memwarden-secret')\n"
          "print(ctypes.addressof(buf), flush=True)\n"
          "time.sleep(60)\n")


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def test_process_vm_readv_writev_and_ptrace(sensor: LiveSensor) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        addr = int(holder.stdout.readline())
        buf = ctypes.create_string_buffer(16)
        local, remote = Iovec(ctypes.addressof(buf), 16), Iovec(addr, 16)
        n = libc.process_vm_readv(holder.pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        assert n == 16 and buf.raw == b"memwarden-secret"
        # write the same bytes back (no change to the holder)
        n = libc.process_vm_writev(holder.pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        assert n == 16
        assert libc.ptrace(16, holder.pid, None, None) == 0  # PTRACE_ATTACH
        os.waitpid(holder.pid, 0)
        assert libc.ptrace(17, holder.pid, None, None) == 0  # PTRACE_DETACH
        me = os.getpid()
        r = one(sensor, "process_vm_readv", me, "process_vm_readv",
                lambda e: args(e)["pid"] == holder.pid)
        assert r.data["returnValue"] == 16
        a = args(r)
        assert (a["liovcnt"], a["riovcnt"], a["flags"]) == (1, 1, 0)
        assert a["local_iov"] == ctypes.addressof(local)
        assert a["remote_iov"] == ctypes.addressof(remote)
        w = one(sensor, "process_vm_writev", me, "process_vm_writev",
                lambda e: args(e)["pid"] == holder.pid)
        assert w.data["returnValue"] == 16
        reqs = sensor.wait_for("two ptrace calls", lambda: [
            args(e)["request"] for e in sensor.events_of(me, "ptrace")
            if args(e)["pid"] == holder.pid] if len([
                e for e in sensor.events_of(me, "ptrace") if args(e)["pid"] == holder.pid]) >= 2
            else None)
        assert reqs == [16, 17]
    finally:
        holder.kill()
        holder.wait()


# -- unlink, rename, link -------------------------------------------------------------------------

def test_unlink_rename_link_under_the_watched_directory(sensor: LiveSensor,
                                                        tmp_path: Path) -> None:
    """In a private mount namespace with a tmpfs on the core dump directory: the operations
    there are delivered with absolute, normalised paths; the same ones elsewhere are not."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    body = (f"mkdir -p {COREDUMP_DIR} && mount -t tmpfs none {COREDUMP_DIR} && echo $$ && "
            f"cd {COREDUMP_DIR} && touch a && mv a b && ln b c && rm c && "
            "cd / && rm var/lib/systemd/../systemd/coredump/./b && "
            f"cd {elsewhere} && touch x && mv x y && ln y z && rm y z")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    shell = int(r.stdout.split()[0])

    def mine():
        return [e for e in sensor.events if e.name in CHANGE_EVENTS
                and e.data["hostParentProcessId"] == shell]

    got = sensor.wait_for("four changes", lambda: mine() if len(mine()) >= 4 else None)
    sensor.settle()
    seen = [(e.name, e.data["processName"], tuple(a["value"] for a in e.args
                                                  if a["name"].endswith(("path", "pathname"))
                                                  and not a["name"].startswith("real_")))
            for e in mine()]
    d = COREDUMP_DIR
    assert seen == [
        ("security_inode_rename", "mv", (d + "a", d + "b")),
        ("security_inode_link", "ln", (d + "b", d + "c")),
        ("security_inode_unlink", "rm", (d + "c",)),
        ("security_inode_unlink", "rm", (d + "b",)),
    ], seen
    for e in got:
        assert e.data["returnValue"] == 0
        assert e.data["mountNamespace"] != os.stat("/proc/self/ns/mnt").st_ino
        # no symlink in their directories: the caller's strings are the paths
        assert not any(a["value"] for a in e.args if a["name"].startswith("real_"))
    assert {e.data["syscall"] for e in got} <= {"renameat2", "renameat", "rename", "linkat",
                                                "link", "unlinkat", "unlink"}


# -- exec, fork, namespaces, containers ----------------------------------------------------------

def test_exec_and_fork(sensor: LiveSensor) -> None:
    r = subprocess.run(["sh", "-c", "/bin/echo hello world; echo $$"], capture_output=True,
                       text=True)
    shell = int(r.stdout.split()[-1])
    fork = one(sensor, "the shell's fork", shell, "sched_process_fork")
    f = args(fork)
    child = f["child_pid"]
    assert f["parent_pid"] == f["parent_tid"] == shell
    assert f["child_tid"] == child != shell
    assert (f["parent_ns_pid"], f["child_ns_pid"]) == (shell, child)
    assert f["start_time"] >= fork.data["threadStartTime"]
    ex = one(sensor, "echo's exec", child, "sched_process_exec")
    a = args(ex)
    assert a["argv"] == ["/bin/echo", "hello", "world"]
    assert a["cmdpath"] == "/bin/echo"
    # /bin is a symlink on merged-/usr systems: the resolved path is the real one
    assert a["pathname"] == os.path.realpath("/bin/echo")
    assert a["inode"] == os.stat("/bin/echo").st_ino
    assert ex.data["processName"] == "echo"
    assert ex.data["executable"]["path"] == os.path.realpath("/bin/echo")
    assert ex.data["syscall"] in ("execve", "execveat")


def test_pids_inside_a_pid_namespace(sensor: LiveSensor) -> None:
    r = subprocess.run(["unshare", "-p", "-f", "--mount-proc", "sh", "-c",
                        "echo $$; exec /bin/true"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "1"
    ex = sensor.wait_for("the namespaced exec", lambda: [
        e for e in sensor.events if e.name == "sched_process_exec"
        and e.data["processId"] == 1 and args(e)["argv"] == ["/bin/true"]])[-1]
    d = ex.data
    assert d["hostProcessId"] != 1 and d["threadId"] == 1
    assert d["pidNamespace"] != os.stat("/proc/self/ns/pid").st_ino
    assert d["parentProcessId"] == 0  # its parent is outside the namespace
    assert d["hostParentProcessId"] > 1


def _cgroup2_root() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def test_container_id_from_a_docker_scope_cgroup(sensor: LiveSensor) -> None:
    root = _cgroup2_root()
    assert root is not None, "no cgroup2 mount"
    cid = os.urandom(32).hex()
    scope = root / f"docker-{cid}.scope"
    scope.mkdir()
    try:
        r = subprocess.run(["sh", "-c", f"echo $$ > {scope}/cgroup.procs && echo $$ && "
                            "exec /bin/true"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        pid = int(r.stdout.split()[0])
        ex = one(sensor, "the exec in the scope", pid, "sched_process_exec",
                 lambda e: args(e)["argv"] == ["/bin/true"])
        d = ex.data
        assert d["containerId"] == cid
        assert d["container"] == {"id": cid}
        assert d["contextFlags"]["containerStarted"] is True
        assert ex.origin == "container"
        assert d["cgroupId"] == scope.stat().st_ino  # cgroup v2 id = the directory's inode
    finally:
        _rmdir_when_empty(scope)


def test_container_id_from_a_cgroup_v1_hierarchy(sensor: LiveSensor) -> None:
    """Hybrid hosts (cgroup v1 controllers, processes in the v2 root): the id comes from the
    first v1 hierarchy that places the task below its root, as docker's cgroupfs driver
    does (/docker/<id>)."""
    v1 = next((Path(p) for p in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory",
                                 "/sys/fs/cgroup/pids")
               if (Path(p) / "cgroup.procs").exists()), None)
    if v1 is None:
        pytest.skip("no cgroup v1 hierarchy on this host")
    cid = os.urandom(32).hex()
    group = v1 / "docker" / cid
    group.mkdir(parents=True)
    try:
        r = subprocess.run(["sh", "-c", f"echo $$ > {group}/cgroup.procs && echo $$ && "
                            "exec /bin/true"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        ex = one(sensor, "the exec in the v1 group", int(r.stdout.split()[0]),
                 "sched_process_exec", lambda e: args(e)["argv"] == ["/bin/true"])
        assert ex.data["containerId"] == cid
    finally:
        _rmdir_when_empty(group)
        if not any((v1 / "docker").iterdir()):
            _rmdir_when_empty(v1 / "docker")


def _rmdir_when_empty(path: Path) -> None:
    end = time.monotonic() + 10
    while True:
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
