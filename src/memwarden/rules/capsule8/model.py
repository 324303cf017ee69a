"""What a Capsule8 (Sophos Linux Sensor) policy file holds, and what memwarden makes of it.

One table per concept, so that adding a policy type, a field or a list type is one entry:

- :data:`POLICY_TYPES`: each policy type memwarden knows, the memwarden events it runs on and the
  fields its rules may test (with how each is read from an event), or why it cannot run.
- :data:`LIST_TYPES`: the named list types (``type: paths`` ...) and how their items are checked.
- :data:`PRIORITIES`: Capsule8's priorities -> Tracee severity and the Falco priority.

The reader (:mod:`.reader`) fills the dataclasses below with positions; the compiler
(:mod:`.compiler`) turns them into predicates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.errors import Where

Getter = Callable[[Event], Any]

# -- fields ---------------------------------------------------------------------------------------

PATH, STRING, NUMBER = "path", "string", "number"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field a policy's rules may test. ``kind`` decides the operators and literals allowed
    (``path`` values are globs). Exactly one of: ``getter`` (read per event), ``const`` (per
    memwarden event name, e.g. ``operation``), ``missing`` (why memwarden cannot fill it)."""

    name: str
    kind: str
    getter: Getter | None = None
    const: dict[str, Any] | None = None
    missing: str = ""


def _arg(name: str) -> Getter:
    def get(ev: Event) -> Any:
        return ev.arg(name)
    return get


def _container(key: str) -> Getter:
    def get(ev: Event) -> Any:
        c = ev.data.get("container")
        if not (isinstance(c, dict) and c.get("name")) and ev.data.get("containerId"):
            c = ev.completed().get("container")  # the runtime's answer, asked once per event
        return c.get(key, "") if isinstance(c, dict) else ""
    return get


def _exec_program(ev: Event) -> Any:
    path = ev.arg("pathname")
    return path if isinstance(path, str) and path else ev.executable


def _exec_args(ev: Event) -> Any:
    argv = ev.arg("argv")
    if isinstance(argv, list):
        return " ".join(str(a) for a in argv)
    return argv if isinstance(argv, str) else None


def _file_path(ev: Event) -> Any:
    name = ev.data["eventName"]
    if name in ("security_inode_rename", "security_inode_link"):
        return ev.arg("old_path")
    return ev.arg("pathname")


_PROCESS_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("uid", NUMBER, getter=lambda ev: ev.uid),
    FieldSpec("pid", NUMBER, getter=lambda ev: ev.host_pid),
    FieldSpec("containerId", STRING, getter=lambda ev: ev.container_id),
    FieldSpec("containerName", STRING, getter=_container("name")),
    FieldSpec("imageName", STRING, getter=lambda ev: ev.container_image),
    FieldSpec("parentProgramName", PATH, missing="memwarden's events do not carry the parent's "
                                                  "program path"),
)

#: operation of a fileaccess policy, per memwarden event
FILE_OPERATIONS: dict[str, str] = {
    "security_file_open": "open",
    "security_inode_unlink": "delete",
    "security_inode_rename": "rename",
    "security_inode_link": "link",
}


@dataclass(frozen=True, slots=True)
class PolicyType:
    """A Capsule8 policy type: the events it runs on and its fields, or why it cannot run."""

    name: str
    events: tuple[str, ...] = ()
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    unsupported: str = ""  # non-empty: the policy loads but stays inactive, for this reason

    @property
    def checks_fields(self) -> bool:
        return not self.unsupported


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {s.name: s for s in specs}


_FILE_FIELDS = _fields(
    FieldSpec("filePath", PATH, getter=_file_path),
    FieldSpec("operation", STRING, const=dict(FILE_OPERATIONS)),
    FieldSpec("programName", PATH, getter=lambda ev: ev.executable),
    *_PROCESS_FIELDS,
)

_EXEC_FIELDS = _fields(
    FieldSpec("programName", PATH, getter=_exec_program),
    FieldSpec("programArgs", STRING, getter=_exec_args),
    *_PROCESS_FIELDS,
)

_NO_NETWORK = "memwarden produces no network (socket) events"

POLICY_TYPES: dict[str, PolicyType] = {p.name: p for p in (
    PolicyType("fileaccess", tuple(FILE_OPERATIONS), _FILE_FIELDS),
    PolicyType("file", tuple(FILE_OPERATIONS), _FILE_FIELDS),
    PolicyType("exec", ("sched_process_exec",), _EXEC_FIELDS),
    PolicyType("connect", unsupported=_NO_NETWORK),
    PolicyType("bind", unsupported=_NO_NETWORK),
)}

# -- lists ----------------------------------------------------------------------------------------


def _check_int(lo: int, hi: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"expected a whole number from {lo} to {hi}")
        return v
    return check


def _check_str(v: Any) -> Any:
    if not isinstance(v, str) or not v:
        raise ValueError("expected a non-empty string")
    return v


def _check_path(v: Any) -> Any:
    _check_str(v)
    if not v.startswith("/") and not v.startswith("*"):
        raise ValueError("expected an absolute path or a glob starting with / or *")
    return v


def _check_network(v: Any) -> Any:
    _check_str(v)
    return str(ipaddress.ip_network(v, strict=False))


@dataclass(frozen=True, slots=True)
class ListType:
    """A named list type: the field kinds ``in $List`` accepts it for, and its item check."""

    name: str
    kinds: frozenset[str]
    check: Callable[[Any], Any]


LIST_TYPES: dict[str, ListType] = {t.name: t for t in (
    ListType("paths", frozenset({PATH}), _check_path),
    ListType("programs", frozenset({PATH}), _check_path),
    ListType("strings", frozenset({STRING, PATH}), _check_str),
    ListType("numbers", frozenset({NUMBER}), _check_int(-(2**63), 2**64 - 1)),
    ListType("ports", frozenset({NUMBER}), _check_int(0, 65535)),
    ListType("networks", frozenset({"network"}), _check_network),
)}

# -- priorities -----------------------------------------------------------------------------------

#: Capsule8 priority (lower case) -> (as written in listings, Tracee severity, Falco priority)
PRIORITIES: dict[str, tuple[str, int, str]] = {
    "info": ("Info", 0, "informational"),
    "informational": ("Info", 0, "informational"),
    "low": ("Low", 1, "notice"),
    "medium": ("Medium", 2, "warning"),
    "high": ("High", 3, "error"),
    "critical": ("Critical", 3, "critical"),
}
DEFAULT_PRIORITY = "medium"

#: responseAction values memwarden knows (none is enforced: --enforce covers built-in
#: signatures only, docs/enforcement.md)
RESPONSE_ACTIONS = ("kill",)

# -- what the reader produces ---------------------------------------------------------------------


@dataclass
class ListDef:
    name: str
    type: str
    items: list[Any]
    where: Where


@dataclass
class RuleLine:
    """One entry of ``rules:``: ``match EXPR``, ``ignore EXPR``, ``default match|ignore``."""

    text: str
    action: str  # "match" | "ignore"
    is_default: bool
    expr_offset: int  # where the expression starts in ``text``
    where: Where
    locate: Callable[[int], tuple[int, int]]  # offset in text -> (line, col)


@dataclass
class PolicyDef:
    name: str
    policy: str
    enabled: bool
    alert_message: str
    comments: str
    priority: str  # lower-case key of PRIORITIES
    rules: list[RuleLine]
    default: str  # "match" | "ignore"
    response_actions: list[str]
    where: Where
    file: str


@dataclass
class PolicyFile:
    name: str
    policies: list[PolicyDef] = field(default_factory=list)
    lists: dict[str, ListDef] = field(default_factory=dict)
