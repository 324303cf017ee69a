"""``memwarden replay`` on audit logs, as a user runs it (real processes)."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import orjson

DATA = Path(__file__).parent.parent / "data"

# A SIGSEGV sent to another process, its core dump, and a write in the core dump store, as
# auditd 3 (ENRICHED format) logs them.
LOG = (
    'type=SYSCALL msg=audit(1700000000.100:74): arch=c000003e syscall=62 success=yes exit=0 '
    'a0=19a3 a1=b a2=0 a3=7fa3 items=0 ppid=6552 pid=6553 auid=4294967295 uid=0 gid=0 '
    'euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="bash" '
    'exe="/usr/bin/bash" key="MW-1003"\x1dARCH=x86_64 SYSCALL=kill AUID="unset" UID="root"\n'
    'type=OBJ_PID msg=audit(1700000000.100:74): opid=6563 oauid=-1 ouid=0 oses=-1 '
    'ocomm="sleep"\x1dOAUID="unset" OUID="root"\n'
    'type=PROCTITLE msg=audit(1700000000.100:74): proctitle=62617368\n'
    'type=ANOM_ABEND msg=audit(1700000000.104:75): auid=4294967295 uid=0 gid=0 '
    'ses=4294967295 pid=6563 comm="sleep" exe="/usr/bin/sleep" sig=11 res=1\x1dAUID="unset"\n'
    'type=SYSCALL msg=audit(1700000000.200:76): arch=c000003e syscall=257 success=yes exit=3 '
    'a0=ffffff9c a1=55de a2=241 a3=1b6 items=2 ppid=6552 pid=6553 auid=4294967295 uid=0 '
    'gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 '
    'comm="bash" exe="/usr/bin/bash" key="CORE_DUMP"\n'
    'type=CWD msg=audit(1700000000.200:76): cwd="/tmp"\n'
    'type=PATH msg=audit(1700000000.200:76): item=0 name="/var/lib/systemd/coredump/" '
    'inode=403154 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 '
    'cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n'
    'type=PATH msg=audit(1700000000.200:76): item=1 name="/var/lib/systemd/coredump/x" '
    'inode=14712833 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE '
    'cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n'
    'type=PROCTITLE msg=audit(1700000000.200:76): proctitle=62617368\n'
)


def memwarden(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], input=stdin,
                          capture_output=True, timeout=60)


def signature_ids(out: bytes) -> list[str]:
    return [orjson.loads(x)["metadata"]["Properties"]["signatureID"]
            for x in out.splitlines() if x.strip()]


def test_audit_logs_are_recognised_and_replayed(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(LOG)
    r = memwarden("replay", "--stats", str(log))
    assert r.returncode == 0, r.stderr
    # the exit waits for signals that may still be logged after it (see the next test)
    assert signature_ids(r.stdout) == ["MW-1003", "MW-1002", "MW-1004"]
    assert b"audit_records: 9" in r.stderr and b"audit_events_complete: 3" in r.stderr
    # stdin, gzip, the explicit source
    assert signature_ids(memwarden("replay", "-", stdin=LOG.encode()).stdout) == [
        "MW-1003", "MW-1002", "MW-1004"]
    gz = tmp_path / "audit.log.1.gz"
    gz.write_bytes(gzip.compress(LOG.encode()))
    r = memwarden("replay", "--source", "audit", "--fail-on-finding", str(gz))
    assert r.returncode == 1 and len(signature_ids(r.stdout)) == 3


def test_a_core_dump_logged_before_the_signal_that_caused_it_names_its_sender(tmp_path: Path
                                                                           ) -> None:
    # The kernel writes ANOM_ABEND when the victim starts dumping, the kill when the sender's
    # syscall returns: the records often arrive in that order, timestamps (taken at syscall
    # entry) in the other.
    lines = LOG.split("\n")
    kill, abend = lines[:3], lines[3]
    log = tmp_path / "audit.log"
    log.write_text("\n".join([abend.replace("1700000000.104:75", "1700000000.100:75"),
                              *[ln.replace(":74)", ":76)") for ln in kill]]) + "\n")
    r = memwarden("replay", str(log))
    found = {f["metadata"]["Properties"]["signatureID"]: f for f in
             (orjson.loads(x) for x in r.stdout.splitlines())}
    dumped = {a["name"]: a["value"] for a in found["MW-1004"]["args"]}
    assert dumped["sent_by"] == "another process" and dumped["sender_pid"] == 6553


def test_json_inputs_keep_the_json_reader_and_mixing_kinds_is_refused(tmp_path: Path) -> None:
    legacy = DATA / "tracee_legacy.jsonl"
    assert signature_ids(memwarden("replay", str(legacy)).stdout)  # auto: still Tracee JSON
    log = tmp_path / "audit.log"
    log.write_text(LOG)
    r = memwarden("replay", str(legacy), str(log))
    assert r.returncode == 2 and b"inputs mix audit logs" in r.stderr


def test_malformed_audit_records_and_strict_mode(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(LOG.replace("a2=241", "a2=xyz"))
    r = memwarden("replay", "--stats", str(log))
    assert r.returncode == 0
    assert f"{log}:5: SYSCALL record: a2='xyz' is not hexadecimal".encode() in r.stderr
    assert b"parse_errors: 1" in r.stderr
    assert signature_ids(r.stdout) == ["MW-1003", "MW-1004"]
    r = memwarden("replay", "--strict", "--source", "audit", str(log))
    assert r.returncode == 2 and b"audit.log:5: SYSCALL record" in r.stderr
    r = memwarden("replay", "--source", "audit", str(tmp_path / "missing.log"))
    assert r.returncode == 2 and b"cannot open" in r.stderr


def test_audit_bench_command_runs_and_reports_both_rates() -> None:
    # a smoke test of the benchmark: it must run, replay every record and report; no timing
    # is asserted
    r = memwarden("bench", "--audit", "--events", "3000")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "audit replay, all detectors:" in out and "records/s" in out
    assert "Tracee JSON replay, all detectors:" in out
    assert re.search(r"audit events/s ÷ Tracee JSON events/s: \d+\.\d\d", out)


def test_replay_gates_paths_like_the_sensor(tmp_path: Path) -> None:
    # a read of /proc/<pid>/stat (collected by the /proc tree rule) is counted, not built
    line = LOG.split("\n")[4].replace(":76)", ":90)").replace("items=2", "items=1")
    log = "\n".join([
        line.replace("a2=241", "a2=0"),
        'type=CWD msg=audit(1700000000.200:90): cwd="/tmp"',
        'type=PATH msg=audit(1700000000.200:90): item=0 name="/proc/1/stat" inode=5 dev=00:15 '
        'mode=0100444 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 '
        'cap_fver=0 cap_frootid=0',
        "type=PROCTITLE msg=audit(1700000000.200:90): proctitle=6361",
    ]) + "\n"
    path = tmp_path / "audit.log"
    path.write_text(log)
    r = memwarden("replay", "--stats", str(path))
    assert r.returncode == 0 and r.stdout == b""
    assert b"events_path_filtered: 1" in r.stderr and b"audit_events_built: 0" in r.stderr
