"""The syscalls of Falco's official rules (mw_falco_events.h): their records decoded into the
catalogue's arguments, the Falco fields and ``%evt.args`` in Falco's layout, and the kernel
filter each kind gets from the loaded rules' conditions (what the probe may reject, and that
it never rejects what a rule can match)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ebpf_decode import decode, record

from memwarden.core.event import Event
from memwarden.core.requirements import Requirements, Selector, SyscallFilter
from memwarden.engine.dispatch import Engine
from memwarden.rules.falco.fields import resolve
from memwarden.rules.falco.ruleset import load_rules
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.filters import compile_plan, plan_from_engine, syscall_filters

NR = {name: nr for nr, name in L.syscall_table("x86_64").items()}


def sc_body(*args: int) -> bytes:
    a = [*args, 0, 0, 0, 0, 0, 0][:6]
    return L.BODY_SYSCALL.pack(*[v & ((1 << 64) - 1) for v in a], 0)


def ev(kind: int, syscall: str, args: tuple[int, ...], strings: tuple[bytes, ...] = (),
       retval: int = 0) -> Event:
    got = decode(record(kind, sc_body(*args), strings, nr=NR[syscall], retval=retval))
    assert got is not None and got.data["syscall"] == syscall
    return got


def field(e: Event, name: str, arg: str | None = None):
    spec, arg = resolve(name, arg)
    return spec.getter(arg)(e)


def evt_args(e: Event) -> str:
    return field(e, "evt.args")


def test_module_loads_refused_with_their_errno() -> None:
    e = ev(L.KIND_INIT_MODULE, "init_module", (0x7000, 4096, 0x8000), (b"debug=1",), -38)
    assert (e.name, e.arg("length"), e.arg("uargs")) == ("init_module", 4096, "debug=1")
    assert field(e, "evt.type") == "init_module" and field(e, "evt.res") == "ENOSYS"
    assert evt_args(e) == "res=-38(ENOSYS) img=<NA> length=4096 uargs=debug=1"
    f = ev(L.KIND_FINIT_MODULE, "finit_module", (3, 0x8000, 2), (b"",), -1)
    assert evt_args(f) == "res=-1(EPERM) fd=3 uargs=<NA> flags=2(MODULE_INIT_IGNORE_VERMAGIC)"


def test_bpf_command_by_name() -> None:
    e = ev(L.KIND_BPF, "bpf", (5, 0x1000, 128), retval=7)
    assert e.arg("cmd") == 5
    assert field(e, "evt.arg", "cmd") == "BPF_PROG_LOAD" and field(e, "evt.rawarg", "cmd") == 5
    assert field(e, "evt.arg", "fd") == "7"  # a string, as Falco's evt.arg is
    assert evt_args(e) == "fd=7 cmd=5(BPF_PROG_LOAD)"


def test_namespaces_in_falco_clone_flags() -> None:
    e = ev(L.KIND_UNSHARE, "unshare", (0x10000000 | 0x20000,))  # NEWUSER | NEWNS
    assert field(e, "evt.arg", "flags") == "CLONE_NEWNS|CLONE_NEWUSER"
    assert evt_args(e) == "res=0 flags=100020(CLONE_NEWNS|CLONE_NEWUSER)"
    s = ev(L.KIND_SETNS, "setns", (5, 0x40000000))  # CLONE_NEWNET
    assert evt_args(s) == "res=0 fd=5 nstype=10(CLONE_NEWNET)"


def test_setuid_family() -> None:
    e = ev(L.KIND_SETRESUID, "setresuid", (1000, (1 << 64) - 1, 0))
    assert [e.arg(n) for n in ("ruid", "euid", "suid")] == [1000, 4294967295, 0]
    assert evt_args(e) == "res=0 ruid=1000 euid=4294967295 suid=0"
    u = ev(L.KIND_SETUID, "setuid", (0,), retval=-1)
    assert evt_args(u) == "res=-1(EPERM) uid=0" and field(u, "evt.arg", "uid") == "0"


def test_path_calls_and_their_at_variants() -> None:
    m = ev(L.KIND_MKDIR, "mkdirat", (3, 0x5000, 0o755), (b"bin/x",))
    assert [m.arg(n) for n in ("path", "mode", "dirfd")] == ["bin/x", 0o755, 3]
    assert evt_args(m) == "res=0 dirfd=3 path=bin/x mode=1ED"
    m2 = ev(L.KIND_MKDIR, "mkdir", (0x5000, 0o700), (b"/usr/bin/x",))
    assert m2.arg("dirfd") == -100 and evt_args(m2) == "res=0 path=/usr/bin/x mode=1C0"
    s = ev(L.KIND_SYMLINK, "symlinkat", (0x5000, -100, 0x6000), (b"/etc/shadow", b"l"))
    assert evt_args(s) == "res=0 target=/etc/shadow linkdirfd=-100(AT_FDCWD) linkpath=l"
    c = ev(L.KIND_CHMOD, "fchmodat", (-100, 0x5000, 0o4755), (b"f",))
    assert field(c, "evt.arg", "mode") == (
        "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID")
    assert evt_args(c).startswith("res=0 dirfd=-100(AT_FDCWD) filename=f mode=04755(S_IXOTH|")
    f = ev(L.KIND_CHMOD, "fchmod", (4, 0o644))
    assert (f.arg("fd"), f.arg("filename")) == (4, "")
    assert evt_args(f) == "res=0 fd=4 mode=0644(S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR)"


def test_memfd_and_mount() -> None:
    e = ev(L.KIND_MEMFD_CREATE, "memfd_create", (0x5000, 3), (b"x",), retval=4)
    assert evt_args(e) == "fd=4 name=x flags=3(MFD_CLOEXEC|MFD_ALLOW_SEALING)"
    m = ev(L.KIND_MOUNT, "mount", (1, 2, 3, 0xC0ED0000 | 0x1000), (b"/mnt", b"/dev/sda1",
                                                                  b"ext4"))  # A: dir
    assert evt_args(m) == "res=0 dev=/dev/sda1 dir=/mnt type=ext4 flags=1000(BIND)"


RULES = """
- rule: bpf load
  desc: d
  condition: evt.type=bpf and (evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD)
  output: o
  priority: NOTICE
- rule: setuid bit
  desc: d
  condition: >
    evt.type in (chmod, fchmod, fchmodat) and evt.rawres >= 0
    and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID")
  output: o
  priority: NOTICE
- rule: uffd
  desc: d
  condition: evt.type = userfaultfd and user.uid != 0
  output: o
  priority: NOTICE
- rule: non sudo setuid
  desc: d
  condition: evt.type in (setuid, setresuid) and not (user.name=root or user.uid=0)
  output: o
  priority: NOTICE
- rule: any unshare
  desc: d
  condition: evt.type = unshare and not proc.name in (unshare)
  output: o
  priority: NOTICE
"""


@pytest.fixture
def loaded(tmp_path: Path):
    p = tmp_path / "r.yaml"
    p.write_text(RULES)
    return load_rules([p])


def test_kernel_filters_from_the_rules(loaded) -> None:
    got = {f.event_name: f for d in loaded.detectors for f in d.requirements.syscall_filters}
    assert got == {
        "bpf": SyscallFilter("bpf", values=frozenset({5})),
        "chmod": SyscallFilter("chmod", mask=0o6000, success_only=True),
        "userfaultfd": SyscallFilter("userfaultfd", nonroot_only=True),
        "setuid": SyscallFilter("setuid", nonroot_only=True),
        "setresuid": SyscallFilter("setresuid", nonroot_only=True),
    }
    plan = compile_plan({"bpf", "chmod", "userfaultfd", "unshare"}, {})
    plan.sc_filters = syscall_filters(loaded.detectors, plan.enabled)
    assert set(plan.sc_filters) == {L.KIND_BPF, L.KIND_CHMOD, L.KIND_USERFAULTFD}
    blob = plan.sc_filters_blob()
    assert len(blob) == L.SC_FILTERS_SIZE
    assert L.SC_FILTER.unpack_from(blob, L.KIND_BPF * L.SC_FILTER.size) == (1 << 5, 0,
                                                                            L.SCF_VALUES)
    assert L.SC_FILTER.unpack_from(blob, L.KIND_CHMOD * L.SC_FILTER.size) == (
        0, 0o6000, L.SCF_MASK | L.SCF_OK)
    assert L.SC_FILTER.unpack_from(blob, L.KIND_UNSHARE * L.SC_FILTER.size) == (0, 0, 0)


def test_the_kernel_filter_never_rejects_what_a_rule_matches(loaded) -> None:
    """Every (cmd, mode, uid, result) the rules accept passes the filter the kernel gets."""
    by_event = {f.event_name: f for d in loaded.detectors for f in d.requirements.syscall_filters}
    rules = {r.compiled.name: r for r in loaded.detectors}
    for cmd in range(40):
        e = ev(L.KIND_BPF, "bpf", (cmd,))
        if rules["bpf load"].on_event(e):
            assert by_event["bpf"].accepts(0, 1000, cmd)
        else:
            assert not by_event["bpf"].accepts(0, 1000, cmd)
    for mode in (0o755, 0o4755, 0o2700, 0o6000, 0o1777, 0):  # 0: no bit names at all
        for ret in (0, -1):
            e = ev(L.KIND_CHMOD, "chmod", (0x5000, mode), (b"f",), retval=ret)
            fires = bool(rules["setuid bit"].on_event(e))
            assert fires == by_event["chmod"].accepts(ret, 0, mode), (mode, ret)


def test_a_rule_without_a_test_keeps_every_call(loaded, tmp_path: Path) -> None:
    """Two detectors on bpf, one with no argument condition: nothing is filtered."""
    class AllBpf:
        detector_id = "ALL-BPF"
        requirements = Requirements((Selector("bpf"),))
    plan = compile_plan({"bpf"}, {})
    assert syscall_filters([*loaded.detectors, AllBpf()], plan.enabled) == {}
    either = SyscallFilter("bpf", values=frozenset({5})).either(
        SyscallFilter("bpf", values=frozenset({0}), success_only=True))
    assert either == SyscallFilter("bpf", values=frozenset({0, 5}))


def test_path_conditions_on_the_callers_string_become_path_filters(tmp_path: Path) -> None:
    """evt.arg.path startswith / evt.arg.target in: path filters of mkdir and symlink, which
    the probe looks up in the tries with the string as passed."""
    p = tmp_path / "r.yaml"
    p.write_text("""
- list: sensitive_file_names
  items: [/etc/shadow, /etc/sudoers]
- rule: mkdir bin
  desc: d
  condition: >
    evt.type in (mkdir, mkdirat)
    and (evt.arg.path startswith /bin/ or evt.arg.path startswith /usr/bin/)
  output: o
  priority: ERROR
- rule: symlink over
  desc: d
  condition: evt.type in (symlink, symlinkat) and evt.arg.target in (sensitive_file_names)
  output: o
  priority: WARNING
""")
    loaded = load_rules([p])
    paths = {(f.event_name, f.kind, f.value) for d in loaded.detectors
             for f in d.requirements.path_filters}
    assert paths == {("mkdir", "prefix", "/bin/"), ("mkdir", "prefix", "/usr/bin/"),
                     ("symlink", "exact", "/etc/shadow"), ("symlink", "exact", "/etc/sudoers")}
    plan = plan_from_engine(Engine(loaded.detectors))
    assert {L.KIND_MKDIR, L.KIND_SYMLINK} <= plan.path_filtered
    assert plan.trie_kinds("/usr/bin/x") & (1 << L.KIND_MKDIR)
    assert not plan.trie_kinds("usr/bin/x") & (1 << L.KIND_MKDIR)  # a relative string
    assert plan.trie_kinds("/etc/shadow") & (1 << L.KIND_SYMLINK)
    assert not plan.trie_kinds("/etc/shadow2") & (1 << L.KIND_SYMLINK)
