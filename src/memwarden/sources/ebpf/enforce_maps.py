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

from memwarden.engine.enforce import EnforcePolicy
from memwarden.sources.ebpf import layout as L


def _exe_key(path: bytes) -> bytes:
    return path.ljust(L.EXE_KEY, b"\0")


def _comm_key(comm: bytes) -> bytes:
    return comm.ljust(L.COMM_LEN, b"\0")


class EnforceMaps:
    def __init__(self, obj: Any, sensor_tgid: int | None = None) -> None:
        self.enforce = obj.map("mw_enforce")
        self.exe = obj.map("mw_allow_exe")
        self.comm = obj.map("mw_allow_comm")
        self.uid = obj.map("mw_allow_uid")
        self.counters = obj.map("mw_enforce_ctr")
        self.sensor_tgid = os.getpid() if sensor_tgid is None else sensor_tgid
        self.policy = EnforcePolicy()

    def apply(self, policy: EnforcePolicy | None) -> None:
        policy = policy or EnforcePolicy()
        # 1. off
        self.enforce.update(L.u32_key(0), L.ENFORCE.pack(0, 0, self.sensor_tgid, 0, 0, 0, 0,
                                                         *([0] * L.ENFORCE_RULES)))
        # 2. the allowlist
        exe: dict[bytes, int] = {}
        comm: dict[bytes, int] = {}
        uid: dict[int, int] = {}
        need_exe = need_comm = need_uid = entries = 0
        rule_entries = [0] * L.ENFORCE_RULES
        for i, e in enumerate(policy.allow):
            bit = 1 << i
            entries |= bit
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
        # 3. on
        rules = audit = 0
        for s in policy.signatures:
            bit = 1 << L.RULES[s.rule]
            rules |= bit
            if s.mode == "audit":
                audit |= bit
        self.enforce.update(L.u32_key(0), L.ENFORCE.pack(
            rules, audit, self.sensor_tgid, entries, need_exe, need_comm, need_uid,
            *rule_entries))
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
