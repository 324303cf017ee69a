"""Kernel overhead of the live sensor, and the event rate its pipeline sustains (as root).

1. **Overhead**: a C loop of open()/close() on a file no detector watches, pinned to one CPU,
   under (a) no monitoring, (b) ``memwarden run`` with every built-in detector, (c) auditd
   with seed 004's audit rule, (d) an empty BPF program on ``sys_exit_openat`` (the cost of the
   hook itself, the floor for any tracepoint sensor), (e) ``memwarden run`` without its 32-bit
   (compat) syscall hook (the raw ``sys_exit`` program every syscall passes: (b) - (e) is its
   cost), (f) (b) with ``--enforce`` of every enforceable signature (``--target
   /proc/self/mem``: a watched file instead, recorded and judged by the enforcement rules on
   every open), (h) empty programs on both tracepoints (b) passes in this loop (the openat exit
   and the raw ``sys_exit``): the floor of memwarden's whole hook set here. Rounds interleave
   them (in a rotating order) so that machine drift hits all alike; the median of the rounds
   is reported, with the cost each adds over (a) and memwarden's added cost as a multiple of
   the empty hook's (and of (h)'s).
2. **Ring-buffer reading**: the same backlog of records read and decoded through the batched
   memory-mapped reader, and through libbpf's ``ring_buffer__consume`` calling a ctypes
   callback per record.
3. **Exec loop** (``--exec-loop``, on by default): fork+execve+waitpid of a tiny program per
   iteration, pinned, under (a) no monitoring, (b) ``memwarden run`` (which feeds its process
   table from every fork, exec and exit: argv, cwd and the task's facts copied at exec) and
   (d) empty programs on the three sched_process_* tracepoints; memwarden's added cost as a
   multiple of the empty hooks'.
4. **Syscall loop** (``--syscall-loop``, on by default): getppid() in a loop, timed by its CPU
   time, under (a) no hook, (d) an empty program on the raw ``sys_exit`` tracepoint, (f)
   memwarden's 32-bit syscall program alone (what every 64-bit syscall pays for it: its
   reject). The per-syscall cost of that hook against the floor of any hook there.
5. **Write loop** (``--write-loop``, on by default): write() of a byte to /dev/null, timed by
   its CPU time, under (a) no hook, (d) empty programs on ``sys_enter_write`` and
   ``sys_exit_write``, (g) the entry one alone, (b) ``memwarden run``, (f) (b) with
   ``--enforce`` of every enforceable signature (TRC-1024's entry hooks, attached then, look
   every write's descriptor up). Added costs and their ratios to the empty hooks'; (f) - (b)
   against (g): the entry hook against its floor.
6. **Zero-drop rate**: ``memwarden run --all-events`` while a paced generator opens a file at a
   given rate for a while; the highest rate with no kernel drop (doubling, then bisecting).

    python -m memwarden.benchmarks.kernel_overhead [--iterations N] [--rounds R] [--no-audit]
                                                   [--no-rate] [--no-ring]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOOP_SOURCE = HERE / "open_loop.c"
EXEC_LOOP_SOURCE = HERE / "exec_loop.c"
SYSCALL_LOOP_SOURCE = HERE / "syscall_loop.c"
WRITE_LOOP_SOURCE = HERE / "write_loop.c"
EMPTY_WRITE = ("mw_empty_enter_write", "mw_empty_exit_write")
EMPTY_SCHED = ("mw_empty_sched_exec", "mw_empty_sched_fork", "mw_empty_sched_exit")
#: Seed 004's auditd rule, verbatim (x86_64; b64).
SEED_004_RULE = ("-a always,exit -F arch=b64 -S openat -S renameat -S unlinkat -S renameat2 "
                 "-S linkat -F perm=wa -F dir=/var/lib/systemd/coredump -k CORE_DUMP")
MODES = ("a", "b", "c", "d", "e", "f", "h")
LABELS = {
    "a": "(a) no monitoring",
    "b": "(b) memwarden run, all built-in detectors",
    "c": "(c) auditd, seed 004's rule",
    "d": "(d) empty BPF program on sys_exit_openat",
    "e": "(e) (b) without the 32-bit syscall hook",
    "f": "(f) (b) with --enforce of every enforceable",
    "h": "(h) empty programs on every hook (b) passes",
}
#: (h): an empty program on each tracepoint this loop passes under (b): the openat exit, and
#: the raw sys_exit (memwarden's 32-bit syscall hook) that open() and close() both pass
EMPTY_ALL_HOOKS = ("mw_empty_exit_openat", "mw_empty_sys_exit")
#: (f): every signature the kernel can enforce (docs/enforcement.md)
ENFORCE_ARGS = tuple(a for n in ("TRC-1021", "TRC-1023", "TRC-1024", "TRC-1025", "MW-1005",
                                 "MW-1006", "MW-1001", "TRC-1011", "MW-1007")
                     for a in ("--enforce", n))
#: the program (e) leaves out (MEMWARDEN_NO_PROGRAMS)
COMPAT_PROGRAM = "mw_compat_sys_exit"


#: the open loop's clock: "monotonic" (wall time) or "thread" (its CPU time: --cpu-time)
LOOP_CLOCK = ["monotonic"]


class BenchError(RuntimeError):
    pass


def build_loop(workdir: Path, source: Path = LOOP_SOURCE) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise BenchError("no C compiler (cc): apt-get install gcc")
    exe = workdir / source.stem
    subprocess.run([cc, "-O2", "-o", str(exe), str(source)], check=True)
    return exe


def run_loop(exe: Path, path: Path, iterations: int, cpu: int) -> float:
    out = subprocess.run([str(exe), str(path), str(iterations)], capture_output=True, text=True,
                         check=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
                         env={**os.environ, "OPEN_LOOP_CLOCK": LOOP_CLOCK[0]})
    return float(out.stdout)


# -- the monitored conditions ------------------------------------------------------------------

def memwarden_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "memwarden", *args]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies (a timeout killing it must not leave a
    sensor running, and enforcing, on the host)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class MemwardenProcess:
    """``memwarden run`` as a child: started, waited for (``ready``), stopped with SIGINT."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**os.environ, **env} if env else None
        self.proc: subprocess.Popen | None = None
        self.stderr: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> MemwardenProcess:
        self.proc = subprocess.Popen(memwarden_cmd("run", *self.args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=self.env, preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        end = time.monotonic() + 60
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.proc.kill()
                raise BenchError("memwarden run did not start:\n" + "".join(self.stderr))
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "memwarden: ready" in line:
                self._ready.set()

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(10)  # it ends at EOF: every line (the stats) has been read

    def stat(self, name: str) -> int:
        for line in self.stderr:
            m = re.match(rf"\s+{re.escape(name)}: (\d+)$", line.rstrip("\n"))
            if m:
                return int(m.group(1))
        raise BenchError(f"no {name} in memwarden's --stats:\n" + "".join(self.stderr))


# -- the programs' own run time (kernel.bpf_stats_enabled) -----------------------------------

BPF_STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
#: the program whose run time per call is compared with the empty one's, in (b) and (d)
OPEN_PROGRAM = "mw_tp_exit_openat"
EMPTY_OPEN_PROGRAM = "mw_empty_exit_openat"
#: struct bpf_prog_info (a stable ABI): the offsets of btf_id, func_info_rec_size, func_info
#: and nr_func_info, and a size that covers them
_INFO_BTF_ID, _INFO_FUNC_REC, _INFO_FUNC, _INFO_NR_FUNC, _INFO_SIZE = 128, 132, 136, 144, 232


@contextlib.contextmanager
def bpf_stats() -> Iterator[bool]:
    """kernel.bpf_stats_enabled=1 for the duration (the kernel then times every program run:
    run_time_ns, run_cnt); restored after. Yields whether it could be turned on."""
    try:
        before = BPF_STATS_SYSCTL.read_text().strip()
        BPF_STATS_SYSCTL.write_text("1")
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            BPF_STATS_SYSCTL.write_text(before)


def _prog_name(prog_id: int) -> str:
    """The full name of program ``prog_id`` (the kernel keeps 15 bytes of it in
    bpf_prog_info.name, which mw_tp_exit_openat, _openat2 and _open share): its first
    function's name in its BTF (func_info), as bpftool shows it."""
    from memwarden.sources.ebpf import libbpf as B

    so = B.lib().so
    so.btf__load_from_kernel_by_id.restype = ctypes.c_void_p
    so.btf__type_by_id.restype = ctypes.c_void_p
    so.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    so.btf__name_by_offset.restype = ctypes.c_char_p
    so.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    so.btf__free.argtypes = [ctypes.c_void_p]
    fd = so.bpf_prog_get_fd_by_id(prog_id)
    if fd < 0:
        return ""
    try:
        info = (ctypes.c_uint8 * _INFO_SIZE)()
        size = ctypes.c_uint32(_INFO_SIZE)
        if so.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)) != 0:
            return ""
        btf_id = int.from_bytes(bytes(info[_INFO_BTF_ID:_INFO_BTF_ID + 4]), "little")
        if not btf_id or not int.from_bytes(bytes(info[_INFO_NR_FUNC:_INFO_NR_FUNC + 4]),
                                            "little"):
            return ""
        func = (ctypes.c_uint32 * 2)()  # struct bpf_func_info: insn_off, type_id
        again = (ctypes.c_uint8 * _INFO_SIZE)()
        ctypes.memmove(ctypes.addressof(again) + _INFO_FUNC_REC,
                       (ctypes.c_uint32 * 1)(ctypes.sizeof(func)), 4)
        ctypes.memmove(ctypes.addressof(again) + _INFO_FUNC,
                       (ctypes.c_uint64 * 1)(ctypes.addressof(func)), 8)
        ctypes.memmove(ctypes.addressof(again) + _INFO_NR_FUNC, (ctypes.c_uint32 * 1)(1), 4)
        size = ctypes.c_uint32(_INFO_SIZE)
        if so.bpf_obj_get_info_by_fd(fd, again, ctypes.byref(size)) != 0:
            return ""
    finally:
        os.close(fd)
    btf = so.btf__load_from_kernel_by_id(btf_id)
    if not btf:
        return ""
    try:
        t = so.btf__type_by_id(btf, func[1])
        if not t:
            return ""
        name = so.btf__name_by_offset(btf, ctypes.c_uint32.from_address(t).value)
        return name.decode() if name else ""
    finally:
        so.btf__free(btf)


def prog_stats(pid: int, names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(run_time_ns, run_cnt) of the BPF programs process ``pid`` holds, by name (those in
    ``names``): read from /proc/PID/fdinfo, as the kernel prints it for a program's fd."""
    out: dict[str, tuple[int, int]] = {}
    base = Path(f"/proc/{pid}")
    for fd in (base / "fd").iterdir():
        try:
            if os.readlink(fd) != "anon_inode:bpf-prog":
                continue
            info = dict(line.split(":", 1) for line in
                        (base / "fdinfo" / fd.name).read_text().splitlines() if ":" in line)
        except OSError:
            continue
        name = _prog_name(int(info["prog_id"]))
        if name in names:
            out[name] = (int(info["run_time_ns"]), int(info["run_cnt"]))
    return out


def _auditctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["auditctl", *args], capture_output=True, text=True, timeout=30)


class Auditd:
    """auditd running with auditing enabled (started and stopped here if it was not)."""

    def __init__(self) -> None:
        self.started_pid = 0
        self.was_enabled = "1"

    def __enter__(self) -> Auditd:
        if shutil.which("auditctl") is None:
            raise BenchError("auditctl not found: apt-get install auditd")
        status = dict(line.split(" ", 1) for line in _auditctl("-s").stdout.splitlines()
                      if " " in line)
        self.was_enabled = status.get("enabled", "1")
        if int(status.get("pid", "0")) == 0:
            daemon = shutil.which("auditd") or "/sbin/auditd"
            subprocess.run([daemon], check=True)
            end = time.monotonic() + 15
            while time.monotonic() < end:
                st = dict(line.split(" ", 1) for line in _auditctl("-s").stdout.splitlines()
                          if " " in line)
                if int(st.get("pid", "0")):
                    self.started_pid = int(st["pid"])
                    break
                time.sleep(0.1)
            else:
                raise BenchError("auditd did not register with the kernel")
        if self.was_enabled != "1":
            _auditctl("-e", "1")
        return self

    @contextlib.contextmanager
    def rule(self, rule: str) -> Iterator[None]:
        Path("/var/lib/systemd/coredump").mkdir(parents=True, exist_ok=True)
        r = _auditctl(*shlex.split(rule))
        ours = r.returncode == 0
        if not ours and "exists" not in r.stderr:
            raise BenchError(f"auditctl {rule}: {r.stderr.strip()}")
        try:
            yield
        finally:
            if ours:  # a rule someone else loaded stays
                _auditctl(*shlex.split("-d" + rule[2:]))


    def __exit__(self, *exc: object) -> None:
        if self.was_enabled != "1":
            _auditctl("-e", self.was_enabled)
        if self.started_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.started_pid, signal.SIGTERM)


def other_audit_rules() -> list[str]:
    """Audit rules loaded now (by anyone): every condition pays for them."""
    if shutil.which("auditctl") is None:
        return []
    out = _auditctl("-l").stdout.strip().splitlines()
    return [line for line in out if line and line != "No rules"]


@contextlib.contextmanager
def empty_hook(programs: tuple[str, ...] = ("mw_empty_exit_openat",)) -> Iterator[None]:
    from memwarden.sources.ebpf.libbpf import BpfObject
    from memwarden.sources.ebpf.sensor import BUILD_COMMAND, object_path

    path = object_path("empty.bpf.o", "MEMWARDEN_BPF_EMPTY_OBJECT")
    if not path.is_file():
        raise BenchError(f"{path} not found: build it with {BUILD_COMMAND}")
    with BpfObject(str(path)) as obj:
        obj.load()
        links = [obj.attach(p) for p in programs]
        try:
            yield
        finally:
            for link in links:
                link.destroy()


#: the conditions whose open program's own run time is read (bpf_stats): mode -> program
PROGRAM_OF = {"b": OPEN_PROGRAM, "d": EMPTY_OPEN_PROGRAM}


@contextlib.contextmanager
def condition(mode: str, auditd: Auditd | None) -> Iterator[int]:
    """Sets up condition ``mode``; yields the pid holding its open program (0: none)."""
    if mode == "a":
        yield 0
    elif mode == "b":
        with MemwardenProcess("-o", "file:/dev/null") as mw:
            assert mw.proc is not None
            yield mw.proc.pid
    elif mode == "f":
        with MemwardenProcess("-o", "file:/dev/null", *ENFORCE_ARGS):
            yield 0
    elif mode == "e":
        with MemwardenProcess("-o", "file:/dev/null",
                              env={"MEMWARDEN_NO_PROGRAMS": COMPAT_PROGRAM}):
            yield 0
    elif mode == "c":
        assert auditd is not None
        with auditd.rule(SEED_004_RULE):
            yield 0
    elif mode == "h":
        with empty_hook(EMPTY_ALL_HOOKS):
            yield 0
    else:
        with empty_hook():
            yield os.getpid()


def overhead(exe: Path, target: Path, iterations: int, rounds: int, cpu: int,
             with_audit: bool, modes: tuple[str, ...] = MODES, stats: bool = False
             ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The open loop under each condition, ``rounds`` interleaved rounds (rotating order).
    Returns ns per open+close by condition and, with ``stats`` (kernel.bpf_stats_enabled on),
    the open program's own ns per run by condition (PROGRAM_OF) over the same loop."""
    modes = tuple(m for m in modes if with_audit or m != "c")
    results: dict[str, list[float]] = {m: [] for m in modes}
    prog_ns: dict[str, list[float]] = {m: [] for m in modes if stats and m in PROGRAM_OF}
    with contextlib.ExitStack() as stack:
        auditd = stack.enter_context(Auditd()) if "c" in modes else None
        for r in range(rounds):
            order = modes[r % len(modes):] + modes[:r % len(modes)]
            for mode in order:
                with condition(mode, auditd) as holder:
                    name = PROGRAM_OF.get(mode, "")
                    before = prog_stats(holder, (name,)).get(name) if mode in prog_ns else None
                    results[mode].append(run_loop(exe, target, iterations, cpu))
                    if before is not None:
                        after = prog_stats(holder, (name,))[name]
                        runs = after[1] - before[1]
                        prog_ns[mode].append((after[0] - before[0]) / runs if runs else 0.0)
            line = "  ".join(f"{m}={results[m][-1]:.0f}" for m in modes)
            if prog_ns:
                line += "   program " + "  ".join(f"{m}={prog_ns[m][-1]:.0f}" for m in prog_ns)
            print(f"  round {r + 1}/{rounds}: {line} ns/op", flush=True)
    return results, prog_ns


def _spread(values: list[float]) -> str:
    """The median and the range of a list of per-round ratios."""
    return (f"median {statistics.median(values):.2f}x, range {min(values):.2f}-"
            f"{max(values):.2f}x over {len(values)} rounds")


def report_program_time(prog_ns: dict[str, list[float]]) -> None:
    """The open program's own run time per call (bpf_stats) in (b) against the empty one's
    in (d): per round, their ratio; its median and range."""
    if not prog_ns.get("b") or not prog_ns.get("d"):
        return
    ratios = [b / d for b, d in zip(prog_ns["b"], prog_ns["d"], strict=True) if d > 0]
    print(f"\nrun time per call (kernel.bpf_stats_enabled, the kernel's run_time_ns / run_cnt "
          f"over each loop): {OPEN_PROGRAM} {statistics.median(prog_ns['b']):.0f} ns "
          f"(range {min(prog_ns['b']):.0f}-{max(prog_ns['b']):.0f}), {EMPTY_OPEN_PROGRAM} "
          f"{statistics.median(prog_ns['d']):.0f} ns (range {min(prog_ns['d']):.0f}-"
          f"{max(prog_ns['d']):.0f})")
    if ratios:
        print(f"{OPEN_PROGRAM} per unwatched open / the empty program's: {_spread(ratios)}; "
              "target: at most 1.5x")


def report_overhead(results: dict[str, list[float]]) -> dict[str, float]:
    """Per condition: median ns/op, and the cost it adds over (a) as the median of the
    per-round differences (each round measures every condition within seconds, so machine
    drift between rounds cancels out). Returns the added costs."""
    base = results["a"]
    added: dict[str, float] = {}
    print(f"\n{'condition':<46} {'median':>9} {'min':>9} {'added':>9}")
    for mode, values in results.items():
        med = statistics.median(values)
        if mode != "a":
            added[mode] = statistics.median(v - b for v, b in zip(values, base, strict=True))
        shown = "" if mode == "a" else f"{added[mode]:+8.0f}"
        print(f"{LABELS[mode]:<46} {med:9.0f} {min(values):9.0f} {shown:>9}   ns/op")
    if "b" in added and "d" in added and added["d"] > 0:
        print(f"\nmemwarden adds {added['b']:.0f} ns/op, {added['b'] / added['d']:.2f}x what the "
              f"empty hook adds ({added['d']:.0f} ns/op); target: at most 2x")
        per_round = [(b - a) / (d - a) for a, b, d in
                     zip(base, results["b"], results["d"], strict=True) if d - a > 0]
        if per_round:
            print(f"per round, (b) - (a) over (d) - (a): {_spread(per_round)}"
                  + (f" ({len(base) - len(per_round)} rounds where (d) measured below (a) "
                     "left out)" if len(per_round) < len(base) else ""))
    if "h" in added and "b" in added and added["h"] > 0:
        per_round = [(b - a) / (h - a) for a, b, h in
                     zip(base, results["b"], results["h"], strict=True) if h - a > 0]
        print(f"against empty programs on all of its hooks here (the openat exit and the raw "
              f"sys_exit, {added['h']:.0f} ns/op) memwarden adds {added['b'] / added['h']:.2f}x"
              + (f"; per round: {_spread(per_round)}" if per_round else ""))
    if "f" in added and "d" in added and added["d"] > 0:
        print(f"with --enforce it adds {added['f']:.0f} ns/op, {added['f'] / added['d']:.2f}x "
              f"the empty hook")
    if "e" in added and "d" in added and added["d"] > 0:
        print(f"without the 32-bit syscall hook memwarden adds {added['e']:.0f} ns/op, "
              f"{added['e'] / added['d']:.2f}x the empty hook's; the hook costs "
              f"{added['b'] - added['e']:+.0f} ns/op")
    return added


@contextlib.contextmanager
def compat_hook_alone() -> Iterator[None]:
    """memwarden's 32-bit syscall program attached alone (the sensor's object, nothing else of
    it loaded)."""
    from memwarden.sources.ebpf.libbpf import BpfObject
    from memwarden.sources.ebpf.sensor import BUILD_COMMAND, object_path

    path = object_path()
    if not path.is_file():
        raise BenchError(f"{path} not found: build it with {BUILD_COMMAND}")
    with BpfObject(str(path)) as obj:
        for name in obj.program_names():
            obj.set_autoload(name, name == COMPAT_PROGRAM)
        obj.load()
        link = obj.attach(COMPAT_PROGRAM)
        try:
            yield
        finally:
            link.destroy()


def interleaved_loops(modes: list[str], hooks: dict[str, Callable[[], Any]],
                      run: Callable[[], float], rounds: int, unit: str, digits: int = 1
                      ) -> dict[str, list[float]]:
    """``run()`` once per mode per round, under ``hooks[mode]()`` (a context manager; no hook
    for a mode without one), in an order rotated each round; each round printed in ``unit``."""
    results: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes[r % len(modes):] + modes[:r % len(modes)]:
            with contextlib.ExitStack() as stack:
                if mode in hooks:
                    stack.enter_context(hooks[mode]())
                results[mode].append(run())
        line = "  ".join(f"{m}={results[m][-1]:.{digits}f}" for m in modes)
        print(f"  round {r + 1}/{rounds}: {line} {unit}", flush=True)
    return results


def syscall_overhead(exe: Path, iterations: int, rounds: int, cpu: int
                     ) -> dict[str, list[float]]:
    """getppid() under (a), (d) an empty raw sys_exit program, (f) the compat program alone,
    interleaved; the added costs and their ratio."""
    modes = ["a", "d", "f"]
    hooks = {"d": lambda: empty_hook(("mw_empty_sys_exit",)), "f": compat_hook_alone}
    results = interleaved_loops(modes, hooks, lambda: run_loop(exe, Path("/"), iterations, cpu),
                                rounds, "ns/syscall (CPU time)")
    base = results["a"]
    added = {m: statistics.median(v - b for v, b in zip(results[m], base, strict=True))
             for m in ("d", "f")}
    labels = {"a": "(a) no hook", "d": "(d) empty program on raw sys_exit",
              "f": "(f) memwarden's 32-bit syscall hook"}
    print(f"\n{'condition (getppid loop)':<46} {'median':>9} {'added':>9}")
    for m in modes:
        shown = "" if m == "a" else f"{added[m]:+8.1f}"
        print(f"{labels[m]:<46} {statistics.median(results[m]):9.1f} {shown:>9}   ns/syscall")
    if added["d"] > 0:
        print(f"\nthe 32-bit syscall hook adds {added['f']:.1f} ns to every syscall, "
              f"{added['f'] / added['d']:.2f}x what an empty program there adds "
              f"({added['d']:.1f} ns)")
    return results


def write_overhead(exe: Path, iterations: int, rounds: int, cpu: int
                   ) -> dict[str, list[float]]:
    """write() to /dev/null under (a), (d) empty write entry and exit programs, (b) and (f),
    interleaved in a rotating order; the added costs and their ratios to (d)'s."""
    modes = ["a", "d", "g", "b", "f"]
    hooks = {"d": lambda: empty_hook(EMPTY_WRITE), "g": lambda: empty_hook(EMPTY_WRITE[:1]),
             "b": lambda: condition("b", None), "f": lambda: condition("f", None)}
    results = interleaved_loops(
        modes, hooks, lambda: run_loop(exe, Path("/dev/null"), iterations, cpu), rounds,
        "ns/write (CPU time)")
    base = results["a"]
    added = {m: statistics.median(v - b for v, b in zip(results[m], base, strict=True))
             for m in ("d", "g", "b", "f")}
    labels = {"a": "(a) no hook", "d": "(d) empty programs on sys_enter/exit_write",
              "g": "(g) empty program on sys_enter_write", "b": LABELS["b"], "f": LABELS["f"]}
    print(f"\n{'condition (write loop)':<46} {'median':>9} {'added':>9}")
    for m in modes:
        shown = "" if m == "a" else f"{added[m]:+8.1f}"
        print(f"{labels[m]:<46} {statistics.median(results[m]):9.1f} {shown:>9}   ns/write")
    if added["d"] > 0:
        print(f"\nwrite loop: memwarden adds {added['b']:.1f} ns per write, "
              f"{added['b'] / added['d']:.2f}x the empty hooks ({added['d']:.1f} ns); with "
              f"--enforce {added['f']:.1f} ns, {added['f'] / added['d']:.2f}x")
    entry = statistics.median(f - b for f, b in zip(results["f"], results["b"], strict=True))
    if added["g"] > 0:
        print(f"--enforce adds {entry:.1f} ns per write over (b) (TRC-1024's entry hook), "
              f"{entry / added['g']:.2f}x an empty program on sys_enter_write "
              f"({added['g']:.1f} ns)")
    return results


def exec_overhead(exe: Path, program: str, iterations: int, rounds: int, cpu: int
                  ) -> dict[str, list[float]]:
    """The exec loop under (a), (b) and (d) (empty sched_process_* programs), interleaved."""
    modes = ["a", "b", "d"]
    hooks = {"b": lambda: MemwardenProcess("-o", "file:/dev/null"),
             "d": lambda: empty_hook(EMPTY_SCHED)}
    results = interleaved_loops(
        modes, hooks, lambda: run_loop(exe, Path(program), iterations, cpu), rounds,
        "ns/iteration", digits=0)
    base = results["a"]
    added = {m: statistics.median(v - b for v, b in zip(results[m], base, strict=True))
             for m in ("b", "d")}
    print(f"\n{'condition (exec loop)':<46} {'median':>9} {'added':>9}")
    labels = {"a": LABELS["a"], "b": "(b) memwarden run (process table fed)",
              "d": "(d) empty programs on sched_process_*"}
    for m in modes:
        shown = "" if m == "a" else f"{added[m]:+8.0f}"
        print(f"{labels[m]:<46} {statistics.median(results[m]):9.0f} {shown:>9}   "
              "ns/iteration")
    floor = max(added["d"], 1.0)
    print(f"\nexec loop: memwarden adds {added['b']:.0f} ns per fork+exec+exit, "
          f"{added['b'] / floor:.1f}x what the empty hooks add ({added['d']:.0f} ns), "
          f"{100 * added['b'] / statistics.median(base):.1f}% of an iteration")
    return results


# -- ring-buffer reading: batched mmap vs libbpf callback ---------------------------------------

def ring_read_comparison(exe: Path, target: Path, records: int) -> float:
    """The same backlog read three ways: bare (the batched reader, nothing done per record:
    the ceiling of any consumer in this process), batched + decode, libbpf's callback +
    decode. Returns the bare rate (records/s)."""
    from memwarden.engine.dispatch import Engine
    from memwarden.sources.ebpf import libbpf as B
    from memwarden.sources.ebpf.decode import RecordDecoder
    from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions

    sensor = EbpfSensor(Engine([]), SensorOptions(all_events=True, ring_buffer_mb=64))
    sensor.start()
    try:
        decoder = RecordDecoder()
        ring = sensor._ring
        assert ring is not None

        def fill() -> None:
            subprocess.run([str(exe), "--rate", str(records * 4), "--seconds", "0.25",
                            str(target)], check=True, capture_output=True)

        def batched(data: memoryview, batch: list[tuple[int, int]]) -> None:
            for off, size in batch:
                decoder.decode(data, off, size)

        def bare(data: memoryview, batch: list[tuple[int, int]]) -> None:
            pass

        fill()
        t = time.perf_counter()
        n_bare = ring.consume(bare)
        t_bare = time.perf_counter() - t
        fill()
        t = time.perf_counter()
        n_batched = ring.consume(batched)
        t_batched = time.perf_counter() - t

        cb_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
        so = B.lib().so
        so.ring_buffer__new.argtypes = [ctypes.c_int, cb_t, ctypes.c_void_p, ctypes.c_void_p]
        so.ring_buffer__new.restype = ctypes.c_void_p
        so.ring_buffer__consume.argtypes = [ctypes.c_void_p]
        so.ring_buffer__consume.restype = ctypes.c_int
        so.ring_buffer__free.argtypes = [ctypes.c_void_p]
        count = [0]

        def per_record(ctx: int, data: int, size: int) -> int:
            decoder.decode(ctypes.string_at(data, size), 0, size)
            count[0] += 1
            return 0

        callback = cb_t(per_record)
        rb = so.ring_buffer__new(sensor._obj.map("mw_events").fd, callback, None, None)
        if not rb:
            raise BenchError("ring_buffer__new failed")
        try:
            fill()
            t = time.perf_counter()
            so.ring_buffer__consume(rb)
            t_callback = time.perf_counter() - t
        finally:
            so.ring_buffer__free(rb)
    finally:
        sensor.close()
    print(f"\nring buffer read + decode: batched mmap {n_batched / t_batched:,.0f} records/s "
          f"({n_batched:,} records), libbpf callback {count[0] / t_callback:,.0f} records/s "
          f"({count[0]:,} records)")
    print(f"bare ring consumption (batched mmap, nothing per record): {n_bare / t_bare:,.0f} "
          f"records/s ({n_bare:,} records): the ceiling of a reader in this process")
    return n_bare / t_bare


# -- zero-drop event rate ---------------------------------------------------------------------

def trial(exe: Path, target: Path, rate: int, seconds: float) -> tuple[int, int, int]:
    """(opens done, events the engine took in, kernel drops) at ``rate`` opens/s; prints
    what the ring looked like at the drops (full, or with room on every retry)."""
    with MemwardenProcess("--all-events", "--stats", "-o", "file:/dev/null") as mw:
        out = subprocess.run([str(exe), "--rate", str(rate), "--seconds", str(seconds),
                              str(target)], capture_output=True, text=True, check=True)
        time.sleep(0.5)
    drops = mw.stat("kernel_drops")
    if drops:
        print(f"    drops with the ring full: {mw.stat('kernel_ring_full_drops'):,}, with room "
              f"left: {mw.stat('kernel_ring_busy_drops'):,} (reservations that worked on a "
              f"retry: {mw.stat('kernel_ring_retries'):,})", flush=True)
    return int(out.stdout), mw.stat("events_in"), drops


def zero_drop_rate(exe: Path, target: Path, seconds: float, start: int = 20_000,
                   ceiling: int = 2_000_000, steps: int = 4) -> tuple[int, bool]:
    """The highest rate (doubling, then bisecting) at which the kernel dropped nothing, and
    whether the generator, not the sensor, was the limit."""
    passed, failed = 0, 0
    rate = start
    while rate <= ceiling:
        done, events, drops = trial(exe, target, rate, seconds)
        achieved = int(done / seconds)
        print(f"  {rate:>9,}/s asked, {achieved:>9,}/s done: {events:,} events, "
              f"{drops:,} dropped", flush=True)
        if drops:
            failed = rate
            break
        if achieved < 0.9 * rate:
            print("  (the generator cannot go faster on this machine)")
            return max(passed, achieved), True
        passed = rate
        rate *= 2
    if not failed:
        return passed, False
    for _ in range(steps):
        rate = (passed + failed) // 2
        _, events, drops = trial(exe, target, rate, seconds)
        print(f"  {rate:>9,}/s: {events:,} events, {drops:,} dropped", flush=True)
        if drops:
            failed = rate
        else:
            passed = rate
    return passed, False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m memwarden.benchmarks.kernel_overhead",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=500_000, help="open+close per run")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--modes", default="".join(MODES),
                    help="the open loop's conditions to run, e.g. abd ((a) always)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin the loop to")
    ap.add_argument("--no-audit", action="store_true", help="skip (c)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the open loop by its CPU time, not the wall clock (a shared "
                         "machine: the time it waits for the CPU is left out)")
    ap.add_argument("--no-overhead", action="store_true", help="skip the overhead part")
    ap.add_argument("--target", default=None,
                    help="the file the overhead loop opens (default: a fresh unwatched file; "
                         "/proc/self/mem: a watched one, recorded and judged for --enforce "
                         "on every open)")
    ap.add_argument("--no-ring", action="store_true", help="skip the ring-buffer comparison")
    ap.add_argument("--no-rate", action="store_true", help="skip the zero-drop rate search")
    ap.add_argument("--no-exec-loop", action="store_true", help="skip the exec loop")
    ap.add_argument("--no-syscall-loop", action="store_true", help="skip the syscall loop")
    ap.add_argument("--no-write-loop", action="store_true", help="skip the write loop")
    ap.add_argument("--write-iterations", type=int, default=1_000_000,
                    help="write() per write-loop run")
    ap.add_argument("--syscall-iterations", type=int, default=2_000_000,
                    help="getppid() per syscall-loop run")
    ap.add_argument("--exec-iterations", type=int, default=3000,
                    help="fork+exec+wait per exec-loop run")
    ap.add_argument("--exec-program", default="/bin/true", help="what the exec loop runs")
    ap.add_argument("--rate-seconds", type=float, default=10.0,
                    help="length of each zero-drop trial")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("kernel_overhead: run as root (it loads BPF programs and audit rules)",
              file=sys.stderr)
        return 2
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    if args.cpu_time:
        LOOP_CLOCK[0] = "thread"
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-") as tmp:
        work = Path(tmp)
        try:
            exe = build_loop(work)
            target = work / "unwatched.dat"
            target.write_bytes(b"x")
            if args.target:
                target = Path(args.target)
            if not args.no_overhead:
                print(f"open()+close() of {target}, {args.iterations:,} per run, pinned to "
                      f"CPU {cpu}, {args.rounds} interleaved rounds", flush=True)
                present = other_audit_rules()
                if present:
                    print(f"warning: {len(present)} audit rule(s) already loaded (every "
                          f"condition pays for them): {'; '.join(present)}", flush=True)
                modes = tuple(m for m in MODES if m == "a" or m in args.modes)
                with bpf_stats() as stats:
                    if not stats:
                        print("warning: cannot turn kernel.bpf_stats_enabled on: no program "
                              "run times", flush=True)
                    results, prog_ns = overhead(exe, target, args.iterations, args.rounds,
                                                cpu, not args.no_audit, modes, stats)
                report_overhead(results)
                report_program_time(prog_ns)
            if not args.no_exec_loop:
                loop = build_loop(work, EXEC_LOOP_SOURCE)
                print(f"\nfork+execve({args.exec_program})+waitpid, {args.exec_iterations:,} "
                      f"per run, pinned to CPU {cpu}, {args.rounds} interleaved rounds",
                      flush=True)
                exec_overhead(loop, args.exec_program, args.exec_iterations, args.rounds, cpu)
            if not args.no_syscall_loop:
                loop = build_loop(work, SYSCALL_LOOP_SOURCE)
                print(f"\ngetppid(), {args.syscall_iterations:,} per run, pinned to CPU {cpu}, "
                      f"{args.rounds} interleaved rounds", flush=True)
                syscall_overhead(loop, args.syscall_iterations, args.rounds, cpu)
            if not args.no_write_loop:
                loop = build_loop(work, WRITE_LOOP_SOURCE)
                print(f"\nwrite(/dev/null, 1 byte), {args.write_iterations:,} per run, pinned to "
                      f"CPU {cpu}, {args.rounds} interleaved rounds", flush=True)
                write_overhead(loop, args.write_iterations, args.rounds, cpu)
            ceiling = 0.0
            if not args.no_ring:
                ceiling = ring_read_comparison(exe, target, 50_000)
            if not args.no_rate:
                print(f"\nzero-drop event rate (memwarden run --all-events, 16 MiB ring, "
                      f"{args.rate_seconds:g} s per trial):", flush=True)
                best, generator_bound = zero_drop_rate(exe, target, args.rate_seconds)
                print(f"highest rate with no kernel drop: {best:,} events/s"
                      + (" (the generator's limit here: the sensor kept up)"
                         if generator_bound else ""))
                if ceiling:
                    print(f"the zero-drop live rate against the bare ring ceiling of the same "
                          f"run: {best:,} / {ceiling:,.0f} records/s = {best / ceiling:.2f}")
        except (BenchError, subprocess.CalledProcessError) as exc:
            print(f"kernel_overhead: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
