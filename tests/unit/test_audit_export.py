"""``memwarden export auditd``: the mapping from detector requirements to audit rules."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from memwarden.core.requirements import PathFilter, Requirements, Selector
from memwarden.export.auditd import ExportError, PathProbe, build_rules
from memwarden.signatures import load_builtin


@dataclass
class Fake:
    """A detector as far as the exporter looks at one."""

    detector_id: str
    events: Sequence[str]
    filters: Sequence[tuple[str, str, str]] = ()

    @property
    def requirements(self) -> Requirements:
        return Requirements(tuple(Selector(e) for e in self.events),
                            tuple(PathFilter(*f) for f in self.filters))

    def on_event(self, event):  # pragma: no cover - not called
        return ()


def probe(existing: Sequence[str] = (), dirs: Sequence[str] = ("/", "/dev", "/proc", "/var",
                                                                 "/var/lib")) -> PathProbe:
    present = set(existing) | set(dirs)
    return PathProbe(exists=lambda p: p in present, is_dir=lambda p: p in set(dirs))


OPEN = "security_file_open"


def test_prefix_becomes_a_dir_rule_for_every_file_syscall_and_arch() -> None:
    det = Fake("MW-1", (OPEN, "security_inode_unlink"),
               ((OPEN, "prefix", "/var/lib/x/"), ("security_inode_unlink", "prefix",
                                                  "/var/lib/x/")))
    rs = build_rules([det], machine="x86_64", probe=probe(dirs=("/var/lib/x",)))
    assert rs.lines() == [
        "-a always,exit -F arch=b64 -S open,openat,openat2,creat,unlink,unlinkat "
        "-F dir=/var/lib/x -F success=1 -k MW-1",
        "-a always,exit -F arch=b32 -S open,openat,openat2,creat,unlink,unlinkat "
        "-F dir=/var/lib/x -F success=1 -k MW-1",
    ]
    assert rs.uncovered == {}


def test_arm64_rules_leave_out_syscalls_it_does_not_have() -> None:
    det = Fake("MW-1", ("security_inode_rename",), (("security_inode_rename", "exact",
                                                      "/etc/x"),))
    rs = build_rules([det], machine="aarch64", probe=probe(existing=("/etc/x",)))
    assert rs.lines()[0] == ("-a always,exit -F arch=b64 -S renameat,renameat2 "
                             "-F path=/etc/x -F success=1 -k MW-1")
    assert rs.lines()[1].startswith("-a always,exit -F arch=b32 -S rename,renameat,renameat2")


def test_syscall_events_without_filters_and_shared_rules_carry_every_key() -> None:
    a = Fake("MW-1", ("kill", "tgkill"))
    b = Fake("MW-2", ("kill", "ptrace", "sched_process_exit"))
    rs = build_rules([a, b], machine="x86_64", probe=probe())
    assert rs.lines()[0] == ("-a always,exit -F arch=b64 -S kill,tgkill,ptrace "
                             "-k MW-1 -k MW-2")  # no success filter: failures are events too
    assert "ANOM_ABEND" in " ".join(rs.covered["MW-2"])


def test_procfs_paths_and_basenames_use_the_proc_tree_and_fold_kcore_into_it() -> None:
    mem = Fake("TRC-1023", (OPEN,), ((OPEN, "basename", "mem"),))
    kcore = Fake("TRC-1021", (OPEN,), ((OPEN, "suffix", "/proc/kcore"),))
    sysctl = Fake("TRC-1011", (OPEN,), ((OPEN, "suffix", "/proc/sys/kernel/core_pattern"),))
    rs = build_rules([mem, kcore, sysctl], machine="x86_64", probe=probe())
    assert rs.lines()[0] == ("-a always,exit -F arch=b64 -S open,openat,openat2,creat "
                             "-F dir=/proc -F success=1 -k TRC-1023 -k TRC-1011 -k TRC-1021")
    assert len(rs.lines()) == 2 and rs.uncovered == {}
    assert "/proc/kcore is watched through the /proc tree rule" in rs.render("x")


def test_missing_paths_are_commented_out_where_auditctl_would_refuse_them() -> None:
    kcore = Fake("TRC-1021", (OPEN,), ((OPEN, "suffix", "/proc/kcore"),))
    dev = Fake("MW-7", (OPEN,), ((OPEN, "exact", "/dev/mem"),))
    gone = Fake("MW-8", (OPEN,), ((OPEN, "prefix", "/var/lib/systemd/coredump/"),))
    rs = build_rules([kcore, dev, gone], machine="x86_64", probe=probe())
    assert rs.lines() == [  # /dev/mem's directory exists: the watch loads and waits for it
        "-a always,exit -F arch=b64 -S open,openat,openat2,creat -F path=/dev/mem "
        "-F success=1 -k MW-7",
        "-a always,exit -F arch=b32 -S open,openat,openat2,creat -F path=/dev/mem "
        "-F success=1 -k MW-7",
    ]
    text = rs.render("test")
    assert "# NOT LOADED: /proc/kcore does not exist on this host" in text
    assert "#-a always,exit -F arch=b64 -S open,openat,openat2,creat -F path=/proc/kcore" in text
    assert "/var/lib/systemd/coredump does not exist" in " ".join(rs.uncovered["MW-8"])
    assert "/dev/mem is not on this host now" in text
    kept = build_rules([kcore], machine="x86_64", probe=probe(), keep_missing=True)
    assert kept.lines()[0].endswith("-F path=/proc/kcore -F success=1 -k TRC-1021")


def test_unmatchable_basenames_need_broad_rules() -> None:
    det = Fake("MW-9", (OPEN,), ((OPEN, "basename", "id_rsa"),))
    rs = build_rules([det], machine="x86_64", probe=probe())
    assert rs.lines() == []
    assert "auditd cannot match a basename" in rs.uncovered["MW-9"][0]
    assert "#-a always,exit -F arch=b64 -S open,openat,openat2,creat -F success=1 -k MW-9" \
        in rs.render("x")
    broad = build_rules([det], machine="x86_64", probe=probe(), broad=True)
    assert broad.lines()[0] == ("-a always,exit -F arch=b64 -S open,openat,openat2,creat "
                                "-F success=1 -k MW-9")
    # a broad file rule never merges with (and so never silently enables) an exec rule
    ex = Fake("MW-10", ("sched_process_exec",))
    both = build_rules([det, ex], machine="x86_64", probe=probe())
    assert both.lines() == ["-a always,exit -F arch=b64 -S execve,execveat -F success=1 "
                            "-k MW-10",
                            "-a always,exit -F arch=b32 -S execve,execveat -F success=1 "
                            "-k MW-10"]


def test_events_audit_cannot_see_are_reported() -> None:
    det = Fake("MW-11", ("sched_process_fork",))
    rs = build_rules([det], machine="x86_64", probe=probe())
    assert rs.uncovered == {"MW-11": ["sched_process_fork: audit has no equivalent"]}


def test_unknown_machine() -> None:
    with pytest.raises(ExportError, match="no audit syscall table for machine 'mips'"):
        build_rules([], machine="mips")


def test_builtin_signatures_on_this_host() -> None:
    rs = build_rules(load_builtin())
    keys = {k for r in rs.rules if not r.disabled for k in r.keys}
    # every built-in signature is recorded by some loaded rule here, kcore through /proc
    assert keys >= {"TRC-1021", "TRC-1023", "MW-1001", "MW-1002", "MW-1003", "MW-1006"}


def test_cli_writes_the_file_and_reports_what_is_not_recorded(tmp_path) -> None:
    out = tmp_path / "memwarden.rules"
    r = subprocess.run([sys.executable, "-m", "memwarden", "export", "auditd", "-o",
                        str(out), "-s", "proc_kcore_read", "--machine", "x86_64"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("## memwarden") and "TRC-1021" in text
    if "NOT LOADED" in text:  # no /proc/kcore on this host
        assert "TRC-1021: not recorded by auditd" in r.stderr
    r = subprocess.run([sys.executable, "-m", "memwarden", "export", "auditd", "-s",
                        "nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown signature 'nope'" in r.stderr
