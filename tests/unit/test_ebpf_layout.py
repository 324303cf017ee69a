"""layout.py mirrors mw_events.h: the C compiler's sizes, offsets and enum values of the header
(compiled for this host, which has the BPF target's endianness and alignment for these
fixed-width types) against the Python structs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from memwarden.sources.ebpf import layout as L

HEADER_DIR = Path(L.__file__).parent

PROGRAM = r"""
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef int s32; typedef long long s64;
#include <stddef.h>
#include <stdio.h>
#include "mw_events.h"
#define P(name, value) printf("%s %lld\n", name, (long long)(value))
int main(void) {
    P("header", sizeof(struct mw_header));
    P("header.size", offsetof(struct mw_header, size));
    P("header.syscall_nr", offsetof(struct mw_header, syscall_nr));
    P("header.slen", offsetof(struct mw_header, slen));
    P("header.comm", offsetof(struct mw_header, comm));
    P("body", sizeof(union mw_body));
    P("record", sizeof(struct mw_record));
    P("body_file", sizeof(struct mw_body_file));
    P("body_fork", sizeof(struct mw_body_fork));
    P("body_exit", sizeof(struct mw_body_exit));
    P("body_syscall", sizeof(struct mw_body_syscall));
    P("body_open", sizeof(struct mw_body_open));
    P("body_write", sizeof(struct mw_body_write));
    P("body_open.fs_magic", offsetof(struct mw_body_open, fs_magic));
    P("config.open_ident", offsetof(struct mw_config, open_ident));
    P("head", sizeof(struct mw_head));
    P("heads", sizeof(struct mw_heads));
    P("heads.bloom", offsetof(struct mw_heads, bloom));
    P("config", sizeof(struct mw_config));
    P("config.leaf", offsetof(struct mw_config, leaf));
    P("config.anchor", offsetof(struct mw_config, anchor));
    P("state", sizeof(struct mw_state));
    P("lpm_key", sizeof(struct mw_lpm_key));
    P("trie_value", sizeof(struct mw_trie_value));
    P("counters", sizeof(struct mw_counters));
    P("counters.cheap_rejected", offsetof(struct mw_counters, cheap_rejected));
    P("counters.ring_retries", offsetof(struct mw_counters, ring_retries));
    P("counters.ring_busy", offsetof(struct mw_counters, ring_busy));
    P("MW_KIND_FILE_OPEN", MW_KIND_FILE_OPEN);
    P("MW_KIND_INODE_UNLINK", MW_KIND_INODE_UNLINK);
    P("MW_KIND_INODE_RENAME", MW_KIND_INODE_RENAME);
    P("MW_KIND_INODE_LINK", MW_KIND_INODE_LINK);
    P("MW_KIND_PROCESS_EXEC", MW_KIND_PROCESS_EXEC);
    P("MW_KIND_PROCESS_FORK", MW_KIND_PROCESS_FORK);
    P("MW_KIND_PROCESS_EXIT", MW_KIND_PROCESS_EXIT);
    P("MW_KIND_KILL", MW_KIND_KILL);
    P("MW_KIND_TKILL", MW_KIND_TKILL);
    P("MW_KIND_TGKILL", MW_KIND_TGKILL);
    P("MW_KIND_PIDFD_SEND_SIGNAL", MW_KIND_PIDFD_SEND_SIGNAL);
    P("MW_KIND_PTRACE", MW_KIND_PTRACE);
    P("MW_KIND_PROCESS_VM_READV", MW_KIND_PROCESS_VM_READV);
    P("MW_KIND_PROCESS_VM_WRITEV", MW_KIND_PROCESS_VM_WRITEV);
    P("MW_KIND_VFS_WRITE", MW_KIND_VFS_WRITE);
    P("MW_KIND_INIT_MODULE", MW_KIND_INIT_MODULE);
    P("MW_KIND_FINIT_MODULE", MW_KIND_FINIT_MODULE);
    P("MW_KIND_BPF", MW_KIND_BPF);
    P("MW_KIND_USERFAULTFD", MW_KIND_USERFAULTFD);
    P("MW_KIND_SETNS", MW_KIND_SETNS);
    P("MW_KIND_UNSHARE", MW_KIND_UNSHARE);
    P("MW_KIND_SETUID", MW_KIND_SETUID);
    P("MW_KIND_SETREUID", MW_KIND_SETREUID);
    P("MW_KIND_SETRESUID", MW_KIND_SETRESUID);
    P("MW_KIND_MKDIR", MW_KIND_MKDIR);
    P("MW_KIND_SYMLINK", MW_KIND_SYMLINK);
    P("MW_KIND_CHMOD", MW_KIND_CHMOD);
    P("MW_KIND_MEMFD_CREATE", MW_KIND_MEMFD_CREATE);
    P("MW_KIND_MOUNT", MW_KIND_MOUNT);
    P("MW_KIND_MAX", MW_KIND_MAX);
    P("counters.arg_rejected", offsetof(struct mw_counters, arg_rejected));
    P("sc_filter", sizeof(struct mw_sc_filter));
    P("sc_filter.tests", offsetof(struct mw_sc_filter, tests));
    P("sc_filters", sizeof(struct mw_sc_filters));
    P("MW_SCF_VALUES", MW_SCF_VALUES); P("MW_SCF_MASK", MW_SCF_MASK);
    P("MW_SCF_OK", MW_SCF_OK); P("MW_SCF_NONROOT", MW_SCF_NONROOT);
    P("MW_S_A", MW_S_A); P("MW_S_B", MW_S_B); P("MW_S_C", MW_S_C);
    P("MW_S_EXE", MW_S_EXE); P("MW_S_CGROUP", MW_S_CGROUP); P("MW_S_NODENAME", MW_S_NODENAME);
    P("MW_F_PATH_TRUNCATED", MW_F_PATH_TRUNCATED);
    P("MW_F_A_UNNORMALISED", MW_F_A_UNNORMALISED);
    P("MW_F_B_UNNORMALISED", MW_F_B_UNNORMALISED);
    P("MW_F_LSM_HOOK", MW_F_LSM_HOOK);
    P("MW_F_A_UNFILTERED", MW_F_A_UNFILTERED);
    P("MW_F_CONTAINER_INIT", MW_F_CONTAINER_INIT);
    P("MW_F_COMPAT", MW_F_COMPAT);
    P("MW_F_IO_URING", MW_F_IO_URING);
    P("MW_F_PROCFS", MW_F_PROCFS); P("MW_F_DEVICE", MW_F_DEVICE); P("MW_F_REFUSED", MW_F_REFUSED);
    P("MW_ID_DEVS", MW_ID_DEVS); P("MW_ID_PROC", MW_ID_PROC); P("MW_DEV_KEY", MW_DEV_KEY);
    P("MW_F_CORE_STORE", MW_F_CORE_STORE); P("MW_ID_STORE", MW_ID_STORE);
    P("MW_TRIE_STORE", MW_TRIE_STORE); P("MW_STORE_MAX", MW_STORE_MAX);
    P("MW_STORE_GEN_ANY", MW_STORE_GEN_ANY);
    P("MW_F_DIR_UNJUDGED", MW_F_DIR_UNJUDGED); P("MW_ID_CHANGE_DIRS", MW_ID_CHANGE_DIRS);
    P("store_key", sizeof(struct mw_store_key)); P("store_bloom", sizeof(struct mw_store_bloom));
    P("MW_F_ENFORCE_KILLED", MW_F_ENFORCE_KILLED);
    P("MW_F_ENFORCE_AUDIT", MW_F_ENFORCE_AUDIT);
    P("enforce", sizeof(struct mw_enforce));
    P("enforce.rule_entries", offsetof(struct mw_enforce, rule_entries));
    P("enforce_counters", sizeof(struct mw_enforce_counters));
    P("MW_ENFORCE_RULES", MW_ENFORCE_RULES); P("MW_ALLOW_MAX", MW_ALLOW_MAX);
    P("MW_EXE_KEY", MW_EXE_KEY);
    P("MW_RULE_KCORE_READ", MW_RULE_KCORE_READ); P("MW_RULE_MEM_READ", MW_RULE_MEM_READ);
    P("MW_RULE_MEM_WRITE", MW_RULE_MEM_WRITE); P("MW_RULE_VM_READ", MW_RULE_VM_READ);
    P("MW_RULE_VM_WRITE", MW_RULE_VM_WRITE); P("MW_RULE_PTRACE", MW_RULE_PTRACE);
    P("MW_RULE_CORE_READ", MW_RULE_CORE_READ); P("MW_RULE_CORE_PATTERN", MW_RULE_CORE_PATTERN);
    P("MW_RULE_RAW_MEM", MW_RULE_RAW_MEM);
    P("allow_glob", sizeof(struct mw_allow_glob));
    P("enforce.dev_rdev", offsetof(struct mw_enforce, dev_rdev));
    P("MW_ALLOW_GLOBS", MW_ALLOW_GLOBS); P("MW_GLOB_END", MW_GLOB_END);
    P("MW_GLOB_MID", MW_GLOB_MID); P("MW_DEV_NAMED", MW_DEV_NAMED);
    P("MW_NSTRINGS", MW_NSTRINGS); P("MW_LPM_DATA", MW_LPM_DATA);
    P("MW_MAX_HEADS", MW_MAX_HEADS); P("MW_RECORD_MAX", MW_RECORD_MAX);
    P("MW_PATH_MAX", MW_PATH_MAX); P("MW_COMM_LEN", MW_COMM_LEN);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory) -> dict[str, int]:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert cc, "a C compiler is needed (apt-get install gcc)"
    d = tmp_path_factory.mktemp("layout")
    (d / "layout.c").write_text(PROGRAM)
    subprocess.run([cc, "-I", str(HEADER_DIR), "-o", str(d / "layout"), str(d / "layout.c")],
                   check=True)
    out = subprocess.run([str(d / "layout")], capture_output=True, text=True, check=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_record_layout(c_layout) -> None:
    assert c_layout["header"] == L.HEADER.size == 120
    assert c_layout["body"] == L.BODY_SIZE
    assert c_layout["record"] == L.RECORD_FIXED
    assert c_layout["body_file"] == L.BODY_FILE.size
    assert c_layout["body_fork"] == L.BODY_FORK.size
    assert c_layout["body_exit"] == L.BODY_EXIT.size
    assert c_layout["body_syscall"] == L.BODY_SYSCALL.size
    # the unpack order: 4 u64, then size (offset 32) ... syscall_nr, cpu, slen, comm
    assert c_layout["header.size"] == 32
    assert c_layout["header.syscall_nr"] == 32 + 8 + 9 * 4 == L.HEADER_NR_OFF
    assert c_layout["header.slen"] == 32 + 8 + 11 * 4
    assert c_layout["header.comm"] == c_layout["header.slen"] + 2 * L.NSTRINGS


def test_config_and_maps_layout(c_layout) -> None:
    assert c_layout["head"] == L.HEAD.size
    assert c_layout["heads"] == L.HEADS_SIZE
    assert c_layout["heads.bloom"] == L.HEADS_PREFIX.size + L.MAX_HEADS * L.HEAD.size
    assert c_layout["config"] == L.CONFIG_SIZE
    assert c_layout["config.leaf"] == L.CONFIG_PREFIX.size
    assert c_layout["config.anchor"] == L.CONFIG_PREFIX.size + L.HEADS_SIZE
    assert c_layout["config.open_ident"] == L.CONFIG_PREFIX.size - 4
    assert c_layout["body_open"] == L.BODY_OPEN.size
    assert c_layout["body_write"] == L.BODY_WRITE.size <= L.BODY_SIZE
    assert c_layout["body_open.fs_magic"] == L.BODY_FILE.size
    assert (c_layout["MW_F_PROCFS"], c_layout["MW_F_DEVICE"], c_layout["MW_F_REFUSED"]) == (
        L.F_PROCFS, L.F_DEVICE, L.F_REFUSED)
    assert (c_layout["MW_ID_DEVS"], c_layout["MW_ID_PROC"], c_layout["MW_DEV_KEY"]) == (
        L.ID_DEVS, L.ID_PROC, L.DEV_KEY)
    assert (c_layout["MW_F_CORE_STORE"], c_layout["MW_ID_STORE"], c_layout["MW_TRIE_STORE"],
            c_layout["MW_STORE_MAX"], c_layout["MW_STORE_GEN_ANY"]) == (
        L.F_CORE_STORE, L.ID_STORE, L.TRIE_STORE, L.STORE_MAX, L.STORE_GEN_ANY)
    assert (c_layout["MW_F_DIR_UNJUDGED"], c_layout["MW_ID_CHANGE_DIRS"]) == (
        L.F_DIR_UNJUDGED, L.ID_CHANGE_DIRS)
    assert (c_layout["store_key"], c_layout["store_bloom"]) == (L.STORE_KEY.size,
                                                                 L.STORE_BLOOM.size)
    assert c_layout["state"] == L.STATE.size
    assert c_layout["lpm_key"] == L.LPM_KEY.size
    assert c_layout["trie_value"] == L.TRIE_VALUE.size
    assert c_layout["counters"] == L.COUNTERS_SIZE
    assert c_layout["counters.cheap_rejected"] == 3 * L.KIND_MAX * 8
    assert c_layout["counters.ring_retries"] == (3 * L.KIND_MAX + 3) * 8
    assert c_layout["counters.ring_busy"] == (3 * L.KIND_MAX + 5) * 8
    assert c_layout["counters.arg_rejected"] == (3 * L.KIND_MAX + 6) * 8


def test_syscall_filter_layout(c_layout) -> None:
    """struct mw_sc_filter(s): the argument filters of the syscall kinds of Falco's rules; the
    kinds stay bits of a u32 below MW_TRIE_STORE's bit."""
    assert c_layout["sc_filter"] == L.SC_FILTER.size
    assert c_layout["sc_filter.tests"] == 16
    assert c_layout["sc_filters"] == L.SC_FILTERS_SIZE
    assert (c_layout["MW_SCF_VALUES"], c_layout["MW_SCF_MASK"], c_layout["MW_SCF_OK"],
            c_layout["MW_SCF_NONROOT"]) == (L.SCF_VALUES, L.SCF_MASK, L.SCF_OK, L.SCF_NONROOT)
    assert L.KIND_MAX <= 31 and not L.TRIE_STORE & ((1 << L.KIND_MAX) - 1)
    assert set(range(L.KIND_INIT_MODULE, L.KIND_MAX)) == L.FALCO_SC_KINDS


def test_enforcement_layout(c_layout) -> None:
    assert c_layout["enforce"] == L.ENFORCE.size
    assert c_layout["enforce.rule_entries"] == 10 * 4
    assert c_layout["enforce.dev_rdev"] == (10 + L.ENFORCE_RULES) * 4
    assert c_layout["allow_glob"] == L.ALLOW_GLOB.size
    assert (c_layout["MW_ALLOW_GLOBS"], c_layout["MW_GLOB_END"], c_layout["MW_GLOB_MID"],
            c_layout["MW_DEV_NAMED"]) == (L.ALLOW_GLOBS, L.GLOB_END, L.GLOB_MID, L.DEV_NAMED)
    assert c_layout["enforce_counters"] == L.ENFORCE_COUNTERS.size
    assert (c_layout["MW_ENFORCE_RULES"], c_layout["MW_ALLOW_MAX"], c_layout["MW_EXE_KEY"]) == \
        (L.ENFORCE_RULES, L.ALLOW_MAX, L.EXE_KEY)
    assert {name: c_layout[f"MW_RULE_{name.upper()}"] for name in L.RULES} == L.RULES


def test_constants_and_kinds(c_layout) -> None:
    kinds = {k: v for k, v in c_layout.items() if k.startswith("MW_KIND_") and k != "MW_KIND_MAX"}
    assert {v: L.KIND_EVENT[v] for v in kinds.values()} == L.KIND_EVENT
    for name, value in kinds.items():
        assert getattr(L, name[3:]) == value
    assert c_layout["MW_KIND_MAX"] == L.KIND_MAX
    assert [c_layout[f"MW_S_{s}"] for s in ("A", "B", "C", "EXE", "CGROUP", "NODENAME")] == \
        [L.S_A, L.S_B, L.S_C, L.S_EXE, L.S_CGROUP, L.S_NODENAME]
    for flag in ("PATH_TRUNCATED", "A_UNNORMALISED", "B_UNNORMALISED", "LSM_HOOK",
                 "A_UNFILTERED", "CONTAINER_INIT", "COMPAT", "IO_URING",
                 "ENFORCE_KILLED", "ENFORCE_AUDIT"):
        assert c_layout[f"MW_F_{flag}"] == getattr(L, f"F_{flag}")
    assert (c_layout["MW_NSTRINGS"], c_layout["MW_LPM_DATA"], c_layout["MW_MAX_HEADS"],
            c_layout["MW_RECORD_MAX"], c_layout["MW_PATH_MAX"], c_layout["MW_COMM_LEN"]) == \
        (L.NSTRINGS, L.LPM_DATA, L.MAX_HEADS, L.RECORD_MAX, L.PATH_MAX, L.COMM_LEN)


def test_every_kind_has_programs() -> None:
    from memwarden.sources.ebpf import hooks as H

    for kind in L.KIND_EVENT:
        for mode in H.MODES:
            if kind == L.KIND_FILE_OPEN:
                assert H.OPEN_PROGRAMS[mode]
            else:
                assert H.KIND_PROGRAMS[kind]
    source = probe_source()
    names = {n for names in H.KIND_PROGRAMS.values() for n in names}
    names |= set(H.FALLBACK_PROGRAMS.values())
    names |= {n for names in H.OPEN_PROGRAMS.values() for n in names}
    names |= set(H.COMPAT_PROGRAMS.values())
    names |= {n for names in H.IO_URING_CHANGE_PROGRAMS.values() for n in names}
    names |= {n for names in H.ENFORCE_PROGRAMS.values() for n in names}
    for n in names:
        assert _defines_program(source, n), n
    test_source = (HEADER_DIR / "memwarden_test.bpf.c").read_text()
    for n in H.TEST_PROGRAMS:
        assert _defines_program(test_source, n) and not _defines_program(source, n), n


def probe_source() -> str:
    """The probe's source: memwarden.bpf.c and the headers of its own that it includes."""
    return "\n".join(p.read_text() for p in (HEADER_DIR / "memwarden.bpf.c",
                                              *sorted(HEADER_DIR.glob("mw_*.h"))))


def _defines_program(source: str, name: str) -> bool:
    """A program written out (``int name(`` or ``BPF_PROG(name,``) or made by the syscall-exit
    or -entry wrapper macro (``MW_SYS_EXIT(syscall,`` defines ``mw_tp_exit_<syscall>``,
    ``MW_SYS_ENTER(syscall,`` ``mw_tp_enter_<syscall>``)."""
    if f" {name}(" in source or f"({name}," in source:
        return True
    if name.startswith("mw_tp_enter_"):
        return f"\nMW_SYS_ENTER({name.removeprefix('mw_tp_enter_')}," in source
    return name.startswith("mw_tp_exit_") and (
        f"\nMW_SYS_EXIT({name.removeprefix('mw_tp_exit_')}," in source)


def test_the_wrapper_macro_makes_the_section_and_name_of_each_exit_program() -> None:
    source = (HEADER_DIR / "memwarden.bpf.c").read_text()
    assert '#define MW_SYS_EXIT(sys, fn, ...)' in source
    assert 'SEC("tp/syscalls/sys_exit_" #sys)' in source
    assert "int mw_tp_exit_##sys(struct mw_sys_exit_ctx *ctx)" in source
    assert '#define MW_SYS_ENTER(sys, fn, ...)' in source
    assert 'SEC("tp/syscalls/sys_enter_" #sys)' in source
    assert "int mw_tp_enter_##sys(struct mw_sys_enter_ctx *ctx)" in source


def test_compat_and_io_uring_programs_per_mode(monkeypatch) -> None:
    """The 32-bit syscall program comes with every kind a syscall exit produces (opens only
    in tracepoint mode: the lsm/fentry open hook sees compat opens); the io_uring programs of
    renames/unlinks/links in every mode, the io_uring open program in tracepoint mode only;
    MEMWARDEN_NO_PROGRAMS keeps a program out."""
    from memwarden.sources.ebpf import hooks as H

    available = {n for names in H.KIND_PROGRAMS.values() for n in names}
    available |= {n for names in H.OPEN_PROGRAMS.values() for n in names}
    available |= set(H.COMPAT_PROGRAMS.values())
    available |= {n for names in H.IO_URING_CHANGE_PROGRAMS.values() for n in names}
    tp_open = H.programs_for(L.KIND_FILE_OPEN, "tracepoint", available)
    assert {"mw_compat_sys_exit", "mw_io_uring_complete", "mw_tp_exit_openat"} <= set(tp_open)
    assert H.programs_for(L.KIND_FILE_OPEN, "lsm", available) == ["mw_lsm_file_open"]
    assert "mw_compat_sys_exit_noopen" in H.programs_for(L.KIND_PTRACE, "fentry", available)
    assert set(H.programs_for(L.KIND_INODE_RENAME, "lsm", available)) == {
        "mw_tp_exit_renameat2", "mw_tp_exit_renameat", "mw_tp_exit_rename",
        "mw_compat_sys_exit_noopen", "mw_io_uring_submit", "mw_io_uring_complete_noopen"}
    assert H.programs_for(L.KIND_PROCESS_EXEC, "tracepoint", available) == [
        "mw_sched_process_exec"]
    assert "mw_compat_sys_exit" in H.mode_programs("tracepoint", available)
    # the entry programs of --enforce: loaded always, attached only for their enforced rule
    available |= {n for names in H.ENFORCE_PROGRAMS.values() for n in names}
    assert "mw_tp_enter_pwrite64" in H.mode_programs("tracepoint", available)
    assert not any(n.startswith("mw_tp_enter_") for k in L.KIND_EVENT
                   for n in H.programs_for(k, "tracepoint", available))
    assert H.enforce_programs({"vm_write", "kcore_read"}, available) == {
        "mw_tp_enter_process_vm_writev"}
    assert len(H.enforce_programs({"mem_write"}, available)) == 5
    monkeypatch.setenv("MEMWARDEN_NO_PROGRAMS", "mw_compat_sys_exit, mw_io_uring_complete")
    loaded = H.mode_programs("tracepoint", available)
    assert "mw_compat_sys_exit" not in loaded and "mw_io_uring_complete" not in loaded
    assert "mw_tp_exit_openat" in loaded


def test_the_module_syscalls_fall_back_to_raw_sys_exit_where_their_tracepoints_are_missing(
        tmp_path) -> None:
    """A kernel without loadable modules has no sys_exit_init_module/finit_module tracepoints:
    both kinds then attach the one raw sys_exit program instead; the others are unchanged, and
    the new kinds never bring the 32-bit syscall program."""
    from memwarden.sources.ebpf import hooks as H

    available = set(H.mode_programs("tracepoint", {
        *H.FALLBACK_PROGRAMS, *H.FALLBACK_PROGRAMS.values(), "mw_tp_exit_bpf",
        "mw_compat_sys_exit"}))
    (tmp_path / "sys_exit_init_module").mkdir()
    has_init_only = (str(tmp_path),)

    def exists(program: str) -> bool:
        return H.syscall_tracepoint_exists(program, has_init_only)

    assert H.programs_for(L.KIND_INIT_MODULE, "tracepoint", available, exists) == [
        "mw_tp_exit_init_module"]
    assert H.programs_for(L.KIND_FINIT_MODULE, "tracepoint", available, exists) == [
        "mw_module_sys_exit"]
    assert H.programs_for(L.KIND_BPF, "tracepoint", available, exists) == ["mw_tp_exit_bpf"]
    assert all(k not in H.COMPAT_KINDS for k in L.FALCO_SC_KINDS)
    assert "mw_module_sys_exit" in available
