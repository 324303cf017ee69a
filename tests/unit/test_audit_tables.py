"""The embedded syscall tables agree with libaudit's (``ausyscall``), which auditctl uses."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from memwarden.events.audit_syscalls import ARCHES, MACHINE_TABLES, SYSCALL_NAMES, SYSCALLS
from memwarden.sources.audit.decoder import SYSCALL_EVENTS


@pytest.mark.parametrize("table", sorted(SYSCALLS))
def test_numbers_match_ausyscall(table: str) -> None:
    if shutil.which("ausyscall") is None:
        pytest.skip("ausyscall (Debian package auditd) is not installed")
    out = subprocess.run(["ausyscall", table, "--dump"], capture_output=True, text=True,
                         check=True).stdout
    theirs = {}
    for line in out.splitlines()[1:]:
        nr, _, name = line.partition("\t")
        theirs[name.strip()] = int(nr)
    mine = SYSCALLS[table]
    assert {n: theirs.get(n) for n in mine} == mine
    # and nothing the decoder maps is missing from a table where libaudit has it
    assert {n for n in SYSCALL_EVENTS if n in theirs} == set(mine)


def test_every_arch_has_a_table_and_names_resolve() -> None:
    for token, arch in ARCHES.items():
        assert arch.table in SYSCALLS
        assert SYSCALL_NAMES[(token, SYSCALLS[arch.table]["openat"])] == "openat"
    assert "open" not in SYSCALLS["aarch64"]  # arm64 has only the *at variants
    for b64, b32 in MACHINE_TABLES.values():
        assert b64 in SYSCALLS and (b32 is None or b32 in SYSCALLS)
