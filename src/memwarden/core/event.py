"""Event and Finding: the types every pipeline stage shares.

An :class:`Event` is held as a dict in the shape of Tracee's legacy ``trace.Event`` JSON
(``types/trace/trace.go``): that is what tracee-rules and older Tracee write, what our sensor and
recordings produce, and what signatures read. Events in Tracee's current ``v1beta1.Event`` JSON
shape are converted on the way in by :mod:`memwarden.events.tracee_json` (the codecs live there,
one layer up: this module is the bottom of the stack and imports nothing of ours above it); the
dict exactly as read is kept beside (``raw``), so writing an event back in its own shape is
lossless.

The field names and their order live in :data:`TRACEE_FIELDS` and nowhere else. Which
arguments of an event hold paths is the event catalogue's
(:data:`memwarden.events.catalogue.PATH_ARGS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.linux_abi import parse_open_flags
from memwarden.core.metadata import SignatureMetadata
from memwarden.core.process import ProcessInfo

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

ORIGIN_HOST = "host"
ORIGIN_CONTAINER = "container"
ORIGIN_CONTAINER_INIT = "container-init"
ORIGINS = ("any", ORIGIN_HOST, ORIGIN_CONTAINER, ORIGIN_CONTAINER_INIT)
#: origins that scope a signature to the containers that run an image (``image:GLOB``, matched
#: against repository:tag and the repository alone) or belong to a pod namespace
#: (``namespace:NAME``, a glob too)
SCOPED_ORIGINS = ("image:", "namespace:")
ORIGIN_SYNTAX = f"{', '.join(ORIGINS)}, image:GLOB, namespace:GLOB"


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/repo/name:tag@sha256:...`` -> (``registry:5000/repo/name``, ``tag``)."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, ""


def valid_origin(value: str) -> bool:
    """One of :data:`ORIGINS`, or a scoped origin with its pattern."""
    return value in ORIGINS or any(value.startswith(p) and len(value) > len(p)
                                   for p in SCOPED_ORIGINS)


class EventFormatError(ValueError):
    """An input record is not a valid event; the message says which field and why."""


#: The range a JSON integer of Tracee's may take (int64 and uint64 fields); anything outside
#: cannot be written back (Go's and orjson's encoders refuse it).
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1

#: What each legacy top-level field must be when present (one table, read by
#: :func:`check_legacy_fields`): ``int`` (64-bit range, never a bool), ``str``, ``id`` (the
#: ``eventId`` string of decimal digits, or an int), ``object`` with ``str`` or ``bool``
#: values, ``list`` of strings, ``list``, ``list|null``.
LEGACY_FIELD_TYPES: dict[str, str] = {
    "timestamp": "int", "threadStartTime": "int", "processorId": "int", "processId": "int",
    "cgroupId": "int", "threadId": "int", "parentProcessId": "int", "hostProcessId": "int",
    "hostThreadId": "int", "hostParentProcessId": "int", "userId": "int",
    "mountNamespace": "int", "pidNamespace": "int", "processName": "str",
    "executable": "object of str", "hostName": "str", "containerId": "str",
    "container": "object of str", "kubernetes": "object of str", "eventId": "id",
    "eventName": "str", "matchedPolicies": "list of str", "argsNum": "int",
    "returnValue": "int", "syscall": "str", "stackAddresses": "list|null",
    "contextFlags": "object of bool", "threadEntityId": "int", "processEntityId": "int",
    "parentEntityId": "int", "args": "list",
}
_TYPE_WORDS = {
    "int": "an integer (64-bit)", "str": "a string", "id": "a string of decimal digits",
    "object of str": "an object of strings", "object of bool": "an object of booleans",
    "list of str": "a list of strings", "list": "a list", "list|null": "a list or null",
}
#: (field, the Python type its value has when well formed) for the one-pass fast check
#: (``eventName`` and ``args`` are checked by :func:`legacy_argmap` itself)
_FAST_TYPES: tuple[tuple[str, type], ...] = tuple(
    (name, {"int": int, "str": str, "id": str, "list": list, "list|null": list,
            "list of str": list}.get(kind, dict))
    for name, kind in LEGACY_FIELD_TYPES.items() if name not in ("eventName", "args"))


def is_int64(value: Any) -> bool:
    """An integer (not a bool) that Tracee's int64/uint64 fields can hold."""
    return type(value) is int and INT_MIN <= value <= INT_MAX


#: the one type of a well-formed list or object's members
_ONLY_STR = frozenset({str})
_ONLY_BOOL = frozenset({bool})


def _field_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return is_int64(value)
    if kind == "str":
        return type(value) is str
    if kind == "id":
        if type(value) is int:
            return 0 <= value <= INT_MAX
        return (type(value) is str and value.isascii() and value.isdigit()
                and int(value) <= INT_MAX)
    if kind == "list":
        return type(value) is list
    if kind == "list|null":
        return value is None or type(value) is list
    # the types of the members, collected in C (a generator costs a Python step a member)
    if kind == "list of str":
        return type(value) is list and {*map(type, value)} <= _ONLY_STR
    if type(value) is not dict:
        return False
    return {*map(type, value.values())} <= (_ONLY_STR if kind == "object of str" else _ONLY_BOOL)


def check_legacy_fields(d: dict[str, Any]) -> None:
    """Raise :class:`EventFormatError` naming the first top-level field of a legacy record
    whose value is not what :data:`LEGACY_FIELD_TYPES` says (absent fields are fine).

    Hot path (every selected record): one ``type() is`` test per field present; the checks of
    values inside (ranges, digits, objects) run only for the fields that have them.
    """
    get = d.get
    for name, want in _FAST_TYPES:
        value = get(name)
        if value is None:
            if name in d and name != "stackAddresses":  # null is not a value of these
                _bad_field(name, value)
            continue
        t = type(value)
        if t is not want and not (t is int and name == "eventId"):
            _bad_field(name, value)
        if t is int:
            if not INT_MIN <= value <= INT_MAX or (value < 0 and name == "eventId"):
                _bad_field(name, value)
        elif t is str:
            if name == "eventId" and not _field_ok("id", value):
                _bad_field(name, value)
        elif (t is dict or name == "matchedPolicies") and not _field_ok(
                LEGACY_FIELD_TYPES[name], value):
            _bad_field(name, value)


def _bad_field(name: str, value: Any) -> None:
    kind = LEGACY_FIELD_TYPES[name]
    if kind.startswith("object of ") and type(value) is dict:  # name the member at fault
        want = str if kind == "object of str" else bool
        key, member = next((k, v) for k, v in value.items() if type(v) is not want)
        what = "a string" if want is str else "a boolean"
        raise EventFormatError(f"{name}.{key} must be {what}, got {_show(member)}")
    raise EventFormatError(f"{name} must be {_TYPE_WORDS[kind]}, got {_show(value)}")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def executable_of(d: dict[str, Any]) -> str:
    """The executable's path of a legacy record (``Event.executable``; the process table
    reads a record without an Event)."""
    exe = d.get("executable")
    return exe.get("path", "") if isinstance(exe, dict) else ""


def container_id_of(d: dict[str, Any]) -> str:
    """The container id of a legacy record (``Event.container_id``)."""
    return d.get("containerId") or (d.get("container") or {}).get("id", "")


class Event:
    """One event. ``data`` is the legacy Tracee dict; ``raw`` the dict as it was read.

    Attribute access is lazy and cheap: nothing is copied until a detector asks for it.
    """

    # _resolve / _proc are set only when an enricher is attached (the engine sets _resolve on
    # dispatched events): left unset, they cost an event nothing
    # _complete likewise: set by an engine with a completer (container metadata), cleared once
    # it ran
    __slots__ = ("data", "raw", "_argmap", "_resolve", "_proc", "_complete")

    def __init__(self, data: dict[str, Any], raw: dict[str, Any] | None = None,
                 argmap: dict[str, Any] | None = None) -> None:
        self.data = data
        self.raw = data if raw is None else raw
        #: argument name -> value, built on first use (or given by a decoder that built it)
        self._argmap = argmap

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def new(cls, event_name: str, args: Iterable[tuple[str, str, Any]] = (), **context: Any
            ) -> Event:
        """Build an event with every Tracee field present; ``context`` uses Tracee's names."""
        data: dict[str, Any] = {}
        for name, default in TRACEE_FIELDS:
            value = context.pop(name, default)
            data[name] = fresh_copy(value) if value is default else value
        if context:
            raise TypeError(f"unknown Tracee event fields: {sorted(context)}")
        data["eventName"] = event_name
        data["args"] = [{"name": n, "type": t, "value": v} for n, t, v in args]
        data["argsNum"] = len(data["args"])
        return cls(data)

    @classmethod
    def from_legacy(cls, d: Any) -> Event:
        """An event from a legacy ``trace.Event`` dict, validated. Either Tracee shape:
        :func:`memwarden.events.tracee_json.event_from_dict`."""
        if not isinstance(d, dict):
            raise EventFormatError(f"expected a JSON object, got {type(d).__name__}")
        if "eventName" not in d:
            raise EventFormatError(
                "not a Tracee trace.Event (no 'eventName'); a v1beta1 event is decoded by "
                "memwarden.events.tracee_json.event_from_dict")
        return cls(d, None, legacy_argmap(d))

    #: The legacy-only constructor under the name the signature tests use on recorded events.
    from_dict = from_legacy

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
        return executable_of(self.data)

    @property
    def container_id(self) -> str:
        return container_id_of(self.data)

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

    def completed(self) -> dict[str, Any]:
        """``data``, with what the engine's completer adds from slower sources (the container's
        name, image and pod from its runtime) asked for on first need, once per event: a
        condition or output that reads ``container.name`` sees the runtime's answer, and events
        that never ask never pay for it."""
        try:
            complete = self._complete
        except AttributeError:
            return self.data
        if complete is not None:
            self._complete = None
            complete(self)
        return self.data

    @property
    def process(self) -> ProcessInfo | None:
        """The process table's entry for this event's process (parent chain, argv, cwd, ...),
        resolved on first use; None without a process table."""
        try:
            return self._proc
        except AttributeError:
            pass
        try:
            resolve = self._resolve
        except AttributeError:
            return None
        proc = self._proc = resolve(self)
        return proc

    def attach_process(self, proc: ProcessInfo | None) -> None:
        """Give the event its process directly (tests, sources that know it)."""
        self._proc = proc

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

    @property
    def argmap(self) -> dict[str, Any]:
        """Argument name -> value (built once; do not modify)."""
        m = self._argmap
        if m is None:
            m = self._argmap = {a["name"]: a.get("value") for a in self.args}
        return m

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
        """The event as JSON-ready dict: ``as-read`` (lossless) or ``legacy``; the ``v1beta1``
        shape is :func:`memwarden.events.tracee_json.event_to_dict`'s."""
        if shape == "as-read":
            return self.raw
        if shape == "legacy":
            return self.data
        raise ValueError(f"unknown event shape {shape!r} (v1beta1: "
                         "memwarden.events.tracee_json.event_to_dict)")

    def __repr__(self) -> str:
        return f"<Event {self.name} pid={self.host_pid} comm={self.process_name!r}>"


def fresh_copy(value: Any) -> Any:
    """A copy of a mutable default so events never share containers."""
    if isinstance(value, dict):
        return {k: fresh_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def legacy_argmap(d: dict[str, Any]) -> dict[str, Any]:
    """Validate a legacy record's args and index them by name, in one pass (hot path: the
    checks that need a loop of their own run only when the fast pass fails)."""
    if type(d["eventName"]) is not str:
        raise EventFormatError(f"'eventName' must be a string, got {d['eventName']!r}")
    check_legacy_fields(d)
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


def infer_arg_type(value: Any) -> str:
    """The legacy argument type of a value that came without one (finding data, untyped
    v1beta1 values)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, str):
        return "const char*"
    if isinstance(value, list):
        return "const char**"
    return "unknown"


# -- findings -------------------------------------------------------------------------------------

def entity_id(pid: int, start_time: int) -> int:
    """A process's (or thread's) identity over its life, as Tracee's ``processEntityId``
    means it: one 32-bit value per (host pid, start time), the same on every event of that
    process and different for a later process reusing the pid. memwarden's own hash (FNV-1a
    over the two little-endian integers), not Tracee's: compare them within one sensor's
    output, not with Tracee's."""
    h = 0x811C9DC5
    for b in (pid & 0xFFFFFFFF).to_bytes(4, "little") + (start_time & (1 << 64) - 1).to_bytes(
            8, "little"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h or 1


def _fill_entity_ids(out: dict[str, Any], ev: Event) -> None:
    """Tracee's entity ids of a finding's process, its thread and its parent, from the
    process table (its start times) when the source gave none (the live sensor, audit)."""
    proc = ev.process
    if proc is None or not proc.start_time:
        return
    out["processEntityId"] = entity_id(proc.pid, proc.start_time)
    start = ev.data.get("threadStartTime")
    tid = ev.host_tid
    if not out.get("threadEntityId") and type(start) is int and start and type(tid) is int:
        out["threadEntityId"] = entity_id(tid, start)
    parent = proc.parent
    if not out.get("parentEntityId") and parent is not None and parent.start_time:
        out["parentEntityId"] = entity_id(parent.pid, parent.start_time)


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
        if not out.get("processEntityId"):
            _fill_entity_ids(out, self.event)
        md = self.metadata
        out["eventId"] = str(md.event_id)
        out["eventName"] = md.event_name
        args = [{"name": k, "type": infer_arg_type(v), "value": v}
                for k, v in self.data.items()]
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
