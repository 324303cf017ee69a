"""The ``tracee-v1beta1`` finding format: Tracee's current event JSON (``v1beta1.Event``,
protojson names) for a detection, with ``threat`` from the signature's metadata and
``workload.process.ancestors`` the whole parent chain the process table knows (parent first),
not only the parent the triggering event names."""

from __future__ import annotations

from typing import Any

import orjson

from memwarden.core.event import Finding
from memwarden.core.process import ProcessInfo
from memwarden.events.tracee_json import format_rfc3339_ns, legacy_to_v1beta1

_JSON_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
ANCESTORS_MAX = 16  #: ancestors written per finding


def ancestor_dict(p: ProcessInfo) -> dict[str, Any]:
    thread: dict[str, Any] = {"name": p.comm, "hostTid": p.pid, "tid": p.vpid or p.pid}
    if p.start_time:
        thread["startTime"] = format_rfc3339_ns(p.start_time)
    out: dict[str, Any] = {"executable": {"path": p.exe}, "hostPid": p.pid,
                           "pid": p.vpid or p.pid, "thread": thread}
    if p.uid is not None:
        out["realUser"] = {"id": p.uid}
    return out


def finding_v1beta1(finding: Finding) -> dict[str, Any]:
    out = legacy_to_v1beta1(finding.to_tracee())
    md = finding.metadata
    props = md.properties
    out["threat"] = {
        "description": md.description,
        "mitre": {"tactic": {"name": props.category},
                  "technique": {"name": props.technique, "id": props.external_id}},
        "severity": int(props.severity),
        "name": md.name,
        "properties": {"signatureID": md.id, "signatureName": md.name},
    }
    proc = finding.event.process
    if proc is not None and proc.parent is not None:
        out["workload"]["process"]["ancestors"] = ancestors_list(proc)
    return out


def ancestors_list(proc: ProcessInfo, limit: int = ANCESTORS_MAX) -> list[dict[str, Any]]:
    """The process's parent chain (parent first, at most ``limit``) as v1beta1 objects."""
    return [ancestor_dict(p) for p, _ in zip(proc.ancestors(), range(limit), strict=False)]


def format_tracee_v1beta1(finding: Finding) -> bytes:
    return orjson.dumps(finding_v1beta1(finding), default=_default, option=_JSON_OPTS)


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError
