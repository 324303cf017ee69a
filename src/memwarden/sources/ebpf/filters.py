"""Detectors' requirements compiled into the probe's filter maps.

A :class:`FilterPlan` says which event kinds the kernel delivers, and for which of them only
matching paths. It is computed from the engine (its detectors' selectors and path filters) and
written into the kernel by :class:`FilterMaps`, which keeps two configuration slots and two
values per trie entry so that a new plan replaces the old one without a moment where neither
applies and without detaching anything (``FilterMaps.apply`` can be called again at any time,
e.g. on a configuration reload).

The kernel filters opens in two tiers:
1. a cheap test on the opened name (length, first 8 bytes) against the basenames the exact,
   suffix and basename filters could match, and on the names of its ancestors against the
   directories that begin a prefix filter (``leaf`` and ``anchor`` heads);
2. for candidates, the resolved path in two LPM tries: paths for exact and prefix filters,
   reversed path tails for suffix and basename filters.
Tier 1 never rejects a path tier 2 would accept (a mount root, whose dentry keeps the name
it had before it was bound there, always goes on to tier 2); both together accept exactly
what :meth:`memwarden.signatures.base.PathSet.matches` accepts.

Both tiers judge a file by what it is as well as by where it was opened: a procfs file by its
path in its procfs under /proc (wherever that procfs is mounted), a memory device
(``MEM_CHAR_DEVICES``: /dev/mem, /dev/kmem, /dev/port, ...) named by an exact filter by its
number, through a ``DEV_KEY`` entry of the forward trie (``open_ident``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from memwarden.core.linux_abi import MEM_CHAR_DEVICES, kernel_dev
from memwarden.core.requirements import SyscallFilter
from memwarden.signatures.lib.paths import COREDUMP_DIR
from memwarden.sources.ebpf import layout as L

_FULL_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Head:
    """A name (path component) the cheap open filter compares: exact length, or at least."""

    length: int
    first: bytes  # up to 8 leading bytes the name must start with ("" = any)
    at_least: bool = False

    def pack(self) -> bytes:
        n = len(self.first)
        mask = _FULL_MASK if n >= 8 else (1 << (8 * n)) - 1
        value = int.from_bytes(self.first[:8].ljust(8, b"\0"), "little") & mask
        return L.HEAD.pack(mask, value, min(self.length, 0xFFFF), 1 if self.at_least else 0)

    def matches(self, name: bytes) -> bool:
        """What the kernel computes (for tests and checks)."""
        ok = len(name) >= self.length if self.at_least else len(name) == self.length
        return ok and name.startswith(self.first)


def bloom_index(length: int, first_byte: int) -> int:
    """The bit the probe tests for a name: min(length, 63) << 6 | first byte & 63."""
    return (min(length, 63) << 6) | (first_byte & 63)


def _masks(heads: list[Head]) -> tuple[int, list[int]]:
    """The length mask and bloom bits the probe tests before comparing heads."""
    len_mask = 0
    bloom = [0] * 64
    for h in heads:
        lengths = range(min(h.length, 63), 64) if h.at_least else (min(h.length, 63),)
        firsts = (h.first[0],) if h.first else range(64)
        for n in lengths:
            len_mask |= 1 << n
            for f in firsts:
                i = bloom_index(n, f)
                bloom[i >> 6] |= 1 << (i & 63)
    return len_mask, bloom


def _heads_blob(heads: list[Head]) -> bytes:
    len_mask, bloom = _masks(heads)
    blob = L.HEADS_PREFIX.pack(len_mask, len(heads))
    blob += b"".join(h.pack() for h in heads)
    blob += b"\0" * (L.HEAD.size * (L.MAX_HEADS - len(heads)))
    blob += L.BLOOM.pack(*bloom)
    assert len(blob) == L.HEADS_SIZE
    return blob


def kernel_name_check(heads: list[Head], name: bytes) -> bool:
    """What the probe decides for one path component: length mask, bloom bit, then the heads
    (the same masks as the blob it is given)."""
    len_mask, bloom = _masks(heads)
    n = min(len(name), 63)
    if not (len_mask >> n) & 1:
        return False
    i = bloom_index(len(name), name[0] if name else 0)
    if not (bloom[i >> 6] >> (i & 63)) & 1:
        return False
    return any(h.matches(name) for h in heads)


@dataclass
class FilterPlan:
    """What the kernel should deliver."""

    enabled: set[int] = field(default_factory=set)  # kinds
    path_filtered: set[int] = field(default_factory=set)  # kinds filtered by path
    fwd: dict[bytes, int] = field(default_factory=dict)  # key bytes -> kinds bit mask
    rev: dict[bytes, int] = field(default_factory=dict)
    leaf: list[Head] = field(default_factory=list)
    anchor: list[Head] = field(default_factory=list)
    open_any_leaf: bool = False
    open_ident: int = 0  # L.ID_*: opens judged by what the file is (devices, procfs)
    unsupported: list[str] = field(default_factory=list)  # names the sensor cannot produce
    warnings: list[str] = field(default_factory=list)
    #: syscall kind (mw_falco_events.h) -> what its program may reject; absent: everything
    #: of the kind is delivered
    sc_filters: dict[int, SyscallFilter] = field(default_factory=dict)

    def sc_filters_blob(self) -> bytes:
        """``struct mw_sc_filters`` for one configuration slot."""
        out = bytearray(L.SC_FILTERS_SIZE)
        for kind, f in self.sc_filters.items():
            tests = ((L.SCF_VALUES if f.values is not None else 0)
                     | (L.SCF_MASK if f.mask else 0) | (L.SCF_OK if f.success_only else 0)
                     | (L.SCF_NONROOT if f.nonroot_only else 0))
            values = sum(1 << v for v in f.values or ())
            L.SC_FILTER.pack_into(out, kind * L.SC_FILTER.size, values,
                                  f.mask & ((1 << 64) - 1), tests)
        return bytes(out)

    @property
    def event_names(self) -> list[str]:
        return sorted(L.KIND_EVENT[k] for k in self.enabled)

    @property
    def rev_len(self) -> int:
        return max((len(k) for k in self.rev), default=0)

    def config_blob(self) -> bytes:
        enabled = sum(1 << k for k in self.enabled)
        filtered = sum(1 << k for k in self.path_filtered)
        blob = L.CONFIG_PREFIX.pack(enabled, filtered, 1 if self.open_any_leaf else 0,
                                    self.rev_len, 1 if self.anchor else 0, self.open_ident)
        blob += _heads_blob(self.leaf) + _heads_blob(self.anchor)
        assert len(blob) == L.CONFIG_SIZE
        return blob

    # -- what the kernel will accept, computed in Python (tests, and a cross-check) -------------
    def accepts_open_name(self, path: str) -> bool:
        """Tier 1 for an absolute path: would the cheap name test let it through?"""
        if self.open_any_leaf:
            return True
        parts = [p.encode() for p in path.split("/") if p]
        if not parts:
            return True
        if kernel_name_check(self.leaf, parts[-1]):
            return True
        return any(kernel_name_check(self.anchor, p) for p in parts)

    def trie_kinds(self, path: str) -> int:
        """Tier 2: the kinds the two tries accept for an absolute path (the kernel's lookup:
        the longest entry that is a prefix of the key answers for all shorter ones)."""
        data = path.encode()
        fwd_key = data + b"\0" if len(data) < L.LPM_DATA else data[: L.LPM_DATA]
        kinds = _longest(self.fwd, fwd_key)
        if self.rev:
            kinds |= _longest(self.rev, data[::-1][: min(self.rev_len, L.LPM_DATA)])
        return kinds


def _longest(entries: dict[bytes, int], key: bytes) -> int:
    best = max((k for k in entries if key.startswith(k)), key=len, default=None)
    return 0 if best is None else _inherited(entries, best)


def _inherited(entries: dict[bytes, int], key: bytes) -> int:
    """The value stored for ``key``: its own kinds and those of every entry that is a prefix of
    it (a longest-prefix lookup returns one entry, so it must answer for the shorter ones)."""
    mask = 0
    for k, m in entries.items():
        if key.startswith(k):
            mask |= m
    return mask


def _head_for(name: bytes, at_least: bool = False) -> Head:
    return Head(len(name), name[:8], at_least)


def _add(entries: dict[bytes, int], key: bytes, kind: int) -> None:
    entries[key] = entries.get(key, 0) | (1 << kind)


def compile_plan(selected: Iterable[str], path_sets: dict, *, all_events: bool = False
                 ) -> FilterPlan:
    """Build the plan from event names and their path filter sets.

    ``path_sets`` maps an event name to a :class:`memwarden.signatures.base.PathSet` when every
    detector that selects the event declared path filters for it (``Engine.path_filters_for``),
    and has no entry when some detector wants every such event.
    """
    plan = FilterPlan()
    if all_events:
        plan.enabled = set(L.KIND_EVENT)
        return plan
    for name in sorted(set(selected)):
        kind = L.EVENT_KIND.get(name)
        if kind is None:
            if name != L.LOST_EVENTS:
                plan.unsupported.append(name)
            continue
        plan.enabled.add(kind)
        ps = path_sets.get(name)
        if ps is None:
            continue
        if _compile_paths(plan, kind, name, ps):
            plan.path_filtered.add(kind)
    if L.KIND_FILE_OPEN in plan.path_filtered and (len(plan.leaf) > L.MAX_HEADS
                                                   or len(plan.anchor) > L.MAX_HEADS):
        plan.warnings.append(
            f"more than {L.MAX_HEADS} distinct names in the open filters: the in-kernel name "
            "pre-check is off (the path lookup still filters)")
        plan.open_any_leaf = True
        plan.leaf, plan.anchor = [], []
    return plan


#: the kinds whose paths are the caller's strings (no file to read at the syscall exit): a
#: path through a symlinked directory is judged in user space (``ID_CHANGE_DIRS``)
_CHANGE_KINDS = (L.KIND_INODE_UNLINK, L.KIND_INODE_RENAME, L.KIND_INODE_LINK)


def _compile_paths(plan: FilterPlan, kind: int, name: str, ps) -> bool:
    """Add one event's filters; False when they cannot be expressed (then every such event is
    delivered and the engine filters in user space)."""
    fwd: dict[bytes, int] = {}
    rev: dict[bytes, int] = {}
    leaf: list[Head] = []
    anchor: list[Head] = []
    any_leaf = False
    ident = 0
    for value in sorted(ps.exact):
        raw = value.encode()
        if not raw.startswith(b"/"):
            continue  # the kernel reports absolute paths only: cannot match
        if value in MEM_CHAR_DEVICES:  # the device by its number, whatever the node's name
            _add(fwd, L.dev_key(kernel_dev(*MEM_CHAR_DEVICES[value])), kind)
            ident |= L.ID_DEVS
        if len(raw) >= L.LPM_DATA:
            return _give_up(plan, name, f"exact path longer than {L.LPM_DATA - 1} bytes")
        _add(fwd, raw + b"\0", kind)
        base = raw.rsplit(b"/", 1)[-1]
        if base:
            leaf.append(_head_for(base))
        else:
            any_leaf = True  # "/" itself
    for value in sorted(ps.prefixes):
        raw = value.encode()
        if not raw.startswith(b"/"):
            continue
        if len(raw) > L.LPM_DATA:
            return _give_up(plan, name, f"prefix longer than {L.LPM_DATA} bytes")
        _add(fwd, raw, kind)
        if kind == L.KIND_FILE_OPEN and value == COREDUMP_DIR:
            fwd[raw] |= L.TRIE_STORE  # the core-dump store: also by identity (its inodes)
            ident |= L.ID_STORE
        elif kind in _CHANGE_KINDS and value == COREDUMP_DIR:
            plan.open_ident |= L.ID_CHANGE_DIRS  # its directory by identity (user space)
        if raw.startswith(b"/proc") and (len(raw) == 5 or raw[5:6] == b"/"):
            ident |= L.ID_PROC  # a procfs mounted anywhere: its ancestors are not /proc
        if raw == b"/":
            any_leaf = True
        elif raw.endswith(b"/"):
            anchor.append(_head_for(raw[:-1].rsplit(b"/", 1)[-1]))  # a directory below which
        else:
            anchor.append(_head_for(raw.rsplit(b"/", 1)[-1], at_least=True))  # a name's start
    for value in sorted(ps.suffixes):
        raw = value.encode()
        if not raw:
            any_leaf = True
            continue
        if len(raw) > L.LPM_DATA:
            return _give_up(plan, name, f"suffix longer than {L.LPM_DATA} bytes")
        _add(rev, raw[::-1], kind)
        if b"/" in raw:
            base = raw.rsplit(b"/", 1)[-1]
            if base:
                leaf.append(_head_for(base))
            else:
                any_leaf = True
        else:
            leaf.append(Head(len(raw), b"", at_least=True))  # the name ends with it
    for value in sorted(ps.basenames):
        raw = value.encode()
        if not raw or b"/" in raw:
            continue  # no name matches
        if len(raw) >= L.LPM_DATA:
            return _give_up(plan, name, f"basename longer than {L.LPM_DATA - 1} bytes")
        _add(rev, (b"/" + raw)[::-1], kind)
        leaf.append(_head_for(raw))
    for k, m in fwd.items():
        plan.fwd[k] = plan.fwd.get(k, 0) | m
    for k, m in rev.items():
        plan.rev[k] = plan.rev.get(k, 0) | m
    if kind == L.KIND_FILE_OPEN:
        plan.leaf.extend(h for h in dict.fromkeys(leaf) if h not in plan.leaf)
        plan.anchor.extend(h for h in dict.fromkeys(anchor) if h not in plan.anchor)
        plan.open_any_leaf = plan.open_any_leaf or any_leaf
        plan.open_ident |= ident
    return True


def _give_up(plan: FilterPlan, name: str, why: str) -> bool:
    plan.warnings.append(f"{name}: {why}: every {name} event goes to user space, which filters")
    return False


def plan_from_engine(engine, *, all_events: bool = False) -> FilterPlan:
    """The plan for every detector registered in ``engine``."""
    selected = engine.selected_event_names
    path_sets = {}
    for name in selected:
        ps = engine.path_filters_for(name)
        if ps is not None:
            path_sets[name] = ps
    plan = compile_plan(selected, path_sets, all_events=all_events)
    if not all_events:
        feeds = engine.enricher.feeds if engine.enricher is not None else frozenset()
        plan.sc_filters = syscall_filters(engine.detectors, plan.enabled, feeds)
    return plan


def syscall_filters(detectors, enabled: set[int], feeds=frozenset()) -> dict[int, SyscallFilter]:
    """Per enabled syscall kind of mw_falco_events.h, what every detector selecting its event
    allows the kernel to reject: the union of their :class:`SyscallFilter` (a detector without
    one for the event, or the process table feeding on it, wants every call)."""
    wanted: dict[str, SyscallFilter | None] = {}
    for d in detectors:
        req = d.requirements
        own = {f.event_name: f for f in req.syscall_filters}
        for sel in req.selectors:
            name = sel.event_name
            kind = L.EVENT_KIND.get(name)
            if kind not in L.FALCO_SC_KINDS or kind not in enabled:
                continue
            f = own.get(name)
            if name in wanted:
                prev = wanted[name]
                wanted[name] = prev.either(f) if prev is not None and f is not None else None
            else:
                wanted[name] = f
    return {L.EVENT_KIND[name]: f for name, f in wanted.items()
            if f is not None and name not in feeds}


# -- writing a plan into the kernel ------------------------------------------------------------

def _lpm_key(key: bytes) -> bytes:
    return L.LPM_KEY.pack(len(key) * 8, key.ljust(L.LPM_DATA, b"\0"))


class FilterMaps:
    """Writes plans into the probe's maps, reload-safe (two slots, flip, clean up)."""

    def __init__(self, config_map, state_map, fwd_map, rev_map, sc_filter_map=None) -> None:
        self.config_map = config_map
        self.sc_filter_map = sc_filter_map
        self.state_map = state_map
        self.tries = {"fwd": fwd_map, "rev": rev_map}
        self.active = 0
        self.plan: FilterPlan | None = None
        # what each trie holds per slot: key -> kinds (as written by the last apply)
        self._held: dict[str, list[dict[bytes, int]]] = {"fwd": [{}, {}], "rev": [{}, {}]}

    def apply(self, plan: FilterPlan) -> None:
        new = 1 - self.active
        old = self.active
        self.config_map.update(L.u32_key(new), plan.config_blob())
        if self.sc_filter_map is not None:
            self.sc_filter_map.update(L.u32_key(new), plan.sc_filters_blob())
        for name, entries in (("fwd", plan.fwd), ("rev", plan.rev)):
            trie = self.tries[name]
            held_old = self._held[name][old]
            keys = set(held_old) | set(entries)
            values_new = {k: _inherited(entries, k) for k in keys}
            values_old = {k: _inherited(held_old, k) for k in keys}
            for k in keys:
                v = [0, 0]
                v[new], v[old] = values_new[k], values_old[k]
                trie.update(_lpm_key(k), L.TRIE_VALUE.pack(*v))
            self._held[name][new] = dict(entries)
        # the flip: from here on the probe reads slot `new`
        self.state_map.update(L.u32_key(0), L.STATE.pack(new))
        self.active = new
        # clean up: entries only the old plan had are no longer reached through slot `new`
        # with a different answer than their shorter neighbours give (see _inherited)
        for name, entries in (("fwd", plan.fwd), ("rev", plan.rev)):
            trie = self.tries[name]
            for k in set(self._held[name][old]) - set(entries):
                trie.delete(_lpm_key(k))
            for k in entries:
                v = [0, 0]
                v[new] = v[old] = _inherited(entries, k)
                trie.update(_lpm_key(k), L.TRIE_VALUE.pack(*v))
            self._held[name][old] = dict(entries)
        self.plan = plan
