"""Enforcement (``memwarden run --enforce NAME``): which signatures the kernel acts on, and the
part of the allowlist it must apply before it does.

A signature can be enforced only when its whole decision can be made in the kernel before the
process goes on (at the syscall's exit; for writes into another process's memory, TRC-1024
and TRC-1025, at its entry, before a byte is written), from the record the probe builds for
the event: such a signature names its kernel
rule in ``Signature.enforce_rule`` (the rule replicates its ``match`` exactly; see
``sources/ebpf/mw_enforce.h`` and docs/enforcement.md). Anything else is refused at start, with
the reason: a signature without a kernel rule, one not loaded, one whose origin is not ``any``
(host/container is decided from the container runtime, in user space), and an allowlist entry
in force for it that the kernel cannot check (container, image, ancestor, a `path` glob of a
shape it cannot match exactly, ...): the kernel must never kill a process the user-space
allowlist would exempt.

The policy is plain data; the sensor writes it into the probe's maps
(:mod:`memwarden.sources.ebpf.enforce_maps`) and the engine marks each finding with what was
done (``action``: ``killed``, ``would_kill`` or ``observed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from memwarden.core.event import Finding
from memwarden.engine.allowlist import COMM_LEN, AllowEntry, Allowlist

MODES = ("kill", "audit")
#: the event's mark (set by the sensor from the record's flags) -> a finding's ``action``
ACTION_KEY = "memwardenAction"
KILLED = "killed"
WOULD_KILL = "would_kill"
OBSERVED = "observed"
#: what the probe holds: allowlist entries, longest executable path (bytes, NUL excluded),
#: `path` globs, bytes of a glob's head and tail (around its stars) and of its middle piece
MAX_ENTRIES = 32
MAX_EXE = 255
MAX_GLOBS = 16
MAX_GLOB_END = 64
MAX_GLOB_MID = 32
_GLOB = "*?["


class EnforceError(ValueError):
    """--enforce cannot be honoured as asked; the message says why and what would do."""


@dataclass(frozen=True)
class EnforcedSignature:
    detector_id: str
    event_name: str
    rule: str  # the kernel rule (Signature.enforce_rule)
    mode: str  # kill | audit


@dataclass(frozen=True)
class KernelAllowEntry:
    """One allowlist entry as the kernel checks it: every non-empty criterion must match one of
    its values; ``users`` given but empty (names without an account) matches nobody."""

    rules: frozenset[str]
    executables: tuple[bytes, ...] = ()
    comms: tuple[bytes, ...] = ()
    uids: tuple[int, ...] = ()
    has_user: bool = False
    where: str = ""
    paths: tuple[KernelGlob, ...] = ()


@dataclass(frozen=True)
class KernelGlob:
    """A `path` glob in a shape the kernel matches exactly as fnmatch does: ``head`` alone
    (no star: the whole path), or ``head*tail`` / ``head*mid*tail`` ('*' any bytes, '/'
    included: the path starts with head, ends with tail and holds mid in between)."""

    head: bytes
    mid: bytes = b""
    tail: bytes = b""
    star: bool = False

    def matches(self, path: bytes) -> bool:
        if not self.star:
            return path == self.head
        if len(path) < len(self.head) + len(self.mid) + len(self.tail):
            return False
        if not (path.startswith(self.head) and path.endswith(self.tail)):
            return False
        return self.mid in path[len(self.head):len(path) - len(self.tail)]


def kernel_glob(pattern: str) -> KernelGlob | str:
    """``pattern`` as the kernel matches it, or why it cannot (the reason, for the refusal)."""
    if "?" in pattern or "[" in pattern:
        return "'?' or '[' (only '*' is matched in the kernel)"
    if "*" not in pattern:
        glob = KernelGlob(pattern.encode())
    else:
        pieces = pattern.split("*")
        mids = [p for p in pieces[1:-1] if p]
        if len(mids) > 1:
            return "more than one piece between stars (head*mid*tail is the most)"
        glob = KernelGlob(pieces[0].encode(), mids[0].encode() if mids else b"",
                          pieces[-1].encode(), True)
    if len(glob.head) > MAX_GLOB_END or len(glob.tail) > MAX_GLOB_END:
        return f"a part before the first or after the last '*' longer than {MAX_GLOB_END} bytes"
    if len(glob.mid) > MAX_GLOB_MID:
        return f"a part between stars longer than {MAX_GLOB_MID} bytes"
    return glob


@dataclass(frozen=True)
class EnforcePolicy:
    signatures: tuple[EnforcedSignature, ...] = ()
    allow: tuple[KernelAllowEntry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.signatures)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(s.detector_id for s in self.signatures)

    def describe(self) -> str:
        return ", ".join(f"{s.detector_id} ({s.event_name}{', audit' if s.mode == 'audit' else ''})"
                         for s in self.signatures) or "none"


def enforceable_names(detectors: Iterable[Any]) -> list[str]:
    return sorted({d.metadata.id for d in detectors if getattr(d, "enforce_rule", "")})


def _find(name: str, detectors: Sequence[Any]) -> Any | None:
    low = name.lower()
    for d in detectors:
        md = d.metadata
        if low in (d.detector_id.lower(), md.id.lower(), (md.event_name or "").lower()):
            return d
    return None


def build_policy(names: Sequence[str], mode: str, detectors: Sequence[Any],
                 allowlist: Allowlist | None) -> EnforcePolicy:
    """The policy for ``names`` (signature IDs or event names); raises :class:`EnforceError`."""
    if not names:
        return EnforcePolicy()
    if mode not in MODES:
        raise EnforceError(f"enforce mode {mode!r}: expected one of {', '.join(MODES)}")
    able = ", ".join(enforceable_names(detectors)) or "none is loaded"
    chosen: dict[str, EnforcedSignature] = {}
    for name in names:
        d = _find(name, detectors)
        if d is None:
            raise EnforceError(f"--enforce {name}: no loaded signature has this ID or event name "
                               f"(enforceable: {able})")
        rule = getattr(d, "enforce_rule", "")
        md = d.metadata
        if not rule:
            raise EnforceError(f"--enforce {name}: {md.id} ({md.event_name}) cannot decide in "
                               f"the kernel before its syscall takes effect, so it cannot be "
                               f"enforced (enforceable: {able}); see docs/enforcement.md")
        origins = {s.origin for s in d.requirements.selectors}
        if origins != {"any"}:
            raise EnforceError(f"--enforce {name}: {md.id} has origin {'/'.join(sorted(origins))}; "
                               f"host or container is decided in user space (container "
                               f"runtime), so only origin 'any' can be enforced")
        chosen[md.id] = EnforcedSignature(md.id, md.event_name, rule, mode)
    sigs = tuple(chosen.values())
    return EnforcePolicy(sigs, _kernel_allowlist(sigs, allowlist))


def _kernel_allowlist(sigs: Sequence[EnforcedSignature],
                      allowlist: Allowlist | None) -> tuple[KernelAllowEntry, ...]:
    if not allowlist:
        return ()
    rules_of: dict[int, set[str]] = {}
    entries: dict[int, AllowEntry] = {}
    for s in sigs:
        for entry in allowlist.entries_for(s.detector_id, s.event_name):
            entries[id(entry)] = entry
            rules_of.setdefault(id(entry), set()).add(s.rule)
    out = []
    for key, entry in entries.items():
        why = _not_in_kernel(entry)
        if why:
            raise EnforceError(
                f"{entry.where or 'allowlist'}: this entry exempts processes from an enforced "
                f"signature by {why}, which the kernel cannot check before the kill; narrow it "
                f"to executable, process_name and user, or do not enforce that signature")
        exes = tuple(e.encode() for e in entry.executables)
        for e in exes:
            if len(e) > MAX_EXE:
                raise EnforceError(f"{entry.where}: executable {e.decode()!r}: longer than the "
                                   f"{MAX_EXE} bytes the kernel allowlist holds")
        comms = tuple(n.encode()[:COMM_LEN] for n in entry.process_names)
        globs = []
        for pattern in entry.paths:
            glob = kernel_glob(pattern)
            if isinstance(glob, str):
                raise EnforceError(
                    f"{entry.where or 'allowlist'}: path {pattern!r}: this entry exempts "
                    f"processes from an enforced signature by a glob with {glob}, which the "
                    f"kernel cannot match exactly before the kill; write it as 'literal', "
                    f"'head*tail' or 'head*mid*tail', or do not enforce that signature")
            globs.append(glob)
        out.append(KernelAllowEntry(frozenset(rules_of[key]), exes, comms, tuple(entry.uids),
                                    bool(entry.uids or entry.unknown_users), entry.where,
                                    tuple(globs)))
    if len(out) > MAX_ENTRIES:
        raise EnforceError(f"{len(out)} allowlist entries are in force for the enforced "
                           f"signatures; the kernel holds {MAX_ENTRIES}")
    globs = sum(len(e.paths) for e in out)
    if globs > MAX_GLOBS:
        raise EnforceError(f"{globs} path globs are in the allowlist entries in force for the "
                           f"enforced signatures; the kernel holds {MAX_GLOBS}")
    return tuple(out)


def _not_in_kernel(entry: AllowEntry) -> str:
    for label, values in (("container", entry.containers), ("image", entry.images),
                          ("pod_namespace", entry.pod_namespaces),
                          ("ancestor", entry.ancestors), ("cmdline_glob", entry.cmdlines)):
        if values:
            return label
    if any(c in e for e in entry.executables for c in _GLOB):
        return "an executable glob"
    return ""


def mark_findings(found: Sequence[Finding], action: str | None, policy: EnforcePolicy | None
                  ) -> None:
    """Tell each finding what was done: the event's mark (``killed``/``would_kill``, on every
    finding of that event), else ``observed`` for an enforced signature."""
    ids = policy.ids if policy else frozenset()
    for f in found:
        if action:
            f.data["action"] = action
        elif f.metadata.id in ids:
            f.data["action"] = OBSERVED
