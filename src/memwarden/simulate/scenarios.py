"""What each simulate scenario expects: from an actor's report (what it did, to which pids and
paths) to the findings that must arrive and the ones that must not.

A finding is matched on its Tracee JSON: the signature's event name, the process (host or
namespace pid) and a subset of its arguments, where the finding's data and the triggering
event's arguments both count (``operation``, ``target_pid``, ``pathname``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expect:
    """A finding of ``signature`` raised for process ``pid`` whose arguments include ``args``."""

    signature: str
    pid: int
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def matches(self, finding: dict[str, Any]) -> bool:
        if finding.get("eventName") != self.signature:
            return False
        if self.pid not in (finding.get("hostProcessId"), finding.get("processId")):
            return False
        values = finding_args(finding)
        return all(values.get(k) == v for k, v in self.args.items())

    def describe(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return self.label or f"{self.signature} pid={self.pid} {what}".strip()


def finding_args(finding: dict[str, Any]) -> dict[str, Any]:
    """The finding's data and its trigger's arguments in one dict (data wins)."""
    out: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for a in finding.get("args") or []:
        if not isinstance(a, dict):
            continue
        if a.get("name") == "triggeredBy" and isinstance(a.get("value"), dict):
            trig = a["value"]
            out["trigger"] = trig.get("name")
            for ta in trig.get("args") or []:
                if isinstance(ta, dict) and "name" in ta:
                    out[ta["name"]] = ta.get("value")
        elif "name" in a:
            data[a["name"]] = a.get("value")
    out.update(data)
    return out


@dataclass(frozen=True)
class Plan:
    """What one scenario run must produce (``expect``) and must not (``forbid``)."""

    expect: tuple[Expect, ...]
    forbid: tuple[Expect, ...] = ()
    note: str = ""


def _kcore(r: dict[str, Any]) -> Plan:
    how = "the real /proc/kcore (ELF header)" if r["mode"] == "real" else \
        "a stand-in /proc/kcore on a tmpfs in a private mount namespace"
    return Plan((Expect("proc_kcore_read", r["pid"], {"pathname": "/proc/kcore"},
                        "read of /proc/kcore"),), note=how)


def _core_dump_read(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    return Plan(
        (Expect("core_dump_read", pid, {"kind": "core_dump", "pathname": r["dump"]},
                "read of a dump in the store"),
         Expect("core_dump_read", pid, {"kind": "coredump_filter", "target_pid": r["victim"]},
                "read of a child's coredump_filter")),
        (Expect("core_dump_read", pid, {"pathname": r["own_filter"]},
                "own coredump_filter read reported"),),
        "store on a tmpfs in a private mount namespace; sleep child")


def _core_dump_tampering(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    return Plan(
        (Expect("core_dump_tampering", pid, {"operation": "write", "path": r["created"]},
                "file created in the store"),
         Expect("core_dump_tampering", pid, {"operation": "rename"}, "rename in the store"),
         Expect("core_dump_tampering", pid, {"operation": "link"}, "hard link in the store"),
         Expect("core_dump_tampering", pid, {"operation": "unlink", "path": r["linked"]},
                "unlink of the link"),
         Expect("core_dump_tampering", pid, {"operation": "unlink", "path": r["renamed"]},
                "unlink of the file")),
        note="store on a tmpfs in a private mount namespace")


def _core_dump_signal(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("core_dump_signal", pid, {"signal_name": "SIGSEGV", "target_pid": victim},
                "SIGSEGV sent to a child"),),
        (Expect("core_dump_signal", pid, {"target_pid": pid}, "SIGQUIT to itself reported"),
         Expect("process_core_dumped", victim, {}, "a non-dumpable child reported as dumped")),
        "kill -SEGV of a non-dumpable child (no dump is written)")


def _process_core_dumped(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("process_core_dumped", victim,
                {"signal_name": "SIGSEGV", "sent_by": "another process", "sender_pid": pid},
                "sleep dumped core, sender named"),
         Expect("core_dump_signal", pid, {"signal_name": "SIGSEGV", "target_pid": victim},
                "the forcing SIGSEGV")),
        note=f"{r['core_bytes']} byte dump written to a tmpfs (core_pattern "
             f"{r['core_pattern']!r})")


def _core_pattern_modification(r: dict[str, Any]) -> Plan:
    pid = r["pid"]
    expect = [Expect("core_pattern_modification", pid, {"setting": s}, f"{s} opened for writing")
              for s in ("core_pattern", "core_uses_pid", "suid_dumpable")]
    expect.append(Expect("core_pattern_modification", pid,
                         {"setting": "coredump_filter", "target_pid": r["victim"]},
                         "a child's coredump_filter opened for writing"))
    return Plan(tuple(expect),
                (Expect("core_pattern_modification", pid, {"target_pid": pid},
                        "own coredump_filter reported"),),
                "opened for writing and closed unwritten: nothing changes")


def _own_vs_child(signature: str, what: str) -> Callable[[dict[str, Any]], Plan]:
    def plan(r: dict[str, Any]) -> Plan:
        pid = r["pid"]
        return Plan((Expect(signature, pid, {"target_pid": r["victim"]}, what),),
                    (Expect(signature, pid, {"target_pid": pid}, "own memory reported"),),
                    "a child holding a marker buffer")
    return plan


def _ptrace(r: dict[str, Any]) -> Plan:
    pid, victim = r["pid"], r["victim"]
    return Plan(
        (Expect("ptrace_memory_access", pid, {"operation": "PTRACE_ATTACH",
                                              "target_pid": victim}, "PTRACE_ATTACH"),
         Expect("ptrace_memory_access", pid, {"operation": "PTRACE_PEEKDATA",
                                              "target_pid": victim}, "PTRACE_PEEKDATA")),
        note="attach, peek the marker, detach")


def _raw_memory(r: dict[str, Any]) -> Plan:
    how = "the real /dev/mem (opened, nothing read)" if r["mode"] == "real" else \
        "a stand-in /dev/mem on a tmpfs in a private mount namespace"
    return Plan((Expect("raw_memory_device_access", r["pid"],
                        {"pathname": "/dev/mem", "access": "read"}, "/dev/mem opened to read"),),
                note=how)


#: signature event name → the plan for its actor's report (the actor has the same name).
PLANS: dict[str, Callable[[dict[str, Any]], Plan]] = {
    "core_pattern_modification": _core_pattern_modification,
    "proc_kcore_read": _kcore,
    "proc_mem_access": _own_vs_child("proc_mem_access", "read of a child's /proc/<pid>/mem"),
    "proc_mem_code_injection": _own_vs_child("proc_mem_code_injection",
                                             "write to a child's /proc/<pid>/mem"),
    "process_vm_write_inject": _own_vs_child("process_vm_write_inject",
                                             "process_vm_writev into a child"),
    "core_dump_read": _core_dump_read,
    "core_dump_tampering": _core_dump_tampering,
    "core_dump_signal": _core_dump_signal,
    "process_core_dumped": _process_core_dumped,
    "process_vm_read": _own_vs_child("process_vm_read", "process_vm_readv of a child"),
    "ptrace_memory_access": _ptrace,
    "raw_memory_device_access": _raw_memory,
}
