"""Tracee's two JSON shapes: the legacy ``trace.Event`` dict events are held in, and the current
``v1beta1.Event`` (``api/v1beta1/event.proto`` through protojson, or Tracee's own marshaller).

- :func:`event_from_dict`: a record of either shape (told apart by ``eventName`` vs ``name``)
  → :class:`~memwarden.core.event.Event`; a v1beta1 record is converted and kept as read
  (``Event.raw``), so writing it back in its own shape is lossless.
- :func:`event_to_dict`: an event in the shape asked for (``as-read``, ``legacy``, ``v1beta1``).
- :func:`v1beta1_to_legacy`, :func:`legacy_to_v1beta1`, :func:`v1_value`: the conversions.
- :func:`parse_rfc3339_ns`, :func:`format_rfc3339_ns`: Tracee's (and Go's) RFC 3339 times,
  without losing nanoseconds.

These sit above :mod:`memwarden.core.event` (which keeps the model and the legacy-only
constructor ``Event.from_legacy``) so that the bottom layer imports nothing of ours.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import Any

from memwarden.core.event import (
    INT_MAX,
    INT_MIN,
    TRACEE_FIELDS,
    Event,
    EventFormatError,
    check_legacy_fields,
    fresh_copy,
    infer_arg_type,
    legacy_argmap,
)
from memwarden.events.catalogue import ARG_CHECKS, check_args


def event_from_dict(d: Any) -> Event:
    """An event from a record of either Tracee JSON shape (hot path: the replay calls it for
    every selected line; the legacy case costs what ``Event.from_legacy`` costs)."""
    if not isinstance(d, dict):
        raise EventFormatError(f"expected a JSON object, got {type(d).__name__}")
    if "eventName" in d:
        argmap = legacy_argmap(d)
        name = d["eventName"]
        if name in ARG_CHECKS:
            check_args(name, argmap)
        return Event(d, None, argmap)
    if "name" in d:
        legacy = v1beta1_to_legacy(d)
        event = Event(legacy, raw=d)
        if legacy["eventName"] in ARG_CHECKS:
            check_args(legacy["eventName"], {a["name"]: a["value"] for a in legacy["args"]})
        return event
    raise EventFormatError(
        "neither a Tracee trace.Event (no 'eventName') nor a v1beta1 event (no 'name')"
    )


def event_to_dict(event: Event, shape: str = "as-read") -> dict[str, Any]:
    """The event as JSON-ready dict: ``as-read`` (lossless), ``legacy`` or ``v1beta1``."""
    if shape == "v1beta1":
        return event.raw if event.raw is not event.data else legacy_to_v1beta1(event.data)
    return event.to_dict(shape)


# -- Tracee v1beta1 <-> legacy -------------------------------------------------------------------

#: protojson key of an EventValue (camelCase and proto names) → the legacy argument type.
V1_VALUE_TYPES: dict[str, str] = {
    "int32": "int",
    "int64": "long",
    "uInt32": "unsigned int",
    "u_int32": "unsigned int",
    "uInt64": "unsigned long",
    "u_int64": "unsigned long",
    "str": "const char*",
    "bytes": "bytes",
    "bool": "bool",
    "strArray": "const char**",
    "str_array": "const char**",
    "int32Array": "int[]",
    "int32_array": "int[]",
    "uInt64Array": "unsigned long[]",
    "u_int64_array": "unsigned long[]",
    "sockaddr": "struct sockaddr*",
    "credentials": "slim_cred_t",
    "timespec": "struct timespec*",
    "triggeredBy": "unknown",
    "triggered_by": "unknown",
    "struct": "struct",
}
_LEGACY_TO_V1_KEY: dict[str, str] = {
    "int": "int32", "pid_t": "int32", "uid_t": "uInt32", "gid_t": "uInt32", "long": "int64",
    "unsigned int": "uInt32", "u32": "uInt32", "mode_t": "uInt32", "dev_t": "uInt32",
    "umode_t": "uInt32", "u16": "uInt32", "u8": "uInt32", "unsigned long": "uInt64",
    "u64": "uInt64", "off_t": "uInt64", "size_t": "uInt64", "const char*": "str",
    "const char *": "str", "char*": "str", "bytes": "bytes", "bool": "bool",
    "const char**": "strArray", "const char*const*": "strArray", "int[]": "int32Array",
    "unsigned long[]": "uInt64Array", "struct sockaddr*": "sockaddr",
    "slim_cred_t": "credentials", "struct timespec*": "timespec",
}
_ARRAY_KEYS = frozenset({"strArray", "str_array", "int32Array", "int32_array", "uInt64Array",
                         "u_int64_array"})
_INT64_KEYS = frozenset({"int64", "uInt64", "u_int64"})


#: What each v1beta1 field must be when present (null counts as absent), by dotted path from
#: the event, ``[]`` for a list's elements, protojson's camelCase and proto's snake_case names
#: both: the one schema :func:`check_v1beta1` validates a record against before
#: :func:`v1beta1_to_legacy` reads it. Kinds: ``str``, ``bool``, ``object``, ``list``,
#: ``list of str``, ``u32`` (a UInt32Value: a number, or ``{"value": n}``), ``id`` (a
#: non-negative 64-bit integer or its digits), ``time`` (RFC 3339 text or ns since the epoch).
_PROC = "workload.process"
_THREAD = "workload.process.thread"
_ANC = "workload.process.ancestors[]"
_CONT = "workload.container"
V1_FIELD_TYPES: dict[str, str] = {
    "id": "id", "name": "str", "timestamp": "time",
    "policies": "object", "policies.matched": "list of str",
    "workload": "object",
    _PROC: "object",
    f"{_PROC}.executable": "object", f"{_PROC}.executable.path": "str",
    f"{_PROC}.uniqueId": "u32", f"{_PROC}.unique_id": "u32",
    f"{_PROC}.hostPid": "u32", f"{_PROC}.host_pid": "u32", f"{_PROC}.pid": "u32",
    f"{_PROC}.realUser": "object", f"{_PROC}.real_user": "object",
    f"{_PROC}.realUser.id": "u32", f"{_PROC}.real_user.id": "u32",
    _THREAD: "object",
    f"{_THREAD}.startTime": "time", f"{_THREAD}.start_time": "time",
    f"{_THREAD}.name": "str", f"{_THREAD}.syscall": "str", f"{_THREAD}.compat": "bool",
    f"{_THREAD}.uniqueId": "u32", f"{_THREAD}.unique_id": "u32",
    f"{_THREAD}.hostTid": "u32", f"{_THREAD}.host_tid": "u32", f"{_THREAD}.tid": "u32",
    f"{_PROC}.ancestors": "list", _ANC: "object",
    f"{_ANC}.uniqueId": "u32", f"{_ANC}.unique_id": "u32",
    f"{_ANC}.hostPid": "u32", f"{_ANC}.host_pid": "u32", f"{_ANC}.pid": "u32",
    _CONT: "object", f"{_CONT}.id": "str", f"{_CONT}.name": "str",
    f"{_CONT}.started": "bool", f"{_CONT}.isRunning": "bool", f"{_CONT}.is_running": "bool",
    f"{_CONT}.image": "object", f"{_CONT}.image.name": "str",
    f"{_CONT}.image.repoDigests": "list of str", f"{_CONT}.image.repo_digests": "list of str",
    "workload.k8s": "object",
    "workload.k8s.pod": "object", "workload.k8s.pod.name": "str", "workload.k8s.pod.uid": "str",
    "workload.k8s.namespace": "object", "workload.k8s.namespace.name": "str",
    "data": "list", "data[]": "object",
}
_V1_WORDS = {
    "str": "a string", "bool": "a boolean", "object": "an object", "list": "a list",
    "list of str": "a list of strings", "u32": "an unsigned 32-bit integer",
    "id": "a non-negative 64-bit integer", "time": "an RFC 3339 string or an integer (ns)",
}
_U32_MAX = (1 << 32) - 1

class _V1Field:
    """One node of the schema tree: a field's kind, its members, its elements' kind and
    members."""

    __slots__ = ("kind", "members", "elem_kind", "elem_members")

    def __init__(self) -> None:
        self.kind = ""
        self.members: dict[str, _V1Field] = {}
        self.elem_kind = ""
        self.elem_members: dict[str, _V1Field] = {}


def _v1_tree(table: dict[str, str]) -> dict[str, _V1Field]:
    root: dict[str, _V1Field] = {}
    for path, kind in table.items():
        node = root
        parts = path.split(".")
        for n, part in enumerate(parts):
            elems = part.endswith("[]")
            field = node.setdefault(part[:-2] if elems else part, _V1Field())
            if n == len(parts) - 1:
                if elems:
                    field.elem_kind = kind
                else:
                    field.kind = kind
            node = field.elem_members if elems else field.members
    return root


_V1_TREE = _v1_tree(V1_FIELD_TYPES)


def _v1_ok(kind: str, value: Any) -> bool:
    t = type(value)
    if kind == "str":
        return t is str
    if kind == "object":
        return t is dict
    if kind == "list":
        return t is list
    if kind == "bool":
        return t is bool
    if kind == "list of str":
        return t is list and all(type(v) is str for v in value)
    if kind == "u32":
        if t is dict:
            value = value.get("value", 0)
            t = type(value)
        return t is int and 0 <= value <= _U32_MAX
    if kind == "id":
        if t is str:
            return value.isascii() and value.isdigit() and int(value) <= INT_MAX
        return t is int and 0 <= value <= INT_MAX
    if kind == "time":
        return t is str or (t is int and INT_MIN <= value <= INT_MAX)
    return True


def _v1_check(obj: dict[str, Any], node: dict[str, _V1Field], prefix: str) -> None:
    for key, f in node.items():
        value = obj.get(key)
        if value is None:
            continue
        where = prefix + key
        if f.kind and not _v1_ok(f.kind, value):
            raise EventFormatError(f"{where} must be {_V1_WORDS[f.kind]}, got {_show(value)}")
        if f.members and type(value) is dict:
            _v1_check(value, f.members, where + ".")
        elif f.elem_kind and type(value) is list:
            for i, item in enumerate(value):
                if item is None:
                    continue
                if not _v1_ok(f.elem_kind, item):
                    raise EventFormatError(f"{where}[{i}] must be {_V1_WORDS[f.elem_kind]}, "
                                           f"got {_show(item)}")
                if f.elem_members and type(item) is dict:
                    _v1_check(item, f.elem_members, f"{where}[{i}].")


def one_line(text: str) -> str:
    """``text`` for a message of one line: control and separator characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def check_v1beta1(d: dict[str, Any]) -> None:
    """Raise :class:`EventFormatError` naming the first field of a v1beta1 record whose value
    is not what :data:`V1_FIELD_TYPES` says."""
    _v1_check(d, _V1_TREE, "")


def _pick(d: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = d.get(camel)
    if value is None:
        value = d.get(snake, default)
    return value


def _wrapped(value: Any) -> int:
    """UInt32Value in protojson is a bare number; tolerate ``{"value": n}`` too."""
    if isinstance(value, dict):
        value = value.get("value", 0)
    if value is None:
        return 0
    return int(value)


def parse_rfc3339_ns(text: str) -> int:
    """``2024-05-01T12:00:00.123456789Z`` → nanoseconds since the epoch (no precision lost)."""
    if not isinstance(text, str):
        raise EventFormatError(f"timestamp must be an RFC 3339 string, got {text!r}")
    s = text.strip()
    frac_ns = 0
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        digits = s[dot + 1:end]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = s[:dot] + s[end:]
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise EventFormatError(f"bad RFC 3339 timestamp {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    delta = moment - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + frac_ns


def format_rfc3339_ns(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: trailing zeros of the fraction trimmed."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    base = _dt.datetime.fromtimestamp(secs, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def v1_value(entry: dict[str, Any]) -> tuple[str, Any]:
    for key, value in entry.items():
        if key == "name":
            continue
        if key == "value":
            return infer_arg_type(value), value
        ctype = V1_VALUE_TYPES.get(key)
        if ctype is None:
            return "unknown", value
        if key in _INT64_KEYS and isinstance(value, str):
            value = int(value)
        elif key in _ARRAY_KEYS and isinstance(value, dict):
            value = value.get("value", [])
            if key in ("uInt64Array", "u_int64_array"):
                value = [int(v) for v in value]
        return ctype, value
    return "unknown", None


def v1beta1_to_legacy(d: dict[str, Any]) -> dict[str, Any]:
    """Convert Tracee's current event JSON to the legacy ``trace.Event`` dict."""
    name = d.get("name")
    if not isinstance(name, str):
        raise EventFormatError(f"'name' must be a string, got {name!r}")
    check_v1beta1(d)
    out: dict[str, Any] = {k: fresh_copy(v) for k, v in TRACEE_FIELDS}
    out["eventName"] = name
    out["eventId"] = str(d.get("id", 0))
    ts = d.get("timestamp")
    if ts is not None:
        out["timestamp"] = ts if isinstance(ts, int) else parse_rfc3339_ns(ts)
    policies = d.get("policies") or {}
    if isinstance(policies, dict):
        out["matchedPolicies"] = list(policies.get("matched") or [])
    workload = d.get("workload") or {}
    if not isinstance(workload, dict):
        raise EventFormatError("'workload' must be an object")
    proc = workload.get("process") or {}
    if proc:
        exe = proc.get("executable") or {}
        out["executable"] = {"path": exe.get("path", "")}
        out["processEntityId"] = _wrapped(_pick(proc, "uniqueId", "unique_id", 0))
        out["hostProcessId"] = _wrapped(_pick(proc, "hostPid", "host_pid", 0))
        out["processId"] = _wrapped(proc.get("pid", 0))
        user = _pick(proc, "realUser", "real_user", {}) or {}
        out["userId"] = _wrapped(user.get("id", 0))
        thread = proc.get("thread") or {}
        start = _pick(thread, "startTime", "start_time")
        if start:
            out["threadStartTime"] = parse_rfc3339_ns(start)
        out["processName"] = thread.get("name", "")
        out["threadEntityId"] = _wrapped(_pick(thread, "uniqueId", "unique_id", 0))
        out["hostThreadId"] = _wrapped(_pick(thread, "hostTid", "host_tid", 0))
        out["threadId"] = _wrapped(thread.get("tid", 0))
        out["syscall"] = thread.get("syscall", "")
        out["contextFlags"]["isCompat"] = bool(thread.get("compat", False))
        ancestors = proc.get("ancestors") or []
        if ancestors:
            parent = ancestors[0] or {}
            out["hostParentProcessId"] = _wrapped(_pick(parent, "hostPid", "host_pid", 0))
            out["parentProcessId"] = _wrapped(parent.get("pid", 0))
            out["parentEntityId"] = _wrapped(_pick(parent, "uniqueId", "unique_id", 0))
    cont = workload.get("container") or {}
    if cont:
        image = cont.get("image") or {}
        container = {"id": cont.get("id", ""), "name": cont.get("name", "")}
        if image.get("name"):
            container["image"] = image["name"]
        digests = _pick(image, "repoDigests", "repo_digests", []) or []
        if digests:
            container["imageDigest"] = digests[0]
        out["container"] = {k: v for k, v in container.items() if v}
        out["containerId"] = cont.get("id", "")
        started = cont.get("started", _pick(cont, "isRunning", "is_running", False))
        out["contextFlags"]["containerStarted"] = bool(started)
    k8s = workload.get("k8s") or {}
    if k8s:
        pod = k8s.get("pod") or {}
        ns = k8s.get("namespace") or {}
        kube = {"podName": pod.get("name", ""), "podNamespace": ns.get("name", ""),
                "podUID": pod.get("uid", "")}
        out["kubernetes"] = {k: v for k, v in kube.items() if v}
    data = d.get("data") or []
    if not isinstance(data, list):
        raise EventFormatError("'data' must be a list")
    args = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise EventFormatError(f"data[{i}] must be an object with a string 'name'")
        try:
            ctype, value = v1_value(entry)
        except (ValueError, TypeError) as exc:
            raise EventFormatError(f"data[{i}] ({one_line(entry['name'])}): {exc}") from None
        args.append({"name": entry["name"], "type": ctype, "value": value})
    out["args"] = args
    out["argsNum"] = len(args)
    check_legacy_fields(out)  # what the schema cannot say: times in range
    return out


def legacy_to_v1beta1(d: dict[str, Any]) -> dict[str, Any]:
    """Convert a legacy dict to Tracee's current event JSON (protojson names)."""
    thread: dict[str, Any] = {}
    if d.get("threadStartTime"):
        thread["startTime"] = format_rfc3339_ns(d["threadStartTime"])
    thread["name"] = d.get("processName", "")
    thread["uniqueId"] = d.get("threadEntityId", 0)
    thread["hostTid"] = d.get("hostThreadId", 0)
    thread["tid"] = d.get("threadId", 0)
    if d.get("syscall"):
        thread["syscall"] = d["syscall"]
    if (d.get("contextFlags") or {}).get("isCompat"):
        thread["compat"] = True
    process: dict[str, Any] = {
        "executable": {"path": (d.get("executable") or {}).get("path", "")},
        "uniqueId": d.get("processEntityId", 0),
        "hostPid": d.get("hostProcessId", 0),
        "pid": d.get("processId", 0),
        "realUser": {"id": d.get("userId", 0)},
        "thread": thread,
        "ancestors": [{"uniqueId": d.get("parentEntityId", 0),
                       "hostPid": d.get("hostParentProcessId", 0),
                       "pid": d.get("parentProcessId", 0)}],
    }
    workload: dict[str, Any] = {"process": process}
    container = d.get("container") or {}
    if container.get("id") or d.get("containerId"):
        c: dict[str, Any] = {"id": container.get("id") or d.get("containerId", ""),
                             "name": container.get("name", "")}
        if container.get("image") or container.get("imageDigest"):
            c["image"] = {"name": container.get("image", "")}
            if container.get("imageDigest"):
                c["image"]["repoDigests"] = [container["imageDigest"]]
        c["started"] = bool((d.get("contextFlags") or {}).get("containerStarted"))
        workload["container"] = c
    kube = d.get("kubernetes") or {}
    if kube:
        workload["k8s"] = {"pod": {"name": kube.get("podName", ""), "uid": kube.get("podUID", "")},
                           "namespace": {"name": kube.get("podNamespace", "")}}
    out: dict[str, Any] = {
        "timestamp": format_rfc3339_ns(d.get("timestamp", 0)),
        "id": int(d.get("eventId", 0) or 0),
        "name": d.get("eventName", ""),
    }
    if d.get("matchedPolicies"):
        out["policies"] = {"matched": list(d["matchedPolicies"])}
    out["workload"] = workload
    data = []
    for a in d.get("args") or []:
        key = _LEGACY_TO_V1_KEY.get(a.get("type", ""))
        value = a.get("value")
        if key is None:
            key = "str" if isinstance(value, str) else "int64" if isinstance(value, int) else None
        if key is None:
            data.append({"name": a["name"], "value": value})
            continue
        if key in _INT64_KEYS:
            value = str(value)
        elif key in _ARRAY_KEYS:
            value = {"value": value or []}
        elif key == "bytes" and isinstance(value, bytes | bytearray):
            value = base64.b64encode(value).decode()  # Go's encoding of []byte
        data.append({"name": a["name"], key: value})
    if data:
        out["data"] = data
    return out
