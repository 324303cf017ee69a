"""The cost of the programs of the syscalls of Falco's rules (mw_falco_events.h), as root.

Each program's own run time per call (``kernel.bpf_stats_enabled``: the kernel's run_time_ns /
run_cnt, read from the holder's /proc/PID/fdinfo) under ``memwarden run --rules`` with one rule
per kind (``falco_events_rules.yaml``: the kernel filters the official rules give them), against
an empty program on the same tracepoint (``empty.bpf.o``), over the same loops of real,
harmless calls, in interleaved rounds (the order alternates). Each loop's calls are ones its
kind's filter judges: rejected in the kernel (a bpf command other than BPF_PROG_LOAD, root's
userfaultfd and setuid calls, a chmod without S_ISUID/S_ISGID, a mkdir outside the bin
directories and a symlink to another target than /etc/shadow, the last two looked up in the
tries) or delivered (what no rule's condition narrows: a failed setns, unshare(0),
memfd_create, a failed mount).

On a kernel without loadable modules the init_module/finit_module calls are seen by
``mw_module_sys_exit`` on the raw ``sys_exit`` tracepoint, which every syscall passes: it is
measured over a getppid() loop against ``mw_empty_sys_exit`` there (what every syscall pays).

    python -m memwarden.benchmarks.falco_events [--calls N] [--rounds R] [--rules FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from memwarden.benchmarks.kernel_overhead import (
    BenchError,
    MemwardenProcess,
    bpf_stats,
    empty_hook,
    prog_stats,
)
from memwarden.sources.ebpf.hooks import syscall_tracepoint_exists

RULES = Path(__file__).resolve().parent / "falco_events_rules.yaml"
_libc = ctypes.CDLL(None, use_errno=True)
_sc = _libc.syscall
_sc.restype = ctypes.c_long
NR = {"bpf": 321, "userfaultfd": 323, "setns": 308, "unshare": 272, "setuid": 105,
      "setreuid": 113, "setresuid": 117, "mkdir": 83, "mkdirat": 258, "symlink": 88,
      "symlinkat": 266, "chmod": 90, "fchmod": 91, "fchmodat": 268, "memfd_create": 319,
      "mount": 165, "getppid": 110, "init_module": 175}
AT_FDCWD = -100


def _loops(work: Path) -> dict[str, tuple[str, Callable[[], object]]]:
    """syscall -> (what its filter does with these calls, one call)."""
    d = str(work).encode()
    f = work / "file"
    f.write_bytes(b"")
    fd = os.open(f, os.O_RDONLY)
    attr = ctypes.create_string_buffer(16)
    ctypes.memmove(attr, (ctypes.c_uint32 * 1)(0xFFFFFFF0), 4)  # start_id: past every id
    path, fname = d, str(f).encode()

    def memfd() -> None:
        os.close(_sc(NR["memfd_create"], b"bench", 0))

    return {
        "bpf": ("rejected (cmd 11, not 5)", lambda: _sc(NR["bpf"], 11, attr, 8)),
        "userfaultfd": ("rejected (root)", lambda: _sc(NR["userfaultfd"], 0xFFFF)),
        "setns": ("delivered (EBADF)", lambda: _sc(NR["setns"], -1, 0)),
        "unshare": ("delivered (unshare(0))", lambda: _sc(NR["unshare"], 0)),
        "setuid": ("rejected (root)", lambda: _sc(NR["setuid"], 0)),
        "setreuid": ("rejected (root)", lambda: _sc(NR["setreuid"], -1, -1)),
        "setresuid": ("rejected (root)", lambda: _sc(NR["setresuid"], -1, -1, -1)),
        "mkdir": ("rejected (path, in the tries)", lambda: _sc(NR["mkdir"], path, 0o755)),
        "mkdirat": ("rejected (path, in the tries)",
                    lambda: _sc(NR["mkdirat"], AT_FDCWD, path, 0o755)),
        "symlink": ("rejected (target, in the tries)",
                    lambda: _sc(NR["symlink"], b"/nonexistent", fname)),
        "symlinkat": ("rejected (target, in the tries)",
                      lambda: _sc(NR["symlinkat"], b"/nonexistent", AT_FDCWD, fname)),
        "chmod": ("rejected (0644)", lambda: _sc(NR["chmod"], fname, 0o644)),
        "fchmod": ("rejected (0644)", lambda: _sc(NR["fchmod"], fd, 0o644)),
        "fchmodat": ("rejected (0644)", lambda: _sc(NR["fchmodat"], AT_FDCWD, fname, 0o644)),
        "memfd_create": ("delivered (no filter: 'contains')", memfd),
        "mount": ("delivered (ENOENT)",
                  lambda: _sc(NR["mount"], None, b"/nonexistent-memwarden-bench", None, 0,
                              None)),
    }


def _module_loop() -> None:
    """getppid(), with one init_module (refused) per 100: what every syscall pays."""
    _sc(NR["init_module"], None, 0, b"")
    for _ in range(99):
        _sc(NR["getppid"])


@contextlib.contextmanager
def _condition(which: str, rules: Path, empties: tuple[str, ...]) -> Iterator[int]:
    """``mw``: memwarden run with the rules; ``empty``: the empty programs. Yields the pid
    holding the programs."""
    if which == "mw":
        with MemwardenProcess("--rules", str(rules), "-o", "file:/dev/null") as mw:
            assert mw.proc is not None
            yield mw.proc.pid
    else:
        with empty_hook(empties):
            yield os.getpid()


def measure(calls: int, rounds: int, rules: Path) -> dict[str, dict[str, list[float]]]:
    """program pair label -> condition -> ns per run, one value per round."""
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-") as tmp:
        loops = _loops(Path(tmp))
        pairs = {sys_: (f"mw_tp_exit_{sys_}", f"mw_empty_exit_{sys_}") for sys_ in loops}
        module = not syscall_tracepoint_exists("mw_tp_exit_init_module")
        if module:
            pairs["(raw sys_exit) init_module fallback"] = ("mw_module_sys_exit",
                                                            "mw_empty_sys_exit")
        empties = tuple(e for _, e in pairs.values())
        names = tuple(n for pair in pairs.values() for n in pair)
        out: dict[str, dict[str, list[float]]] = {k: {"mw": [], "empty": []} for k in pairs}
        for r in range(rounds):
            for which in (("mw", "empty") if r % 2 == 0 else ("empty", "mw")):
                with _condition(which, rules, empties) as holder:
                    before = prog_stats(holder, names)
                    for _what, call in loops.values():
                        for _ in range(calls):
                            call()
                    if module:
                        for _ in range(calls // 10):
                            _module_loop()
                    after = prog_stats(holder, names)
                for label, pair in pairs.items():
                    prog = pair[0] if which == "mw" else pair[1]
                    if prog not in after or prog not in before:
                        raise BenchError(f"{prog} not attached in condition {which}")
                    t = after[prog][0] - before[prog][0]
                    n = after[prog][1] - before[prog][1]
                    out[label][which].append(t / n if n else 0.0)
            print(f"  round {r + 1}/{rounds} done", flush=True)
        notes = {k: v[0] for k, v in loops.items()}
        notes["(raw sys_exit) init_module fallback"] = "rejected (every other syscall)"
        report(out, notes)
        return out


def report(out: dict[str, dict[str, list[float]]], notes: dict[str, str]) -> None:
    print(f"\n{'program (tracepoint)':<38} {'memwarden':>10} {'empty':>8} {'ratio':>7} "
          f"{'range':>12}  calls")
    for label, by in out.items():
        ratios = [m / e for m, e in zip(by["mw"], by["empty"], strict=True) if e > 0]
        if not ratios:
            continue
        mw, empty = statistics.median(by["mw"]), statistics.median(by["empty"])
        print(f"{label:<38} {mw:8.1f}ns {empty:6.1f}ns {statistics.median(ratios):6.2f}x "
              f"{min(ratios):5.2f}-{max(ratios):5.2f}x  {notes.get(label, '')}")
    print("(ns per program run, kernel.bpf_stats_enabled; ratio: median of the per-round "
          "ratios, both measured in the same round)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000, help="calls per syscall per round")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--rules", type=Path, default=RULES)
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench-falco-events: needs root", file=sys.stderr)
        return 2
    with bpf_stats() as on:
        if not on:
            print("bench-falco-events: cannot turn kernel.bpf_stats_enabled on",
                  file=sys.stderr)
            return 2
        try:
            measure(a.calls, a.rounds, a.rules)
        except BenchError as exc:
            print(f"bench-falco-events: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
