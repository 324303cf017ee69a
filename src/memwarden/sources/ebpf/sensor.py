"""The live eBPF sensor: load the probe, attach what the detectors need, filter in the kernel,
read the ring buffer, feed the engine, account for every lost record, clean up.

Lifecycle::

    sensor = EbpfSensor(engine, SensorOptions())
    sensor.start()            # checks, picks the hook mode, loads, attaches, writes filters
    sensor.run(duration=10)   # or poll_once() in a loop; request_stop() from a signal handler
    sensor.close()            # detaches and unloads everything (also on exceptions: use `with`)

Nothing is pinned: every program, map and link lives in this process's file descriptors, so
even a crash leaves nothing attached.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from memwarden.core.event import Event
from memwarden.core.linux_abi import kernel_dev
from memwarden.engine.dispatch import Engine
from memwarden.enrich.dir_identity import DirIdentity
from memwarden.events.catalogue import PATH_ARGS
from memwarden.signatures.lib.paths import COREDUMP_DIR
from memwarden.sources.ebpf import errors as E
from memwarden.sources.ebpf import hooks as H
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf import probe_build
from memwarden.sources.ebpf.decode import DecodeError, RecordDecoder
from memwarden.sources.ebpf.enforce_maps import EnforceMaps
from memwarden.sources.ebpf.filters import FilterMaps, FilterPlan, plan_from_engine

BUILD_COMMAND = "bash scripts/build-bpf.sh"
OBJECT_ENV = "MEMWARDEN_BPF_OBJECT"
PACKAGE_DIR = Path(__file__).resolve().parent
BTF_PATH = "/sys/kernel/btf/vmlinux"
TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39

#: where a record's kind and flags (u16 each) and its slot A length (slen[0]) are
_KIND_OFF = struct.calcsize("<QQQqI")
_SLEN_OFF = struct.calcsize("<QQQqIHHIIIIIIIIIiI")
_KIND_FLAGS = struct.Struct("<HH")
_SLOT_A = struct.Struct("<H")
#: open flags with which the event is not judged by slot A as it is: a refused open's string
#: (normalised in user space), a device named by its number, a core of the store by identity
#: (``core_store``: the engine's gate keeps it wherever it was opened)
_PATH_NOT_SLOT_A = L.F_REFUSED | L.F_DEVICE | L.F_CORE_STORE


def object_path(name: str = "memwarden.bpf.o", env: str = OBJECT_ENV) -> Path:
    """Where the compiled probe is: ``$MEMWARDEN_BPF_OBJECT``, else next to this module (the
    build script writes it there; a wheel carries it there, compiled when it was built)."""
    override = os.environ.get(env)
    return Path(override) if override else PACKAGE_DIR / name


@dataclass
class SensorOptions:
    all_events: bool = False  # deliver every event of every kind, no filtering (debugging)
    hooks: str = "auto"  # auto, lsm, fentry, tracepoint
    ring_buffer_mb: int = 16  # rounded up to a power of two
    object_file: str | None = None
    drop_check_interval: float = 1.0  # seconds between reads of the kernel's drop counters
    drop_warning_interval: float = 10.0  # at most one stderr warning per this many seconds
    # after a small batch, let records gather this long before waiting again: the kernel
    # wakes the reader for every record once it has caught up, which at tens of thousands of
    # events per second costs more than the events (adds at most this much latency)
    batch_delay: float = 0.0005
    small_batch: int = 256


def _capabilities() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def preflight(obj: Path) -> None:
    """Every reason the sensor cannot start that can be told before touching BPF."""
    caps = _capabilities()
    privileged = os.geteuid() == 0 or (caps >> CAP_SYS_ADMIN) & 1 or (
        (caps >> CAP_BPF) & 1 and (caps >> CAP_PERFMON) & 1)
    if not privileged:
        raise E.NotPrivileged(
            "the eBPF sensor needs root (or CAP_BPF and CAP_PERFMON): run it as root")
    if not os.path.exists(BTF_PATH):
        raise E.NoBtf(f"this kernel has no BTF ({BTF_PATH} is missing); the CO-RE probe needs a "
                      "kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or later, as distributions "
                      "ship them)")
    if not obj.is_file():
        if in_dev_tree():
            raise E.ObjectMissing(f"BPF object {obj} not found: build it with {BUILD_COMMAND} "
                                  f"(or point {OBJECT_ENV} at it)")
        raise E.ObjectMissing(f"BPF object {obj} not found: this installation of memwarden has "
                              "no compiled probe; install memwarden from its wheel (which carries "
                              f"it), or point {OBJECT_ENV} at one")
    if not any(os.path.isdir(os.path.join(d, "events", "syscalls")) for d in TRACEFS_DIRS):
        raise E.TracefsMissing("tracefs is not mounted (no /sys/kernel/tracing/events/syscalls): "
                               "mount -t tracefs none /sys/kernel/tracing")


def in_dev_tree() -> bool:
    """Is this package running from a checkout (src/memwarden beside scripts/build-bpf.sh)?
    There the fix for a missing or stale object is the build script; an installed package has
    no such script."""
    return (PACKAGE_DIR.parents[3] / "scripts" / "build-bpf.sh").is_file() \
        if len(PACKAGE_DIR.parents) > 3 else False


def probe_state(obj: Path) -> probe_build.ProbeState:
    """The object judged by content: its manifest's source hash against this package's probe
    sources (present in a dev tree and in an installed package alike; mtimes say nothing)."""
    return probe_build.probe_state(obj, PACKAGE_DIR, rebuild=BUILD_COMMAND)


def _refused_message(exc: Exception) -> str:
    detail = str(exc)
    lockdown = ""
    try:
        with open("/sys/kernel/security/lockdown") as f:
            text = f.read().strip()
        if "[none]" not in text:
            lockdown = f"; kernel lockdown is on ({text})"
    except OSError:
        pass
    return (f"the kernel refused to load memwarden's BPF programs ({detail}){lockdown}; check "
            "that this is not an unprivileged container and that no LSM or seccomp policy "
            "forbids bpf()")


def _load_failure_message(exc) -> str:
    """A program the verifier rejected (EACCES, EINVAL, E2BIG) or another libbpf failure:
    the error and the verifier's last words (the whole log with MEMWARDEN_LIBBPF_DEBUG=1)."""
    skip = ("-- END PROG LOAD LOG --", "processed ")
    lines = [ln.strip() for ln in getattr(exc, "log", []) if ln.strip()]
    said = [ln for ln in lines if not ln.startswith(skip) and not ln.startswith("libbpf:")]
    tail = "; ".join(said[-2:])
    return (f"{exc}" + (f": {tail}" if tail else "") +
            " (this kernel's verifier rejected the probe: report it with the output of "
            "MEMWARDEN_LIBBPF_DEBUG=1 memwarden run)")


def _power_of_two_mb(mb: int) -> int:
    size = max(1, mb) << 20
    return 1 << (size - 1).bit_length()


def seed_core_store(store, bloom, root: str = COREDUMP_DIR) -> int:
    """Teach the kernel the core-dump store by identity: ``root`` and what is in it (one level,
    as systemd-coredump keeps it), by (dev, inode), any generation (stat() does not give it).
    Files that appear later are learnt by the open path. Returns the entries written; a
    missing or unreadable store is not an error (nothing to teach)."""
    entries: list[os.stat_result] = []
    try:
        entries.append(os.stat(root))
        with os.scandir(root) as it:
            for entry in it:
                if len(entries) >= L.STORE_MAX // 2:
                    break
                with contextlib.suppress(OSError):
                    entries.append(entry.stat(follow_symlinks=False))
    except OSError:
        pass
    bits = list(L.STORE_BLOOM.unpack(bloom.lookup(b"\0\0\0\0") or bytes(L.STORE_BLOOM.size)))
    for st in entries:
        dev = kernel_dev(os.major(st.st_dev), os.minor(st.st_dev))
        store.update(L.STORE_KEY.pack(st.st_ino, dev), L.STORE_VALUE.pack(L.STORE_GEN_ANY))
        bits[(st.st_ino >> 6) & 63] |= 1 << (st.st_ino & 63)
    bloom.update(b"\0\0\0\0", L.STORE_BLOOM.pack(*bits))
    return len(entries)


class EbpfSensor:
    """The live sensor. ``on_event`` (e.g. a recorder) sees every event the engine sees."""

    def __init__(self, engine: Engine, options: SensorOptions | None = None, *,
                 on_event: Callable[[Event], None] | None = None,
                 err: IO[str] | None = None) -> None:
        self.engine = engine
        self.options = options or SensorOptions()
        self.on_event = on_event
        self.err = err if err is not None else sys.stderr
        self.mode = ""
        self.refused_modes: list[str] = []
        self.plan: FilterPlan | None = None
        self.store_seeded = 0  # core-dump store entries taught to the kernel at start
        self.ring_size = _power_of_two_mb(self.options.ring_buffer_mb)
        self._obj = None
        self._links: dict[str, Any] = {}
        self._programs: set[str] = set()
        self._filters: FilterMaps | None = None
        self._enforce: EnforceMaps | None = None
        self._ring = None
        self._decoder: RecordDecoder | None = None
        self._stop = False
        self._reload = False
        self._ncpus = 1
        self._last_dropped: list[int] = []
        self._next_drop_check = 0.0
        self._last_warning = 0.0
        self._dropped_since_warning = 0
        self._warn_window_start = 0  # ns since the epoch: the unwarned drops happened after
        self._warn_window_end = 0
        self._drop_window_start = 0  # ns since the epoch: the last read of the drop counters
        self.decode_errors = 0
        self._decode_errors_reported: set[str] = set()
        self._detectors_seen: list = []
        self._wakeups: dict[int, Callable[[], None]] = {}
        self._passes_for: object = None
        self._passes_table: dict[int, tuple[str, Callable[[str], bool] | None]] = {}
        self.filter_reloads = 0
        self.started = False

    # -- start --------------------------------------------------------------------------------
    def start(self) -> None:
        from memwarden.sources.ebpf import libbpf as B  # libbpf is needed from here on
        from memwarden.sources.ebpf.ringbuf import RingBufferReader

        obj_path = Path(self.options.object_file) if self.options.object_file else object_path()
        preflight(obj_path)
        state = probe_state(obj_path)
        if state.problem is not None:
            print(f"memwarden: warning: {state.problem}", file=self.err)
        try:
            B.lib()
        except B.LibbpfMissing as exc:
            raise E.LibbpfUnavailable(str(exc)) from None
        try:
            self.mode, self.refused_modes = H.choose_mode(str(obj_path), self.options.hooks)
        except B.LibbpfError as exc:
            raise E.BpfRefused(str(exc)) from None
        try:
            self._load(B, obj_path)
            self._check_layout()
            self._ncpus = B.possible_cpus()
            self._last_dropped = [0] * self._ncpus
            self._filters = FilterMaps(self._obj.map("mw_config"), self._obj.map("mw_state"),
                                       self._obj.map("mw_fwd"), self._obj.map("mw_rev"),
                                       self._obj.map("mw_sc_filter"))
            self.plan = plan_from_engine(self.engine, all_events=self.options.all_events)
            self._decoder = RecordDecoder(path_check=self.engine.path_filters_for,
                                          dir_identity=DirIdentity(COREDUMP_DIR))
            self._report_plan(self.plan)
            self._ring = RingBufferReader(self._obj.map("mw_events").fd, self.ring_size)
            self._filters.apply(self.plan)
            if self.plan.open_ident & L.ID_STORE:
                self.store_seeded = seed_core_store(self._obj.map("mw_store"),
                                                    self._obj.map("mw_store_bloom"))
            self._enforce = EnforceMaps(self._obj)
            self._enforce.apply(self.engine.enforce)
            self._attach_for(self.plan)
        except B.LibbpfError as exc:
            self.close()
            if exc.errno == errno.EPERM:
                raise E.BpfRefused(_refused_message(exc)) from None
            raise E.SensorError(_load_failure_message(exc)) from None
        except BaseException:
            self.close()
            raise
        self._next_drop_check = time.monotonic() + self.options.drop_check_interval
        self._drop_window_start = time.time_ns()
        self._detectors_seen = self.engine.detectors
        self.engine.pushes_filters = True  # a reload now waits for the kernel filters
        self.started = True

    def _load(self, B, obj_path: Path) -> None:
        self._obj = B.BpfObject(str(obj_path))
        available = set(self._obj.program_names())
        missing = [n for n in H.OPEN_PROGRAMS["tracepoint"][:2] if n not in available]
        if missing:
            raise E.ObjectMismatch(f"{obj_path} lacks programs {missing}: it was built from "
                                   f"other sources; rebuild it with {BUILD_COMMAND}")
        self._programs = H.mode_programs(self.mode, available)
        for name in available:
            self._obj.set_autoload(name, name in self._programs)
        self._obj.set_max_entries("mw_events", self.ring_size)
        self._obj.load(workers=B.load_workers())

    def _check_layout(self) -> None:
        sizes = {"mw_config": L.CONFIG_SIZE, "mw_counters": L.COUNTERS_SIZE,
                 "mw_state": L.STATE.size, "mw_fwd": L.TRIE_VALUE.size}
        for name, size in sizes.items():
            m = self._obj.map(name)
            if m.value_size != size:
                raise E.ObjectMismatch(
                    f"BPF object and memwarden disagree on {name} ({m.value_size} vs {size} "
                    f"bytes): rebuild it with {BUILD_COMMAND}")

    def _report_plan(self, plan: FilterPlan) -> None:
        if plan.unsupported:
            print("memwarden: the eBPF sensor does not produce "
                  f"{', '.join(plan.unsupported)}: detectors that need only those will not fire",
                  file=self.err)
        for w in plan.warnings:
            print(f"memwarden: {w}", file=self.err)

    def _attach_for(self, plan: FilterPlan) -> None:
        """Attach the programs of every enabled kind that are not attached yet (and the
        container state programs, always)."""
        for name in H.ALWAYS_PROGRAMS:
            if name in self._programs and name not in self._links:
                self._links[name] = self._obj.attach(name)
        for kind in sorted(plan.enabled):
            for name in H.programs_for(kind, self.mode, self._programs):
                if name not in self._links:
                    self._links[name] = self._obj.attach(name)
        # the entry programs of the enforced rules (after the enforcement maps are written: a
        # detach stops the judging, so it can only spare)
        policy = self.engine.enforce
        wanted = H.enforce_programs({s.rule for s in policy.signatures} if policy else set(),
                                    self._programs)
        for names in H.ENFORCE_PROGRAMS.values():
            for name in names:
                if name in wanted and name not in self._links:
                    self._links[name] = self._obj.attach(name)
                elif name not in wanted and name in self._links:
                    self._links.pop(name).destroy()

    @property
    def event_names(self) -> list[str]:
        return self.plan.event_names if self.plan else []

    def ready_line(self) -> str:
        names = ", ".join(self.event_names) or "none"
        policy = self.engine.enforce
        enforce = f"; enforce: {policy.describe()}" if policy else ""
        return f"memwarden: ready (hooks: {self.mode}; events: {names}{enforce})"

    @property
    def attached_programs(self) -> list[str]:
        return sorted(self._links)

    def kernel_ids(self) -> dict[str, list[int]]:
        """Ids of the loaded programs, maps and links (for bpftool; the tests check they are
        gone after close)."""
        from memwarden.sources.ebpf.libbpf import object_id

        if self._obj is None:
            return {"programs": [], "maps": [], "links": []}
        return {
            "programs": sorted(self._obj.program_id(n) for n in self._programs),
            "maps": sorted(object_id(self._obj.map(n).fd) for n in
                           ("mw_events", "mw_config", "mw_state", "mw_fwd", "mw_rev",
                            "mw_counters", "mw_evbuf", "mw_pathbuf")),
            "links": sorted(link.id for link in self._links.values()),
        }

    # -- reload -------------------------------------------------------------------------------
    def reload_filters(self) -> FilterPlan:
        """Recompute the plan from the engine's detectors and write it into the running probe
        (no detach; new event kinds get their programs attached)."""
        from memwarden.sources.ebpf import libbpf as B

        if self._filters is None:
            raise E.SensorError("the sensor is not started")
        plan = plan_from_engine(self.engine, all_events=self.options.all_events)
        self._report_plan(plan)
        try:
            self._filters.apply(plan)
            if self._enforce is not None:
                self._enforce.apply(self.engine.enforce)
            self._attach_for(plan)
        except B.LibbpfError as exc:
            raise E.SensorError(f"filter reload failed: {exc}") from None
        self.plan = plan
        self.filter_reloads += 1
        return plan

    # -- the loop -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Safe from a signal handler."""
        self._stop = True

    def request_reload(self) -> None:
        """Safe from a signal handler: the loop reloads the filters at its next turn."""
        self._reload = True

    def add_wakeup_fd(self, fd: int, on_ready: Callable[[], None]) -> None:
        """Also wake the loop when ``fd`` is readable (a signal wake-up pipe); ``on_ready``
        then empties it."""
        self._ring.watch(fd)  # type: ignore[union-attr]
        self._wakeups[fd] = on_ready

    def poll_once(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for records, process them all. Returns how many."""
        ready = self._ring.wait(timeout)  # type: ignore[union-attr]
        if self._wakeups:
            for fd in ready:
                drain = self._wakeups.get(fd)
                if drain is not None:
                    drain()
        n = self._ring.consume(self._handle_batch)  # type: ignore[union-attr]
        if 0 < n < self.options.small_batch and self.options.batch_delay:
            time.sleep(self.options.batch_delay)
        now = time.monotonic()
        if now >= self._next_drop_check:
            self.check_drops()
            self._next_drop_check = now + self.options.drop_check_interval
        # a configuration reload (SIGHUP, in another thread) swaps the engine's detector list:
        # the kernel filters follow
        if self._reload or self.engine.detectors is not self._detectors_seen:
            self._reload = False
            self._detectors_seen = self.engine.detectors
            try:
                self.reload_filters()
            finally:
                self.engine.filters_pushed.set()
        return n

    def run(self, duration: float | None = None,
            on_tick: Callable[[], None] | None = None) -> None:
        """Process records until ``request_stop()`` or ``duration`` seconds."""
        end = None if duration is None else time.monotonic() + duration
        while not self._stop:
            timeout = 0.5
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            self.poll_once(timeout)
            if on_tick is not None:
                on_tick()
        self.drain()

    def drain(self) -> None:
        """Process what is left in the ring buffer and account for the last drops."""
        if self._ring is not None:
            self._ring.consume(self._handle_batch)
            self.check_drops()
            self._warn_drops(0, final=True)

    def _passes(self) -> dict[int, tuple[str, Callable[[str], bool] | None]]:
        """With ``--all-events`` and nothing recording: record kind -> (event name, the path
        test of its engine gate, or None when no detector and no enricher wants the event)
        for the kinds whose records can be judged from their raw bytes, as the engine would
        judge the decoded event (:meth:`_handle_batch`). Rebuilt when the detectors change."""
        detectors = self.engine.detectors
        if self._passes_for is detectors:
            return self._passes_table
        enricher = self.engine.enricher
        feeds = enricher.feeds if enricher is not None else frozenset()
        table: dict[int, tuple[str, Callable[[str], bool] | None]] = {}
        for kind, name in L.KIND_EVENT.items():
            if name in feeds:
                continue  # the process table sees every one
            if not self.engine.wants(name):
                table[kind] = (name, None)
            elif kind == L.KIND_FILE_OPEN and PATH_ARGS.get(name) == ("pathname",):
                paths = self.engine.path_filters_for(name)
                if paths is not None:  # every detector of it needs one of these paths
                    table[kind] = (name, paths.compile())
        self._passes_for, self._passes_table = detectors, table
        return table

    def _handle_batch(self, data: memoryview, batch: list[tuple[int, int]]) -> None:
        decode = self._decoder.decode  # type: ignore[union-attr]
        on_event = self.on_event
        if self.options.all_events:
            # nothing was filtered in the kernel: the engine's path gates (the same filters,
            # in user space) keep unwanted events from its detectors. A record that they
            # would drop is counted from its raw bytes (its kind, flags and pathname) without
            # an event ever being built: the engine's counts and gate decisions are the same
            # (events_by_name, events_path_filtered); only a recorder needs every event
            passes = self._passes() if on_event is None else {}
            gated = self.engine.process_dict
            stats = self.engine.stats
            counts = stats.events_by_name
            kind_flags = _KIND_FLAGS.unpack_from
            slot_a = _SLOT_A.unpack_from
            for off, size in batch:
                if passes and size >= L.RECORD_FIXED:
                    kind, flags = kind_flags(data, off + _KIND_OFF)
                    judged = passes.get(kind)
                    if judged is not None:
                        name, matches = judged
                        if matches is None:
                            counts[name] += 1
                            continue
                        n = slot_a(data, off + _SLEN_OFF)[0]
                        if not flags & _PATH_NOT_SLOT_A and L.RECORD_FIXED + n <= size:
                            p = off + L.RECORD_FIXED
                            path = bytes(data[p:p + n]).decode("utf-8", "backslashreplace")
                            if not matches(path):
                                counts[name] += 1
                                stats.events_path_filtered += 1
                                continue
                try:
                    ev = decode(data, off, size)
                except (DecodeError, ValueError, IndexError, UnicodeError) as exc:
                    self._decode_failed(exc)
                    continue
                if ev is None:
                    continue
                gated(ev.data)
                if on_event is not None:
                    on_event(ev)
            return
        process = self.engine.process_event
        for off, size in batch:
            try:
                ev = decode(data, off, size)
            except (DecodeError, ValueError, IndexError, UnicodeError) as exc:
                self._decode_failed(exc)
                continue
            if ev is None:
                continue
            process(ev)
            if on_event is not None:
                on_event(ev)

    def _decode_failed(self, exc: Exception) -> None:
        self.decode_errors += 1
        self.engine.count_parse_error()
        key = type(exc).__name__ + str(exc)[:40]
        if key not in self._decode_errors_reported and len(self._decode_errors_reported) < 20:
            self._decode_errors_reported.add(key)
            print(f"memwarden: cannot decode a record from the probe: {exc} (further ones "
                  "like it are only counted)", file=self.err)

    # -- kernel counters and drops ------------------------------------------------------------
    def _per_cpu_counters(self) -> list[tuple[int, ...]]:
        m = self._obj.map("mw_counters")
        raw = m.lookup(L.u32_key(0), value_size=L.COUNTERS_SIZE * self._ncpus)
        if raw is None:
            return []
        size = L.COUNTERS_SIZE
        return [L.COUNTERS.unpack_from(raw, i * size) for i in range(self._ncpus)]

    def kernel_counters(self) -> dict[str, Any]:
        per_cpu = self._per_cpu_counters()
        k = L.KIND_MAX
        total = [sum(col) for col in zip(*per_cpu, strict=True)] if per_cpu else [0] * (3 * k + 7)

        def by_name(base: int) -> dict[str, int]:
            return {L.KIND_EVENT[i]: total[base + i] for i in sorted(L.KIND_EVENT)
                    if total[base + i]}

        return {
            "seen": by_name(0),
            "delivered": by_name(k),
            "dropped": by_name(2 * k),
            "cheap_rejected": total[3 * k],
            "trie_rejected": total[3 * k + 1],
            "truncated": total[3 * k + 2],
            "ring_retries": total[3 * k + 3],
            "ring_full": total[3 * k + 4],
            "ring_busy": total[3 * k + 5],
            "arg_rejected": total[3 * k + 6],
        }

    def check_drops(self) -> int:
        """Report ring-buffer reservation failures since the last check: one
        ``memwarden_lost_events`` event per CPU that lost some, carrying the window they
        happened in (the last check to this one), the engine's ``kernel_drops`` counter, and a
        rate-limited warning on stderr. Returns the number lost.

        The loop calls it every ``drop_check_interval`` even under a flood (the ring is read
        at most one ring's size per turn), so drops are reported while they happen."""
        if self._obj is None:
            return 0
        k = L.KIND_MAX
        lost_total = 0
        start, end = self._drop_window_start, time.time_ns()
        for cpu, ctr in enumerate(self._per_cpu_counters()):
            dropped = sum(ctr[2 * k: 3 * k])
            delta = dropped - self._last_dropped[cpu]
            if delta <= 0:
                continue
            self._last_dropped[cpu] = dropped
            lost_total += delta
            ev = self._decoder.lost_events(delta, cpu, start, end)  # type: ignore[union-attr]
            self.engine.process_event(ev)
            if self.on_event is not None:
                self.on_event(ev)
        self._drop_window_start = end
        self.read_enforcement()
        if lost_total:
            self.engine.stats.kernel_drops += lost_total
            if not self._dropped_since_warning:
                self._warn_window_start = start
            self._warn_window_end = end
            self._warn_drops(lost_total)
        return lost_total

    def read_enforcement(self) -> None:
        """The kernel's enforcement counters into the engine's (``--stats``, metrics)."""
        if self._enforce is not None and self._enforce.policy:
            self.engine.stats.enforcement = self._enforce.read_counters(self._ncpus)

    def _warn_drops(self, lost: int, final: bool = False) -> None:
        """At most one warning per ``drop_warning_interval`` (and one at the end for what was
        not warned of yet), naming the count and the window the drops happened in."""
        self._dropped_since_warning += lost
        n = self._dropped_since_warning
        if not n:
            return
        now = time.monotonic()
        if not final and self._last_warning and (
                now - self._last_warning < self.options.drop_warning_interval):
            return
        start, end = self._warn_window_start, self._warn_window_end
        span = max((end - start) / 1e9, 1e-3)
        print(f"memwarden: warning: the kernel dropped {n} events between {_clock(start)} and "
              f"{_clock(end)} ({span:.1f} s, {n / span:.0f}/s): the {self.ring_size >> 20} MiB "
              "ring buffer was full; raise --ring-buffer-mb or select fewer events",
              file=self.err)
        self._last_warning = now
        self._dropped_since_warning = 0

    def stats(self) -> dict[str, Any]:
        """Sensor counters for ``--stats`` (the engine's are printed beside them)."""
        self.read_enforcement()
        out: dict[str, Any] = {"hook_mode": self.mode}
        if self.refused_modes:
            out["hooks_refused"] = "; ".join(self.refused_modes)
        out["ring_buffer_mb"] = self.ring_size >> 20
        out["programs_attached"] = len(self._links)
        if self.filter_reloads:
            out["filter_reloads"] = self.filter_reloads
        if self._obj is not None:
            kc = self.kernel_counters()
            out["kernel_seen"] = kc["seen"]
            out["kernel_delivered"] = kc["delivered"]
            out["kernel_dropped"] = kc["dropped"]
            out["kernel_cheap_rejected"] = kc["cheap_rejected"]
            out["kernel_trie_rejected"] = kc["trie_rejected"]
            out["kernel_truncated_paths"] = kc["truncated"]
            out["kernel_ring_retries"] = kc["ring_retries"]
            out["kernel_ring_full_drops"] = kc["ring_full"]
            out["kernel_ring_busy_drops"] = kc["ring_busy"]
            out["kernel_arg_rejected"] = kc["arg_rejected"]
        if self._ring is not None:
            out["ring_records"] = self._ring.records
            out["ring_batches"] = self._ring.batches
        out["decode_errors"] = self.decode_errors
        if self._decoder is not None:
            out["user_space_path_filtered"] = self._decoder.user_filtered
            judge = self._decoder.dir_identity
            if judge is not None and any(vars(judge.counts).values()):
                c = judge.counts  # unlink/rename/link directories judged by identity
                out["dirs_judged"], out["dirs_matched"] = c.judged, c.matched
                out["dirs_unresolved"], out["dirs_over_budget"] = c.unresolved, c.over_budget
        return out

    # -- cleanup ------------------------------------------------------------------------------
    def close(self) -> None:
        """Detach every program and unload the object (idempotent)."""
        links, self._links = self._links, {}
        for link in links.values():
            try:
                link.destroy()
            except Exception as exc:  # pragma: no cover - libbpf does not fail here
                print(f"memwarden: detaching {link.program} failed: {exc}", file=self.err)
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None
        self._filters = None
        self._enforce = None
        self.started = False

    def __enter__(self) -> EbpfSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clock(ns: int) -> str:
    """Local wall-clock time of ns since the epoch, to the millisecond (drop windows)."""
    secs, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{rest // 1_000_000:03d}"
