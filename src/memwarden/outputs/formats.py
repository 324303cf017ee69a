"""Finding formats: ``tracee`` (Tracee's detection event, JSON), ``tracee-v1beta1`` (Tracee's
current event shape, with the process's ancestors), ``falco`` (Falco's JSON alert),
``table`` (one line for people, control characters escaped: see :mod:`memwarden.core.text`).

A format renders ``Finding -> bytes`` (one line, newline included). :data:`FORMATS` is the one
list of format names: the ``--format`` choice, the ``FORMAT:`` prefix of an output spec and the
config file's ``format`` keys all read it, so a new format is one function and one entry here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from memwarden.core.event import Finding
from memwarden.core.metadata import Severity
from memwarden.core.text import json_safe, printable
from memwarden.outputs.tracee_v1beta1 import format_tracee_v1beta1

FindingFormatter = Callable[[Finding], bytes]

_JSON_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError


def format_tracee(finding: Finding) -> bytes:
    return json_safe(orjson.dumps(finding.to_tracee(), default=_default, option=_JSON_OPTS))


TABLE_HEADER = (f"{'TIME':<15} {'SEVERITY':<8} {'SIGNATURE':<10} {'EVENT':<24} {'PID':>7} "
                f"{'UID':>5} {'COMM':<16} DETAILS\n")


def format_table(finding: Finding) -> bytes:
    ev = finding.event
    ts = ev.timestamp
    when = (_dt.datetime.fromtimestamp(ts / 1e9).strftime("%H:%M:%S.%f")[:-3] if ts else "-")
    sev = Severity.NAMES.get(finding.severity, str(finding.severity))
    detail_parts = []
    for key in ("pathname", "flags", "sig", "request", "pid", "target_pid"):
        if ev.has_arg(key):
            detail_parts.append(f"{key}={ev.arg(key)}")
    for key, value in finding.data.items():
        detail_parts.append(f"{key}={value}")
    if ev.container_id:
        c = ev.data.get("container") or {}
        detail_parts.append(f"container={c.get('name') or ev.container_id[:12]}")
        if c.get("image"):
            detail_parts.append(f"image={c['image']}")
        pod = ev.data.get("kubernetes") or {}
        if pod.get("podName"):
            detail_parts.append(f"pod={pod.get('podNamespace', '')}/{pod['podName']}")
    proc = ev.process  # the process table's parent chain, when there is one
    if proc is not None and proc.parent is not None:
        detail_parts.append(f"chain={proc.chain(4).replace(' ', '')}")
    line = (f"{when:<15} {sev:<8} {finding.metadata.id:<10} {finding.metadata.event_name:<24} "
            f"{ev.host_pid:>7} {ev.uid:>5} {ev.process_name:<16} {' '.join(detail_parts)}")
    # every field may come from the traced process (comm, paths): one line, no escapes
    return (printable(line) + "\n").encode()


def format_falco(finding: Finding) -> bytes:
    """Falco's JSON alert (``json_output: true``): time, rule, priority, output,
    output_fields, source, tags, hostname. A Falco rule's finding carries its rendered output;
    a built-in signature's is described the same way (rule = the signature's name, priority
    from its severity)."""
    from memwarden.outputs.falco_alert import falco_alert

    return json_safe(orjson.dumps(falco_alert(finding), default=_default, option=_JSON_OPTS))


@dataclass(frozen=True, slots=True)
class FindingFormat:
    """A format by name: how a finding is rendered, and what a stream of them needs."""

    name: str
    render: FindingFormatter
    header: str = ""  # written once at the start of a stream (stdout, a new file)
    content_type: str = "application/json"  # of one rendered finding sent over HTTP


#: every format, by name, in the order help texts list them
FORMATS: dict[str, FindingFormat] = {f.name: f for f in (
    FindingFormat("tracee", format_tracee),
    FindingFormat("tracee-v1beta1", format_tracee_v1beta1),
    FindingFormat("falco", format_falco),
    FindingFormat("table", format_table, header=TABLE_HEADER,
                  content_type="text/plain; charset=utf-8"),
)}

#: the format names, for choices and validation
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)
