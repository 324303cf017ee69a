"""Event and Finding: the types every pipeline stage shares.

An :class:`Event` is held as a dict in the shape of Tracee's legacy ``trace.Event`` JSON
(``types/trace/trace.go``): that is what tracee-rules and older Tracee write, what our sensor and
recordings produce, and what signatures read. Events in Tracee's current ``v1beta1.Event`` JSON
shape (``api/v1beta1/event.proto`` through protojson, or Tracee's own marshaller) are converted
on the way in, and the dict exactly as read is kept beside, so writing an event back in its own
shape is lossless.

The field names and their order live in :data:`TRACEE_FIELDS` and nowhere else.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.linux_abi import parse_open_flags
from memwarden.core.metadata import SignatureMetadata

#: Tracee's legacy ``trace.Event`` JSON fields, in Tracee's order, with the value a new event gets.
#: ``eventId`` is a *string* in that JSON (``json:"eventId,string"``).
TRACEE_FIELDS: tuple[tuple[str, Any], ...] = (
    ("timestamp", 0),
    ("threadStartTime", 0),
    ("processorId", 0),
    ("processId", 0),
    ("cgroupId", 0),
    ("threadId", 0),
    ("parentProcessId", 0),
    ("hostProcessId", 0),
    ("hostThreadId", 0),
    ("hostParentProcessId", 0),
    ("userId", 0),
    ("mountNamespace", 0),
    ("pidNamespace", 0),
    ("processName", ""),
    ("executable", {"path": ""}),
    ("hostName", ""),
    ("containerId", ""),
    ("container", {}),
    ("kubernetes", {}),
    ("eventId", "0"),
    ("eventName", ""),
    ("matchedPolicies", []),
    ("argsNum", 0),
    ("returnValue", 0),
    ("syscall", ""),
    ("stackAddresses", None),
    ("contextFlags", {"containerStarted": False, "isCompat": False}),
    ("threadEntityId", 0),
    ("processEntityId", 0),
    ("parentEntityId", 0),
    ("args", []),
)
TRACEE_FIELD_NAMES: tuple[str, ...] = tuple(name for name, _ in TRACEE_FIELDS)

#: The arguments that hold the path(s) an event concerns, for path filters (PathFilter).
PATH_ARGS: dict[str, tuple[str, ...]] = {
    "security_inode_rename": ("old_path", "new_path"),
    "security_inode_link": ("old_path", "new_path"),
}
DEFAULT_PATH_ARGS: tuple[str, ...] = ("pathname",)

ORIGIN_HOST = "host"
ORIGIN_CONTAINER = "container"
ORIGIN_CONTAINER_INIT = "container-init"
ORIGINS = ("any", ORIGIN_HOST, ORIGIN_CONTAINER, ORIGIN_CONTAINER_INIT)


class EventFormatError(ValueError):
    """An input record is not a valid event; the message says which field and why."""


class Event:
    """One event. ``data`` is the legacy Tracee dict; ``raw`` the dict as it was read.

    Attribute access is lazy and cheap: nothing is copied until a detector asks for it.
    """

    __slots__ = ("data", "raw", "_argmap")

    def __init__(self, data: dict[str, Any], raw: dict[str, Any] | None = None) -> None:
        self.data = data
        self.raw = data if raw is None else raw
        self._argmap: dict[str, Any] | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def new(cls, event_name: str, args: Iterable[tuple[str, str, Any]] = (), **context: Any
            ) -> Event:
        """Build an event with every Tracee field present; ``context`` uses Tracee's names."""
        data: dict[str, Any] = {}
        for name, default in TRACEE_FIELDS:
            value = context.pop(name, default)
            data[name] = _fresh(value) if value is default else value
        if context:
            raise TypeError(f"unknown Tracee event fields: {sorted(context)}")
        data["eventName"] = event_name
        data["args"] = [{"name": n, "type": t, "value": v} for n, t, v in args]
        data["argsNum"] = len(data["args"])
        return cls(data)

    @classmethod
    def from_dict(cls, d: Any) -> Event:
        """Accept either Tracee JSON shape (told apart by ``eventName`` vs ``name``)."""
        if not isinstance(d, dict):
            raise EventFormatError(f"expected a JSON object, got {type(d).__name__}")
        if "eventName" in d:
            event = cls(d)
            event._argmap = _legacy_argmap(d)
            return event
        if "name" in d:
            return cls(v1beta1_to_legacy(d), raw=d)
        raise EventFormatError(
            "neither a Tracee trace.Event (no 'eventName') nor a v1beta1 event (no 'name')"
        )

    # -- context ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.data["eventName"]

    @property
    def timestamp(self) -> int:
        return self.data.get("timestamp", 0)

    @property
    def pid(self) -> int:
        return self.data.get("processId", 0)

    @property
    def tid(self) -> int:
        return self.data.get("threadId", 0)

    @property
    def host_pid(self) -> int:
        return self.data.get("hostProcessId", 0)

    @property
    def host_tid(self) -> int:
        return self.data.get("hostThreadId", 0)

    @property
    def host_ppid(self) -> int:
        return self.data.get("hostParentProcessId", 0)

    @property
    def uid(self) -> int:
        return self.data.get("userId", 0)

    @property
    def process_name(self) -> str:
        return self.data.get("processName", "")

    @property
    def executable(self) -> str:
        exe = self.data.get("executable")
        return exe.get("path", "") if isinstance(exe, dict) else ""

    @property
    def container_id(self) -> str:
        return self.data.get("containerId") or (self.data.get("container") or {}).get("id", "")

    @property
    def container_image(self) -> str:
        return (self.data.get("container") or {}).get("image", "")

    @property
    def return_value(self) -> int:
        return self.data.get("returnValue", 0)

    @property
    def origin(self) -> str:
        """Tracee's event origin: ``container`` once the entrypoint ran, ``container-init``
        before it, else ``host``."""
        flags = self.data.get("contextFlags") or {}
        if flags.get("containerStarted"):
            return ORIGIN_CONTAINER
        if self.container_id:
            return ORIGIN_CONTAINER_INIT
        return ORIGIN_HOST

    # -- arguments ----------------------------------------------------------------------------
    @property
    def args(self) -> list[dict[str, Any]]:
        return self.data.get("args") or []

    def arg(self, name: str, default: Any = None) -> Any:
        """The value of argument ``name`` as it appears in the event (raw or Tracee-parsed)."""
        m = self._argmap
        if m is None:
            m = self._argmap = {a["name"]: a.get("value") for a in self.args}
        return m.get(name, default)

    def has_arg(self, name: str) -> bool:
        self.arg(name)
        return name in self._argmap  # type: ignore[operator]

    def str_arg(self, name: str) -> str:
        value = self.arg(name)
        if value is None:
            raise EventFormatError(f"{self.name}: missing argument {name!r}")
        if not isinstance(value, str):
            raise EventFormatError(f"{self.name}: argument {name!r} is not a string: {value!r}")
        return value

    def int_arg(self, name: str, parser=None) -> int:
        """An integer argument given as a number or as Tracee's parsed string (``parser``)."""
        value = self.arg(name)
        if value is None:
            raise EventFormatError(f"{self.name}: missing argument {name!r}")
        try:
            if parser is not None:
                return parser(value)
            if isinstance(value, bool):
                raise ValueError("a boolean")
            return value if isinstance(value, int) else int(value, 0)
        except (TypeError, ValueError) as exc:
            raise EventFormatError(f"{self.name}: argument {name!r}: {exc}") from None

    def open_flags(self, name: str = "flags") -> int:
        """``flags`` as an int, whether Tracee wrote ``32768`` or ``"O_RDONLY|O_LARGEFILE"``."""
        return self.int_arg(name, parse_open_flags)

    # -- output -------------------------------------------------------------------------------
    def to_dict(self, shape: str = "as-read") -> dict[str, Any]:
        """The event as JSON-ready dict: ``as-read`` (lossless), ``legacy`` or ``v1beta1``."""
        if shape == "as-read":
            return self.raw
        if shape == "legacy":
            return self.data
        if shape == "v1beta1":
            return self.raw if self.raw is not self.data else legacy_to_v1beta1(self.data)
        raise ValueError(f"unknown event shape {shape!r}")

    def __repr__(self) -> str:
        return f"<Event {self.name} pid={self.host_pid} comm={self.process_name!r}>"


def _fresh(value: Any) -> Any:
    """A copy of a mutable default so events never share containers."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def _legacy_argmap(d: dict[str, Any]) -> dict[str, Any]:
    """Validate a legacy record's args and index them by name, in one pass (hot path: the
    checks that need a loop of their own run only when the fast pass fails)."""
    if type(d["eventName"]) is not str:
        raise EventFormatError(f"'eventName' must be a string, got {d['eventName']!r}")
    args = d.get("args")
    if args is None:
        return {}
    if type(args) is not list:
        raise EventFormatError(f"'args' must be a list, got {type(args).__name__}")
    try:
        argmap = {a["name"]: a.get("value") for a in args}
    except (TypeError, KeyError, AttributeError):
        argmap = None
    if argmap is None or len(argmap) != len(args) or not all(type(k) is str for k in argmap):
        for i, a in enumerate(args):
            if type(a) is not dict or type(a.get("name")) is not str:
                raise EventFormatError(f"args[{i}] must be an object with a string 'name'")
    return argmap  # type: ignore[return-value]


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
            return _infer_type(value), value
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


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, str):
        return "const char*"
    if isinstance(value, list):
        return "const char**"
    return "unknown"


def v1beta1_to_legacy(d: dict[str, Any]) -> dict[str, Any]:
    """Convert Tracee's current event JSON to the legacy ``trace.Event`` dict."""
    name = d.get("name")
    if not isinstance(name, str):
        raise EventFormatError(f"'name' must be a string, got {name!r}")
    out: dict[str, Any] = {k: _fresh(v) for k, v in TRACEE_FIELDS}
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
            raise EventFormatError(f"data[{i}] ({entry['name']}): {exc}") from None
        args.append({"name": entry["name"], "type": ctype, "value": value})
    out["args"] = args
    out["argsNum"] = len(args)
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


# -- findings -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Finding:
    """A detection: which signature fired, on which event, with optional extra data."""

    metadata: SignatureMetadata
    event: Event
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> int:
        return int(self.metadata.properties.severity)

    def to_tracee(self) -> dict[str, Any]:
        """Tracee's detection event: the trigger's context, the signature's event name and id,
        finding data as args plus ``triggeredBy``, and the signature metadata."""
        trig = self.event.data
        out: dict[str, Any] = {}
        for name, default in TRACEE_FIELDS:
            out[name] = trig.get(name, default)
        md = self.metadata
        out["eventId"] = str(md.event_id)
        out["eventName"] = md.event_name
        args = [{"name": k, "type": _infer_type(v), "value": v} for k, v in self.data.items()]
        args.append({
            "name": "triggeredBy",
            "type": "unknown",
            "value": {
                "id": int(trig.get("eventId", 0) or 0),
                "name": trig.get("eventName", ""),
                "args": trig.get("args") or [],
                "returnValue": trig.get("returnValue", 0),
            },
        })
        out["args"] = args
        out["argsNum"] = len(args)
        out["metadata"] = md.tracee_metadata()
        return out
