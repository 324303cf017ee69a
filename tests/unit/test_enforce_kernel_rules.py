"""The probe's enforcement rules (``mw_enforce.h``, the C the kernel runs) make the enforced
signatures' own decisions: the header is compiled here, for user space, with stand-ins for the
BPF helpers, and its ``mw_enforce_open_rules`` is run on a corpus of paths, flags, pids and
file identities (superblock magic, device number, procfs owner) beside the signatures'
``match`` of the event the decoder makes of the same record; its ``mw_glob_match`` (the kernel
allowlist's `path` globs) beside the user-space allowlist's fnmatch. The kernel may fail to
act where Python reports (the corners docs/enforcement.md lists); it must never act where
Python does not."""

from __future__ import annotations

import shutil
import subprocess
from itertools import product
from pathlib import Path

import pytest
from test_ebpf_decode import decode, decoder, record

from memwarden.core.event import Event
from memwarden.core.linux_abi import CHAR_DEVICE_PATHS, kernel_dev
from memwarden.engine.enforce import KernelGlob, kernel_glob
from memwarden.signatures import load_builtin
from memwarden.signatures.raw_memory_device_access import RAW_MEMORY_DEVICES
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.enforce_maps import pack_glob

HEADER_DIR = Path(L.__file__).parent

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef int s32; typedef unsigned long long u64; typedef long long s64;
#include <stdbool.h>
#include "mw_events.h"
#define SEC(x)
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name
#define __noinline
#define MW_BIT(k) (1u << (k))
#define MW_STR_SIZE (MW_RECORD_MAX - sizeof(struct mw_record))
#define BPF_CORE_READ(t, f) ((t)->f)
struct task_struct { unsigned int flags; };
struct mw_evbuf { struct mw_record r; u8 s[MW_STR_SIZE]; };
static void *bpf_map_lookup_elem(void *m, const void *k) { (void)m; (void)k; return 0; }
static long bpf_probe_read_kernel(void *d, u32 n, const void *s) { memcpy(d, s, n); return 0; }
static long bpf_send_signal(u32 sig) { (void)sig; return 0; }
#include "mw_enforce.h"

static int unhex(char *in, u8 *out)
{
	int n = 0;
	for (; in[0] && in[1] && in[0] != '\n'; in += 2)
		sscanf(in, "%2hhx", &out[n++]);
	return n;
}

static const struct mw_enforce cfg = {.dev_rdev = {@DEVS@}, .raw_devs = @RAW@};

int main(void)
{
	static struct mw_evbuf e;
	static struct mw_allow_glob g;
	static u8 tmp[(MW_GLOB_MID + 1) * 256];
	static char line[40000];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned flags, pid, tid, hpid, htid, hflags, rdev, owner;
		unsigned long long magic;
		int at = 0;
		memset(&e, 0, sizeof(e));
		if (line[0] == 'G') { /* G star head tail mid dfa path (hex, '-' for none) */
			char *f[6];
			unsigned star;
			memset(&g, 0, sizeof(g));
			sscanf(line + 1, "%u %n", &star, &at);
			char *q = line + 1 + at;
			for (int i = 0; i < 6; i++) {
				f[i] = strsep(&q, " ");
			}
			g.star = star;
			g.head_len = unhex(f[0], g.head);
			g.tail_len = unhex(f[1], g.tail);
			g.mid_len = unhex(f[2], tmp);
			unhex(f[3], g.dfa);
			e.r.h.slen[MW_S_A] = unhex(f[4], e.s);
			printf("%d\n", mw_glob_match(&e, &g, e.r.h.slen[MW_S_A]));
			continue;
		}
		if (line[0] == 'S') { /* S kind arg0 arg1 pid tid: a ptrace / process_vm_* record */
			unsigned kind;
			sscanf(line + 1, "%u %llu %llu %u %u", &kind, &e.r.b.sc.args[0],
				&e.r.b.sc.args[1], &pid, &tid);
			e.r.h.pid = pid; e.r.h.tid = tid;
			printf("%u\n", mw_enforce_sc_rules(&e, kind, (1u << MW_ENFORCE_RULES) - 1));
			continue;
		}
		/* W pid tid hpid htid header-flags fs_magic owner path: a vfs_write record */
		if (line[0] == 'W') {
			sscanf(line + 1, "%u %u %u %u %u %llu %u %n", &pid, &tid, &hpid, &htid,
				&hflags, &magic, &owner, &at);
			e.r.h.slen[MW_S_A] = unhex(line + 1 + at, e.s);
			e.r.h.pid = pid; e.r.h.tid = tid; e.r.h.host_pid = hpid; e.r.h.host_tid = htid;
			e.r.h.flags = hflags;
			e.r.b.write.open.fs_magic = magic; e.r.b.write.open.target_pid = owner;
			printf("%u\n", mw_enforce_write_rules(&e, (1u << MW_ENFORCE_RULES) - 1));
			continue;
		}
		/* flags pid tid hpid htid header-flags fs_magic rdev owner path */
		sscanf(line, "%u %u %u %u %u %u %llu %u %u %n",
			&flags, &pid, &tid, &hpid, &htid, &hflags, &magic, &rdev, &owner, &at);
		e.r.h.slen[MW_S_A] = unhex(line + at, e.s);
		e.r.b.file.flags = flags;
		e.r.h.pid = pid; e.r.h.tid = tid; e.r.h.host_pid = hpid; e.r.h.host_tid = htid;
		e.r.h.flags = hflags;
		e.r.b.open.fs_magic = magic; e.r.b.open.rdev = rdev; e.r.b.open.target_pid = owner;
		printf("%u\n", mw_enforce_open_rules(&e, (1u << MW_ENFORCE_RULES) - 1, &cfg));
	}
	return 0;
}
"""

PID, TID, HOST_PID, HOST_TID = 42, 43, 4242, 4243
O_WRONLY, O_RDWR, O_DIRECTORY, O_PATH = 1, 2, 0o200000, 0o10000000
FLAGS = (0, O_WRONLY, O_RDWR, O_PATH, O_DIRECTORY, O_RDWR | O_DIRECTORY, O_WRONLY | O_PATH,
         0o100000 | 0o2000000)
ROOTS = ("", "/host", "/a/b", "/proc", "/x\ny", "/" + "r" * 300, "/r" * 100,
         "/" + "r" * 300 + "\n", "/\n" + "r" * 300)
PIDS = ("self", "thread-self", str(PID), str(TID), str(HOST_PID), str(HOST_TID), "7", "0042",
        "99999999999999999999999", "", "4a", "\u0663", "-1", "proc", "task", "Self")
SHAPES = ("{root}/proc/{p}/mem", "{root}/proc/{p}/task/{t}/mem", "{root}/proc/{p}/task/{t}/maps",
          "{root}/proc/{p}/mem/x", "{root}/proc/{p}/task/mem", "{root}/proc/{p}/xmem",
          "{root}/task/{p}/mem", "{root}proc/{p}/mem", "{root}/proc/kcore", "{root}/proc/kcorex",
          "{root}/xproc/kcore", "{root}/kcore", "{root}/proc/{p}/kcore",
          "{root}/proc/{p}/coredump_filter", "{root}/proc/{p}/task/{t}/coredump_filter",
          "{root}/proc/{p}/xcoredump_filter", "{root}/proc/{p}/coredump_filter/x")
#: paths whatever the root: the core store, the dump sysctls, the raw memory devices
FIXED = ("/var/lib/systemd/coredump/core.x.1", "/var/lib/systemd/coredump/",
         "/var/lib/systemd/coredump", "/var/lib/systemd/coredumpx/core", "/x/var/lib/systemd/"
         "coredump/core", "/proc/sys/kernel/core_pattern", "/host/proc/sys/kernel/core_pattern",
         "/proc/sys/kernel/core_pattern/x", "/proc/sys/kernel/xcore_pattern",
         "/proc/sys/kernel/core_uses_pid", "/proc/sys/fs/suid_dumpable",
         "/x/proc/sys/fs/suid_dumpable", "proc/sys/fs/suid_dumpable", "/proc/sys/kernel/"
         "core_pipe_limit", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/null", "/dev/memx",
         "/proc/kcore", "/mem", "/proc/mem", "mem", "/proc//mem", "/proc/7//mem",
         "/proc/7/coredump_filter")
PROC_MAGIC, TMPFS_MAGIC = 0x9FA0, 0x01021994
F_TRUNCATED, F_PROCFS, F_DEVICE = 0x0001, 0x0400, 0x0800
DEVS = sorted(CHAR_DEVICE_PATHS)
#: what the record says the file is: (header flags, fs_magic, rdev, procfs owner). Without a
#: magic (recordings) the path decides; a procfs file is named under /proc; a device the
#: filters name by number is named by that name ("/dev/mem"), whatever the node is called.
IDENTITIES = ((0, 0, 0, 0), (0, TMPFS_MAGIC, 0, 0), (F_PROCFS, PROC_MAGIC, 0, 0),
              (F_PROCFS, PROC_MAGIC, 0, HOST_PID), (F_PROCFS, PROC_MAGIC, 0, 7),
              (F_DEVICE, TMPFS_MAGIC, kernel_dev(1, 1), 0), (0, TMPFS_MAGIC, kernel_dev(1, 1), 0),
              (F_DEVICE, TMPFS_MAGIC, kernel_dev(1, 3), 0), (0, TMPFS_MAGIC, kernel_dev(1, 4), 0),
              (F_DEVICE, TMPFS_MAGIC, kernel_dev(5, 1), 0), (0, 0, kernel_dev(1, 2), 0))


def corpus() -> list[tuple[str, int, tuple[int, int, int, int]]]:
    paths = set(FIXED)
    for shape, root, p in product(SHAPES, ROOTS, PIDS):
        for t in ("43", "7") if "{t}" in shape else ("",):
            paths.add(shape.format(root=root, p=p, t=t))
    cases = [(path, flags, IDENTITIES[0]) for path in sorted(paths) for flags in FLAGS]
    # every identity, on fewer roots, pids and flags (those parts are the same code)
    few = set(FIXED)
    for shape, root, p in product(SHAPES, ("", "/host", "/proc", "/x\ny"),
                                  ("self", str(PID), str(HOST_PID), "7", "4a")):
        few.add(shape.format(root=root, p=p, t="7"))
    cases += [(path, flags, ident) for path in sorted(few) for flags in FLAGS[:3]
              for ident in IDENTITIES[1:]]
    return cases


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert cc, "a C compiler is needed (apt-get install gcc)"
    d = tmp_path_factory.mktemp("enforce")
    raw = sum(1 << i for i, rdev in enumerate(DEVS) if CHAR_DEVICE_PATHS[rdev] in
              RAW_MEMORY_DEVICES)
    (d / "h.c").write_text(HARNESS.replace("@DEVS@", ", ".join(map(str, DEVS)))
                           .replace("@RAW@", str(raw)))
    subprocess.run([cc, "-O1", "-w", "-I", str(HEADER_DIR), "-o", str(d / "h"), str(d / "h.c")],
                   check=True)
    return d / "h"


DECODER = decoder()


def open_event(path: str, flags: int, ident: tuple[int, int, int, int]) -> Event:
    """The event the decoder makes of the open record (slot A: path, the header flags)."""
    hflags, magic, rdev, owner = ident
    body = L.BODY_OPEN.pack(7, 0, 0, flags, 0o100644, 0, magic, rdev, owner)
    rec = record(L.KIND_FILE_OPEN, body, (path.encode(), b"", b""), flags=hflags)
    ev = DECODER.decode(memoryview(rec), 0, len(rec))
    assert ev is not None
    return ev


def python_rules(ev: Event, sigs) -> int:
    out = 0
    for s in sigs:
        if s.match(ev) is not None:
            out |= 1 << L.RULES[s.enforce_rule]
    return out


def test_the_kernel_rules_are_the_signatures_decisions(harness: Path) -> None:
    sigs = [s for s in load_builtin() if s.enforce_rule and "security_file_open" in s.events]
    # TRC-1024 selects the opens too (quietly: it fires on the write); no open rule is its
    assert {s.enforce_rule for s in sigs} == {"kcore_read", "mem_read", "core_read",
                                              "core_pattern", "raw_mem", "mem_write"}
    cases = corpus()
    lines = "".join(f"{f} {PID} {TID} {HOST_PID} {HOST_TID} {i[0]} {i[1]} {i[2]} {i[3]} "
                    f"{p.encode().hex()}\n" for p, f, i in cases)
    out = subprocess.run([str(harness)], input=lines, capture_output=True, text=True,
                         check=True).stdout.split()
    assert len(out) == len(cases)
    acted: dict[str, int] = {}
    differ = 0
    for (path, flags, ident), got in zip(cases, map(int, out), strict=True):
        ev = open_event(path, flags, ident)
        assert (ev.pid, ev.tid, ev.host_pid) == (PID, TID, HOST_PID)
        want = python_rules(ev, sigs)
        assert got & ~want == 0, f"the kernel acts where the signature does not: {path!r} " \
                                 f"flags {flags:#o} identity {ident}: kernel {got:#b}, " \
                                 f"Python {want:#b}"
        for name, bit in L.RULES.items():
            acted[name] = acted.get(name, 0) + bool(got & 1 << bit)
        if got != want:
            differ += 1
            # only the documented corners: a non-ASCII digit, a root too long to scan, a device
            # by its name alone (no fs_magic: a recording; the kernel knows what it opened)
            # and "self" in a procfs path whose owner is another process (procfs resolves self)
            by_name = want & ~got == 1 << L.RULES["raw_mem"] and not ident[1]
            corner = "\u0663" in path or len(path.split("/proc/")[0]) > 256
            assert by_name or ("self" in path and ident[3]) or corner, \
                (path, flags, ident, got, want)
    # the corpus reaches every rule, and both sides of the corners
    assert all(acted[r] > 10 for r in ("kcore_read", "mem_read", "core_read", "core_pattern",
                                       "raw_mem")), acted
    assert differ > 0


def write_event(path: str, ident: tuple[int, int, int, int]) -> Event:
    """The vfs_write event the decoder makes of the write record (slot A: path)."""
    hflags, magic, _rdev, owner = ident
    body = L.BODY_WRITE.pack(7, 0, 0, 0, 0o100600, 0, magic, 0, owner, 4096, 8)
    rec = record(L.KIND_VFS_WRITE, body, (path.encode(), b"", b""), flags=hflags, retval=8)
    ev = DECODER.decode(memoryview(rec), 0, len(rec))
    assert ev is not None
    return ev


def test_the_kernel_write_rule_is_trc_1024s_decision(harness: Path) -> None:
    """TRC-1024 at the write's entry: the record of a write into a watched descriptor, judged
    as proc_mem_code_injection judges the vfs_write event of it (the kernel only ever builds
    one for another process's mem: the owner differs; the corpus tries every owner)."""
    sig = next(s for s in load_builtin() if s.metadata.id == "TRC-1024")
    assert sig.enforce_rule == "mem_write" and "vfs_write" in sig.events
    bit = 1 << L.RULES["mem_write"]
    idents = [i for i in IDENTITIES if not i[2]] + [(F_TRUNCATED | F_PROCFS, PROC_MAGIC, 0, 7)]
    paths = set(FIXED)
    for shape, root, p in product(SHAPES, ROOTS, PIDS):
        paths.add(shape.format(root=root, p=p, t="7"))
    cases = [(path, ident) for path in sorted(paths) for ident in idents]
    lines = "".join(f"W {PID} {TID} {HOST_PID} {HOST_TID} {i[0]} {i[1]} {i[3]} "
                    f"{p.encode().hex()}\n" for p, i in cases)
    out = subprocess.run([str(harness)], input=lines, capture_output=True, text=True,
                         check=True).stdout.split()
    assert len(out) == len(cases)
    acted = differ = 0
    for (path, ident), got in zip(cases, map(int, out), strict=True):
        ev = write_event(path, ident)
        assert (ev.pid, ev.tid, ev.host_pid) == (PID, TID, HOST_PID)
        want = bit if sig.match(ev) is not None else 0
        assert got & ~want == 0, f"the kernel acts where TRC-1024 does not: {path!r} {ident}"
        acted += bool(got)
        if got != want:
            differ += 1
            corner = "\u0663" in path or len(path.split("/proc/")[0]) > 256
            truncated = ident[0] & F_TRUNCATED
            assert corner or truncated or ("self" in path and ident[3]), (path, ident, got, want)
    assert acted > 100 and differ > 0


GLOBS = ("/dev/mem", "/var/lib/systemd/coredump/*", "*/proc/sys/*", "*", "**", "*mem",
         "/proc/*/mem", "/proc/*/task/*", "*/x*", "a*b*c", "/proc/**/mem", "*aab*", "*abab*",
         "/d*/m*", "*/coredump_filter", "/var/lib/systemd/coredump*", "/dev/mem*")
GLOB_PATHS = ("/dev/mem", "/dev/mem2", "/dev/kmem", "/var/lib/systemd/coredump/core.1",
              "/var/lib/systemd/coredump/", "/var/lib/systemd/coredump", "/proc/sys/kernel/x",
              "/host/proc/sys/", "/proc/sys", "/proc/7/mem", "/proc/7/task/8/mem", "abc", "ac",
              "aXbYc", "abbc", "/x/aaab", "/x/aab", "/ababab", "/abab", "/aba", "", "/",
              "/proc/1/coredump_filter", "/x\ny/proc/sys/a", "/proc/sys/x\n")


def test_the_kernel_glob_match_is_fnmatch(harness: Path) -> None:
    from memwarden.engine.allowlist import _glob_matcher

    cases = []
    lines = []
    for pattern in GLOBS:
        g = kernel_glob(pattern)
        assert isinstance(g, KernelGlob), (pattern, g)
        packed = pack_glob(g, 1)
        _e, _hl, _tl, _ml, _star, _h, _t, dfa = L.ALLOW_GLOB.unpack(packed)
        for path in GLOB_PATHS:
            cases.append((pattern, path))
            lines.append(f"G {int(g.star)} {g.head.hex() or '-'} {g.tail.hex() or '-'} "
                         f"{g.mid.hex() or '-'} {dfa.hex()} {path.encode().hex() or '-'}\n")
    out = subprocess.run([str(harness)], input="".join(lines), capture_output=True, text=True,
                         check=True).stdout.split()
    hits = 0
    for (pattern, path), got in zip(cases, map(int, out), strict=True):
        want = _glob_matcher([pattern])(path)
        assert bool(got) == want, (pattern, path, got)
        hits += want
    assert hits > 20


@pytest.mark.parametrize("pattern", GLOBS)
def test_the_python_model_of_the_kernel_glob_is_fnmatch(pattern: str) -> None:
    from memwarden.engine.allowlist import _glob_matcher

    g = kernel_glob(pattern)
    assert isinstance(g, KernelGlob)
    for path in GLOB_PATHS:
        assert g.matches(path.encode()) == _glob_matcher([pattern])(path), (pattern, path)


@pytest.mark.parametrize("pattern, why", [
    ("/proc/?/mem", "'?' or '['"), ("/dev/[mk]mem", "'?' or '['"),
    ("*a*b*c*", "more than one piece between stars"), ("/" + "x" * 64 + "*", "longer than 64"),
    ("*" + "x" * 33 + "*", "longer than 32")])
def test_globs_the_kernel_cannot_match_are_named(pattern: str, why: str) -> None:
    got = kernel_glob(pattern)
    assert isinstance(got, str) and why in got


def test_a_truncated_path_is_never_acted_on(harness: Path) -> None:
    r = subprocess.run([str(harness)], input=f"0 1 1 1 1 1 0 0 0 {b'/proc/kcore'.hex()}\n"
                                             f"0 1 1 1 1 0 0 0 0 {b'/proc/kcore'.hex()}\n",
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["0", "1"]


def test_the_kernel_rules_of_ptrace_and_process_vm(harness: Path) -> None:
    classes = [type(s) for s in load_builtin() if s.enforce_rule in ("vm_read", "vm_write",
                                                                         "ptrace")]
    requests = (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 0x4206, 0x4207, -1, 1 << 32 | 16)
    targets = (0, -1, PID, TID, HOST_PID, 7, 1, (1 << 32) + 7, (1 << 32) + PID, 0xFFFFFFFF)
    cases = [(L.KIND_PTRACE, r, t) for r in requests for t in targets]
    cases += [(k, t, 0) for k in (L.KIND_PROCESS_VM_READV, L.KIND_PROCESS_VM_WRITEV)
              for t in targets]
    cases += [(L.KIND_KILL, 7, 9), (L.KIND_FILE_OPEN, 7, 0)]
    lines = "".join(f"S {k} {a0 & (2**64 - 1)} {a1 & (2**64 - 1)} {PID} {TID}\n"
                    for k, a0, a1 in cases)
    out = subprocess.run([str(harness)], input=lines, capture_output=True, text=True,
                         check=True).stdout.split()
    acted = 0
    for (kind, a0, a1), got in zip(cases, map(int, out), strict=True):
        want = 0
        if kind in (L.KIND_PTRACE, L.KIND_PROCESS_VM_READV, L.KIND_PROCESS_VM_WRITEV):
            body = L.BODY_SYSCALL.pack(a0 & (2**64 - 1), a1 & (2**64 - 1), 0, 0, 0, 0, 0)
            rec = bytearray(record(kind, body))
            # the record's pid and tid (test_ebpf_decode packs 42, 43)
            ev = decode(bytes(rec))
            assert (ev.pid, ev.tid) == (PID, TID)
            for cls in classes:  # fresh instances: no folding across cases
                sig = cls()
                if ev.name in sig.events and sig.match(ev) is not None:
                    want |= 1 << L.RULES[sig.enforce_rule]
        assert got == want, (kind, a0, a1, got, want)
        acted += bool(got)
    assert acted > 10
