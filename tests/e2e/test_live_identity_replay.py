"""Issue 15: what the live sensor judged by identity replays to the same findings.

``memwarden record`` while the identity classes happen for real, then ``memwarden replay`` of
the recording (prefiltered and not), with the same detectors: every finding of our actions
comes back, no other.

- a procfs somewhere else: another process's mem read through a second procfs (TRC-1023;
  ``pathname`` already names it under /proc);
- a device by its number: a node made with mknod under another name (a Falco rule on the
  device's name, /dev/full: the sensor names it so);
- a core by identity: a stored core read through a hard link made outside the store (MW-1001:
  ``core_store`` 1, ``pathname`` outside the store: the engine's gate and the replay
  prefilter keep it by its identity argument);
- a core moved out of the store through a symlinked directory (MW-1002: the recorded rename
  names the store).

Every action runs in a private mount namespace (tmpfs over /var/lib/systemd: the host's store
is never touched).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from ebpf_live import require_sensor_and_coredump_dir
from test_live_ebpf_cli import Running, memwarden, wait_until

pytestmark = pytest.mark.live

PYTHON = os.path.realpath(sys.executable)
STORE = "/var/lib/systemd/coredump"
OTHER = "/var/lib/systemd/other"
RULE = """\
- rule: Memory driver read
  desc: "a read of the memory driver's /dev/full, by number (any node name)"
  condition: evt.type in (open, openat, openat2) and fd.name = /dev/full
  output: "read of %fd.name by %proc.name"
  priority: WARNING
"""
DETECTORS = ("--enable", "TRC-1023", "--enable", "MW-1001", "--enable", "MW-1002")


def private(setup: str, code: str) -> int:
    """``setup`` in a private mount namespace with a tmpfs over /var/lib/systemd, then Python
    running ``code`` there; the reader's pid."""
    body = (f"mount -t tmpfs none /var/lib/systemd && mkdir -p {STORE} {OTHER} && {setup} && "
            f"echo $$ && exec {PYTHON} -c {shlex.quote(code)}")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split(), r.stderr
    return int(r.stdout.split()[-1])


def read(path: str) -> str:
    return f"import os; os.close(os.open({path!r}, os.O_RDONLY))"


def key(f: dict) -> tuple:
    """A finding as both runs must give it: what fired, on which process, on which event."""
    trigger = next(a["value"] for a in f["args"] if a["name"] == "triggeredBy")
    return (f["eventName"], f["hostProcessId"], trigger["name"], f["timestamp"])


def test_recorded_identity_findings_replay_the_same(tmp_path: Path) -> None:
    require_sensor_and_coredump_dir()
    rules = tmp_path / "device.yaml"
    rules.write_text(RULE)
    rec = tmp_path / "live.jsonl"
    victim = subprocess.Popen([PYTHON, "-c", "import sys; print('up', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    mw = Running("record", str(rec), *DETECTORS, "--rules", str(rules))
    try:
        assert victim.stdout is not None and victim.stdout.readline() == "up\n"
        mw.wait_ready()
        p2, node = tmp_path / "p2", tmp_path / "node"
        p2.mkdir()
        procfs = private(f"mount -t proc proc {p2}", read(f"{p2}/{victim.pid}/mem"))
        device = private(f"mknod {node} c 1 7", read(str(node)))
        core = private(f"sh -c 'echo secret > {STORE}/core.x' && "
                       f"ln {STORE}/core.x {OTHER}/notes", read(f"{OTHER}/notes"))
        # the renamer stays alive until its finding is seen: its namespace is gone with it
        # (its parent is this test, on the host), and with it the symlink to judge
        mover = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs none /var/lib/systemd && mkdir -p {STORE} {OTHER} && "
             f"echo secret > {STORE}/core.y && ln -s {STORE} /var/lib/systemd/link && "
             f"exec {PYTHON} -c \"import os, sys; os.rename('/var/lib/systemd/link/core.y', "
             f"'{OTHER}/out'); print(os.getpid(), flush=True); sys.stdin.read()\""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert mover.stdout is not None
        moved = int(mover.stdout.readline())
        ours = {procfs: "proc_mem_access", device: "memory_driver_read",
                core: "core_dump_read", moved: "core_dump_tampering"}

        def seen() -> dict[int, set[str]]:
            found: dict[int, set[str]] = {}
            for f in mw.findings():
                found.setdefault(f["hostProcessId"], set()).add(f["eventName"])
            return found

        try:
            try:
                wait_until("the live findings", lambda: all(
                    name in seen().get(pid, set()) for pid, name in ours.items()))
            except AssertionError:
                raise AssertionError(f"live findings {seen()} for {ours}: "
                                     f"{mw.err[-20:]}") from None
        finally:
            mover.communicate("", timeout=30)
    finally:
        assert mw.stop() == 0
        victim.kill()
        victim.wait()
    live = [f for f in mw.findings() if f["hostProcessId"] in ours]
    by_pid = {f["hostProcessId"]: f for f in live if f["eventName"] == ours[f["hostProcessId"]]}
    trig = {pid: {a["name"]: a["value"] for a in next(
        x["value"] for x in f["args"] if x["name"] == "triggeredBy")["args"]}
        for pid, f in by_pid.items()}
    assert trig[core]["pathname"] == f"{OTHER}/notes" and trig[core]["core_store"] == 1
    assert trig[device]["pathname"] == "/dev/full" and trig[device]["real_pathname"] == str(node)
    assert trig[procfs]["pathname"] == f"/proc/{victim.pid}/mem"
    assert (trig[moved]["old_path"], trig[moved]["real_old_path"]) == (
        f"{STORE}/core.y", "/var/lib/systemd/link/core.y")
    for prefilter in ("--prefilter", "--no-prefilter"):
        r = subprocess.run(memwarden("replay", prefilter, str(rec), *DETECTORS,
                                     "--rules", str(rules)),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        replayed = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        assert Counter(key(f) for f in replayed if f["hostProcessId"] in ours) == Counter(
            key(f) for f in live), prefilter
