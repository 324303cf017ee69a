"""``docs/events.md``, generated from the event catalogue.

    python -m memwarden.events.docs            rewrite docs/events.md
    python -m memwarden.events.docs --check    exit 1 (naming the command) when it is stale

``tests/unit/test_events_catalogue.py`` fails when the committed file differs from
:func:`render`, so the page cannot drift from the table the code derives everything from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memwarden.events.catalogue import EVENTS, EventSpec

#: where the page lives in a source checkout
DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "events.md"
COMMAND = "python -m memwarden.events.docs"

_INTRO = """\
# Events memwarden produces and consumes

<!-- Generated from src/memwarden/events/catalogue.py by `{command}`; do not edit. -->

Every source (eBPF sensor, Tracee JSON, audit log, recordings) produces events in the shape of
Tracee's legacy `trace.Event` JSON (`memwarden.core.event.TRACEE_FIELDS` holds the field list
and order; build events with `memwarden.core.event.Event.new(name, args, **context)`).
Signatures and Falco rules read only these names. Argument names follow Tracee wherever Tracee
has the event. Both Tracee shapes are read (`memwarden.events.tracee_json.event_from_dict`).

## Context (every event)

| field | meaning |
|---|---|
| `timestamp` | event time, ns since the epoch (the sensor converts the kernel's monotonic clock) |
| `processId`, `threadId`, `parentProcessId` | pid/tid/ppid inside the task's pid namespace |
| `hostProcessId`, `hostThreadId`, `hostParentProcessId` | the same in the initial pid namespace |
| `processEntityId`, `threadEntityId`, `parentEntityId` | 0 on events; a finding's Tracee \
output fills them from the process table: one 32-bit value per (host pid, start time), \
memwarden's own hash (not Tracee's), the same on every finding of one process life |
| `userId` | real uid |
| `mountNamespace`, `pidNamespace` | namespace inode numbers |
| `processName` | comm |
| `executable.path` | absolute path of the task's executable |
| `cgroupId` | cgroup v2 id |
| `containerId`, `container.id` | 64-hex container id parsed from the cgroup path ("" on the host) |
| `contextFlags.containerStarted` | true for tasks in a container (sensor: containerId non-empty) |
| `contextFlags.isCompat` | a 32-bit syscall (an i386 program or `int $0x80`; audit: 32-bit arch) |
| `syscall` | the syscall that led to the event (`openat`, `openat2`, `open`, `kill`, …); \
`io_uring_enter` for an io_uring request (also when an io worker thread ran it) |
| `returnValue` | syscall return value where the event is a syscall |

## Events

The table is `memwarden.events.catalogue.EVENTS`. Path arguments (in **bold**) are what path
filters test. eBPF kind: the record kind in `sources/ebpf/mw_events.h`. Audit: the syscalls
whose SYSCALL records become the event (✓: successful calls only); audit events also carry
`auid: unsigned int` and `audit_key: const char*`. Falco: the `evt.type` values the event
stands for in Falco rules (the default one first).

| event | args (name: type) | eBPF kind | audit | Falco evt.type | notes |
|---|---|---|---|---|---|
"""

_OUTRO = """
Tracee may print some arguments parsed (`flags` as `"O_RDONLY|O_LARGEFILE"`, `sig` as
`"SIGSEGV"`, `request` as `"PTRACE_ATTACH"`): read them with `Event.open_flags()`,
`Event.int_arg(name, parse_signal)` etc. from `memwarden.core.linux_abi`, which accept both.

## Requirements a detector declares

`selectors` (event name + origin) and `path_filters`
(`memwarden.core.requirements.PathFilter(event_name, kind, value)`, kind one of `exact`, `prefix`,
`suffix`, `basename`). The sensor pushes them into the kernel: for an event name with path
filters from every detector that selects it, only matching paths reach user space; if any
detector selects the event without a path filter, every such event reaches user space.

## Adding an event

1. An entry in `EVENTS` (`src/memwarden/events/catalogue.py`): arguments, path arguments,
   category, eBPF kind and programs, audit syscalls, Falco types.
2. For the sensor: the kind in `enum mw_kind` (`mw_events.h`, the kernel/user contract; a unit
   test compares it with the catalogue), the program(s) in `memwarden.bpf.c`, and the method
   reading the values in `sources/ebpf/decode.py`.
3. For audit: the method reading the values in `sources/audit/decoder.py` (`_BUILDERS`).
4. Optionally Falco's argument names in `rules/falco/evttypes.py`.
5. `{command}` to regenerate this page.
"""


def _code(text: str) -> str:
    return f"`{text}`"


def _args_cell(e: EventSpec) -> str:
    parts = []
    for a in e.args:
        cell = f"`{a.name}: {a.type}`"
        if a.name in e.path_args:
            cell = f"**{cell}**"
        if a.doc:
            cell += f" ({a.doc})"
        parts.append(cell)
    return ", ".join(parts)


def _audit_cell(e: EventSpec) -> str:
    if e.audit_record:
        return f"{e.audit_record} record"
    if not e.audit_syscalls:
        return ""
    mark = " ✓" if e.audit_success_only else ""
    return ", ".join(map(_code, e.audit_syscalls)) + mark


def _falco_cell(e: EventSpec) -> str:
    if not e.falco_types:
        return ""
    ordered = [e.falco_default_type] + [t for t in e.falco_types if t != e.falco_default_type]
    return ", ".join(map(_code, ordered))


def _kind_cell(e: EventSpec) -> str:
    return f"{e.ebpf_kind} `MW_KIND_{e.ebpf_enum}`" if e.ebpf_kind else ""


def render() -> str:
    """The whole page."""
    rows = [
        f"| `{e.name}` | {_args_cell(e)} | {_kind_cell(e)} | {_audit_cell(e)} | "
        f"{_falco_cell(e)} | {e.notes} |"
        for e in EVENTS
    ]
    return (_INTRO.format(command=COMMAND) + "\n".join(rows) + "\n"
            + _OUTRO.format(command=COMMAND))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="the page to write")
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when the page is stale")
    opts = parser.parse_args(argv)
    page = render()
    if opts.check:
        current = opts.out.read_text() if opts.out.is_file() else ""
        if current != page:
            print(f"{opts.out} is out of date; regenerate with: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    opts.out.write_text(page)
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
