"""PathSet.compile: the closure the engine's path gates use is equivalent to PathSet.matches for
every mix of filter kinds the signature pack declares (and random others)."""

from __future__ import annotations

import random

from memwarden.core.pathset import PathSet
from memwarden.core.requirements import PathFilter
from memwarden.signatures import BUILTIN_SIGNATURES

PATHS = ("/dev/mem", "mem", "/a", "/var/lib/systemd/coredump/core.x",
         "/var/lib/systemd/coredump", "/proc/kcore", "/host/proc/kcore", "kcore",
         "/proc/1/mem", "/proc/1/smem", "coredump_filter", "/proc/9/coredump_filter",
         "/proc/sys/kernel/core_pattern", "/host/proc/sys/kernel/core_pattern",
         "/proc/sys/kernel/core_pattern2", "", "/", "/proc/", "a/mem", "/dev/memory")


def test_the_pack_s_union_of_filters() -> None:
    filters = [pf for cls in BUILTIN_SIGNATURES for pf in cls.path_filters
               if pf.event_name == "security_file_open"]
    assert {pf.kind for pf in filters} == {"exact", "prefix", "suffix", "basename"}
    ps = PathSet(filters)
    compiled = ps.compile()
    for path in PATHS:
        assert compiled(path) == ps.matches(path), path
    assert compiled("/proc/1/mem") and compiled("/dev/mem") and not compiled("/dev/memory")


def test_random_mixes_of_kinds() -> None:
    values = {"exact": ["/dev/mem", "/a", "mem"], "prefix": ["/var/lib/systemd/", "/proc/"],
              "suffix": ["/proc/kcore", "core_pattern", "x"],
              "basename": ["mem", "coredump_filter", "kcore"]}
    rng = random.Random(7)
    for _ in range(500):
        kinds = rng.sample(sorted(values), rng.randint(1, 4))
        ps = PathSet([PathFilter("e", k, rng.choice(values[k])) for k in kinds])
        compiled = ps.compile()
        for path in PATHS:
            assert compiled(path) == ps.matches(path), (kinds, path)
