"""What the console accepts and how it reads it: one finding becomes one :class:`Record`.

Three body kinds arrive on ``POST /ingest`` (and in a followed findings file):

- **Tracee's detection event** (memwarden's ``tracee`` format, Tracee's own ``--output json``):
  the trigger's context at the top level, ``metadata.Properties`` with the signature's id,
  severity and MITRE technique;
- **Tracee's v1beta1 event** carrying a ``threat`` (``workload.process``, ``workload.container``,
  ``workload.k8s``, ``threat.mitre``);
- **Falco's JSON alert** (memwarden's ``falco`` format and Falco's own ``http_output``):
  ``time``, ``rule``, ``priority``, ``output``, ``output_fields``, ``hostname``, ``tags``.

A body is one JSON object, a JSON array of them, or JSON lines. Anything else is an
:class:`IngestError` naming the item and what is wrong; a batch is taken whole or not at all.

Process ancestry: a finding carries at most its parent's pids today. Ancestors are read where
either Tracee shape puts them (``ancestors`` or ``workload.process.ancestors``) and, for Falco
alerts, from ``proc.aname[N]``/``proc.apid[N]``; each ancestor is kept as the mapping it came
in, so richer entries show up in the detail view without a change here.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from memwarden.core.metadata import Severity
from memwarden.events.tracee_json import parse_rfc3339_ns
from memwarden.rules.falco.detector import SEVERITY_OF_PRIORITY

#: the kinds a record's ``kind`` holds
KINDS = ("tracee", "tracee-v1beta1", "falco")

_RX_SIG_IN_OUTPUT = re.compile(r"\(((?:TRC|MW)-\d+) ([A-Za-z0-9_]+)\)")
_RX_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_RX_ANCESTOR_FIELD = re.compile(r"^proc\.a(name|pid|exepath)\[(\d+)\]$")
_V1_SEVERITY = {"INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 3}
_PRIORITY = {**SEVERITY_OF_PRIORITY, "info": 0}  # Falco also accepts "info"
_MAX_TEXT = 4096  # longest string kept in an indexed column (the raw event keeps everything)


class IngestError(ValueError):
    """A body (or one item of it) is not a finding memwarden can read; says which and why."""


@dataclass(slots=True)
class Record:
    """One finding, normalised for storage, filters and the page."""

    ts: int  # event time, ns since the epoch (receive time when the finding has none)
    kind: str
    signature: str  # signature ID (TRC-1021, MW-1001) or the Falco rule's name
    name: str  # the signature's or rule's name
    event_name: str = ""
    severity: int = 2  # Tracee's 0..3
    priority: str = ""  # Falco's priority text, when it came as an alert
    host: str = ""
    container_id: str = ""
    container_name: str = ""
    image: str = ""
    pod: str = ""
    namespace: str = ""
    process: str = ""
    pid: int | None = None  # host pid
    ppid: int | None = None  # host parent pid
    exe: str = ""
    uid: int | None = None
    technique_id: str = ""  # MITRE T-number (T1003.007)
    technique: str = ""
    summary: str = ""
    ancestors: list[dict[str, Any]] = field(default_factory=list)
    parent: dict[str, Any] = field(default_factory=dict)  # what the finding says of its parent
    raw: Any = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity_name"] = Severity.NAMES.get(self.severity, str(self.severity))
        return d


def parse_body(body: bytes, *, now_ns: int | None = None) -> list[Record]:
    """Every finding in a request body (object, array or JSON lines); raises IngestError."""
    items = decode_items(body)
    if not items:
        raise IngestError("empty body: expected a finding (JSON object), an array or JSON lines")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(parse_finding(item, now_ns=now_ns))
        except IngestError as exc:
            where = f"item {i + 1}: " if len(items) > 1 else ""
            raise IngestError(f"{where}{exc}") from None
    return out


def decode_items(body: bytes) -> list[Any]:
    text = body.strip()
    if not text:
        return []
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = None
    else:
        return doc if isinstance(doc, list) else [doc]
    items = []  # JSON lines
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"line {n}: not JSON: {exc}") from None
    return items


def parse_finding(d: Any, *, now_ns: int | None = None) -> Record:
    """One decoded finding of any of the three kinds."""
    if not isinstance(d, dict):
        raise IngestError(f"expected a JSON object, got {type(d).__name__}")
    if "rule" in d and ("output" in d or "priority" in d):
        rec = _from_falco(d)
    elif isinstance(d.get("metadata"), dict) and "eventName" in d:
        rec = _from_tracee(d)
    elif isinstance(d.get("threat"), dict) or (isinstance(d.get("workload"), dict)
                                              and "name" in d):
        rec = _from_v1beta1(d)
    elif "eventName" in d:
        raise IngestError("a Tracee event without detection metadata is not a finding")
    else:
        raise IngestError("not a finding: expected Tracee's detection event (metadata, "
                          "eventName), a v1beta1 event with threat, or a Falco alert (rule, "
                          "priority, output)")
    if not rec.ts:
        rec.ts = now_ns if now_ns is not None else time.time_ns()
    rec.raw = d
    _from_catalogue(rec)
    return rec


def _from_catalogue(rec: Record) -> None:
    """A built-in signature's finding (in any kind) gets its name and MITRE technique from the
    catalogue when the body lacks them (a Falco alert does not carry them)."""
    from memwarden.signatures import UnknownSignatureError, find_signature

    if not rec.signature.startswith(("TRC-", "MW-")):
        return
    try:
        md = find_signature(rec.signature).metadata
    except UnknownSignatureError:
        return
    props = md.properties
    rec.technique_id = rec.technique_id or props.external_id
    rec.technique = rec.technique or props.technique
    rec.event_name = rec.event_name or md.event_name
    if rec.kind == "falco" and not rec.summary:
        rec.summary = md.description


# -- helpers ----------------------------------------------------------------------------------

def _s(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:_MAX_TEXT]


def _i(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _m(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: Any, what: str) -> int:
    if value in (None, "", 0):
        return 0
    if isinstance(value, bool):
        raise IngestError(f"{what}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            return parse_rfc3339_ns(value)
        except ValueError:
            raise IngestError(f"{what}: not an RFC 3339 time: {value[:80]!r}") from None
    raise IngestError(f"{what}: expected a time, got {type(value).__name__}")


def _technique_of_tags(tags: Any) -> str:
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str) and _RX_TECHNIQUE.match(tag):
                return tag
    return ""


def _ancestors(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [a for a in value if isinstance(a, dict)][:64]


# -- the three kinds --------------------------------------------------------------------------

def _from_tracee(d: dict[str, Any]) -> Record:
    md = _m(d.get("metadata"))
    props = _m(md.get("Properties"))
    sig = _s(props.get("signatureID")) or _s(d.get("eventName"))
    if not sig:
        raise IngestError("Tracee detection without metadata.Properties.signatureID or "
                          "eventName")
    severity = _i(props.get("Severity"))
    container = _m(d.get("container"))
    k8s = _m(d.get("kubernetes"))
    image = container.get("image")
    workload = _m(_m(d.get("workload")).get("process"))
    ancestors = _ancestors(d.get("ancestors")) or _ancestors(workload.get("ancestors"))
    parent = {k: d[k] for k in ("parentProcessId", "hostParentProcessId", "parentEntityId")
              if k in d}
    if isinstance(d.get("parent"), dict):
        parent.update(d["parent"])
    return Record(
        ts=_time(d.get("timestamp"), "timestamp"),
        kind="tracee",
        signature=sig,
        name=_s(props.get("signatureName")) or sig,
        event_name=_s(d.get("eventName")),
        severity=min(3, max(0, severity)) if severity is not None else 2,
        priority=_s(props.get("falcoPriority")),
        host=_s(d.get("hostName")),
        container_id=_s(d.get("containerId") or container.get("id")),
        container_name=_s(container.get("name")),
        image=_s(image.get("name") if isinstance(image, dict) else image),
        pod=_s(k8s.get("podName")),
        namespace=_s(k8s.get("podNamespace")),
        process=_s(d.get("processName")),
        pid=_i(d.get("hostProcessId")) or _i(d.get("processId")),
        ppid=_i(d.get("hostParentProcessId")) or _i(d.get("parentProcessId")),
        exe=_s(_m(d.get("executable")).get("path")),
        uid=_i(d.get("userId")),
        technique_id=_s(props.get("external_id")),
        technique=_s(props.get("Technique")),
        summary=_s(md.get("Description")),
        ancestors=ancestors,
        parent=parent,
    )


def _from_v1beta1(d: dict[str, Any]) -> Record:
    threat = _m(d.get("threat"))
    if not threat:
        raise IngestError("a v1beta1 event without threat is not a finding")
    workload = _m(d.get("workload"))
    proc = _m(workload.get("process"))
    thread = _m(proc.get("thread"))
    container = _m(workload.get("container"))
    k8s = _m(workload.get("k8s"))
    mitre = _m(threat.get("mitre"))
    technique = _m(mitre.get("technique"))
    props = _m(threat.get("properties"))
    sev = threat.get("severity")
    severity = _V1_SEVERITY.get(sev.upper(), 2) if isinstance(sev, str) else (
        min(3, max(0, sev)) if isinstance(sev, int) and not isinstance(sev, bool) else 2)
    sig = _s(props.get("signatureID")) or _s(threat.get("name")) or _s(d.get("name"))
    if not sig:
        raise IngestError("v1beta1 finding without threat.name or name")
    ancestors = _ancestors(proc.get("ancestors"))  # [0] is the parent
    return Record(
        ts=_time(d.get("timestamp"), "timestamp"),
        kind="tracee-v1beta1",
        signature=sig,
        name=_s(threat.get("name")) or sig,
        event_name=_s(d.get("name")),
        severity=severity,
        host=_s(_m(d.get("node")).get("name") or d.get("hostName")),
        container_id=_s(container.get("id")),
        container_name=_s(container.get("name")),
        image=_s(_m(container.get("image")).get("name")),
        pod=_s(_m(k8s.get("pod")).get("name")),
        namespace=_s(_m(k8s.get("namespace")).get("name")),
        process=_s(thread.get("name")),
        pid=_i(proc.get("hostPid")) or _i(proc.get("pid")),
        ppid=_i(ancestors[0].get("hostPid")) if ancestors else None,
        exe=_s(_m(proc.get("executable")).get("path")),
        uid=_i(_m(proc.get("realUser")).get("id")),
        technique_id=_s(technique.get("externalId") or technique.get("id")
                        or props.get("external_id")),
        technique=_s(technique.get("name")),
        summary=_s(threat.get("description")),
        ancestors=ancestors,
    )


def _from_falco(d: dict[str, Any]) -> Record:
    rule = d.get("rule")
    if not isinstance(rule, str) or not rule:
        raise IngestError("Falco alert without a rule name")
    fields = _m(d.get("output_fields"))
    output = _s(d.get("output"))
    priority = _s(d.get("priority"))
    sig, event_name = rule, _s(fields.get("evt.type"))
    m = _RX_SIG_IN_OUTPUT.search(output)
    if m:  # memwarden's falco format names the built-in signature in the message
        sig, event_name = m.group(1), m.group(2)
    repo = _s(fields.get("container.image.repository"))
    tag = _s(fields.get("container.image.tag"))
    image = _s(fields.get("container.image")) or (f"{repo}:{tag}" if repo and tag else repo)
    levels: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        am = _RX_ANCESTOR_FIELD.match(key)
        if am and value is not None:
            levels.setdefault(int(am.group(2)), {})[am.group(1)] = value
    ancestors = [{"level": n, **levels[n]} for n in sorted(levels) if n >= 1]
    parent = {k: fields[k] for k in ("proc.ppid", "proc.pname", "proc.pcmdline", "proc.pexepath")
              if fields.get(k) is not None}
    message = output.split(": ", 1)[1] if re.match(r"^\d\d:\d\d:\d\d\.\d+: ", output) else output
    container_id = _s(fields.get("container.id"))
    return Record(
        ts=_time(d.get("time"), "time") or _i(fields.get("evt.time")) or 0,
        kind="falco",
        signature=sig,
        name=rule,
        event_name=event_name,
        severity=_PRIORITY.get(priority.lower(), 2) if priority else 2,
        priority=priority,
        host=_s(d.get("hostname")),
        container_id="" if container_id == "host" else container_id,
        container_name=_s(fields.get("container.name")),
        image=image,
        pod=_s(fields.get("k8s.pod.name")),
        namespace=_s(fields.get("k8s.ns.name")),
        process=_s(fields.get("proc.name")),
        pid=_i(fields.get("proc.pid")),
        ppid=_i(fields.get("proc.ppid")),
        exe=_s(fields.get("proc.exepath") or fields.get("proc.exe")),
        uid=_i(fields.get("user.uid")),
        technique_id=_technique_of_tags(d.get("tags")),
        summary=message,
        ancestors=ancestors,
        parent=parent,
    )
