"""auditd as a source and a target, live: the real auditd (Debian ``auditd``), the real kernel
audit stream, seed 004's rule verbatim and memwarden's exported rules, and the actions of seed
004 performed for real (a write, a rename and an unlink in /var/lib/systemd/coredump/, a read of
another process's coredump_filter, a SIGSEGV sent to a sleeping process that dumps core).

The findings are compared per action (by the pids that performed it): from auditd's log
(``memwarden replay --source audit``), from the kernel's audit netlink stream, and from the eBPF
sensor (``memwarden run``). No assertion is timed: waits poll for a condition (a barrier
action whose finding must appear) under a generous deadline.

Rules added here are removed with ``auditctl -d`` one by one; other rules are never touched.
If auditd was not running, it is started (``/sbin/auditd``: works without systemd) and stopped
again at the end.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.live

WAIT = 60.0  # bound for things that must happen; never a performance assertion
COREDUMP_DIR = "/var/lib/systemd/coredump"
#: Seed 004's auditd rule, verbatim.
SEED_004_RULE = ("-a always,exit -F arch=b64 -S openat  -S renameat -S unlinkat -S renameat2 "
                 "-S linkat -F perm=wa -F dir=/var/lib/systemd/coredump -k CORE_DUMP")
#: The least each action must raise (the sets compared must also be equal across sources).
EXPECTED = {
    "write": {"MW-1002"},
    "rename": {"MW-1002"},
    "unlink": {"MW-1002"},
    "coredump_filter read": {"MW-1001"},
    "SIGSEGV kill": {"MW-1003", "MW-1004"},
}


def memwarden_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "memwarden", *args]


def auditctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["auditctl", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"auditctl {' '.join(args)} failed: {r.stderr.strip()}")
    return r


def audit_status() -> dict[str, str]:
    out = auditctl("-s").stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def wait_for(cond, what: str, deadline_s: float = WAIT) -> None:
    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


# -- auditd ------------------------------------------------------------------------------------

@dataclass
class Auditd:
    log: Path


def _log_file() -> Path:
    try:
        for line in Path("/etc/audit/auditd.conf").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "log_file":
                return Path(value.strip())
    except OSError:
        pass
    return Path("/var/log/audit/audit.log")


def _gone(pid: int) -> bool:
    """Exited (a zombie left for an init that does not reap counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture(scope="module")
def auditd() -> Iterator[Auditd]:
    """A running auditd with auditing enabled and a backlog that holds bursts."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    daemon = shutil.which("auditd") or "/sbin/auditd"
    if shutil.which("auditctl") is None or not os.path.exists(daemon):
        pytest.skip("auditd is not installed (apt-get install -y auditd)")
    before = audit_status()
    if before.get("enabled") == "2":
        pytest.skip("the audit configuration is locked (auditctl -e 2): rules cannot be added "
                    "until reboot")
    started = False
    pid = int(before.get("pid", "0"))
    if pid == 0 or not Path(f"/proc/{pid}").exists():
        r = subprocess.run([daemon], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{daemon} did not start: {r.stderr}"
        wait_for(lambda: int(audit_status().get("pid", "0")) != 0, "auditd to register")
        started = True
    status = audit_status()
    old_backlog = int(status.get("backlog_limit", "0"))
    old_enabled = before.get("enabled", "1")  # as it was before auditd (which enables it)
    if old_backlog < 8192:
        auditctl("-b", "8192")
    if status.get("enabled") == "0":
        auditctl("-e", "1")
    log = _log_file()
    wait_for(log.exists, f"{log} to exist")
    try:
        yield Auditd(log)
    finally:
        if old_backlog < 8192:
            auditctl("-b", str(old_backlog), check=False)
        if started:
            pid = int(audit_status().get("pid", "0"))
            if pid:
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: _gone(pid), "auditd to stop")
        if old_enabled == "0":
            auditctl("-e", "0", check=False)


@pytest.fixture(scope="module")
def coredump_dir() -> Iterator[str]:
    created = not os.path.isdir(COREDUMP_DIR)
    os.makedirs(COREDUMP_DIR, exist_ok=True)
    try:
        yield COREDUMP_DIR
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(COREDUMP_DIR)


def rule_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip().startswith("-a ")]


@contextlib.contextmanager
def loaded(rules_text: str, tmp_path: Path, name: str) -> Iterator[list[str]]:
    """Load rules with ``auditctl -R`` (as augenrules would); delete exactly them after."""
    lines = rule_lines(rules_text)
    path = tmp_path / name
    path.write_text(rules_text)
    r = auditctl("-R", str(path), check=False)
    try:
        assert r.returncode == 0, f"auditctl -R {name}: {r.stdout}{r.stderr}"
        yield lines
    finally:
        for line in reversed(lines):
            auditctl(*shlex.split("-d " + line[3:]), check=False)


@pytest.fixture(scope="module")
def exported(coredump_dir: str, tmp_path_factory) -> str:
    """memwarden's rules for this host (after the store exists: a missing one is left out)."""
    out = tmp_path_factory.mktemp("export") / "memwarden.rules"
    r = subprocess.run(memwarden_cmd("export", "auditd", "-o", str(out)), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out.read_text()


@pytest.fixture
def rules(auditd: Auditd, coredump_dir: str, exported: str, tmp_path: Path
          ) -> Iterator[list[str]]:
    """Seed 004's rule verbatim, then memwarden's exported rules."""
    with loaded(SEED_004_RULE + "\n", tmp_path, "seed004.rules") as seed, \
            loaded(exported, tmp_path, "memwarden.rules") as ours:
        yield seed + ours


# -- the log, and the actions --------------------------------------------------------------------

class LogTail:
    """The complete lines auditd appends to its log from now on (across one rotation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            self.node = (st.st_dev, st.st_ino)
            self.offset = st.st_size
            # auditd may be writing a line right now: start after its end
            self.partial_first = False
            if self.offset:
                f.seek(self.offset - 1)
                self.partial_first = f.read(1) != b"\n"

    def read(self) -> bytes:
        with self.path.open("rb") as current:
            st = os.fstat(current.fileno())
            if (st.st_dev, st.st_ino) == self.node:
                current.seek(self.offset)
                data = current.read()
            else:  # rotated: the rest of the old file (found by its inode), then the new one
                rotated = self.path.with_name(self.path.name + ".1")
                with rotated.open("rb") as old:
                    st_old = os.fstat(old.fileno())
                    assert (st_old.st_dev, st_old.st_ino) == self.node, "rotated twice"
                    old.seek(self.offset)
                    data = old.read() + current.read()
        if self.partial_first:
            data = data[data.find(b"\n") + 1:]
        return data[:data.rfind(b"\n") + 1]  # a line being written is read next time


@dataclass
class Actions:
    """Seed 004's actions; ``pids`` maps each to the processes that performed it."""

    workdir: Path
    tag: str = field(default_factory=lambda: f"mw-e2e-{uuid.uuid4().hex[:8]}")
    pids: dict[str, set[int]] = field(default_factory=dict)

    def _run(self, action: str, cmd: list[str], stdin: bytes | None = None) -> int:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else None,
                             stdout=subprocess.DEVNULL)
        p.communicate(stdin, timeout=30)
        assert p.returncode == 0, f"{cmd} exited {p.returncode}"
        self.pids.setdefault(action, set()).add(p.pid)
        return p.pid

    def perform(self) -> None:
        base = f"{COREDUMP_DIR}/{self.tag}"
        self._run("write", ["tee", f"{base}.core"], stdin=b"not really a core\n")
        self._run("rename", ["mv", f"{base}.core", f"{base}.moved"])
        self._run("unlink", ["rm", f"{base}.moved"])
        target = subprocess.Popen(["sleep", "300"])
        try:
            self._run("coredump_filter read", ["cat", f"/proc/{target.pid}/coredump_filter"])
        finally:
            target.kill()
            target.wait()

        def dumpable() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                      resource.RLIM_INFINITY))

        victim = subprocess.Popen(["sleep", "300"], cwd=self.workdir, preexec_fn=dumpable)
        self.pids["SIGSEGV kill"] = {victim.pid}
        self._run("SIGSEGV kill", ["kill", "-s", "SEGV", str(victim.pid)])
        assert victim.wait(timeout=30) == -signal.SIGSEGV

    def barrier(self) -> int:
        """A last write whose finding shows that everything before it was seen."""
        pid = self._run("barrier", ["tee", f"{COREDUMP_DIR}/{self.tag}.barrier"], stdin=b"x")
        os.unlink(f"{COREDUMP_DIR}/{self.tag}.barrier")
        return pid

    def by_action(self, findings: list[dict]) -> dict[str, set[str]]:
        """Signature IDs raised per action (findings of other processes are ignored)."""
        owner = {pid: action for action, pids in self.pids.items() for pid in pids}
        out: dict[str, set[str]] = defaultdict(set)
        for f in findings:
            action = owner.get(f.get("hostProcessId"))
            if action is not None and action != "barrier":
                out[action].add(f["metadata"]["Properties"]["signatureID"])
        return dict(out)


def findings_of(out: bytes) -> list[dict]:
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


def replay_log(data: bytes, tmp_path: Path) -> list[dict]:
    path = tmp_path / "segment.log"
    path.write_bytes(data)
    r = subprocess.run(memwarden_cmd("replay", "--source", "audit", "--stats", str(path)),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert b"audit_records_malformed: 0" in r.stderr, r.stderr.decode()
    return findings_of(r.stdout)


def log_findings_after(tail: LogTail, actions: Actions, barrier_pid: int, tmp_path: Path
                       ) -> list[dict]:
    """Replay what auditd logged until the barrier's finding is in it."""
    found: list[dict] = []

    def barrier_seen() -> bool:
        found[:] = replay_log(tail.read(), tmp_path)
        return any(f.get("hostProcessId") == barrier_pid for f in found)

    wait_for(barrier_seen, "the barrier in auditd's log")
    return found


def assert_expected(got: dict[str, set[str]], source: str) -> None:
    for action, ids in EXPECTED.items():
        assert ids <= got.get(action, set()), f"{source}: {action} raised {got.get(action)}"


# -- tests ---------------------------------------------------------------------------------------

def test_exported_rules_load_and_unload_with_auditctl(auditd: Auditd, coredump_dir: str,
                                                      exported: str, tmp_path: Path) -> None:
    before = auditctl("-l").stdout
    with loaded(exported, tmp_path, "memwarden.rules") as lines:
        listed = auditctl("-l").stdout
        assert lines, exported
        for key in ("MW-1001", "MW-1002", "MW-1003", "TRC-1023", "TRC-1021"):
            assert f"key={key}" in listed
        assert "-F dir=/proc" in listed and f"-F dir={COREDUMP_DIR}" in listed
        if not os.path.exists("/proc/kcore"):  # this kernel: watched through /proc only
            assert "path=/proc/kcore" not in listed
    assert auditctl("-l").stdout == before


def test_log_and_netlink_findings_for_the_seed_004_actions(rules: list[str], auditd: Auditd,
                                                           tmp_path: Path) -> None:
    from memwarden.engine.dispatch import Engine
    from memwarden.signatures import load_builtin
    from memwarden.sources.audit.live import AuditLive, LiveOptions

    live_findings: list[dict] = []
    engine = Engine(load_builtin(), sink=lambda f: live_findings.append(f.to_tracee()))
    live = AuditLive(engine, LiveOptions())  # the netlink multicast stream
    assert live.start().startswith("audit netlink multicast")
    thread = threading.Thread(target=live.run)
    thread.start()
    try:
        tail = LogTail(auditd.log)
        actions = Actions(tmp_path)
        actions.perform()
        barrier = actions.barrier()
        from_log = log_findings_after(tail, actions, barrier, tmp_path)
        wait_for(lambda: any(f["hostProcessId"] == barrier for f in list(live_findings)),
                 "the barrier on the netlink stream")
    finally:
        live.stop()
        thread.join(WAIT)
    log_sets = actions.by_action(from_log)
    live_sets = actions.by_action(live_findings)
    print("audit log:", log_sets, "\nnetlink:", live_sets)
    assert_expected(log_sets, "audit log")
    assert live_sets == log_sets
    stats = live.stats()
    assert stats["audit_records_malformed"] == 0 and stats["audit_netlink_overruns"] == 0


class Sensor:
    """``memwarden run`` (the eBPF sensor) with its stdout and stderr read by threads."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(memwarden_cmd("run", *args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.findings: list[dict] = []
        self.err: queue.Queue[str] = queue.Queue()
        self.err_text: list[str] = []
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.findings.append(orjson.loads(line))

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            text = line.decode(errors="replace")
            self.err_text.append(text)
            self.err.put(text)

    def wait_ready(self) -> None:
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            try:
                line = self.err.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("memwarden: ready"):
                return
        raise AssertionError("memwarden run did not get ready:\n" + "".join(self.err_text))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _run_command_available() -> str | None:
    r = subprocess.run(memwarden_cmd("run", "--help"), capture_output=True, text=True,
                       timeout=60)
    return None if r.returncode == 0 else (r.stderr.strip() or r.stdout.strip())


def test_audit_log_findings_equal_the_ebpf_sensor_live(rules: list[str], auditd: Auditd,
                                                       tmp_path: Path) -> None:
    missing = _run_command_available()
    if missing is not None:
        pytest.skip(f"`memwarden run` (the eBPF sensor) is not available: {missing}")
    sensor = Sensor()
    try:
        sensor.wait_ready()
        tail = LogTail(auditd.log)
        actions = Actions(tmp_path)
        actions.perform()
        barrier = actions.barrier()
        from_log = log_findings_after(tail, actions, barrier, tmp_path)
        wait_for(lambda: any(f.get("hostProcessId") == barrier for f in list(sensor.findings)),
                 "the barrier from the eBPF sensor")
    finally:
        sensor.stop()
    ebpf_sets = actions.by_action(sensor.findings)
    log_sets = actions.by_action(from_log)
    print("eBPF:", ebpf_sets, "\naudit log:", log_sets)
    assert_expected(ebpf_sets, "eBPF sensor")
    assert log_sets == ebpf_sets


def test_run_source_audit(rules: list[str], auditd: Auditd, tmp_path: Path) -> None:
    r = subprocess.run(memwarden_cmd("run", "--help"), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0 or not re.search(r"--source", r.stdout):
        pytest.skip("`memwarden run --source` is not available yet")
    sensor = Sensor("--source", "audit")
    try:
        sensor.wait_ready()
        assert any(line.startswith("memwarden: ready (source: audit; audit netlink multicast")
                   for line in sensor.err_text)
        actions = Actions(tmp_path)
        actions.perform()
        barrier = actions.barrier()
        wait_for(lambda: any(f.get("hostProcessId") == barrier for f in list(sensor.findings)),
                 "the barrier from memwarden run --source audit")
    finally:
        sensor.stop()
    assert sensor.proc.returncode == 0, "".join(sensor.err_text)
    assert_expected(actions.by_action(sensor.findings), "memwarden run --source audit")


def test_run_source_auto_says_which_source_it_uses(auditd: Auditd) -> None:
    """BPF-LSM is refused by most kernels (it needs ``lsm=bpf`` at boot): ``--hooks lsm`` makes
    the eBPF sensor fail to start there, and ``--source auto`` must fall back to audit and say
    why; where the kernel allows it, the eBPF sensor must say it is running."""
    sensor = Sensor("--source", "auto", "--hooks", "lsm")
    try:
        sensor.wait_ready()
    finally:
        sensor.stop()
    text = "".join(sensor.err_text)
    assert sensor.proc.returncode == 0, text
    assert "memwarden: source auto: starting the eBPF sensor" in text
    if "falling back to the audit source" in text:
        assert re.search(r"the eBPF sensor cannot run \(.*lsm.*\)", text), text
        assert "memwarden: ready (source: audit;" in text
    else:
        assert "memwarden: ready (hooks: lsm" in text
