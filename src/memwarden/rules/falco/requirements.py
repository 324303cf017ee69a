"""What a rule asks of the engine and the kernel: the event types it can match and the paths
it can accept, derived from its validated condition.

Two analyses of the condition tree, each a small recursive visitor: :func:`falco_event_types`
is Falco's evt.type index (``evt.type`` checks give sets, ``and`` intersects, ``or`` unites,
``not`` inverts), mapped onto memwarden events by :func:`memwarden_events`; and
:func:`required_paths` finds path filters every accepted ``security_file_open`` path matches,
which the engine uses as a gate and the sensor compiles into in-kernel filters.
"""

from __future__ import annotations

import posixpath
import re

import memwarden.rules.falco.ast as A
from memwarden.core.requirements import SyscallFilter
from memwarden.events.catalogue import CATALOGUE
from memwarden.rules.falco.checks import EQ_OPS, Plan
from memwarden.rules.falco.evttypes import KNOWN_EVENT_TYPES, MEMWARDEN_EVENT_OF, PROFILES
from memwarden.rules.falco.fields.evt_args import BPF_COMMANDS, CHMOD_MODE_BITS

# -- event types (Falco's evt.type index) ---------------------------------------------------------

def falco_event_types(node: A.Node) -> frozenset[str] | None:
    """The evt.type values a condition can match (None: all), as Falco's indexer computes
    them: ``evt.type`` checks give sets, ``and`` intersects, ``or`` unites, ``not`` inverts."""
    return _types(node, False, {})


_Types = frozenset[str] | None


def _types(node: A.Node, negated: bool, memo: dict[tuple[int, bool], _Types]) -> _Types:
    """Memoised per (node, polarity): a shared subtree is analysed once per polarity."""
    if isinstance(node, A.Check):
        return _types_of(node, negated, memo)
    key = (id(node), negated)
    if key in memo:
        return memo[key]
    result = memo[key] = _types_of(node, negated, memo)
    return result


def _types_of(node: A.Node, negated: bool, memo: dict[tuple[int, bool], _Types]) -> _Types:
    if isinstance(node, A.Not):
        return _types(node.child, not negated, memo)
    if isinstance(node, A.And | A.Or):
        is_and = isinstance(node, A.And) != negated
        sets = [_types(ch, negated, memo) for ch in node.children]
        if is_and:
            known = [s for s in sets if s is not None]
            if not known:
                return None
            out = known[0]
            for s in known[1:]:
                out = out & s
            return out
        if any(s is None for s in sets):
            return None
        out = frozenset()
        for s in sets:
            out = out | s
        return out
    if isinstance(node, A.Check):
        plan = node.plan
        if (plan is None or plan.spec.name != "evt.type" or plan.transforms or plan.rhs_field
                or plan.modifier):
            return None
        if plan.op in EQ_OPS:
            values = frozenset({plan.operand})
        elif plan.op in ("in", "intersects"):
            values = plan.operand
        elif plan.op == "!=":
            values = KNOWN_EVENT_TYPES - {plan.operand}
        else:
            return None
        return (KNOWN_EVENT_TYPES - values) if negated else values
    return None


def memwarden_events(types: frozenset[str] | None) -> tuple[list[str], list[str]]:
    """The memwarden events a rule matching ``types`` (None: all) is specialised to, and the
    types among ``types`` that memwarden does not produce."""
    if types is None:
        return sorted(PROFILES), []
    unproduced = sorted(t for t in types if t not in MEMWARDEN_EVENT_OF)
    candidates = sorted({MEMWARDEN_EVENT_OF[t] for t in types if t in MEMWARDEN_EVENT_OF})
    return candidates, unproduced

# -- path filters ---------------------------------------------------------------------------------

_Paths = set[tuple[str, str]] | None


def required_paths(node: A.Node, memo: dict[int, _Paths] | None = None,
                   arg: str | None = None) -> _Paths:
    """Path filters (kind, value) of which every path the condition accepts on
    security_file_open matches at least one; None when that cannot be shown. A shared subtree
    is analysed once (``memo``, keyed by node identity). ``arg``: of a syscall event whose
    path argument is the string as the caller passed it (mkdir's path, symlink's target):
    the checks of ``evt.arg.<arg>`` stand for fd.name's, no other field says anything."""
    if isinstance(node, A.Check):
        return _required_paths(node, {}, arg)
    if memo is None:
        memo = {}
    if id(node) in memo:
        return memo[id(node)]
    result = memo[id(node)] = _required_paths(node, memo, arg)
    return result


def _required_paths(node: A.Node, memo: dict[int, _Paths], arg: str | None) -> _Paths:
    if isinstance(node, A.And):
        best = None
        for ch in node.children:
            r = required_paths(ch, memo, arg)
            if r is not None and (best is None or _narrower(r, best)):
                best = r
        return best
    if isinstance(node, A.Or):
        out: set[tuple[str, str]] = set()
        for ch in node.children:
            r = required_paths(ch, memo, arg)
            if r is None:
                return None
            out |= r
        return out
    if isinstance(node, A.Check):
        plan = node.plan
        if plan is None or plan.transforms or plan.rhs_field:
            return None
        if plan.modifier == "allof":
            return None
        if plan.modifier is not None:
            # OP oneof (a, b): every accepted path meets one value's requirement
            out: set[tuple[str, str]] = set()
            for p in plan.operand:
                r = _path_requirement(p, arg)
                if r is None:
                    return None
                out |= r
            return out
        return _path_requirement(plan, arg)
    return None


def _narrower(a: set[tuple[str, str]], b: set[tuple[str, str]]) -> bool:
    rank = {"exact": 0, "basename": 1, "suffix": 1, "prefix": 2}

    def cost(s):
        return (max(rank[k] for k, _ in s), len(s))
    return cost(a) < cost(b)


def _dir_prefix(path: str) -> tuple[str, str] | None:
    """A directory prefix (with '/') every path starting with ``path`` starts with."""
    if not path.startswith("/"):
        return None
    d = path if path.endswith("/") else posixpath.dirname(path) + "/"
    if d == "/":
        return None
    return ("prefix", d)


def _path_requirement(plan: Plan, arg: str | None = None) -> set[tuple[str, str]] | None:
    name, op, rhs = plan.spec.name, plan.op, plan.operand
    if arg is not None:  # a syscall's path string: its evt.arg is fd.name's stand-in
        if name not in ("evt.arg", "evt.rawarg") or plan.arg != arg:
            return None
        name = "fd.name"
    if name == "fd.name":
        if op in EQ_OPS:
            return {("exact", rhs)}
        if op in ("in", "intersects"):
            return {("exact", v) for v in rhs} if rhs else None
        if op == "startswith":
            p = _dir_prefix(rhs)
            return {p} if p else None
        if op == "endswith" and rhs:
            return {("suffix", rhs)}
        if op == "pmatch":
            out: set[tuple[str, str]] = set()
            for d in rhs.paths:
                if d == "/":
                    return None
                out |= {("exact", d), ("prefix", d + "/")}
            return out or None
        if op == "glob":
            return _glob_requirement(plan)
        return None
    if name == "fd.directory":
        if op in EQ_OPS:
            return {("prefix", rhs.rstrip("/") + "/")} if rhs.rstrip("/") else None
        if op in ("in", "intersects") and rhs:
            if any(not v.rstrip("/") for v in rhs):
                return None
            return {("prefix", v.rstrip("/") + "/") for v in rhs}
        return None
    if name == "fd.filename":
        if op in EQ_OPS and "/" not in rhs and rhs:
            return {("basename", rhs)}
        if op in ("in", "intersects") and rhs and all("/" not in v and v for v in rhs):
            return {("basename", v) for v in rhs}
    return None


_GLOB_CHARS = re.compile(r"[*?\[]")


def _glob_requirement(plan: Plan) -> set[tuple[str, str]] | None:
    pattern = plan.text
    if not pattern:
        return None
    last = pattern.rsplit("/", 1)[-1]
    if "/" in pattern and last and not _GLOB_CHARS.search(last):
        return {("basename", last)}
    m = _GLOB_CHARS.search(pattern)
    literal = pattern[:m.start()] if m else pattern
    if m is None:
        return {("exact", pattern)}
    p = _dir_prefix(literal)
    return {p} if p else None

# -- text filters (replay's raw-line needles) -----------------------------------------------------

_Texts = set[tuple[str, str, tuple[str, ...]]] | None

#: fields whose value is, unchanged, a string value of the event's record (those values): fd.name
#: the open's pathname, fd.nameraw its syscall_pathname (else pathname), proc.name the
#: processName; fd.directory is the dirname of fd.name
TEXT_FIELDS = {"fd.name": ("args.pathname",),
               "fd.nameraw": ("args.syscall_pathname", "args.pathname"),
               "proc.name": ("processName",), "fd.directory": ("args.pathname",)}
_GLOB_PART = re.compile(r"\[[^\]]*\]|[*?]")


def required_texts(node: A.Node, memo: dict[int, _Texts] | None = None,
                   event: str | None = None) -> _Texts:
    """Text filters (kind, value, the record's values it is about) of which, whenever the
    condition is true, a string value of the event (one of :data:`TEXT_FIELDS`) matches one;
    None when that cannot be shown.
    ``and`` keeps its most selective child's, ``or`` unites (every child must have some), ``not``
    and every other field give none."""
    if memo is None:
        memo = {}
    if id(node) in memo:
        return memo[id(node)]
    result = memo[id(node)] = _required_texts(node, memo, event)
    return result


def required_text_groups(node: A.Node, event: str | None = None
                         ) -> list[set[tuple[str, str, tuple[str, ...]]]]:
    """:func:`required_texts` of each conjunct of the condition that has some (all of them
    hold), the most selective first: replay's needles are the first, the engine's gate of
    parsed records tests them all."""
    memo: dict[int, _Texts] = {}
    parts = node.children if isinstance(node, A.And) else [node]
    found = [r for r in (required_texts(ch, memo, event) for ch in parts) if r is not None]
    unique = {frozenset(r): r for r in found}
    return sorted(unique.values(), key=lambda r: (_text_cost(r), sorted(r)))


def _required_texts(node: A.Node, memo: dict[int, _Texts], event: str | None) -> _Texts:
    if isinstance(node, A.And):
        best: _Texts = None
        for ch in node.children:
            r = required_texts(ch, memo, event)
            if r is not None and (best is None or _text_cost(r) < _text_cost(best)):
                best = r
        return best
    if isinstance(node, A.Or):
        out: set[tuple[str, str, tuple[str, ...]]] = set()
        for ch in node.children:
            r = required_texts(ch, memo, event)
            if r is None:
                return None
            out |= r
        return out
    if isinstance(node, A.Check) and isinstance(node.plan, Plan):
        plan = node.plan
        if plan.modifier is not None and plan.modifier != "allof":
            # OP oneof/anyof (a, b): one of them holds
            found: set[tuple[str, str, tuple[str, ...]]] = set()
            for p in plan.operand:
                r = _text_requirement(p, event) if isinstance(p, Plan) else None
                if r is None:
                    return None
                found |= r
            return found
        return _text_requirement(plan, event)
    return None


#: top-level directories most of a host's paths are under: a path needle starting with one is
#: told from other paths only by what follows it (``/etc/`` alone matches a host's every
#: configuration read, ``../`` almost nothing)
_BUSY_DIRS = ("/etc/", "/usr/", "/lib/", "/lib64/", "/proc/", "/sys/", "/dev/", "/var/",
              "/tmp/", "/home/", "/run/", "/opt/", "/bin/", "/sbin/")


def _text_cost(texts: set[tuple[str, str, tuple[str, ...]]]) -> tuple[int, int]:
    """Shorter needles match more lines: the set whose shortest one is longest wins, then the
    smaller set. A path's busy top directory (:data:`_BUSY_DIRS`) does not count in its
    length."""
    bonus = {"exact": 2, "prefix": 1, "suffix": 1, "contains": 0, "directory": 2}  # quotes

    def length(kind: str, v: str) -> int:
        n = len(v.encode())
        if kind in ("exact", "prefix", "directory"):
            busy = next((d for d in _BUSY_DIRS if (v + "/").startswith(d)), "")
            n -= len(busy)
        return max(n, 0) + bonus[kind]

    return (-min(length(k, v) for k, v, _ in texts), len(texts))


#: Falco arguments whose values are paths, strings in every record that has them: ``evt.arg.X``
#: of these is the record's argument (through the event's profile) as written
_PATH_ARGS = frozenset({"path", "name", "oldpath", "newpath", "target", "linkpath",
                        "filename", "dir", "pathname"})


def _arg_sources(plan: Plan, event: str | None) -> tuple[str, ...] | None:
    """``evt.arg.X`` / ``evt.rawarg.X`` of a path argument on ``event``: the record's value it
    is (the profile's name for it, else X: a record without it gives nothing to match)."""
    if plan.spec.name not in ("evt.arg", "evt.rawarg") or event not in PROFILES or \
            plan.arg not in _PATH_ARGS:
        return None
    target = PROFILES[event].args.get(plan.arg, plan.arg)
    return None if target.startswith("$") else ("args." + target,)


def _text_requirement(plan: Plan, event: str | None = None) -> _Texts:
    if plan.transforms or plan.rhs_field is not None or plan.modifier:
        return None
    op, rhs = plan.op, plan.operand
    sources = TEXT_FIELDS.get(plan.spec.name) if plan.arg is None else _arg_sources(plan, event)
    if sources is None:
        return None
    if plan.spec.name == "fd.directory":  # the dirname of fd.name
        if op in EQ_OPS:
            return _texts("directory", [rhs], sources)
        if op in ("in", "intersects"):
            return _texts("directory", list(rhs), sources)
        return None
    if op in EQ_OPS:
        values = [rhs]
    elif op in ("in", "intersects"):
        values = list(rhs)
    elif op in ("startswith", "endswith", "contains"):
        values = [rhs]
    elif op == "pmatch":
        paths = sorted(getattr(rhs, "paths", ()))
        if not paths or "/" in paths:
            return None
        return _texts("prefix", paths, sources)
    elif op == "glob":
        return _glob_text(plan.text, sources)
    else:
        return None
    kind = {"startswith": "prefix", "endswith": "suffix", "contains": "contains"}.get(op, "exact")
    return _texts(kind, values, sources)


def _texts(kind: str, values: list, sources: tuple[str, ...]) -> _Texts:
    if not values or any(type(v) is not str or not v or not _utf8(v) for v in values):
        return None  # a raw byte (\xHH, 0.63's semantics) is no text a record writes as is
    return {(kind, v, sources) for v in values}


def _utf8(v: str) -> bool:
    try:
        v.encode()
    except UnicodeEncodeError:
        return False
    return True


def _glob_text(pattern: str | None, sources: tuple[str, ...]) -> _Texts:
    """A glob's longest literal run (a prefix when it starts the pattern, the whole pattern
    when it has no wildcard)."""
    if not pattern or "\\" in pattern or not _utf8(pattern):
        return None
    if "[" in _GLOB_PART.sub("", pattern) or "]" in _GLOB_PART.sub("", pattern):
        return None  # an unbalanced bracket: not worth a guess
    parts = _GLOB_PART.split(pattern)
    if len(parts) == 1:
        return {("exact", pattern, sources)}
    longest = max(parts, key=len)
    if not longest:
        return None
    return {("prefix" if parts[0] == longest else "contains", longest, sources)}


# -- open modes (the engine's argument gate) ------------------------------------------------------

#: the access modes each field accepts (O_ACCMODE of the flags: read-only, write-only, both)
_MODE_FIELDS = {"evt.is_open_read": frozenset({0, 2}), "evt.is_open_write": frozenset({1, 2})}


def required_open_modes(node: A.Node) -> frozenset[int] | None:
    """The open access modes (``flags & O_ACCMODE``) of which every event the condition
    accepts has one, from its ``evt.is_open_read=true`` / ``evt.is_open_write=true`` checks;
    None when that cannot be shown."""
    if isinstance(node, A.And):
        found = [m for m in map(required_open_modes, node.children) if m is not None]
        if not found:
            return None
        out = found[0]
        for m in found[1:]:
            out = out & m
        return out
    if isinstance(node, A.Or):
        union: frozenset[int] = frozenset()
        for ch in node.children:
            m = required_open_modes(ch)
            if m is None:
                return None
            union |= m
        return union
    if isinstance(node, A.Check) and isinstance(node.plan, Plan):
        plan = node.plan
        modes = _MODE_FIELDS.get(plan.spec.name)
        if (modes is not None and plan.op in EQ_OPS and plan.operand is True
                and not plan.transforms and plan.rhs_field is None and not plan.modifier):
            return modes
    return None


def required_flag_texts(node: A.Node) -> list[str]:
    """The texts that top-level conjuncts ``evt.arg.flags contains TEXT`` require of an
    open's flags as Falco prints them (``O_TRUNC``: Clear Log Activities)."""
    out = []
    for ch in (node.children if isinstance(node, A.And) else [node]):
        if isinstance(ch, A.Check) and isinstance(ch.plan, Plan):
            plan = ch.plan
            if (plan.spec.name == "evt.arg" and plan.arg == "flags" and plan.op == "contains"
                    and isinstance(plan.operand, str) and plan.operand and not plan.transforms
                    and plan.rhs_field is None and not plan.modifier):
                out.append(plan.operand)
    return out


# -- conditions on one argument (the engine's argument gate, replay's prefilter) -------------------

#: the fields that read an event argument by name
_ARG_FIELDS = frozenset({"evt.arg", "evt.rawarg"})


def required_arg_checks(node: A.Node) -> list[tuple[str, A.Node]]:
    """The top-level conjuncts of the condition that read one named argument and nothing else
    (``evt.arg.request contains PTRACE_POKETEXT or evt.arg.request contains ...``), each with
    that argument's name: every event the condition accepts passes each of them, which the
    engine can test on the record's raw argument before it builds an event."""
    out = []
    for ch in (node.children if isinstance(node, A.And) else [node]):
        names: set[str] = set()
        if _reads_args_only(ch, names) and len(names) == 1:
            out.append((names.pop(), ch))
    return out


def _reads_args_only(node: A.Node, names: set[str]) -> bool:
    if isinstance(node, A.And | A.Or):
        return all(_reads_args_only(ch, names) for ch in node.children)
    if isinstance(node, A.Not):
        return _reads_args_only(node.child, names)
    if isinstance(node, A.Check) and isinstance(node.plan, Plan):
        plan = node.plan
        if (plan.spec.name in _ARG_FIELDS and isinstance(plan.arg, str) and plan.arg
                and not plan.arg.isdigit() and not plan.transforms and plan.rhs_field is None):
            names.add(plan.arg)
            return True
    return False


# -- what the probe can test of a syscall event (mw_falco_events.h) -------------------------------

def required_syscall_filter(node: A.Node, event: str) -> SyscallFilter | None:
    """A :class:`SyscallFilter` every event of ``event`` the condition accepts passes: from
    ``evt.rawres >= 0``, ``user.uid != 0``, the event's filter argument (the catalogue's
    ``kernel_filter_arg``) compared to numbers (a bpf command also by name), a chmod mode's
    ``contains "S_ISUID"``, and ``not (... or user.uid = 0)``; ``and`` keeps every part,
    ``or`` what all its branches share, anything else constrains nothing. None: nothing to
    test."""
    spec = CATALOGUE.get(event)
    if spec is None or not spec.ebpf_kind:
        return None
    f = _sc_filter(node, event, spec.kernel_filter_arg)
    if f.values is None and not f.mask and not f.success_only and not f.nonroot_only:
        return None
    return f


def _sc_filter(node: A.Node, event: str, arg: str) -> SyscallFilter:
    if isinstance(node, A.And):
        out = SyscallFilter(event)
        for ch in node.children:
            f = _sc_filter(ch, event, arg)
            values = (out.values & f.values if out.values is not None and f.values is not None
                      else out.values if out.values is not None else f.values)
            out = SyscallFilter(event, values, out.mask or f.mask,
                                out.success_only or f.success_only,
                                out.nonroot_only or f.nonroot_only)
        return out
    if isinstance(node, A.Or) and node.children:
        fs = [_sc_filter(ch, event, arg) for ch in node.children]
        out = fs[0]
        for f in fs[1:]:
            out = out.either(f)
        return out
    if isinstance(node, A.Check) and isinstance(node.plan, Plan):
        return _sc_check(node.plan, event, arg)
    if isinstance(node, A.Not):
        return _sc_negated(node.child, event)
    return SyscallFilter(event)


def _sc_negated(node: A.Node, event: str) -> SyscallFilter:
    """``not (...)``: only ``not user.uid = 0`` and ``not (... or user.uid = 0 or ...)``
    (Falco's "Non sudo setuid": not (user.name=root or user.uid=0)) say something: not root."""
    parts = node.children if isinstance(node, A.Or) else [node]
    for p in parts:
        if isinstance(p, A.Check) and isinstance(p.plan, Plan):
            plan = p.plan
            if (plan.spec.name == "user.uid" and plan.op in EQ_OPS and not plan.transforms
                    and plan.rhs_field is None and not plan.modifier
                    and _number(plan.operand) == 0):
                return SyscallFilter(event, nonroot_only=True)
    return SyscallFilter(event)


def _number(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            return None
    return None


def _sc_check(plan: Plan, event: str, arg: str) -> SyscallFilter:
    none = SyscallFilter(event)
    if plan.transforms or plan.rhs_field is not None or plan.modifier:
        return none
    name, op, operand = plan.spec.name, plan.op, plan.operand
    if name == "evt.rawres" and op in (">=", ">"):
        n = _number(operand)
        if n is not None and (n >= 0 if op == ">=" else n >= -1):
            return SyscallFilter(event, success_only=True)
        return none
    if name == "user.uid" and op == "!=" and _number(operand) == 0:
        return SyscallFilter(event, nonroot_only=True)
    if name not in ("evt.arg", "evt.rawarg") or not arg or plan.arg != arg:
        return none
    if op in EQ_OPS or op == "in":
        items = operand if op == "in" and isinstance(operand, frozenset | set | tuple | list) \
            else (operand,)
        values = set()
        for item in items:
            n = _number(item)
            if n is None and event == "bpf" and name == "evt.arg" and item in BPF_COMMANDS:
                n = BPF_COMMANDS.index(item)
            if n is None or not 0 <= n < 64:
                return none
            values.add(n)
        return SyscallFilter(event, values=frozenset(values))
    if (op == "contains" and event == "chmod" and name == "evt.arg" and arg == "mode"
            and operand in CHMOD_MODE_BITS):
        return SyscallFilter(event, mask=CHMOD_MODE_BITS[operand])
    return none
