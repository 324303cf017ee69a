"""Audit-log replay throughput, beside Tracee-JSON replay.

``python -m memwarden.benchmarks.audit [--events N] [--hit-rate R]`` (or
``memwarden bench --audit``) writes a realistic auditd log (ENRICHED format, as auditd 3
writes it) for a host running memwarden's exported rules: mostly opens under /proc (the /proc
tree rule), signals, ptrace, plus syscalls and user-space records no signature needs (execve,
connect, logins); about ``hit_rate`` of the events fire a signature. It then measures, on the
same file read from the page cache, best of ``rounds``:

(a) splitting the lines into records (the floor of any audit reader in Python),
(b) the full replay with every built-in signature (records/s and audit events/s),

and the Tracee-JSON replay of as many generated events (events/s) for comparison.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time

from memwarden.benchmarks.generate import write_lines
from memwarden.benchmarks.replay import full_replay
from memwarden.engine.dispatch import Engine
from memwarden.outputs.stream import StreamSink
from memwarden.signatures import load_builtin
from memwarden.sources.audit.logfile import AuditLogReplay
from memwarden.sources.audit.records import split_log_line

_ENRICH = '\x1dARCH=x86_64 SYSCALL={sc} AUID="unset" UID="root" GID="root" EUID="root" ' \
          'SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"'
_COMMS = ("ps", "top", "node_exporter", "bash", "python3", "sshd", "cron", "kubelet")
_PROC_FILES = ("stat", "status", "cmdline", "statm", "io", "limits", "maps")


def _syscall(stamp: str, nr: int, name: str, rng: random.Random, *, items: int,
             a: tuple[str, str, str, str], success: bool = True, exit_: int = 3,
             key: str = '"TRC-1023"') -> str:
    pid = rng.randint(300, 60000)
    comm = rng.choice(_COMMS)
    return (f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall={nr} "
            f"success={'yes' if success else 'no'} exit={exit_} a0={a[0]} a1={a[1]} "
            f"a2={a[2]} a3={a[3]} items={items} ppid={rng.randint(1, 300)} pid={pid} "
            f"auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
            f'tty=(none) ses=4294967295 comm="{comm}" exe="/usr/bin/{comm}" key={key}'
            + _ENRICH.format(sc=name))


def _path(stamp: str, item: int, name: str, nametype: str, mode: str = "0100444") -> str:
    return (f'type=PATH msg=audit({stamp}): item={item} name="{name}" inode={hash(name) & 0xFFFFF} '
            f"dev=00:15 mode={mode} ouid=0 ogid=0 rdev=00:00 nametype={nametype} cap_fp=0 "
            'cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID="root" OGID="root"')


def _event(i: int, rng: random.Random, hit: bool) -> list[str]:
    stamp = f"{1_700_000_000 + i // 1000}.{i % 1000:03d}:{i + 1}"
    title = f"type=PROCTITLE msg=audit({stamp}): proctitle=7073002D6566"
    cwd = f'type=CWD msg=audit({stamp}): cwd="/root"'
    if hit:
        kind = rng.choice(("mem", "core_write", "kill", "filter"))
        if kind == "mem":
            return [_syscall(stamp, 257, "openat", rng, items=1, a=("ffffff9c", "7ffd", "2", "0")),
                    cwd, _path(stamp, 0, f"/proc/{rng.randint(2, 299)}/mem", "NORMAL"), title]
        if kind == "filter":
            return [_syscall(stamp, 257, "openat", rng, items=1, a=("ffffff9c", "7ffd", "0", "0")),
                    cwd, _path(stamp, 0, f"/proc/{rng.randint(2, 299)}/coredump_filter",
                               "NORMAL"), title]
        if kind == "core_write":
            return [_syscall(stamp, 257, "openat", rng, items=2, a=("ffffff9c", "55de", "241",
                                                                    "1b6"), key='"MW-1002"'),
                    cwd, _path(stamp, 0, "/var/lib/systemd/coredump/", "PARENT", "040755"),
                    _path(stamp, 1, f"/var/lib/systemd/coredump/core.{i}", "CREATE", "0100644"),
                    title]
        return [_syscall(stamp, 62, "kill", rng, items=0, a=(f"{rng.randint(2, 299):x}", "b",
                                                             "0", "0"), exit_=0,
                         key='"MW-1003"'),
                f"type=OBJ_PID msg=audit({stamp}): opid=1 oauid=-1 ouid=0 oses=-1 "
                'ocomm="victim"', title]
    roll = rng.random()
    if roll < 0.55:  # monitoring agents reading /proc: decoded, no finding
        pid = rng.randint(2, 60000)
        return [_syscall(stamp, 257, "openat", rng, items=1, a=("ffffff9c", "7ffd", "80000", "0")),
                cwd, _path(stamp, 0, f"/proc/{pid}/{rng.choice(_PROC_FILES)}", "NORMAL"), title]
    if roll < 0.65:  # signals that are not core signals
        return [_syscall(stamp, 62, "kill", rng, items=0, a=(f"{rng.randint(2, 60000):x}", "f",
                                                             "0", "0"), exit_=0,
                         key='"MW-1003"'), title]
    if roll < 0.80:  # execve (site rules): no signature needs it, dropped on its SYSCALL
        return [_syscall(stamp, 59, "execve", rng, items=2, a=("55", "56", "57", "0"), exit_=0,
                         key='"exec"'),
                f'type=EXECVE msg=audit({stamp}): argc=2 a0="ls" a1="-l"', cwd,
                _path(stamp, 0, "/usr/bin/ls", "NORMAL", "0100755"),
                _path(stamp, 1, "/lib64/ld-linux-x86-64.so.2", "NORMAL", "0100755"), title]
    if roll < 0.92:  # connect (site rules): dropped
        return [_syscall(stamp, 42, "connect", rng, items=0, a=("3", "7ffd", "10", "0"),
                         exit_=0, key='"net"'),
                f"type=SOCKADDR msg=audit({stamp}): saddr=0200005000000000000000000000000",
                title]
    return [f"type=USER_ACCT msg=audit({stamp}): pid=1 uid=0 auid=4294967295 ses=4294967295 "
            "msg='op=PAM:accounting grantors=pam_permit acct=\"root\" exe=\"/usr/sbin/cron\" "
            "hostname=? addr=? terminal=cron res=success'"]


def _interleave(a: list[str], b: list[str], rng: random.Random) -> list[str]:
    out: list[str] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and rng.random() < 0.5):
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out


def write_audit_log(path: str, events: int, hit_rate: float, seed: int = 7) -> int:
    """Write ``events`` audit events; returns the number of records (lines)."""
    rng = random.Random(seed)
    records = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        held: list[str] = []
        for i in range(events):
            lines = _event(i, rng, rng.random() < hit_rate)
            records += len(lines)
            if held:  # two CPUs' events interleave; each keeps its own order
                lines = _interleave(held, lines, rng)
                held = []
            elif rng.random() < 0.05:
                held = lines
                continue
            f.write("\n".join(lines) + "\n")
        if held:
            f.write("\n".join(held) + "\n")
    return records


def _split_only(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        for line in f:
            split_log_line(line)
            n += 1
    return n


def _audit_replay(path: str) -> tuple[int, int, int]:
    with open(os.devnull, "wb") as devnull:
        engine = Engine(load_builtin(), sink=StreamSink(devnull, "tracee"))
        replay = AuditLogReplay([path], engine, err=io.StringIO())
        replay.run()
        stats = replay.stats()
        events = (stats["audit_events_complete"] + stats["audit_events_incomplete"]
                  + stats["audit_events_skipped"])
        return stats["audit_records"], events, engine.stats.findings


def run_audit_bench(events: int = 300_000, hit_rate: float = 0.01, rounds: int = 3
                    ) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-") as tmp:
        log = os.path.join(tmp, "audit.log")
        records = write_audit_log(log, events, hit_rate)
        jsonl = os.path.join(tmp, "events.json")
        write_lines(jsonl, events, hit_rate)
        print(f"audit log: {events:,} events, {records:,} records "
              f"({os.path.getsize(log) / 1e6:.0f} MB); Tracee JSON: {events:,} events "
              f"({os.path.getsize(jsonl) / 1e6:.0f} MB); hit rate {hit_rate:.1%}")
        _split_only(log)  # warm the page cache
        best = {"split": float("inf"), "audit": float("inf"), "json": float("inf")}
        findings = json_findings = built = 0
        for _ in range(rounds):
            t = time.perf_counter()
            _split_only(log)
            best["split"] = min(best["split"], time.perf_counter() - t)
            t = time.perf_counter()
            n, built, findings = _audit_replay(log)
            assert built == events, (built, events)
            best["audit"] = min(best["audit"], time.perf_counter() - t)
            assert n == records, (n, records)
            t = time.perf_counter()
            _, json_findings = full_replay(jsonl)
            best["json"] = min(best["json"], time.perf_counter() - t)
    out = {
        "split_records_per_s": records / best["split"],
        "audit_records_per_s": records / best["audit"],
        "audit_events_per_s": built / best["audit"],
        "json_events_per_s": events / best["json"],
        "audit_findings": findings,
        "json_findings": json_findings,
    }
    print(f"(a) audit records split only:        {out['split_records_per_s']:>12,.0f} records/s")
    print(f"(b) audit replay, all detectors:     {out['audit_records_per_s']:>12,.0f} records/s"
          f" = {out['audit_events_per_s']:>10,.0f} audit events/s ({findings:,} findings)")
    print(f"(c) Tracee JSON replay, all detectors: {out['json_events_per_s']:>10,.0f} events/s"
          f" ({json_findings:,} findings)")
    print(f"audit events/s ÷ Tracee JSON events/s: "
          f"{out['audit_events_per_s'] / out['json_events_per_s']:.2f}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m memwarden.benchmarks.audit",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--hit-rate", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args(argv)
    run_audit_bench(ns.events, ns.hit_rate, ns.rounds)


if __name__ == "__main__":
    main()
