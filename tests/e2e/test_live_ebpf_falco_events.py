"""Live: the syscalls of Falco's official rules (mw_falco_events.h) under a running sensor with
Falco rules loaded: each real call raises its rule with the output fields and ``%evt.args`` as
Falco lays them out, and each kind's kernel filter keeps out the calls no loaded rule can want
(counted in ``arg_rejected``, never delivered).

One child process (Python, ctypes) performs every call, harmlessly: a bpf program load with an
empty attribute (refused) and a map creation (refused too; the rule does not want it),
userfaultfd as root (filtered out) and as nobody, setns into its own UTS namespace, unshare of
its own UTS and mount namespaces, a tmpfs mounted inside that private mount namespace, mkdir,
mkdirat, symlink(at) to /etc/shadow (and one to a target no rule wants), chmod with and
without the setuid bit, memfd_create, the setuid family down to nobody, and init_module /
finit_module, which this kernel (built without loadable modules) refuses with ENOSYS: that
refused attempt is what the rule sees.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ebpf_live import LiveSensor, Needs, require_sensor

from memwarden.core.event import Finding
from memwarden.rules.falco.ruleset import load_rules

pytestmark = pytest.mark.live

NOBODY = 65534

RULES = """
- required_engine_version: 0.62.0
- macro: mine
  condition: (proc.pid = {pid_var})
- macro: kernel_module_load
  condition: (evt.type in (init_module, finit_module))
- macro: chmod
  condition: (evt.type in (chmod, fchmod, fchmodat))
- macro: mkdir
  condition: (evt.type in (mkdir, mkdirat))
- macro: create_symlink
  condition: (evt.type in (symlink, symlinkat))
- rule: Test kernel module load
  desc: a kernel module load attempt, refused or not
  condition: kernel_module_load and mine
  output: >-
    module load res=%evt.res rawres=%evt.rawres uargs=%evt.arg.uargs evt_type=%evt.type | %evt.args
  priority: WARNING
- rule: Test BPF program load
  desc: as Falco's "BPF Program Not Profiled"
  condition: evt.type=bpf and (evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD) and mine
  output: bpf_cmd=%evt.arg.cmd res=%evt.res evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test userfaultfd by unprivileged user
  desc: as Falco's "Unprivileged Delegation of Page Faults Handling to a Userspace Process"
  condition: evt.type = userfaultfd and user.uid != 0 and mine
  output: uffd user_uid=%user.uid res=%evt.res evt_type=%evt.type | %evt.args
  priority: CRITICAL
- rule: Test setns
  desc: as Falco's "Change thread namespace"
  condition: evt.type=setns and mine
  output: setns nstype=%evt.arg.nstype evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test unshare
  desc: unshare of namespaces
  condition: evt.type=unshare and evt.arg.flags contains CLONE_NEWUTS and mine
  output: unshare flags=%evt.arg.flags res=%evt.res evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test setuid family
  desc: as Falco's "Non sudo setuid"
  condition: evt.type in (setuid, setreuid, setresuid) and mine
  output: >-
    setuid arg_uid=%evt.arg.uid ruid=%evt.arg.ruid user_uid=%user.uid evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test mkdir
  desc: as Falco's "Mkdir binary dirs", below the test's directory
  condition: mkdir and evt.arg.path contains mw-falco-dir and mine
  output: directory=%evt.arg.path evt_type=%evt.type | %evt.args
  priority: ERROR
- rule: Test symlink over sensitive files
  desc: as Falco's "Create Symlink Over Sensitive Files"
  condition: create_symlink and evt.arg.target in (/etc/shadow) and mine
  output: target=%evt.arg.target linkpath=%evt.arg.linkpath evt_type=%evt.type | %evt.args
  priority: WARNING
- rule: Test setuid bit
  desc: as Falco's "Set Setuid or Setgid bit"
  condition: chmod and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID") and mine
  output: >-
    fd=%evt.arg.fd filename=%evt.arg.filename mode=%evt.arg.mode evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test memfd_create
  desc: a memfd created
  condition: evt.type=memfd_create and evt.arg.name contains mw-falco and mine
  output: name=%evt.arg.name fd=%evt.arg.fd evt_type=%evt.type | %evt.args
  priority: NOTICE
- rule: Test mount
  desc: a tmpfs mounted
  condition: evt.type=mount and evt.arg.type=tmpfs and mine
  output: dev=%evt.arg.dev dir=%evt.arg.dir evt_type=%evt.type | %evt.args
  priority: NOTICE
"""

#: the child: every call, then its pid on stdout (run as root, ends as nobody)
CHILD = r"""
import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(None, use_errno=True)
sc = libc.syscall
sc.restype = ctypes.c_long
d = sys.argv[1]
ready = open(sys.argv[2], "rb")  # a line: the sensor is watching this pid
ready.read(1)
buf = ctypes.create_string_buffer(256)
sc(321, 5, buf, 128)                     # bpf(BPF_PROG_LOAD, {0}) -> EINVAL
sc(321, 0, buf, 128)                     # bpf(BPF_MAP_CREATE, {0}): not wanted
sc(323, 0o2000000)                       # userfaultfd(O_CLOEXEC) as root: not wanted
ns = os.open("/proc/self/ns/uts", os.O_RDONLY)
sc(308, ns, 0x04000000)                  # setns(own uts, CLONE_NEWUTS)
sc(272, 0x04000000 | 0x00020000)         # unshare(CLONE_NEWUTS | CLONE_NEWNS)
libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None)      # MS_REC | MS_PRIVATE
os.makedirs(d + "/mnt", exist_ok=True)
libc.mount(b"mw-falco-tmpfs", (d + "/mnt").encode(), b"tmpfs", 0x8 | 0x2, None)  # NOEXEC|NOSUID
os.mkdir(d + "/mw-falco-dir1", 0o755)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("mw-falco-dir2", 0o700, dir_fd=dfd)
os.symlink("/nonexistent-target", d + "/other-link")   # a target no rule wants
os.symlink("/etc/shadow", d + "/shadow-link")
os.symlink("/etc/shadow", "shadow-link2", dir_fd=dfd)
f = d + "/suid-file"
open(f, "w").close()
os.chmod(f, 0o755)                       # no setuid bit: not wanted
os.chmod(f, 0o4755)
fd = os.open(f, os.O_RDONLY)
os.fchmod(fd, 0o2750)
os.memfd_create("mw-falco-memfd", os.MFD_CLOEXEC)
sc(175, None, 0, b"mw_param=1")          # init_module -> ENOSYS here
sc(313, fd, b"mw_param=2", 0)            # finit_module -> ENOSYS here
sc(113, -1, -1)                          # setreuid(-1, -1)
sc(117, NOBODY, NOBODY, NOBODY)          # setresuid(nobody x3)
sc(105, NOBODY)                          # setuid(nobody)
sc(323, 0o2000000 | 1)                   # userfaultfd(O_CLOEXEC | UFFD_USER_MODE_ONLY)
print(os.getpid(), flush=True)
""".replace("NOBODY", str(NOBODY))


@pytest.fixture
def run(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The child started and blocked on a fifo; the sensor with the rules for its pid; then
    the child released and waited for."""
    require_sensor()
    fifo = tmp_path / "go"
    subprocess.run(["mkfifo", str(fifo)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(work), str(fifo)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("{pid_var}", str(child.pid)))
    loaded = load_rules([rules])
    assert len(loaded.detectors) == 11, [(r.name, r.reasons) for r in loaded.rules]
    live = LiveSensor(loaded.detectors).start()
    try:
        with open(fifo, "wb") as go:
            go.write(b"x")
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert int(out.split()[-1]) == child.pid
        yield {"sensor": live, "pid": child.pid, "work": work}
    finally:
        if child.poll() is None:
            child.kill()
        live.stop()


def _alerts(live: LiveSensor, pid: int, rule: str, n: int) -> list[Finding]:
    def found() -> list[Finding]:
        got = [f for f in live.findings_of(pid) if f.metadata.name == rule]
        return got if len(got) >= n else []
    return live.wait_for(f"{n} alert(s) of {rule!r}", found)


def _fields(f: Finding) -> dict[str, Any]:
    return f.data["output_fields"]


def test_falco_event_types_fire_with_falco_output(run) -> None:
    live, pid, work = run["sensor"], run["pid"], run["work"]

    mods = _alerts(live, pid, "Test kernel module load", 2)
    by_type = {_fields(f)["evt.type"]: f for f in mods}
    assert set(by_type) == {"init_module", "finit_module"}
    init = by_type["init_module"]
    assert _fields(init)["evt.res"] == "ENOSYS" and _fields(init)["evt.rawres"] == -38
    assert _fields(init)["evt.arg.uargs"] == "mw_param=1"
    assert init.data["output"].endswith(
        "| res=-38(ENOSYS) img=<NA> length=0 uargs=mw_param=1")
    fin = by_type["finit_module"]
    assert _fields(fin)["evt.arg.uargs"] == "mw_param=2"
    assert " | res=-38(ENOSYS) fd=" in fin.data["output"]
    assert fin.data["output"].endswith(" uargs=mw_param=2 flags=0")

    (load,) = _alerts(live, pid, "Test BPF program load", 1)
    assert _fields(load)["evt.arg.cmd"] == "BPF_PROG_LOAD"
    rawres = load.event.data["returnValue"]  # refused: the empty attribute (E2BIG, EINVAL)
    assert rawres < 0 and _fields(load)["evt.res"] == errno.errorcode[-rawres]
    assert load.data["output"].endswith(
        f"| fd={rawres}({errno.errorcode[-rawres]}) cmd=5(BPF_PROG_LOAD)")

    (uffd,) = _alerts(live, pid, "Test userfaultfd by unprivileged user", 1)
    assert _fields(uffd)["user.uid"] == NOBODY and _fields(uffd)["evt.res"] == "SUCCESS"
    fd = uffd.event.data["returnValue"]
    # O_CLOEXEC | UFFD_USER_MODE_ONLY (1) in Falco's open-flag encoding, as its driver does
    assert uffd.data["output"].endswith(f"| res={fd} flags=1002(O_WRONLY|O_CLOEXEC)")

    (setns,) = _alerts(live, pid, "Test setns", 1)
    assert _fields(setns)["evt.arg.nstype"] == "CLONE_NEWUTS"
    assert setns.data["output"].endswith(" nstype=80(CLONE_NEWUTS)")
    assert "| res=0 fd=" in setns.data["output"]

    (unshare,) = _alerts(live, pid, "Test unshare", 1)
    assert _fields(unshare)["evt.arg.flags"] == "CLONE_NEWNS|CLONE_NEWUTS"
    assert unshare.data["output"].endswith("| res=0 flags=A0(CLONE_NEWNS|CLONE_NEWUTS)")

    (mount,) = _alerts(live, pid, "Test mount", 1)
    assert _fields(mount)["evt.arg.dev"] == "mw-falco-tmpfs"
    assert _fields(mount)["evt.arg.dir"] == f"{work}/mnt"
    assert mount.data["output"].endswith(
        f"| res=0 dev=mw-falco-tmpfs dir={work}/mnt type=tmpfs flags=A(NOSUID|NOEXEC)")

    mkdirs = {_fields(f)["evt.type"]: f for f in _alerts(live, pid, "Test mkdir", 2)}
    assert mkdirs["mkdir"].data["output"].endswith(
        f"| res=0 path={work}/mw-falco-dir1 mode=1ED")
    assert _fields(mkdirs["mkdirat"])["evt.arg.path"] == "mw-falco-dir2"
    assert " path=mw-falco-dir2 mode=1C0" in mkdirs["mkdirat"].data["output"]

    links = {_fields(f)["evt.type"]: f for f in
             _alerts(live, pid, "Test symlink over sensitive files", 2)}
    assert set(links) == {"symlink", "symlinkat"}
    assert _fields(links["symlink"])["evt.arg.linkpath"] == f"{work}/shadow-link"
    assert links["symlink"].data["output"].endswith(
        f"| res=0 target=/etc/shadow linkpath={work}/shadow-link")
    assert _fields(links["symlinkat"])["evt.arg.linkpath"] == "shadow-link2"

    chmods = _alerts(live, pid, "Test setuid bit", 2)
    modes = sorted(_fields(f)["evt.arg.mode"] for f in chmods)
    assert modes == ["S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID",
                     "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"], modes
    fchmod = next(f for f in chmods if _fields(f)["evt.type"] == "fchmod")
    assert fchmod.data["output"].endswith(
        "mode=02750(S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID)")

    (memfd,) = _alerts(live, pid, "Test memfd_create", 1)
    assert _fields(memfd)["evt.arg.name"] == "mw-falco-memfd"
    assert memfd.data["output"].endswith(" name=mw-falco-memfd flags=1(MFD_CLOEXEC)")

    uids = {_fields(f)["evt.type"]: f for f in _alerts(live, pid, "Test setuid family", 3)}
    assert set(uids) == {"setuid", "setreuid", "setresuid"}
    assert _fields(uids["setuid"])["evt.arg.uid"] == str(NOBODY)
    assert uids["setuid"].data["output"].endswith(f"| res=0 uid={NOBODY}")
    assert uids["setresuid"].data["output"].endswith(
        f"| res=0 ruid={NOBODY} euid={NOBODY} suid={NOBODY}")
    assert uids["setreuid"].data["output"].endswith("| res=0 ruid=4294967295 euid=4294967295")


def test_kernel_filters_keep_out_what_no_rule_wants(run) -> None:
    """The bpf map creation (cmd 0), root's userfaultfd and the chmod without a setuid or
    setgid bit are rejected in the kernel on their arguments, the symlink to another target
    than /etc/shadow on its string (the rule's path filter, in the tries): no record of them
    reaches user space."""
    live, pid = run["sensor"], run["pid"]
    _alerts(live, pid, "Test setuid family", 3)  # the child's last calls are in
    live.settle()
    events = live.events_of(pid)
    bpf = [e for e in events if e.name == "bpf"]
    assert [e.arg("cmd") for e in bpf] == [5], bpf
    uffd = [e for e in events if e.name == "userfaultfd"]
    assert [e.data["userId"] for e in uffd] == [NOBODY], uffd
    chmods = [e.arg("mode") & 0o7777 for e in events if e.name == "chmod"]
    assert sorted(chmods) == [0o2750, 0o4755], chmods
    links = [e.arg("target") for e in events if e.name == "symlink"]
    assert links == ["/etc/shadow", "/etc/shadow"], links
    counters = live.sensor.kernel_counters()
    assert counters["arg_rejected"] >= 3 and counters["trie_rejected"] >= 1, counters


def test_the_sensors_own_bpf_calls_are_not_events() -> None:
    """With every bpf() call wanted, the sensor's own (its map reads: each kernel_counters()
    is some) are not delivered, another process's is."""
    require_sensor()
    live = LiveSensor([Needs(["bpf"], detector_id="TEST-ALL-BPF")]).start()
    try:
        for _ in range(5):
            live.sensor.kernel_counters()  # bpf(BPF_MAP_LOOKUP_ELEM) from this process
        child = subprocess.run(
            [sys.executable, "-c", "import ctypes, os; ctypes.CDLL(None).syscall(321, 11, None, 0);"
             " print(os.getpid())"], capture_output=True, text=True, check=True, timeout=60)
        pid = int(child.stdout)
        (ev,) = live.wait_for("the child's bpf call", lambda: live.events_of(pid, "bpf"))
        assert ev.arg("cmd") == 11 and ev.data["returnValue"] < 0
        live.settle()
        assert live.events_of(os.getpid(), "bpf") == []
    finally:
        live.stop()
