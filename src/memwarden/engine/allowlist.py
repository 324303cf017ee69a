"""Allowlists: exempt known-good processes from findings, globally or per detector.

Legitimate programs do what the signatures look for (a debugger attaches, the core handler
writes dumps, coredumpctl reads them). An allowlist entry names such a program by executable
path, process name, user, container id or image, Kubernetes namespace, optionally narrowed to
the paths the event concerns; a finding whose process matches an entry in force for its
detector is not reported (and is counted in ``findings_allowlisted``).

The defaults ship in ``memwarden/data/allowlist.yaml``; user files (``--allowlist FILE``) add
their entries, in order, and ``use_defaults: false`` in any of them drops the defaults. The
engine applies the allowlist to findings only, so it costs nothing per event.
"""

from __future__ import annotations

import fnmatch
import pwd
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from memwarden.core.event import Event, Finding
from memwarden.core.located_yaml import YamlLocationError, check_printable, locate
from memwarden.core.located_yaml import read_text as read_yaml_text
from memwarden.events.catalogue import DEFAULT_PATH_ARGS, PATH_ARGS

#: The kernel keeps 15 characters of a process name (TASK_COMM_LEN - 1).
COMM_LEN = 15

DEFAULTS_SOURCE = "memwarden/data/allowlist.yaml"

ENTRY_KEYS = ("executable", "process_name", "user", "container", "image", "pod_namespace",
              "path", "ancestor", "cmdline_glob", "reason")
CRITERIA = ENTRY_KEYS[:-1]
TOP_KEYS = ("use_defaults", "global", "signatures")
_HEX = re.compile(r"^[0-9a-f]+$")


class AllowlistError(ValueError):
    """A bad allowlist file; the message names the file, line, key and what is wrong."""


def _glob_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """One closure for a list of shell globs: a set lookup for the plain strings, one
    compiled regular expression for the others."""
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]
    if not globs:
        return exact.__contains__
    regex = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs), re.DOTALL)
    match = regex.match
    return lambda value: value in exact or match(value) is not None


@dataclass(frozen=True, eq=False)
class AllowEntry:
    """One exemption: every criterion given must match; a criterion's values are alternatives."""

    executables: tuple[str, ...] = ()
    process_names: tuple[str, ...] = ()
    uids: tuple[int, ...] = ()
    unknown_users: tuple[str, ...] = ()  # names with no account on this host: match nobody
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    #: process names (globs) of which one must be an ancestor (walked in the process table)
    ancestors: tuple[str, ...] = ()
    #: globs of the process's command line (comm and arguments, Falco's proc.cmdline)
    cmdlines: tuple[str, ...] = ()
    reason: str = ""
    where: str = ""  # file:line of the entry
    _tests: tuple[Callable[[Event], bool], ...] = field(default=(), repr=False)
    #: Kubernetes namespaces (globs): from the kubelet's labels, on live findings the
    #: container runtime's answer (memwarden.enrich.containers), replayed: the stream's
    pod_namespaces: tuple[str, ...] = ()

    @classmethod
    def build(cls, where: str = "", reason: str = "", *, executables: Sequence[str] = (),
              process_names: Sequence[str] = (), users: Sequence[int | str] = (),
              containers: Sequence[str] = (), images: Sequence[str] = (),
              paths: Sequence[str] = (), pod_namespaces: Sequence[str] = (),
              ancestors: Sequence[str] = (), cmdlines: Sequence[str] = ()) -> AllowEntry:
        uids: list[int] = []
        unknown: list[str] = []
        for u in users:
            if isinstance(u, int):
                uids.append(u)
                continue
            try:
                uids.append(pwd.getpwnam(u).pw_uid)
            except KeyError:
                unknown.append(u)
        names = tuple(n[:COMM_LEN] for n in process_names)
        tests: list[Callable[[Event], bool]] = []
        if executables:
            exe = _glob_matcher(executables)
            tests.append(lambda e: exe(e.executable))
        if names:
            comm = frozenset(names)
            tests.append(lambda e: e.process_name in comm)
        if users:
            uid_set = frozenset(uids)
            tests.append(lambda e: e.uid in uid_set)
        if containers:
            prefixes = tuple(containers)
            tests.append(lambda e: bool(e.container_id) and e.container_id.startswith(prefixes))
        if images:
            image = _glob_matcher(images)
            tests.append(lambda e: bool(e.container_image) and image(e.container_image))
        if pod_namespaces:
            namespace = _glob_matcher(pod_namespaces)

            def namespace_test(e: Event) -> bool:
                k = e.data.get("kubernetes")
                ns = k.get("podNamespace") if isinstance(k, dict) else None
                return isinstance(ns, str) and bool(ns) and namespace(ns)

            tests.append(namespace_test)
        if paths:
            path = _glob_matcher(paths)

            def path_test(e: Event) -> bool:
                for name in PATH_ARGS.get(e.name, DEFAULT_PATH_ARGS):
                    value = e.arg(name)
                    if isinstance(value, str) and path(value):
                        return True
                return False

            tests.append(path_test)
        if ancestors:
            anc = _glob_matcher([a[:COMM_LEN] for a in ancestors])

            def ancestor_test(e: Event) -> bool:
                proc = e.process  # findings only: the table is consulted here, not per event
                return proc is not None and any(anc(p.comm) for p in proc.ancestors())

            tests.append(ancestor_test)
        if cmdlines:
            cmd = _glob_matcher(cmdlines)

            def cmdline_test(e: Event) -> bool:
                argv = e.arg("argv") if e.name == "sched_process_exec" else None
                if isinstance(argv, list):
                    line = " ".join([e.process_name, *map(str, argv[1:])])
                else:
                    proc = e.process
                    line = proc.cmdline if proc is not None else None
                return line is not None and cmd(line)

            tests.append(cmdline_test)
        if not tests:
            raise ValueError("an allowlist entry needs at least one of " + ", ".join(CRITERIA))
        return cls(tuple(executables), names, tuple(uids), tuple(unknown), tuple(containers),
                   tuple(images), tuple(paths), tuple(ancestors), tuple(cmdlines), reason,
                   where, tuple(tests), tuple(pod_namespaces))

    def matches(self, event: Event) -> bool:
        return all(test(event) for test in self._tests)

    def describe(self) -> str:
        parts = []
        for label, values in (("executable", self.executables),
                              ("process_name", self.process_names),
                              ("user", tuple(str(u) for u in self.uids)
                               + tuple(f"{u} (no such user here)" for u in self.unknown_users)),
                              ("container", self.containers), ("image", self.images),
                              ("pod_namespace", self.pod_namespaces), ("path", self.paths),
                              ("ancestor", self.ancestors), ("cmdline_glob", self.cmdlines)):
            if values:
                parts.append(f"{label} {' | '.join(values)}")
        text = ", ".join(parts)
        if self.reason:
            text += f" — {self.reason}"
        return f"{text} [{self.where}]" if self.where else text


class Allowlist:
    """Entries in force: ``global`` ones for every detector, others per detector (keyed by
    signature ID or event name, lower-cased)."""

    def __init__(self, global_entries: Sequence[AllowEntry] = (),
                 per_detector: dict[str, Sequence[AllowEntry]] | None = None,
                 sources: Sequence[str] = ()) -> None:
        self.global_entries = tuple(global_entries)
        self.per_detector = {k.lower(): tuple(v) for k, v in (per_detector or {}).items()}
        self.sources = tuple(sources)
        self._cache: dict[tuple[str, str], tuple[AllowEntry, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.global_entries) or any(self.per_detector.values())

    def entries_for(self, detector_id: str, event_name: str = "") -> tuple[AllowEntry, ...]:
        key = (detector_id, event_name)
        found = self._cache.get(key)
        if found is None:
            found = self.global_entries
            for name in dict.fromkeys((detector_id.lower(), event_name.lower())):
                found += self.per_detector.get(name, ())
            self._cache[key] = found
        return found

    def exempting(self, finding: Finding) -> AllowEntry | None:
        """The entry that exempts ``finding``, or None when it must be reported."""
        md = finding.metadata
        event = finding.event
        for entry in self.entries_for(md.id, getattr(md, "event_name", "")):
            if entry.matches(event):
                return entry
        return None

    def describe(self, detector_id: str, event_name: str = "") -> tuple[str, ...]:
        """One line per entry in force for a detector, for ``signatures show`` and the docs."""
        lines = [f"global: {e.describe()}" for e in self.global_entries]
        for name in dict.fromkeys((detector_id.lower(), event_name.lower())):
            lines += [e.describe() for e in self.per_detector.get(name, ())]
        return tuple(lines) or ("none: every match is reported",)

    def check_names(self, known: Iterable[str]) -> None:
        """Fail on per-detector keys that name no loaded detector (typos are errors)."""
        known_lower = {k.lower() for k in known}
        for key, entries in self.per_detector.items():
            if key not in known_lower and entries:
                raise AllowlistError(
                    f"{entries[0].where or 'allowlist'}: signatures.{key}: no signature or "
                    f"rule has this ID or event name")

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, paths: Sequence[str | Path] = (), use_defaults: bool = True) -> Allowlist:
        """The defaults (unless dropped) merged with the user files, in order."""
        parsed = [parse_text(read_file(p), str(p)) for p in paths]
        if any(p.use_defaults is False for p in parsed):
            use_defaults = False
        parts = ([parse_text(default_text(), DEFAULTS_SOURCE)] if use_defaults else []) + parsed
        merged: dict[str, list[AllowEntry]] = {}
        global_entries: list[AllowEntry] = []
        for p in parts:
            global_entries += p.global_entries
            for key, entries in p.per_detector.items():
                merged.setdefault(key, []).extend(entries)
        return cls(global_entries, merged, [p.source for p in parts])


@dataclass
class ParsedFile:
    source: str
    use_defaults: bool | None = None
    global_entries: list[AllowEntry] = field(default_factory=list)
    per_detector: dict[str, list[AllowEntry]] = field(default_factory=dict)


def default_text() -> str:
    return resources.files("memwarden").joinpath("data/allowlist.yaml").read_text()


def read_file(path: str | Path) -> str:
    try:
        return read_yaml_text(path)
    except FileNotFoundError as exc:
        raise AllowlistError(f"{path}: cannot read: {exc.strerror}") from None
    except YamlLocationError as exc:
        raise AllowlistError(str(exc)) from None


def parse_text(text: str, source: str) -> ParsedFile:
    """Validate and compile one allowlist document; errors name ``source:line: key`` (and
    ``source:line:col`` for what is not YAML, control characters included)."""
    try:
        check_printable(text, source)  # before the loader: its constructor would raise
        loader = yaml.SafeLoader(text)
    except (YamlLocationError, yaml.YAMLError) as exc:
        loc = locate(exc, text, source)
        raise AllowlistError(f"{loc.where}: invalid YAML: {loc.problem}") from None
    try:
        root = loader.get_single_node()
        return _Walker(loader, source).document(root)
    except (yaml.YAMLError, RecursionError) as exc:
        loc = locate(exc, text, source)
        raise AllowlistError(f"{loc.where}: invalid YAML: {loc.problem}") from None
    finally:
        loader.dispose()


class _Walker:
    """Walks the composed YAML nodes, so that every error can name its line."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source

    def fail(self, node: yaml.Node, key: str, what: str) -> AllowlistError:
        return AllowlistError(f"{self.source}:{node.start_mark.line + 1}: {key}: {what}")

    def value(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError) as exc:  # 2001-13-01: a bad timestamp
            m = node.start_mark
            raise AllowlistError(f"{self.source}:{m.line + 1}:{m.column + 1}: invalid YAML: "
                                 f"cannot read the value: {exc}") from None

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, "expected a mapping")
        items = []
        for k, v in node.value:
            name = self.value(k)
            if not isinstance(name, str):
                raise self.fail(k, key, f"keys must be strings, got {name!r}")
            items.append((name, v))
        return items

    def document(self, root: yaml.Node | None) -> ParsedFile:
        out = ParsedFile(self.source)
        if root is None:
            return out
        for name, node in self.mapping(root, "(top level)"):
            if name == "use_defaults":
                flag = self.value(node)
                if not isinstance(flag, bool):
                    raise self.fail(node, name, f"expected true or false, got {flag!r}")
                out.use_defaults = flag
            elif name == "global":
                out.global_entries = self.entries(node, "global")
            elif name == "signatures":
                if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
                    continue
                for sig, entries in self.mapping(node, "signatures"):
                    out.per_detector.setdefault(sig.lower(), []).extend(
                        self.entries(entries, f"signatures.{sig}"))
            else:
                raise self.fail(node, name, "unknown key (expected one of "
                                            f"{', '.join(TOP_KEYS)})")
        return out

    def entries(self, node: yaml.Node, key: str) -> list[AllowEntry]:
        if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, "expected a list of entries")
        return [self.entry(item, f"{key}[{i}]") for i, item in enumerate(node.value)]

    def entry(self, node: yaml.Node, key: str) -> AllowEntry:
        fields: dict[str, Any] = {}
        for name, value in self.mapping(node, key):
            if name not in ENTRY_KEYS:
                raise self.fail(value, f"{key}.{name}",
                                f"unknown key (expected one of {', '.join(ENTRY_KEYS)})")
            fields[name] = (value, self.value(value))
        where = f"{self.source}:{node.start_mark.line + 1}"
        kwargs: dict[str, Any] = {}
        for name, (vnode, raw) in fields.items():
            k = f"{key}.{name}"
            if name == "reason":
                if not isinstance(raw, str):
                    raise self.fail(vnode, k, f"expected a string, got {raw!r}")
                continue
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise self.fail(vnode, k, "expected a value or a non-empty list")
            for v in values:
                if name == "user":
                    ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or (
                        isinstance(v, str) and v.strip() != "")
                    if not ok:
                        raise self.fail(vnode, k, f"expected a uid (integer) or a user name, "
                                                  f"got {v!r}")
                elif not isinstance(v, str) or not v:
                    raise self.fail(vnode, k, f"expected a non-empty string, got {v!r}")
                elif name == "container" and not _HEX.match(v):
                    raise self.fail(vnode, k, f"expected a container id prefix (lower-case "
                                              f"hex), got {v!r}")
                elif name == "executable" and not v.startswith(("/", "*")):
                    raise self.fail(vnode, k, f"expected an absolute path or a glob, got {v!r}")
            kwargs[{"executable": "executables", "process_name": "process_names",
                    "user": "users", "container": "containers", "image": "images",
                    "pod_namespace": "pod_namespaces", "path": "paths",
                    "ancestor": "ancestors", "cmdline_glob": "cmdlines"}[name]] = values
        try:
            reason = fields["reason"][1] if "reason" in fields else ""
            return AllowEntry.build(where, reason, **kwargs)
        except ValueError as exc:
            raise self.fail(node, key, str(exc)) from None


def detector_names(detectors: Iterable[Any]) -> set[str]:
    """The IDs and event names allowlist keys may use for these detectors."""
    names: set[str] = set()
    for d in detectors:
        names.add(d.detector_id)
        names.update(n for n in (d.metadata.id, d.metadata.event_name) if n)
    return names


def load_for(detectors: Iterable[Any], paths: Sequence[str | Path] = ()) -> Allowlist:
    """The allowlist in force for an engine's detectors: defaults plus ``paths``, with every
    per-detector key checked against the detectors (and the built-in signatures, so that a
    disabled signature's entries are not an error)."""
    from memwarden.signatures import BUILTIN_SIGNATURES

    allowlist = Allowlist.load(paths)
    known = detector_names(detectors)
    for cls in BUILTIN_SIGNATURES:
        known.update((cls.metadata.id, cls.metadata.event_name))
    allowlist.check_names(known)
    return allowlist
