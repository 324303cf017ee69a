"""Detector requirements compiled into the probe's filters: the cheap name check never rejects
a path the filters accept, and the two tries accept exactly the paths ``PathSet.matches``
accepts (checked on fixed cases and on thousands of generated filter sets and paths)."""

from __future__ import annotations

import random

import pytest

from memwarden.core.pathset import PathSet
from memwarden.core.requirements import PathFilter
from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.signatures.lib.paths import COREDUMP_DIR
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.filters import (
    Head,
    bloom_index,
    compile_plan,
    kernel_name_check,
    plan_from_engine,
)

OPEN = "security_file_open"
UNLINK = "security_inode_unlink"
RENAME = "security_inode_rename"
OPEN_BIT = 1 << L.KIND_FILE_OPEN


def plan_for(filters: list[PathFilter], name: str = OPEN):
    return compile_plan([name], {name: PathSet(filters)})


def accepted(plan, path: str, kind: int = L.KIND_FILE_OPEN) -> bool:
    """The kernel's decision for an open of ``path``."""
    if kind == L.KIND_FILE_OPEN and not plan.accepts_open_name(path):
        return False
    return bool(plan.trie_kinds(path) & (1 << kind))


def test_builtin_detectors_plan() -> None:
    plan = plan_from_engine(Engine(load_builtin()))
    assert L.KIND_FILE_OPEN in plan.enabled and L.KIND_FILE_OPEN in plan.path_filtered
    assert plan.unsupported == [] and plan.warnings == []
    for path, want in [("/proc/kcore", True), ("/host/proc/kcore", True),
                       ("/proc/kcorex", False), ("/tmp/kcore", False),
                       ("/proc/1234/mem", True), ("/proc/self/mem", True),
                       ("/proc/1234/coredump_filter", True),
                       ("/var/lib/systemd/coredump/core.x.1", True),
                       ("/var/lib/systemd/coredump", False),
                       ("/var/lib/systemd/coredump.d/x", False),
                       ("/dev/mem", True), ("/dev/memory", False),
                       ("/proc/sys/kernel/core_pattern", True),
                       ("/proc/sys/kernel/core_patterns", False),
                       ("/etc/passwd", False), ("/usr/lib/x86_64-linux-gnu/libc.so.6", False)]:
        assert accepted(plan, path) is want, path
        assert plan_for_engine_matches(path) is want, path


def plan_for_engine_matches(path: str) -> bool:
    ps = Engine(load_builtin()).path_filters_for(OPEN)
    return ps is not None and ps.matches(path)


def test_heads_and_bloom() -> None:
    plan = plan_for([PathFilter(OPEN, "basename", "mem"),
                     PathFilter(OPEN, "exact", "/proc/sys/kernel/core_pattern"),
                     PathFilter(OPEN, "prefix", "/var/lib/systemd/coredump/")])
    assert Head(3, b"mem") in plan.leaf
    assert Head(12, b"core_pat") in plan.leaf
    assert plan.anchor == [Head(8, b"coredump")]
    assert kernel_name_check(plan.leaf, b"mem")
    assert not kernel_name_check(plan.leaf, b"men")  # same length and first byte: heads decide
    assert not kernel_name_check(plan.leaf, b"xem")  # bloom bit (3, 'x') is clear
    assert not kernel_name_check(plan.leaf, b"memo")  # length 4 is not in the mask
    assert bloom_index(3, ord("m")) == (3 << 6) | (ord("m") & 63)
    assert bloom_index(500, 0) == 63 << 6


def test_at_least_heads() -> None:
    # a prefix that ends inside a name, and a suffix that is part of a name
    plan = plan_for([PathFilter(OPEN, "prefix", "/var/lib/systemd/core"),
                     PathFilter(OPEN, "suffix", "kcore")])
    assert Head(4, b"core", True) in plan.anchor
    assert Head(5, b"", True) in plan.leaf
    for path in ("/var/lib/systemd/core", "/var/lib/systemd/coredump/x",
                 "/var/lib/systemd/core.txt", "/a/mykcore", "/kcore", "/x/" + "k" * 80 + "kcore"):
        assert accepted(plan, path), path
    for path in ("/var/lib/systemd/cor", "/a/kcorex", "/var/lib/core/x"):
        assert not accepted(plan, path), path


def test_special_cases() -> None:
    assert plan_for([PathFilter(OPEN, "prefix", "/")]).open_any_leaf
    assert plan_for([PathFilter(OPEN, "exact", "/")]).open_any_leaf
    # relative values cannot match an absolute path: no entries at all
    rel = plan_for([PathFilter(OPEN, "exact", "proc/kcore"), PathFilter(OPEN, "prefix", "tmp/")])
    assert rel.fwd == {} and not accepted(rel, "/proc/kcore")
    # a path longer than a trie key: every such event goes to user space, with a warning
    long = plan_for([PathFilter(OPEN, "exact", "/" + "x" * 300)])
    assert L.KIND_FILE_OPEN not in long.path_filtered and L.KIND_FILE_OPEN in long.enabled
    assert "every security_file_open event goes to user space" in long.warnings[0]
    # more distinct names than the probe compares: the name check is off, the tries filter
    many = plan_for([PathFilter(OPEN, "basename", f"name{i}") for i in range(L.MAX_HEADS + 1)])
    assert many.open_any_leaf and many.leaf == [] and "name pre-check is off" in many.warnings[0]
    assert accepted(many, "/a/name7") and not accepted(many, "/a/name77")


def test_event_names_all_events_and_unsupported() -> None:
    plan = compile_plan(["kill", "magic_write", OPEN, L.LOST_EVENTS], {})
    assert plan.event_names == ["kill", OPEN]
    assert plan.path_filtered == set()  # no path sets: every such event
    assert plan.unsupported == ["magic_write"]
    every = compile_plan([], {}, all_events=True)
    assert every.event_names == sorted(L.KIND_EVENT.values())
    assert every.path_filtered == set() and every.fwd == {} and every.rev == {}


def test_entries_answer_for_their_prefixes() -> None:
    """One trie serves several kinds: the longest matching entry carries the kinds of the
    shorter ones, so a lookup that lands on it answers for all."""
    plan = compile_plan([OPEN, UNLINK], {
        OPEN: PathSet([PathFilter(OPEN, "exact", "/var/lib/x/core")]),
        UNLINK: PathSet([PathFilter(UNLINK, "prefix", "/var/lib/")]),
    })
    assert plan.trie_kinds("/var/lib/x/core") == OPEN_BIT | (1 << L.KIND_INODE_UNLINK)
    assert plan.trie_kinds("/var/lib/y") == 1 << L.KIND_INODE_UNLINK
    assert plan.trie_kinds("/var/lo") == 0


def test_config_blob_size_and_flags() -> None:
    plan = plan_for([PathFilter(OPEN, "suffix", "/proc/kcore")])
    blob = plan.config_blob()
    assert len(blob) == L.CONFIG_SIZE
    enabled, filtered, any_leaf, rev_len, anchors, ident = L.CONFIG_PREFIX.unpack_from(blob)
    assert enabled == filtered == OPEN_BIT
    assert (any_leaf, rev_len, anchors, ident) == (0, len("/proc/kcore"), 0, 0)


# -- generated filter sets and paths --------------------------------------------------------------

COMPONENTS = ["proc", "kcore", "mem", "var", "lib", "core", "coredump", "coredump_filter",
              "sys", "a", "ab", "abc", "kcore.bak", "x" * 70, "x" * 71, "é", "1234"]


def random_path(rng: random.Random) -> str:
    return "/" + "/".join(rng.choice(COMPONENTS) for _ in range(rng.randint(1, 5)))


def random_filter(rng: random.Random, event: str) -> PathFilter:
    kind = rng.choice(PathFilter.KINDS)
    base = random_path(rng)
    if kind == "exact":
        return PathFilter(event, kind, base)
    if kind == "prefix":
        value = base + "/" if rng.random() < 0.6 else base[: rng.randint(2, len(base))]
        return PathFilter(event, kind, value)
    if kind == "suffix":
        return PathFilter(event, kind, base if rng.random() < 0.6 else base[-rng.randint(1, 6):])
    return PathFilter(event, kind, rng.choice(COMPONENTS))


@pytest.mark.parametrize("seed", range(40))
def test_generated_filters_agree_with_pathset(seed: int) -> None:
    rng = random.Random(seed)
    filters = [random_filter(rng, OPEN) for _ in range(rng.randint(1, 8))]
    ps = PathSet(filters)
    plan = plan_for(filters)
    paths = [random_path(rng) for _ in range(300)]
    # and the filters' own values, which must all be accepted where they are paths
    paths += [f.value for f in filters if f.value.startswith("/")]
    paths += [f.value + "/x" for f in filters if f.kind == "prefix"]
    for path in paths:
        want = ps.matches(path)
        if want:
            assert plan.accepts_open_name(path), (path, filters)
        assert bool(plan.trie_kinds(path) & OPEN_BIT) == want, (path, filters)


def test_long_paths_keep_their_suffix_and_prefix_matches() -> None:
    filters = [PathFilter(OPEN, "suffix", "/proc/kcore"), PathFilter(OPEN, "prefix", "/deep/")]
    plan = plan_for(filters)
    deep = "/deep/" + "/".join(["d" * 50] * 10) + "/proc/kcore"
    assert len(deep) > L.LPM_DATA
    assert accepted(plan, deep)
    assert plan.trie_kinds(deep) & OPEN_BIT


# -- what the file is (issue 15) ------------------------------------------------------------------

def test_memory_devices_are_also_filtered_by_number() -> None:
    plan = plan_for([PathFilter(OPEN, "exact", "/dev/mem"), PathFilter(OPEN, "exact", "/etc/x")])
    assert plan.open_ident == L.ID_DEVS
    assert plan.fwd[L.dev_key((1 << 20) | 1)] == OPEN_BIT
    assert L.dev_key((1 << 20) | 1) == b"\x01\x01\x00\x10\x00\x00"
    assert not any(k.startswith(b"\x01") for k in plan_for([PathFilter(OPEN, "exact",
                                                                       "/etc/x")]).fwd)
    _, _, _, _, _, ident = L.CONFIG_PREFIX.unpack_from(plan.config_blob())
    assert ident == L.ID_DEVS


def test_a_prefix_below_proc_makes_every_procfs_file_a_candidate() -> None:
    assert plan_for([PathFilter(OPEN, "prefix", "/proc/sys/")]).open_ident == L.ID_PROC
    assert plan_for([PathFilter(OPEN, "prefix", "/proc")]).open_ident == L.ID_PROC
    assert plan_for([PathFilter(OPEN, "prefix", "/procx/")]).open_ident == 0
    assert plan_for([PathFilter(OPEN, "suffix", "/proc/kcore")]).open_ident == 0


def test_the_builtin_plan_filters_devices_by_number_and_the_core_store_by_identity() -> None:
    plan = compile_plan(Engine(load_builtin()).selected_event_names,
                        {OPEN: Engine(load_builtin()).path_filters_for(OPEN)})
    assert plan.open_ident == L.ID_DEVS | L.ID_STORE
    store = COREDUMP_DIR.encode()
    assert plan.fwd[store] & L.TRIE_STORE
    assert plan.fwd[store] & (1 << L.KIND_FILE_OPEN)
    assert not any(v & L.TRIE_STORE for k, v in plan.fwd.items() if k != store)


def test_only_the_core_store_prefix_on_opens_is_known_by_identity() -> None:
    assert plan_for([PathFilter(OPEN, "prefix", COREDUMP_DIR)]).open_ident == L.ID_STORE
    assert plan_for([PathFilter(OPEN, "prefix", "/var/lib/")]).open_ident == 0
    assert plan_for([PathFilter(OPEN, "exact", COREDUMP_DIR + "core")]).open_ident == 0
