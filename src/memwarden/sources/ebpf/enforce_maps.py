"""Writes an :class:`~memwarden.engine.enforce.EnforcePolicy` into the probe's enforcement maps
(``mw_enforce``, ``mw_allow_exe/comm/uid``; ``mw_enforce.h``) and reads its counters back.

A write is ordered so that the probe never kills on a half-written policy: first the rules are
switched off (``rules = 0``), then the allowlist maps are rewritten, then the new rules go in.
During a reload enforcement pauses for the few map updates in between; it never kills a
process the new or the old allowlist exempts.
"""

from __future__ import annotations

import os
from typing import Any

from memwarden.core.linux_abi import CHAR_DEVICE_PATHS
from memwarden.engine.enforce import EnforcePolicy, KernelGlob
from memwarden.signatures.raw_memory_device_access import RAW_MEMORY_DEVICES
from memwarden.sources.ebpf import layout as L


def _exe_key(path: bytes) -> bytes:
    return path.ljust(L.EXE_KEY, b"\0")


def _comm_key(comm: bytes) -> bytes:
    return comm.ljust(L.COMM_LEN, b"\0")


def contains_dfa(mid: bytes) -> bytes:
    """KMP's automaton for "holds ``mid``": row q (the longest prefix of mid just read), column
    a byte -> the next state; state len(mid), found, stays. Rows past it are zero."""
    m = len(mid)
    table = bytearray((L.GLOB_MID + 1) * 256)
    fail = 0  # the state reached by mid[1:q]
    for q in range(m):
        for c in range(256):
            table[q * 256 + c] = q + 1 if c == mid[q] else (table[fail * 256 + c] if q else 0)
        if q:
            fail = table[fail * 256 + mid[q]]
    for c in range(256):
        table[m * 256 + c] = m
    return bytes(table)


def pack_glob(glob: KernelGlob, entries: int) -> bytes:
    """struct mw_allow_glob for ``glob``, one value of the path criterion of ``entries``."""
    return L.ALLOW_GLOB.pack(entries, len(glob.head), len(glob.tail), len(glob.mid),
                             int(glob.star), glob.head, glob.tail,
                             contains_dfa(glob.mid) if glob.mid else b"")


class EnforceMaps:
    def __init__(self, obj: Any, sensor_tgid: int | None = None) -> None:
        self.enforce = obj.map("mw_enforce")
        self.exe = obj.map("mw_allow_exe")
        self.comm = obj.map("mw_allow_comm")
        self.uid = obj.map("mw_allow_uid")
        self.glob = obj.map("mw_allow_glob")
        self.counters = obj.map("mw_enforce_ctr")
        self.sensor_tgid = os.getpid() if sensor_tgid is None else sensor_tgid
        self.policy = EnforcePolicy()

    def apply(self, policy: EnforcePolicy | None) -> None:
        policy = policy or EnforcePolicy()
        # 1. off
        self.enforce.update(L.u32_key(0), L.ENFORCE.pack(
            0, 0, self.sensor_tgid, 0, 0, 0, 0, 0, 0, 0, *([0] * L.ENFORCE_RULES),
            *([0] * (2 * L.DEV_NAMED))))
        # 2. the allowlist
        exe: dict[bytes, int] = {}
        comm: dict[bytes, int] = {}
        uid: dict[int, int] = {}
        need_exe = need_comm = need_uid = need_path = entries = 0
        rule_entries = [0] * L.ENFORCE_RULES
        devs = sorted(CHAR_DEVICE_PATHS.items())  # more than DEV_NAMED: the pack fails
        dev_path = [0] * L.DEV_NAMED
        globs: list[bytes] = []
        for i, e in enumerate(policy.allow):
            bit = 1 << i
            entries |= bit
            if e.paths:
                need_path |= bit
                for g in e.paths:
                    globs.append(pack_glob(g, bit))
                for j, (_rdev, name) in enumerate(devs):
                    if any(g.matches(name.encode()) for g in e.paths):
                        dev_path[j] |= bit
            for r in e.rules:
                rule_entries[L.RULES[r]] |= bit
            if e.executables:
                need_exe |= bit
                for x in e.executables:
                    exe[_exe_key(x)] = exe.get(_exe_key(x), 0) | bit
            if e.comms:
                need_comm |= bit
                for c in e.comms:
                    comm[_comm_key(c)] = comm.get(_comm_key(c), 0) | bit
            if e.has_user:
                need_uid |= bit
                for u in e.uids:
                    uid[u] = uid.get(u, 0) | bit
        for m, wanted in ((self.exe, exe), (self.comm, comm),
                          (self.uid, {L.u32_key(u): v for u, v in uid.items()})):
            for k in list(m.iter_keys()):
                if k not in wanted:
                    m.delete(k)
            for k, v in wanted.items():
                m.update(k, L.u32_key(v))
        for j, packed in enumerate(globs):
            self.glob.update(L.u32_key(j), packed)
        # 3. on
        rules = audit = 0
        for s in policy.signatures:
            bit = 1 << L.RULES[s.rule]
            rules |= bit
            if s.mode == "audit":
                audit |= bit
        dev_rdev = [rdev for rdev, _name in devs] + [0] * (L.DEV_NAMED - len(devs))
        raw_devs = sum(1 << j for j, (_rdev, name) in enumerate(devs)
                       if name in RAW_MEMORY_DEVICES)
        self.enforce.update(L.u32_key(0), L.ENFORCE.pack(
            rules, audit, self.sensor_tgid, entries, need_exe, need_comm, need_uid, need_path,
            len(globs), raw_devs, *rule_entries, *dev_rdev, *dev_path))
        self.policy = policy

    def read_counters(self, ncpus: int) -> dict[str, dict[str, int]]:
        """signature -> {killed, would_kill, allowlisted, spared, failed} for the signatures of
        the policy in force (summed over CPUs)."""
        size = L.ENFORCE_COUNTERS.size
        raw = self.counters.lookup(L.u32_key(0), value_size=size * ncpus)
        if raw is None:
            return {}
        n = L.ENFORCE_RULES
        total = [0] * (len(L.ENFORCE_COUNTER_NAMES) * n)
        for cpu in range(ncpus):
            for i, v in enumerate(L.ENFORCE_COUNTERS.unpack_from(raw, cpu * size)):
                total[i] += v
        out: dict[str, dict[str, int]] = {}
        for s in self.policy.signatures:
            r = L.RULES[s.rule]
            out[s.detector_id] = {name: total[j * n + r]
                                  for j, name in enumerate(L.ENFORCE_COUNTER_NAMES)}
        return out
