"""The probe's enforcement rules (``mw_enforce.h``, the C the kernel runs) make the enforced
signatures' own decisions: the header is compiled here, for user space, with stand-ins for the
BPF helpers, and its ``mw_enforce_open_rules`` is run on a corpus of paths, flags and pids
beside the signatures' ``match``. The kernel may fail to act where Python reports (the corners
docs/enforcement.md lists); it must never act where Python does not."""

from __future__ import annotations

import shutil
import subprocess
from itertools import product
from pathlib import Path

import pytest

from memwarden.core.event import Event
from memwarden.signatures import load_builtin
from memwarden.sources.ebpf import layout as L

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

int main(void)
{
	static struct mw_evbuf e;
	char line[20000];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned flags, pid, tid, hpid, htid, trunc;
		int at = 0;
		memset(&e, 0, sizeof(e));
		if (line[0] == 'S') { /* S kind arg0 arg1 pid tid: a ptrace / process_vm_* record */
			unsigned kind;
			sscanf(line + 1, "%u %llu %llu %u %u", &kind, &e.r.b.sc.args[0],
				&e.r.b.sc.args[1], &pid, &tid);
			e.r.h.pid = pid; e.r.h.tid = tid;
			printf("%u\n", mw_enforce_sc_rules(&e, kind, 0x3f));
			continue;
		}
		sscanf(line, "%u %u %u %u %u %u %n", &flags, &pid, &tid, &hpid, &htid, &trunc, &at);
		e.r.h.slen[MW_S_A] = unhex(line + at, e.s);
		e.r.b.file.flags = flags;
		e.r.h.pid = pid; e.r.h.tid = tid; e.r.h.host_pid = hpid; e.r.h.host_tid = htid;
		e.r.h.flags = trunc ? MW_F_PATH_TRUNCATED : 0;
		printf("%u\n", mw_enforce_open_rules(&e, 0x3f));
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
          "{root}/xproc/kcore", "{root}/kcore", "{root}/proc/{p}/kcore")


def corpus() -> list[tuple[str, int]]:
    paths = set()
    for shape, root, p in product(SHAPES, ROOTS, PIDS):
        for t in ("43", "7") if "{t}" in shape else ("",):
            paths.add(shape.format(root=root, p=p, t=t))
    paths |= {"/proc/kcore", "/mem", "/proc/mem", "mem", "/proc//mem", "/proc/7//mem"}
    return [(path, flags) for path in sorted(paths) for flags in FLAGS]


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert cc, "a C compiler is needed (apt-get install gcc)"
    d = tmp_path_factory.mktemp("enforce")
    (d / "h.c").write_text(HARNESS)
    subprocess.run([cc, "-O1", "-w", "-I", str(HEADER_DIR), "-o", str(d / "h"), str(d / "h.c")],
                   check=True)
    return d / "h"


def python_rules(path: str, flags: int, sigs) -> int:
    ev = Event.new("security_file_open", [("pathname", "const char*", path),
                                          ("flags", "int", flags)],
                   processId=PID, threadId=TID, hostProcessId=HOST_PID, hostThreadId=HOST_TID)
    out = 0
    for s in sigs:
        if s.match(ev) is not None:
            out |= 1 << L.RULES[s.enforce_rule]
    return out


def test_the_kernel_rules_are_the_signatures_decisions(harness: Path) -> None:
    sigs = [s for s in load_builtin() if s.enforce_rule and "security_file_open" in s.events]
    cases = corpus()
    lines = "".join(f"{f} {PID} {TID} {HOST_PID} {HOST_TID} 0 {p.encode().hex()}\n"
                    for p, f in cases)
    out = subprocess.run([str(harness)], input=lines, capture_output=True, text=True,
                         check=True).stdout.split()
    assert len(out) == len(cases)
    acted = differ = 0
    for (path, flags), got in zip(cases, map(int, out), strict=True):
        want = python_rules(path, flags, sigs)
        assert got & ~want == 0, f"the kernel acts where the signature does not: {path!r} " \
                                 f"flags {flags:#o}: kernel {got:#b}, Python {want:#b}"
        acted += bool(got)
        if got != want:
            differ += 1
            # only the documented corners: a non-ASCII digit, a root too long to scan
            assert "\u0663" in path or len(path.split("/proc/")[0]) > 256, (path, flags)
    assert acted > 100 and differ > 0  # the corpus reaches both


def test_a_truncated_path_is_never_acted_on(harness: Path) -> None:
    r = subprocess.run([str(harness)], input=f"0 1 1 1 1 1 {b'/proc/kcore'.hex()}\n"
                                             f"0 1 1 1 1 0 {b'/proc/kcore'.hex()}\n",
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["0", "1"]


def test_the_kernel_rules_of_ptrace_and_process_vm(harness: Path) -> None:
    from test_ebpf_decode import decode, record

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
