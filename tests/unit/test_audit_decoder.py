# ruff: noqa: E501 - audit records are long lines, kept verbatim
"""Audit logs → memwarden events: hand-written records replayed through the real pipeline.

Covers interleaved events, hex-encoded fields, relative paths (CWD, PARENT, directory fds),
32-bit architectures, renames over existing names, links, signals, ptrace, process_vm_*,
execve arguments, ANOM_ABEND, missing ends of events, truncated and malformed lines.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memwarden.core.detector import NO_FINDINGS
from memwarden.core.event import Event
from memwarden.core.requirements import Requirements, Selector
from memwarden.engine.dispatch import Engine
from memwarden.sources.audit.logfile import AuditLogReplay
from memwarden.sources.tracee_json import InputError

EVENTS = ("security_file_open", "security_inode_unlink", "security_inode_rename",
          "security_inode_link", "kill", "tkill", "tgkill", "pidfd_send_signal", "ptrace",
          "process_vm_readv", "process_vm_writev", "sched_process_exec", "sched_process_exit")

# The fields of a SYSCALL record after ``items=`` that these tests do not vary.
TAIL = ('ppid=100 pid=200 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 '
        'egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3')


class Recorder:
    """A detector that keeps every event it is given."""

    detector_id = "TEST-REC"
    def __init__(self, names: Sequence[str] = EVENTS) -> None:
        self.requirements = Requirements(tuple(Selector(n) for n in names))
        self.events: list[Event] = []

    def on_event(self, event: Event) -> Sequence[Any]:
        self.events.append(event)
        return NO_FINDINGS


def replay(tmp_path: Path, *logs: str, strict: bool = False, names: Sequence[str] = EVENTS,
           gz: bool = False) -> tuple[list[Event], str, Engine, AuditLogReplay]:
    paths = []
    for i, text in enumerate(logs):
        data = text.lstrip("\n").encode()
        path = tmp_path / f"audit{i}.log"
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(str(path))
    rec = Recorder(names)
    engine = Engine([rec])
    err = io.StringIO()
    r = AuditLogReplay(paths, engine, strict=strict, err=err)
    r.run()
    return rec.events, err.getvalue(), engine, r


def args(event: Event) -> dict[str, Any]:
    return {a["name"]: a["value"] for a in event.args}


# -- opens ---------------------------------------------------------------------------------------

OPEN_RELATIVE = f"""
type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1 a2=0 a3=0 items=1 {TAIL} comm="cat" exe="/usr/bin/cat" key="MW-1001"
type=CWD msg=audit(1700000000.100:10): cwd="/var/lib/systemd"
type=PATH msg=audit(1700000000.100:10): item=0 name="coredump/../coredump/core.cat.zst" inode=1234 dev=fe:01 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.100:10): proctitle=636174
"""


def test_open_relative_to_cwd_with_context(tmp_path: Path) -> None:
    events, err, engine, r = replay(tmp_path, OPEN_RELATIVE)
    assert err == ""
    (ev,) = events
    assert ev.name == "security_file_open"
    assert args(ev) == {
        "pathname": "/var/lib/systemd/coredump/core.cat.zst", "flags": 0,
        "dev": (0xFE << 20) | 1, "inode": 1234, "ctime": 0,
        "syscall_pathname": "coredump/../coredump/core.cat.zst",
        "real_pathname": "", "fs_magic": 0, "rdev": 0, "proc_host_pid": 0, "core_store": 0,
        "auid": 1000, "audit_key": "MW-1001"}
    d = ev.data
    assert (d["processId"], d["hostProcessId"], d["threadId"], d["parentProcessId"],
            d["hostParentProcessId"], d["userId"]) == (200, 200, 200, 100, 100, 1000)
    assert (d["processName"], d["executable"]["path"], d["syscall"], d["returnValue"]) == (
        "cat", "/usr/bin/cat", "openat", 3)
    assert d["timestamp"] == 1700000000_100000000
    assert d["contextFlags"] == {"containerStarted": False, "isCompat": False}
    assert r.stats()["audit_events_complete"] == 1


def test_interleaved_records_hex_fields_and_several_keys(tmp_path: Path) -> None:
    log = f"""
type=SYSCALL msg=audit(1700000000.200:21): arch=c000003e syscall=2 success=yes exit=4 a0=55aa a1=241 a2=1b6 a3=0 items=2 {TAIL} comm=6D7920636174 exe="/usr/bin/cat" key=4D572D31303031014D572D31303032
type=SYSCALL msg=audit(1700000000.200:22): arch=c000003e syscall=257 success=yes exit=5 a0=ffffff9c a1=55ab a2=2 a3=0 items=1 {TAIL} comm="dd" exe="/usr/bin/dd" key=(null)
type=CWD msg=audit(1700000000.200:22): cwd="/"
type=CWD msg=audit(1700000000.200:21): cwd="/root"
type=PATH msg=audit(1700000000.200:22): item=0 name="/proc/1234/mem" inode=99 dev=00:15 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.200:21): item=0 name="/var/lib/systemd/coredump/" inode=5 dev=fe:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.200:21): item=1 name=2F7661722F6C69622F73797374656D642F636F726564756D702F6120622E7A7374 inode=6 dev=fe:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.200:22): proctitle=6464
type=PROCTITLE msg=audit(1700000000.200:21): proctitle=636174
"""
    events, err, _, _ = replay(tmp_path, log)
    assert err == ""
    assert [args(e)["pathname"] for e in events] == [
        "/proc/1234/mem", "/var/lib/systemd/coredump/a b.zst"]
    dd, cat = events
    assert args(dd)["flags"] == 2 and args(dd)["audit_key"] == ""
    assert cat.data["processName"] == "my cat"
    assert args(cat)["flags"] == 0o1101 and cat.data["syscall"] == "open"
    assert args(cat)["audit_key"] == "MW-1001,MW-1002"


def test_32_bit_arch_syscall_numbers_and_compat_flag(tmp_path: Path) -> None:
    log = f"""
type=SYSCALL msg=audit(1700000000.300:30): arch=40000003 syscall=295 success=yes exit=3 a0=ffffff9c a1=8050000 a2=8000 a3=0 items=1 {TAIL} comm="cat32" exe="/opt/cat32" key=(null)
type=CWD msg=audit(1700000000.300:30): cwd="/tmp"
type=PATH msg=audit(1700000000.300:30): item=0 name="/proc/kcore" inode=4026531996 dev=00:15 mode=0100400 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.300:30): proctitle=6361743332
type=SYSCALL msg=audit(1700000000.300:31): arch=40000003 syscall=37 success=yes exit=0 a0=1f5 a1=b a2=0 a3=0 items=0 {TAIL} comm="kill32" exe="/opt/kill32" key=(null)
type=PROCTITLE msg=audit(1700000000.300:31): proctitle=6B696C6C3332
type=SYSCALL msg=audit(1700000000.300:32): arch=c00000b7 syscall=56 success=yes exit=3 a0=ffffff9c a1=ffff0000 a2=0 a3=0 items=1 {TAIL} comm="cat" exe="/usr/bin/cat" key=(null)
type=CWD msg=audit(1700000000.300:32): cwd="/"
type=PATH msg=audit(1700000000.300:32): item=0 name="/proc/kcore" inode=4026531996 dev=00:15 mode=0100400 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.300:32): proctitle=636174
"""
    events, err, _, _ = replay(tmp_path, log)
    assert err == ""
    open32, kill32, arm64 = events
    assert (open32.name, open32.data["syscall"], args(open32)["flags"]) == (
        "security_file_open", "openat", 0o100000)
    assert open32.data["contextFlags"]["isCompat"] is True
    assert (kill32.name, args(kill32)["pid"], args(kill32)["sig"]) == ("kill", 501, 11)
    assert arm64.data["syscall"] == "openat" and not arm64.data["contextFlags"]["isCompat"]


def test_failed_and_o_path_opens_are_not_security_file_open(tmp_path: Path) -> None:
    log = f"""
type=SYSCALL msg=audit(1700000000.400:40): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=1 a2=0 a3=0 items=1 {TAIL} comm="cat" exe="/usr/bin/cat" key=(null)
type=CWD msg=audit(1700000000.400:40): cwd="/"
type=PATH msg=audit(1700000000.400:40): item=0 name="/proc/kcore" inode=1 dev=00:15 mode=0100400 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.400:40): proctitle=636174
type=SYSCALL msg=audit(1700000000.400:41): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=200000 a3=0 items=1 {TAIL} comm="stat" exe="/usr/bin/stat" key=(null)
type=CWD msg=audit(1700000000.400:41): cwd="/"
type=PATH msg=audit(1700000000.400:41): item=0 name="/proc/kcore" inode=1 dev=00:15 mode=0100400 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.400:41): proctitle=73746174
"""
    events, err, _, _ = replay(tmp_path, log)
    assert events == [] and err == ""


def test_openat2_flags_come_from_the_openat2_record(tmp_path: Path) -> None:
    log = f"""
type=SYSCALL msg=audit(1700000000.500:50): arch=c000003e syscall=437 success=yes exit=3 a0=ffffff9c a1=7ff a2=7fe a3=18 items=1 {TAIL} comm="o2" exe="/opt/o2" key=(null)
type=OPENAT2 msg=audit(1700000000.500:50): oflag=0100001 mode=0600 resolve=0x0
type=CWD msg=audit(1700000000.500:50): cwd="/"
type=PATH msg=audit(1700000000.500:50): item=0 name="/proc/sys/kernel/core_pattern" inode=77 dev=00:15 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.500:50): proctitle=6F32
"""
    events, _, _, r = replay(tmp_path, log)
    assert args(events[0])["flags"] == 0o100001
    without = log.replace("type=OPENAT2 msg=audit(1700000000.500:50): "
                          "oflag=0100001 mode=0600 resolve=0x0\n", "")
    events, _, _, r = replay(tmp_path, without)
    assert args(events[0])["flags"] == 2  # unknown (kernel < 5.16): read and write assumed
    assert r.stats()["audit_openat2_flags_unknown"] == 1


# -- directory fds ---------------------------------------------------------------------------

def test_names_relative_to_a_directory_fd(tmp_path: Path) -> None:
    # The directory is opened by name first; names relative to its fd are then resolved
    # through the PARENT item's inode (audit itself writes the cwd there) or the object's own.
    log = f"""
type=SYSCALL msg=audit(1700000000.600:60): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=90000 a3=0 items=1 {TAIL} comm="py" exe="/usr/bin/py" key=(null)
type=CWD msg=audit(1700000000.600:60): cwd="/tmp"
type=PATH msg=audit(1700000000.600:60): item=0 name="/var/lib/systemd/coredump" inode=403154 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.600:60): proctitle=7079
type=SYSCALL msg=audit(1700000000.600:61): arch=c000003e syscall=257 success=yes exit=4 a0=3 a1=1 a2=80041 a3=180 items=2 {TAIL} comm="py" exe="/usr/bin/py" key=(null)
type=CWD msg=audit(1700000000.600:61): cwd="/tmp"
type=PATH msg=audit(1700000000.600:61): item=0 name="/tmp" inode=403154 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.600:61): item=1 name="dfd.txt" inode=555 dev=fe:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.600:61): proctitle=7079
type=SYSCALL msg=audit(1700000000.600:62): arch=c000003e syscall=257 success=yes exit=4 a0=3 a1=1 a2=80001 a3=180 items=1 {TAIL} comm="py" exe="/usr/bin/py" key=(null)
type=CWD msg=audit(1700000000.600:62): cwd="/tmp"
type=PATH msg=audit(1700000000.600:62): item=0 name="dfd.txt" inode=555 dev=fe:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.600:62): proctitle=7079
type=SYSCALL msg=audit(1700000000.600:63): arch=c000003e syscall=263 success=yes exit=0 a0=3 a1=1 a2=0 a3=0 items=2 {TAIL} comm="py" exe="/usr/bin/py" key=(null)
type=CWD msg=audit(1700000000.600:63): cwd="/home/u"
type=PATH msg=audit(1700000000.600:63): item=0 name="/home/u" inode=403154 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.600:63): item=1 name="dfd.txt" inode=555 dev=fe:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.600:63): proctitle=7079
type=SYSCALL msg=audit(1700000000.600:64): arch=c000003e syscall=263 success=yes exit=0 a0=7 a1=1 a2=0 a3=0 items=2 {TAIL} comm="py" exe="/usr/bin/py" key=(null)
type=CWD msg=audit(1700000000.600:64): cwd="/home/u"
type=PATH msg=audit(1700000000.600:64): item=0 name="/home/u" inode=999 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.600:64): item=1 name="other.txt" inode=556 dev=fe:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.600:64): proctitle=7079
"""
    events, err, _, r = replay(tmp_path, log)
    assert err == ""
    assert [(e.name, args(e)["pathname"]) for e in events] == [
        ("security_file_open", "/var/lib/systemd/coredump"),
        ("security_file_open", "/var/lib/systemd/coredump/dfd.txt"),
        ("security_file_open", "/var/lib/systemd/coredump/dfd.txt"),
        ("security_inode_unlink", "/var/lib/systemd/coredump/dfd.txt"),
        ("security_inode_unlink", "/home/u/other.txt"),  # unknown directory: the cwd, counted
    ]
    assert r.stats()["audit_paths_guessed"] == 1


# -- unlink, rename, link ----------------------------------------------------------------------

RENAME_OVER = f"""
type=SYSCALL msg=audit(1700000000.700:70): arch=c000003e syscall=264 success=yes exit=0 a0=ffffff9c a1=1 a2=ffffff9c a3=2 items=5 {TAIL} comm="mv" exe="/usr/bin/mv" key=(null)
type=CWD msg=audit(1700000000.700:70): cwd="/var/lib/systemd/coredump"
type=PATH msg=audit(1700000000.700:70): item=0 name="/var/lib/systemd/coredump" inode=10 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:70): item=1 name="/tmp/" inode=11 dev=fe:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:70): item=2 name="core.x" inode=20 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:70): item=3 name="/tmp/loot" inode=21 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:70): item=4 name="/tmp/loot" inode=20 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.700:70): proctitle=6D76
type=SYSCALL msg=audit(1700000000.700:71): arch=c000003e syscall=265 success=yes exit=0 a0=ffffff9c a1=1 a2=ffffff9c a3=2 items=3 {TAIL} comm="ln" exe="/usr/bin/ln" key=(null)
type=CWD msg=audit(1700000000.700:71): cwd="/"
type=PATH msg=audit(1700000000.700:71): item=0 name="/tmp/" inode=11 dev=fe:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:71): item=1 name="/var/lib/systemd/coredump/core.y" inode=22 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:71): item=2 name="/tmp/y" inode=22 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.700:71): proctitle=6C6E
type=SYSCALL msg=audit(1700000000.700:72): arch=c000003e syscall=87 success=yes exit=0 a0=55 a1=0 a2=0 a3=0 items=2 {TAIL} comm="rm" exe="/usr/bin/rm" key=(null)
type=CWD msg=audit(1700000000.700:72): cwd="/var/lib/systemd"
type=PATH msg=audit(1700000000.700:72): item=0 name="coredump/" inode=10 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:72): item=1 name="coredump/core.z" inode=23 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.700:72): proctitle=726D
type=SYSCALL msg=audit(1700000000.700:73): arch=c000003e syscall=316 success=no exit=-17 a0=ffffff9c a1=1 a2=ffffff9c a3=2 items=2 {TAIL} comm="mv" exe="/usr/bin/mv" key=(null)
type=CWD msg=audit(1700000000.700:73): cwd="/"
type=PATH msg=audit(1700000000.700:73): item=0 name="/tmp/" inode=11 dev=fe:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.700:73): item=1 name="/tmp/" inode=11 dev=fe:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.700:73): proctitle=6D76
"""


def test_rename_over_an_existing_name_link_and_unlink(tmp_path: Path) -> None:
    events, err, _, _ = replay(tmp_path, RENAME_OVER)
    assert err == ""
    assert [(e.name, args(e).get("old_path") or args(e)["pathname"],
             args(e).get("new_path")) for e in events] == [
        ("security_inode_rename", "/var/lib/systemd/coredump/core.x", "/tmp/loot"),
        ("security_inode_link", "/var/lib/systemd/coredump/core.y", "/tmp/y"),
        ("security_inode_unlink", "/var/lib/systemd/coredump/core.z", None),
    ]  # the failed renameat2 (EEXIST) is not an event
    assert args(events[2])["inode"] == 23 and args(events[2])["dev"] == 0xFE << 20


# -- signals, ptrace, process_vm, exec, abend ----------------------------------------------------

PROCESS_EVENTS = f"""
type=SYSCALL msg=audit(1700000000.800:80): arch=c000003e syscall=62 success=yes exit=0 a0=19a3 a1=b a2=0 a3=7fa3 items=0 {TAIL} comm="bash" exe="/usr/bin/bash" key="MW-1003"
type=OBJ_PID msg=audit(1700000000.800:80): opid=6563 oauid=-1 ouid=0 oses=-1 ocomm="sleep"
type=PROCTITLE msg=audit(1700000000.800:80): proctitle=62617368
type=SYSCALL msg=audit(1700000000.800:81): arch=c000003e syscall=234 success=yes exit=0 a0=1f4 a1=1f5 a2=6 a3=0 items=0 {TAIL} comm="t" exe="/t" key=(null)
type=PROCTITLE msg=audit(1700000000.800:81): proctitle=74
type=SYSCALL msg=audit(1700000000.800:82): arch=c000003e syscall=424 success=yes exit=0 a0=5 a1=3 a2=0 a3=0 items=0 {TAIL} comm="p" exe="/p" key=(null)
type=OBJ_PID msg=audit(1700000000.800:82): opid=777 oauid=-1 ouid=0 oses=-1 ocomm="victim"
type=PROCTITLE msg=audit(1700000000.800:82): proctitle=70
type=SYSCALL msg=audit(1700000000.800:83): arch=c000003e syscall=62 success=no exit=-3 a0=ffffffff a1=9 a2=0 a3=0 items=0 {TAIL} comm="k" exe="/k" key=(null)
type=PROCTITLE msg=audit(1700000000.800:83): proctitle=6B
type=SYSCALL msg=audit(1700000000.800:84): arch=c000003e syscall=101 success=yes exit=0 a0=4206 a1=1f6 a2=0 a3=ffffffffffffffff items=0 {TAIL} comm="gdb" exe="/usr/bin/gdb" key=(null)
type=PROCTITLE msg=audit(1700000000.800:84): proctitle=676462
type=SYSCALL msg=audit(1700000000.800:85): arch=c000003e syscall=310 success=yes exit=4096 a0=1f6 a1=7ffc0 a2=1 a3=7ffd0 items=0 {TAIL} comm="r" exe="/r" key=(null)
type=PROCTITLE msg=audit(1700000000.800:85): proctitle=72
type=SYSCALL msg=audit(1700000000.800:86): arch=c000003e syscall=59 success=yes exit=0 a0=55 a1=56 a2=57 a3=0 items=2 {TAIL} comm="dd" exe="/usr/bin/dd" key=(null)
type=EXECVE msg=audit(1700000000.800:86): argc=4 a0="dd" a1=69663D2F70726F632F312F6D656D a2_len=6 a2[0]="bs" a2[1]=3D31 a3="count=1"
type=CWD msg=audit(1700000000.800:86): cwd="/root"
type=PATH msg=audit(1700000000.800:86): item=0 name="/usr/bin/dd" inode=300 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.800:86): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=301 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.800:86): proctitle=6464
type=ANOM_ABEND msg=audit(1700000000.800:87): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=6563 comm="sleep" exe="/usr/bin/sleep" sig=11 res=1
"""


def test_signals_ptrace_process_vm_exec_and_abend(tmp_path: Path) -> None:
    events, err, _, _ = replay(tmp_path, PROCESS_EVENTS)
    assert err == ""
    got = [(e.name, args(e), e.return_value) for e in events]
    strip = {"auid", "audit_key"}
    assert [(n, {k: v for k, v in a.items() if k not in strip}, rv) for n, a, rv in got] == [
        ("kill", {"pid": 6563, "sig": 11}, 0),
        ("tgkill", {"tgid": 500, "tid": 501, "sig": 6}, 0),
        ("pidfd_send_signal", {"pidfd": 5, "sig": 3, "info": 0, "flags": 0,
                               "target_pid": 777}, 0),
        ("kill", {"pid": -1, "sig": 9}, -3),  # failed signal syscalls are events too
        ("ptrace", {"request": 0x4206, "pid": 502, "addr": 0, "data": 2**64 - 1}, 0),
        ("process_vm_readv", {"pid": 502, "local_iov": 0x7FFC0, "liovcnt": 1,
                              "remote_iov": 0x7FFD0, "riovcnt": 0, "flags": 0}, 4096),
        ("sched_process_exec", {"cmdpath": "/usr/bin/dd", "pathname": "/usr/bin/dd",
                                "argv": ["dd", "if=/proc/1/mem", "bs=1", "count=1"],
                                "dev": 0xFE << 20, "inode": 300, "cwd": "/root",
                                "loginuid": 1000, "sid": 3, "pgid": None, "vpgid": None,
                                "tty": None, "gid": 1000, "euid": 1000,
                                "cap_permitted": None, "cap_inheritable": None,
                                "cap_effective": None}, 0),
        ("sched_process_exit", {"exit_code": 0x80 | 11, "process_group_exit": True,
                                "signal": 11, "core_dumped": True}, 0),
    ]
    assert args(events[0])["audit_key"] == "MW-1003"
    abend = events[-1]
    assert (abend.host_pid, abend.process_name, abend.executable, abend.uid) == (
        6563, "sleep", "/usr/bin/sleep", 0)


def test_built_in_signatures_fire_on_audit_events(tmp_path: Path) -> None:
    from memwarden.signatures import load_builtin

    path = tmp_path / "audit.log"
    path.write_text(PROCESS_EVENTS.lstrip() + RENAME_OVER.lstrip())
    found: list = []
    AuditLogReplay([str(path)], Engine(load_builtin(), sink=found.append),
                   err=io.StringIO()).run()
    ids = {f.metadata.id for f in found}
    assert {"MW-1003", "MW-1004", "MW-1002", "MW-1006", "MW-1005"} <= ids


def test_only_wanted_events_are_built(tmp_path: Path) -> None:
    events, _, engine, r = replay(tmp_path, PROCESS_EVENTS + RENAME_OVER,
                                  names=("security_inode_link",))
    assert [e.name for e in events] == ["security_inode_link"]
    assert engine.stats.events_in == 1
    assert r.stats()["audit_events_skipped"] >= 8  # dropped on their SYSCALL record


# -- incomplete, truncated, malformed ---------------------------------------------------------

def test_missing_ends_of_events_are_flushed_and_reported(tmp_path: Path) -> None:
    # netlink-style records without PROCTITLE, the last one before the end of the input;
    # events of later seconds flush the first after the 2 s timeout of record time
    log = f"""
type=SYSCALL msg=audit(1700000000.100:1): arch=c000003e syscall=62 success=yes exit=0 a0=10 a1=b a2=0 a3=0 items=0 {TAIL} comm="k" exe="/k" key=(null)
type=SYSCALL msg=audit(1700000003.100:2): arch=c000003e syscall=62 success=yes exit=0 a0=11 a1=b a2=0 a3=0 items=0 {TAIL} comm="k" exe="/k" key=(null)
type=PROCTITLE msg=audit(1700000003.100:2): proctitle=6B
type=SYSCALL msg=audit(1700000004.100:3): arch=c000003e syscall=62 success=yes exit=0 a0=12 a1=b a2=0 a3=0 items=0 {TAIL} comm="k" exe="/k" key=(null)
"""
    events, err, _, r = replay(tmp_path, log)
    assert [args(e)["pid"] for e in events] == [16, 17, 18]
    assert r.stats()["audit_events_incomplete"] == 2
    lines = err.splitlines()
    assert lines[0].endswith("audit0.log:1: audit event 1700000000.100:1 incomplete (no end "
                             "of event after 2 s): decoded from the 1 records that arrived")
    assert "audit0.log:4: audit event 1700000004.100:3 incomplete (end of input)" in lines[1]


def test_orphan_records_without_their_syscall(tmp_path: Path) -> None:
    log = """
type=CWD msg=audit(1700000000.100:1): cwd="/"
type=PATH msg=audit(1700000000.100:1): item=0 name="/etc/x" inode=1 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.100:1): proctitle=6B
type=BPF msg=audit(1700000000.200:2): prog-id=104 op=UNLOAD
"""
    events, err, _, r = replay(tmp_path, log)
    assert events == [] and err == ""  # ended by PROCTITLE; nothing to build without SYSCALL
    assert r.stats()["audit_events_incomplete"] == 0  # a lone BPF record is an event alone


def test_truncated_and_malformed_lines_are_reported_counted_and_skipped(tmp_path: Path
                                                                        ) -> None:
    good = OPEN_RELATIVE.strip().splitlines()
    log = "\n".join([
        "this is not an audit record",
        good[0].replace("a2=0", "a2=zz"),  # not hex
        good[1], good[2], good[3],
        *[ln.replace(":10)", ":11)") for ln in good[:2]],
        good[2].replace(":10)", ":11)").replace('.zst" inode', '.zst inode'),
        good[3].replace(":10)", ":11)"),
        *[ln.replace(":10)", ":12)") for ln in good],
        "",
        good[0].replace(":10)", ":13)")[:60],  # cut off: no end of line
    ])
    events, err, engine, r = replay(tmp_path, log)
    lines = err.splitlines()
    assert lines[0] == "memwarden: " + str(tmp_path / "audit0.log") + \
        ":1: not an audit record (no 'type=')"
    assert ":2: SYSCALL record: a2='zz' is not hexadecimal" in lines[1]
    assert ":8: PATH record: name: unterminated quoted string" in lines[2]
    assert ":15: truncated record (no end of line after 60 bytes)" in lines[3]
    assert len(lines) == 4
    assert [e.data["timestamp"] for e in events] == [1700000000_100000000]  # event 12
    assert engine.stats.parse_errors == 4 and r.stats()["audit_records_malformed"] == 4


def test_strict_mode_stops_at_the_first_malformed_record(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"audit0.log:5: not an audit record"):
        replay(tmp_path, OPEN_RELATIVE.lstrip("\n") + "garbage\n", strict=True)


# -- several inputs --------------------------------------------------------------------------

def test_rotated_gzip_logs_replay_oldest_first_and_events_straddle_them(tmp_path: Path
                                                                        ) -> None:
    lines = RENAME_OVER.strip().splitlines()
    older = "\n".join(lines[:4]) + "\n"  # the rename's first records, then rotation
    newer = "\n".join(lines[4:]) + "\n"
    (tmp_path / "audit.log.1").write_bytes(gzip.compress(older.encode()))
    (tmp_path / "audit.log").write_text(newer)
    rec = Recorder()
    err = io.StringIO()
    r = AuditLogReplay([str(tmp_path / "audit.log"), str(tmp_path / "audit.log.1")],
                       Engine([rec]), err=err)
    assert r.paths == [str(tmp_path / "audit.log.1"), str(tmp_path / "audit.log")]
    r.run()
    assert "replaying audit logs oldest first" in err.getvalue()
    assert [e.name for e in rec.events] == ["security_inode_rename", "security_inode_link",
                                            "security_inode_unlink"]
    assert args(rec.events[0])["new_path"] == "/tmp/loot"


def test_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        AuditLogReplay([str(tmp_path / "missing.log")], Engine([Recorder()])).run()
