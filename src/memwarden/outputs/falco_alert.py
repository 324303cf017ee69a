"""A finding as Falco's JSON alert: ``time``, ``rule``, ``priority``, ``output``,
``output_fields``, ``source``, ``tags``, ``hostname``.

``output`` is Falco's line: ``HH:MM:SS.nnnnnnnnn: Priority message`` (local time, as Falco
prints it); ``time`` is the event time in RFC 3339 UTC with nanoseconds.

``hostname`` is the node's, as Falco's is: an event's ``hostName`` is the UTS name of the
process, which inside a container is the container's hostname, so a container's finding is
named by the node memwarden runs on (``FALCO_HOSTNAME`` overrides it, as in Falco); a host
event's ``hostName`` is the node's own (and, replayed, the recording node's).
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from functools import lru_cache
from typing import Any

from memwarden.core.event import Finding
from memwarden.events.tracee_json import format_rfc3339_ns
from memwarden.rules.falco.detector import PRIORITY_OF_SEVERITY, PRIORITY_TEXT

#: what a built-in signature's alert lists in output_fields: Falco field -> how to read it
_SIGNATURE_FIELDS = ("evt.type", "proc.pid", "proc.name", "proc.exepath", "user.uid",
                     "container.id")
#: added for a finding from a container
_CONTAINER_FIELDS = ("container.full_id", "container.name", "container.image.repository",
                     "container.image.tag", "container.image.digest", "k8s.ns.name",
                     "k8s.pod.name", "k8s.pod.uid", "k8s.pod.labels")


@lru_cache(maxsize=1)
def _hostname() -> str:
    return os.environ.get("FALCO_HOSTNAME") or socket.gethostname()


def _clock(ns: int) -> str:
    moment = _dt.datetime.fromtimestamp(ns // 1_000_000_000)
    return f"{moment:%H:%M:%S}.{ns % 1_000_000_000:09d}"


def falco_alert(finding: Finding) -> dict[str, Any]:
    md = finding.metadata
    ev = finding.event
    ts = ev.timestamp or 0
    priority = getattr(md, "falco_priority", None)
    if priority is None:
        priority = PRIORITY_TEXT[PRIORITY_OF_SEVERITY.get(finding.severity, "warning")]
    data = finding.data
    if "output" in data and isinstance(data.get("output_fields"), dict):
        message = data["output"]
        fields = data["output_fields"]
        source = getattr(md, "source", "syscall")
    else:
        message, fields = _signature_output(finding)
        source = "syscall"
    return {
        "hostname": (_hostname() if ev.container_id else ev.data.get("hostName"))
        or _hostname(),
        "output": f"{_clock(ts)}: {priority} {message}",
        "output_fields": fields,
        "priority": priority,
        "rule": md.name,
        "source": source,
        "tags": sorted(md.tags),
        "time": format_rfc3339_ns(ts),
    }


def _signature_output(finding: Finding) -> tuple[str, dict[str, Any]]:
    from memwarden.rules.falco.fields import FIELDS

    ev = finding.event
    fields: dict[str, Any] = {}
    for name in _SIGNATURE_FIELDS:
        fields[name] = FIELDS[name].getter(None)(ev)
    if ev.container_id:
        for name in _CONTAINER_FIELDS:
            fields[name] = FIELDS[name].getter(None)(ev)
    path = ev.arg("pathname")
    if isinstance(path, str):
        fields["fd.name"] = path
    for key, value in finding.data.items():
        fields[f"memwarden.{key}"] = value
    md = finding.metadata
    parts = [f"{k}={'<NA>' if v is None else v}" for k, v in fields.items()]
    return f"{md.name} ({md.id} {md.event_name}) ({' '.join(parts)})", fields
