"""Live: seed 004's Falco rule, verbatim, raised by a short-lived ``dd`` that a chain of three
named processes started (mw-gp -> mw-parent -> mw-child -> dd), renders its output template
with the true values, each checked against /proc of the processes that are still alive (the
ancestors wait until the check is done; dd itself exits at once).

Nothing on the host is changed: the core dump lives on a tmpfs in a private mount namespace.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from ebpf_live import require_sensor_and_coredump_dir, wait_ready

from memwarden.core.process import SHELLS
from memwarden.rules.falco.fields.proc import cap_names

pytestmark = pytest.mark.live

SEED = Path(__file__).resolve().parents[1] / "data" / "rules" / "seed004.yaml"
DEADLINE_S = 15.0
DUMP = "/var/lib/systemd/coredump/core.memwarden-proctx.1"

#: fields that are <NA> for a process gone before its event is rendered (dd exits within
#: a millisecond; memory and open-fd counts are only in /proc)
GONE_NA = {"proc.vmsize", "proc.fdopencount"}



def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2:].split()


def _status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _cmdline(pid: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    return " ".join([_comm(pid), *(a.decode() for a in argv[1:])])


def _login_shell(pid: int) -> int:
    found, p = 0, pid
    while p > 0:
        if _comm(p) in SHELLS:
            found = p
        p = int(_stat(p)[1])
    return found


def _session_leader(pid: int, sid: int) -> int:
    """The session id's process, else (libsinsp's fallback, and the case of sid 0: a session
    never set since the kernel's init, as under a CI runner whose PID 1 is no init system) the
    eldest ancestor in the same session."""
    if sid > 0 and Path(f"/proc/{sid}").exists():
        return sid
    eldest, p = pid, pid
    while p > 0:
        if int(_stat(p)[3]) == sid:
            eldest = p
        p = int(_stat(p)[1])
    return eldest


def _wait_line(stream, deadline: float) -> str:
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                return buf.decode()
    pytest.fail(f"the chain did not report: {buf!r}")


def test_seed_004_renders_the_true_process_context_of_a_short_lived_reader(tmp_path):
    require_sensor_and_coredump_dir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("mw-gp", "mw-parent", "mw-child"):  # comm comes from the name exec'd
        (bindir / name).symlink_to("/bin/sh")
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    out_path = tmp_path / "alerts.jsonl"
    cmd = [sys.executable, "-m", "memwarden", "run", "--rules", str(SEED),
           "--disable", "core_dump_read", "--format", "falco", "--output", f"file:{out_path}"]
    sensor = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    chain = None
    try:
        wait_ready(sensor)
        # one script per link; each waits on stdin after its child (the trailing ':' keeps sh
        # from exec'ing the last command in place, which would rename the link)
        (tmp_path / "child.sh").write_text(
            f'cd "{workdir}" && dd if={DUMP} of=/dev/null bs=1 count=1 status=none\n'
            'echo "$$ $PPID"\nread x\n:\n')
        (tmp_path / "parent.sh").write_text(f'{bindir}/mw-child {tmp_path}/child.sh\n:\n')
        (tmp_path / "gp.sh").write_text(
            "mount --make-rprivate / && mount -t tmpfs memwarden-test /var/lib/systemd && "
            f"mkdir /var/lib/systemd/coredump && echo dump > {DUMP} && "
            f"{bindir}/mw-parent {tmp_path}/parent.sh\n:\n")
        chain = subprocess.Popen(["unshare", "-m", f"{bindir}/mw-gp", f"{tmp_path}/gp.sh"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        end = time.monotonic() + DEADLINE_S
        child_pid, parent_pid = map(int, _wait_line(chain.stdout, end).split())
        gp_pid = int(_stat(parent_pid)[1])
        sid = int(_stat(child_pid)[3])
        alert = None
        while time.monotonic() < end and alert is None:
            lines = out_path.read_bytes().splitlines() if out_path.exists() else []
            for a in map(orjson.loads, lines):
                if (a["rule"] == "Core dump" and a["output_fields"]["fd.name"] == DUMP
                        and a["output_fields"]["proc.ppid"] == child_pid):
                    alert = a
            if alert is None:
                time.sleep(0.1)
        assert alert is not None, f"no alert for the dd of {child_pid}"
        f = alert["output_fields"]
        me = os.getpid()
        expected = {
            "proc.name": "dd", "proc.exe": "dd", "proc.exepath": os.path.realpath("/bin/dd"),
            "proc.args": f"if={DUMP} of=/dev/null bs=1 count=1 status=none",
            "proc.cmdline": f"dd if={DUMP} of=/dev/null bs=1 count=1 status=none",
            "proc.exeline": f"dd if={DUMP} of=/dev/null bs=1 count=1 status=none",
            "proc.cwd": f"{workdir}/", "proc.nthreads": 1, "proc.nchilds": 0,
            "proc.ppid": child_pid, "proc.pname": "mw-child", "proc.pcmdline": _cmdline(child_pid),
            "proc.apid[2]": parent_pid, "proc.aname[2]": _comm(parent_pid),
            "proc.apid[3]": gp_pid, "proc.aname[3]": _comm(gp_pid),
            "proc.apid[4]": int(_stat(gp_pid)[1]), "proc.aname[4]": _comm(int(_stat(gp_pid)[1])),
            "proc.loginshellid": _login_shell(child_pid),
            "proc.sid": sid, "proc.sname": _comm(_session_leader(child_pid, sid)),
            "proc.tty": int(_stat(child_pid)[4]),
            "proc.vpgid": int(_status(child_pid, "NSpgid").split()[-1]),
            "proc.is_exe_writable": os.access(os.path.realpath("/bin/dd"), os.W_OK),
            "user.uid": 0, "user.name": "root", "user.homedir": "/root",
            "user.loginuid": (lambda v: -1 if v == 4294967295 else v)(
                int(Path(f"/proc/{child_pid}/loginuid").read_text())),
            "group.gid": int(_status(child_pid, "Gid").split()[0]), "group.name": "root",
        }
        assert (expected["proc.aname[2]"], expected["proc.aname[3]"]) == ("mw-parent", "mw-gp")
        assert expected["proc.apid[4]"] == me  # unshare exec'd mw-gp: its parent is us
        got = {k: f.get(k) for k in expected}
        assert got == expected
        assert 0 < f["proc.duration"] < DEADLINE_S * 1e9
        assert f["proc.pid"] > 0 and f["evt.type"] in ("open", "openat", "openat2")
        caps = cap_names(int(_status(child_pid, "CapEff"), 16))
        assert f["thread.cap_effective"] == caps  # inherited: mw-child's are dd's
        assert f["thread.cap_permitted"] == cap_names(int(_status(child_pid, "CapPrm"), 16))
        assert f["user.loginname"] == (None if got["user.loginuid"] == -1 else "root")
        # every field of the template is filled, except those that live only in /proc of a
        # process that is gone (and loginname where Falco prints <NA> too)
        missing = {k for k, v in f.items() if v is None}
        assert missing <= GONE_NA | {"user.loginname"}, missing
        assert len(missing - {"user.loginname"}) <= 2
    finally:
        if chain is not None:
            chain.stdin.close()
            try:
                chain.wait(timeout=10)
            except subprocess.TimeoutExpired:
                chain.kill()
        sensor.send_signal(signal.SIGTERM)
        try:
            sensor.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sensor.kill()
