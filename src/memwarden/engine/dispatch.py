"""The engine: detectors indexed by event name, dispatch, and the counters of everything.

Hot path: ``process_dict`` is called once per input record. An event that no detector selects
costs one dict lookup (plus the per-name counter); only selected events become :class:`Event`
objects.
"""

from __future__ import annotations

import logging
import posixpath
import sys
import threading
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from memwarden.core.detector import Detector
from memwarden.core.event import Event, EventFormatError, Finding
from memwarden.core.pathset import PathSet
from memwarden.core.process import Enricher
from memwarden.core.requirements import ArgFilter, PathFilter, TextFilter
from memwarden.engine.allowlist import Allowlist
from memwarden.engine.enforce import ACTION_KEY, EnforcePolicy, mark_findings
from memwarden.engine.origins import scope_check
from memwarden.engine.prefilter import Prefilter
from memwarden.events.catalogue import CATALOGUE, DEFAULT_PATH_ARGS, IDENTITY_ARGS, PATH_ARGS
from memwarden.events.tracee_json import event_from_dict, v1_value

log = logging.getLogger("memwarden.engine")

FindingSink = Callable[[Finding], None]


@dataclass
class Stats:
    """Counters shared by ``--stats`` and (later) the metrics endpoint."""

    events_by_name: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    events_dispatched: int = 0
    events_path_filtered: int = 0
    #: replayed lines dropped from their raw bytes, before parsing (engine/prefilter.py):
    #: in ``events_in``, not in ``events_by_name`` (their name was never decoded)
    events_prefiltered: int = 0
    findings_by_detector: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    findings_allowlisted: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    parse_errors: int = 0
    detector_errors: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    kernel_drops: int = 0
    #: --enforce, from the kernel's counters: signature -> {killed, would_kill, allowlisted,
    #: spared, failed}
    enforcement: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def events_in(self) -> int:
        return sum(self.events_by_name.values()) + self.events_prefiltered

    @property
    def findings(self) -> int:
        return sum(self.findings_by_detector.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_in": self.events_in,
            "events_dispatched": self.events_dispatched,
            "events_path_filtered": self.events_path_filtered,
            "events_prefiltered": self.events_prefiltered,
            "events_by_name": dict(sorted(self.events_by_name.items())),
            "findings": self.findings,
            "findings_by_detector": dict(sorted(self.findings_by_detector.items())),
            "findings_allowlisted": dict(sorted(self.findings_allowlisted.items())),
            "parse_errors": self.parse_errors,
            "detector_errors": dict(sorted(self.detector_errors.items())),
            "kernel_drops": self.kernel_drops,
            **({"enforcement": {f"{sig} {what}": n for sig, counts in
                                sorted(self.enforcement.items()) for what, n in counts.items()}}
               if self.enforcement else {}),
        }


class _Bound:
    """A detector bound to one selector: the origin check and the error accounting."""

    __slots__ = ("detector", "detector_id", "origin", "scope", "on_event")

    def __init__(self, detector: Detector, origin: str) -> None:
        self.detector = detector
        self.detector_id = detector.detector_id
        self.origin = origin
        self.scope = scope_check(origin)  # image:/namespace: origins
        self.on_event = detector.on_event


class _BatchBound:
    """Detectors of one class evaluated together on one event (their ``batch``)."""

    __slots__ = ("detector", "detector_id", "origin", "scope", "on_event")

    def __init__(self, detectors: list[Detector], on_event: Callable[[Event],
                                                                  Sequence[Finding]]) -> None:
        self.detector = detectors
        self.detector_id = f"{len(detectors)} {type(detectors[0]).__name__}s"
        self.origin = "any"
        self.scope = None
        self.on_event = on_event


def _batched(event_name: str, bound: list[_Bound],
             on_error: Callable[[str, Event, Exception], None]) -> list[_Bound]:
    """``bound`` with the detectors that offer a ``batch`` evaluator (per class, origin any)
    replaced by one bound each, where the first of them was."""
    groups: dict[type, list[Detector]] = {}
    for b in bound:
        if b.origin == "any" and getattr(type(b.detector), "batch", None) is not None:
            groups.setdefault(type(b.detector), []).append(b.detector)
    groups = {cls: ds for cls, ds in groups.items() if len(ds) > 1}
    if not groups:
        return bound
    out: list[_Bound] = []
    for b in bound:
        cls = type(b.detector)
        if b.origin != "any" or cls not in groups:
            out.append(b)
        elif groups[cls]:
            ds = groups[cls]
            out.append(_BatchBound(ds, cls.batch(event_name, ds, on_error)))  # type: ignore
            groups[cls] = []
    return out


_Route = tuple[list[_Bound], "Callable[[dict[str, Any]], bool] | None",
               "Callable[[Event], None] | None"]


def _no_process(_event: Event) -> None:
    """The process of an event without a process table."""
    return None


class Engine:
    """Registers detectors, indexes them by event name, dispatches events, counts."""

    def __init__(self, detectors: Iterable[Detector] = (), sink: FindingSink | None = None,
                 err=None, allowlist: Allowlist | None = None,
                 stats: Stats | None = None,
                 enricher: Enricher | None = None,
                 enrich_finding: Callable[[Finding], None] | None = None,
                 complete_event: Callable[[Event], None] | None = None) -> None:
        # ``stats``: counters shared with other engines (one per source host in a consumer)
        self.stats = stats if stats is not None else Stats()
        #: the process table: fed the lifecycle events it names, and consulted lazily by the
        #: events dispatched (``Event.process``); None: events have no process context
        self.enricher = enricher
        #: a source that turns the detectors' requirements into filters elsewhere (the eBPF
        #: sensor: BPF maps) sets ``pushes_filters`` and sets ``filters_pushed`` once the
        #: current detector set is in force there; a reload waits on it before it says so
        self.pushes_filters = False
        self.filters_pushed = threading.Event()
        self.filters_pushed.set()
        self._resolve = enricher.resolve if enricher is not None else None
        self._feed_dict = enricher.observe_dict if enricher is not None else None
        self.sink = sink
        #: exemptions applied to findings (never to events): swap the attribute to reload
        self.allowlist = allowlist
        #: --enforce: what the kernel acts on (swapped on reload, like the allowlist); the
        #: sensor writes it into the probe, findings say what was done
        self.enforce: EnforcePolicy | None = None
        #: fills a finding's event before the allowlist sees it (container metadata): called
        #: for findings only, so events that raise nothing never pay for it
        self.enrich_finding = enrich_finding
        #: fills a dispatched event's container metadata when a detector first reads it
        #: (:meth:`Event.completed`): conditions and outputs on container.* see the runtime's
        #: answer; events no detector asks about never pay for it
        self._complete = complete_event
        self._counts = self.stats.events_by_name
        self._err = err if err is not None else sys.stderr
        self._reported: set[str] = set()
        self.replace_detectors(detectors)

    # -- registration -----------------------------------------------------------------------
    def replace_detectors(self, detectors: Iterable[Detector]) -> None:
        """Install a whole detector set (construction, and configuration reload from any
        thread while events keep flowing); the counters stay. The new index and gates are
        built aside, then put in place with one assignment of the route table. An event being
        dispatched finishes with the set it started with; none is lost. Detector state
        (sequences) starts afresh.
        """
        if getattr(self, "pushes_filters", False):
            self.filters_pushed.clear()  # set again by the source once this set is in force
        installed = list(detectors)
        index: dict[str, list[_Bound]] = {}
        for d in installed:
            for sel in d.requirements.selectors:
                index.setdefault(sel.event_name, []).append(_Bound(d, sel.origin))
        gates, pathsets = _compile_gates(index)
        raw_index = index
        index = {name: _batched(name, bound, self._detector_failed)
                 for name, bound in index.items()}
        # event name -> (bound detectors, path gate or None, enricher feed or None): the one
        # lookup of the hot path, put in place with one assignment (dispatch sees the old set
        # or the new). The enricher's events get a route even when no detector selects them.
        feed = self.enricher.observe if self.enricher is not None else None
        feeds = self.enricher.feeds if self.enricher is not None else frozenset()
        self._routes: dict[str, _Route] = {
            name: (index.get(name, []), gates.get(name), feed if name in feeds else None)
            for name in {*index, *feeds}}
        self._index = index
        self.detectors: list[Detector] = installed
        self._pathsets = pathsets
        # what a replayed line must be for a detector or the enricher to want it, from its
        # bytes: the routes without a gate are wanted, those gated by paths alone have needles
        texts = _text_gates(raw_index)
        gated: dict[str, list[PathFilter | TextFilter]] = {
            **{name: [f for b in raw_index[name] for f in b.detector.requirements.paths_for(name)]
               for name in pathsets}, **texts}
        self.prefilter = Prefilter(
            [name for name, route in self._routes.items()
             if route[2] is not None or (name not in pathsets and name not in texts)],
            gated, flag_conditions=_flag_conditions(raw_index, gated),
            identities={name: ids for name, filters in gated.items()
                        if (ids := identities_wanted(name, filters))},
            arg_conditions=_arg_conditions(raw_index, feeds))

    def path_filters_for(self, event_name: str) -> PathSet | None:
        """The path filter set for an event name, or None if every path is wanted."""
        return self._pathsets.get(event_name)

    @property
    def selected_event_names(self) -> frozenset[str]:
        """The events a source must deliver: the detectors' and the enricher's."""
        if self.enricher is not None:
            return frozenset(self._index) | self.enricher.feeds
        return frozenset(self._index)

    def wants(self, event_name: str) -> bool:
        """Whether a source should build this event: a detector or the enricher needs it."""
        return event_name in self._routes

    # -- dispatch ---------------------------------------------------------------------------
    def process_dict(self, d: Any) -> Sequence[Finding]:
        """Count and dispatch one decoded JSON record (either Tracee shape).

        Raises :class:`EventFormatError` for a record that is not an event; the caller reports
        it with its location and counts it (:meth:`count_parse_error`).
        """
        try:
            name = d["eventName"]
        except (KeyError, TypeError):
            name = _v1_name(d)
        if type(name) is not str:
            raise EventFormatError(f"event name must be a string, got {name!r}")
        self._counts[name] += 1
        route = self._routes.get(name)
        if route is None:
            return ()
        bound, gate, feed = route
        if feed is not None:
            return self._feed_then_dispatch(d, route)
        if gate is not None and not gate(d):
            self.stats.events_path_filtered += 1
            return ()
        return self._dispatch(event_from_dict(d), bound)

    def process_json_lines(self, lines: Iterable[bytes],
                           on_bad: Callable[[int, bytes, Exception], None],
                           lineno: int = 0) -> int:
        """Decode, count and dispatch JSON lines: :meth:`process_dict` for a whole stream.

        The replay hot loop lives here, with process_dict's steps written out inline, because
        one Python call less per line is worth ~4% of replay throughput. A bad line is handed
        to ``on_bad(lineno, line, exception)`` (a ``JSONDecodeError`` or an
        :class:`EventFormatError`) and the stream goes on. Returns the last line number.
        """
        return self.process_numbered_lines(enumerate(lines, lineno + 1), on_bad, lineno)

    def process_numbered_lines(self, lines: Iterable[tuple[int, bytes]],
                               on_bad: Callable[[int, bytes, Exception], None],
                               lineno: int = 0) -> int:
        """:meth:`process_json_lines` for (line number, line) pairs: the lines the
        prefilter kept (:attr:`prefilter`, which a reload swaps with the routes), the others
        counted by :meth:`count_prefiltered`. Returns the last line number (``lineno`` when
        there are none)."""
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        counts = self._counts
        stats = self.stats
        from_dict = event_from_dict
        dispatch = self._dispatch
        feed_dict = self._feed_dict
        for lineno, line in lines:
            try:
                d = loads(line)
            except decode_error as exc:
                on_bad(lineno, line, exc)
                continue
            try:
                try:
                    name = d["eventName"]
                except (KeyError, TypeError):
                    name = _v1_name(d)
                if type(name) is not str:
                    raise EventFormatError(f"event name must be a string, got {name!r}")
                counts[name] += 1
                route = self._routes.get(name)  # re-read per line: a reload swaps the table
                if route is None:
                    continue
                if route[2] is not None:  # a process lifecycle event: the table first
                    if route[0]:
                        self._feed_then_dispatch(d, route)
                    else:  # the table's alone (no Event built)
                        feed_dict(d)
                    continue
                gate = route[1]
                if gate is not None and not gate(d):
                    stats.events_path_filtered += 1
                    continue
                dispatch(from_dict(d), route[0])
            except EventFormatError as exc:
                on_bad(lineno, line, exc)
        return lineno

    def process_event(self, event: Event) -> Sequence[Finding]:
        """Count and dispatch an event a source built itself (eBPF, audit). An event a
        detector finds malformed (``EventFormatError``) is counted as a parse error and
        reported once per event name; its findings from the other detectors are kept."""
        name = event.data["eventName"]
        self._counts[name] += 1
        route = self._routes.get(name)
        if route is None:
            return ()
        try:
            if route[2] is not None:
                route[2](event)
                if not route[0]:
                    return ()
            return self._dispatch(event, route[0])
        except EventFormatError as exc:
            self.count_parse_error()
            if "malformed:" + name not in self._reported:
                self._reported.add("malformed:" + name)
                print(f"memwarden: a malformed {name} event: {exc} (further ones are only "
                      "counted)", file=self._err)
            return ()

    def _feed_then_dispatch(self, d: dict[str, Any], route: _Route) -> Sequence[Finding]:
        """A recorded lifecycle event: the enricher sees every one; the detectors those their
        gate lets through (the others are fed from the raw record, as unselected ones are)."""
        bound, gate, feed = route
        if not bound:
            self._feed_dict(d)  # type: ignore[union-attr]
            return ()
        if gate is not None and not gate(d):
            # no detector wants it: fed as an unselected one is (no event built, the most
            # common case of sched_process_exit, gated by the core-dump signatures)
            self._feed_dict(d)  # type: ignore[union-attr]
            self.stats.events_path_filtered += 1
            return ()
        event = event_from_dict(d)
        feed(event)  # type: ignore[misc]
        return self._dispatch(event, bound)

    def _dispatch(self, event: Event, bound: list[_Bound]) -> Sequence[Finding]:
        """The detectors of one event; their findings go to the sink. A detector raising
        :class:`EventFormatError` found the *event* malformed (an argument it needs is
        missing or not parseable): the other detectors still run and their findings are
        kept, then the error is raised for the caller to locate and count as a parse error."""
        self.stats.events_dispatched += 1
        # without a process table, the event's process is None, found once (not two caught
        # AttributeErrors each time a rule's field asks)
        event._resolve = self._resolve if self._resolve is not None else _no_process
        if self._complete is not None:  # only a container's event has anything to complete
            d = event.data
            event._complete = (self._complete if d.get("containerId") or d.get("container")
                               else None)
        found: list[Finding] = []
        origin = None
        malformed: EventFormatError | None = None
        for b in bound:
            if b.origin != "any":
                if b.scope is not None:
                    if not b.scope(event):
                        continue
                else:
                    if origin is None:
                        origin = event.origin
                    if b.origin != origin:
                        continue
            try:
                result = b.on_event(event)
            except EventFormatError as exc:
                malformed = malformed or exc
                found.extend(getattr(exc, "findings", ()))  # a batch's, made before it
                continue
            except Exception as exc:  # one failing detector never stops the others
                self._detector_failed(b.detector_id, event, exc)
                continue
            if result:
                found.extend(result)
        if found and self.enrich_finding is not None:
            for f in found:
                try:
                    self.enrich_finding(f)
                except Exception as exc:  # enrichment never costs a finding
                    self._detector_failed("enrich", event, exc)
        if found and self.allowlist:
            found = self._drop_allowlisted(found)
        if found and (self.enforce or ACTION_KEY in event.data):
            mark_findings(found, event.data.get(ACTION_KEY), self.enforce)
        if found:
            by_det = self.stats.findings_by_detector
            sink = self.sink
            for f in found:
                by_det[f.metadata.id] += 1
                if sink is not None:
                    sink(f)
        if malformed is not None:
            raise malformed
        return found

    def _drop_allowlisted(self, found: list[Finding]) -> list[Finding]:
        allowlist = self.allowlist
        counts = self.stats.findings_allowlisted
        kept = []
        for f in found:
            if allowlist.exempting(f) is None:  # type: ignore[union-attr]
                kept.append(f)
            else:
                counts[f.metadata.id] += 1
        return kept

    def _detector_failed(self, detector_id: str, event: Event, exc: Exception) -> None:
        self.stats.detector_errors[detector_id] += 1
        if detector_id in self._reported:
            return
        self._reported.add(detector_id)
        tb = "".join(traceback.format_exception(exc))
        print(f"memwarden: detector {detector_id} failed on a {event.name} event "
              f"(further failures of it are only counted):\n{tb}", end="", file=self._err)

    def count_prefiltered(self, n: int) -> None:
        """``n`` replayed lines the prefilter skipped (in ``events_in``)."""
        self.stats.events_prefiltered += n

    def count_parse_error(self) -> None:
        self.stats.parse_errors += 1


def _flag_conditions(index: dict[str, list[_Bound]],
                     gated: dict[str, list[PathFilter | TextFilter]]
                     ) -> dict[str, dict[PathFilter | TextFilter, set[tuple[Any, ...]]]]:
    """Per gated event name and filter, the argument filters on ``flags`` of each detector
    that declared the filter (one tuple per detector, all of which hold when it can want the
    event; empty: it has none): the prefilter tests them on a line's raw flags."""
    found: dict[str, dict[PathFilter | TextFilter, set[tuple[Any, ...]]]] = {}
    for name, filters in gated.items():
        wanted = set(filters)
        per_filter = found[name] = {}
        for b in index.get(name, ()):
            req = b.detector.requirements
            accepts = tuple(f.accept for f in req.args_for(name) if f.args == ("flags",))
            for f in (*req.paths_for(name), *req.texts_for(name)):
                if f in wanted:
                    per_filter.setdefault(f, set()).add(accepts)
    return found


def _arg_conditions(index: dict[str, list[_Bound]], feeds: frozenset[str]
                    ) -> dict[str, list[tuple[ArgFilter, ...]]]:
    """Per event name that no enricher is fed by and whose every detector declared argument
    filters and neither paths nor text filters (the signal signatures on ``kill``, ptrace's
    requests): each detector's filters, which the prefilter tests on a line's raw arguments
    as the engine's gate (:func:`_arg_gate_of`) tests them on its parsed ones."""
    found: dict[str, list[tuple[ArgFilter, ...]]] = {}
    for name, bound in index.items():
        if name in feeds:
            continue
        per_detector = []
        for b in bound:
            req = b.detector.requirements
            args = req.args_for(name)
            if not args or req.paths_for(name) or req.texts_for(name):
                break
            per_detector.append(tuple(args))
        else:
            found[name] = per_detector
    return found


def _text_gates(index: dict[str, list[_Bound]]
                ) -> dict[str, list[PathFilter | TextFilter]]:
    """Per event name not gated by paths alone, whose every detector declared path filters or
    text filters for it (``Requirements.text_filters``: what a Falco rule's condition implies
    of the record's strings), all of them: replay's prefilter needles for that name."""
    found: dict[str, list[PathFilter | TextFilter]] = {}
    for name, bound in index.items():
        filters: list[PathFilter | TextFilter] = []
        for b in bound:
            req = b.detector.requirements
            own = req.paths_for(name) or [f for f in req.texts_for(name) if f.group == 0]
            if not own:
                break
            filters.extend(own)
        else:
            if any(b.detector.requirements.texts_for(name) for b in bound):
                found[name] = filters
    return found


def identities_wanted(name: str, filters: Iterable[PathFilter | TextFilter]) -> tuple[str, ...]:
    """The identity arguments of event ``name`` (``IDENTITY_ARGS``) whose path one of
    ``filters`` accepts: an event with such an argument 1 is wanted whatever its path says."""
    declared = IDENTITY_ARGS.get(name, ())
    if not declared:
        return ()
    paths = PathSet([f for f in filters if isinstance(f, PathFilter)])
    return tuple(arg for arg, path in declared if paths.matches(path))


def _with_identities(gate: Callable[[dict[str, Any]], bool], name: str,
                     identities: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    """``gate``, which also lets through an event one of whose ``identities`` is 1 (a core
    read through a hard link: its path is elsewhere, what it is is the store's). In the
    legacy shape an identity argument is looked for where the eBPF sensor writes it (its
    catalogue position, the last one) and at the end of the list, so that an event without
    one (Tracee's, audit's) costs two index checks, not a search; v1beta1 records are
    searched."""
    names = CATALOGUE[name].arg_names
    places = tuple(sorted({names.index(a) for a in identities if a in names}))

    def gate_or_identity(d: dict[str, Any]) -> bool:
        if gate(d):
            return True
        args = d.get("args")
        if type(args) is not list:
            return any(_raw_arg(d, a) == 1 for a in identities)
        for i in (*places, -1):
            if -len(args) <= i < len(args):
                a = args[i]
                if type(a) is dict and a.get("name") in identities and a.get("value") == 1:
                    return True
        return False
    return gate_or_identity


def _compile_gates(index: dict[str, list[_Bound]]
                   ) -> tuple[dict[str, Callable[[dict[str, Any]], bool]], dict[str, PathSet]]:
    """Gates for the event names whose every detector declared filters for them: the same
    path filters the sensor pushes into the kernel (and the argument filters), applied to
    recorded events before an Event object is even built. An event passes when at least one
    of its detectors could want it, by its paths or by an identity argument saying it is a
    watched path's file (:func:`identities_wanted`). Also returns, per event name gated by
    paths alone, the union of those paths (:meth:`Engine.path_filters_for`)."""
    gates = {}
    pathsets: dict[str, PathSet] = {}
    for name, bound in index.items():
        per_detector = []
        for b in bound:
            req = b.detector.requirements
            paths, args, texts = req.paths_for(name), req.args_for(name), req.texts_for(name)
            if not paths and not args and not texts:
                break
            per_detector.append((paths, args, texts))
        else:
            path_args = PATH_ARGS.get(name, DEFAULT_PATH_ARGS)
            if all(paths for paths, _, _ in per_detector):
                # every detector needs one of its paths (whatever else it tests): the paths
                # the kernel filters by and replay's needles
                pathsets[name] = PathSet([f for paths, _, _ in per_detector for f in paths])
            if all(paths and not args and not texts for paths, args, texts in per_detector):
                # the common case: one union of every detector's paths, one test
                union = [f for paths, _, _ in per_detector for f in paths]
                pathset = pathsets[name] = PathSet(union)
                gates[name] = _compile_gate(path_args, pathset)
            else:
                gates[name] = _mixed_gate(path_args, per_detector)
            identities = identities_wanted(name, [f for paths, _, _ in per_detector
                                                  for f in paths])
            if identities:
                gates[name] = _with_identities(gates[name], name, identities)
    return gates, pathsets


def _mixed_gate(path_args: tuple[str, ...],
                per_detector: list[tuple[list[PathFilter], list[ArgFilter], list[TextFilter]]]
                ) -> Callable[[dict[str, Any]], bool]:
    """The gate of detectors that declared paths, argument filters or text filters (Falco's
    rules on opens): detectors with paths and the same argument filters (``open_read``,
    ``open_write`` ...) share one union of their paths; one union of every path comes first
    (an event that matches none only has the detectors without paths left); the record's
    arguments are read once, and each argument filter's answer is computed once."""
    groups: dict[tuple[ArgFilter, ...], list[PathFilter]] = {}
    alone: list[tuple[tuple[ArgFilter, ...], list[list[tuple[str, Callable[[str], bool]]]]]] = []
    for paths, args, texts in per_detector:
        if paths:
            groups.setdefault(tuple(args), []).extend(paths)
        else:
            by_group: dict[int, list[TextFilter]] = {}
            for f in texts:
                by_group.setdefault(f.group, []).append(f)
            alone.append((tuple(args), [_text_matchers(g) for _, g in sorted(by_group.items())]))
    if not groups and all(not text_groups for _, text_groups in alone):
        return _arg_gate_of([args for args, _ in alone])
    every_path = [f for union in groups.values() for f in union]
    any_path = _compile_gate(path_args, PathSet(every_path)) if every_path else None
    path_groups = sorted(((args, _compile_gate(path_args, PathSet(union)))
                          for args, union in groups.items()), key=lambda g: len(g[0]))
    # the detectors without paths: those with text filters need their group 0 to hold, so one
    # union of every such detector's group 0 (one test per source, C-speed tuple tests) rejects
    # first what none of them can want; those without text filters are tried on every record
    texted = [(args, g) for args, g in alone if g]
    untexted = [(args, g) for args, g in alone if not g]
    first_union = _text_matchers([f for paths, _, texts in per_detector if not paths
                                  for f in texts if f.group == min(t.group for t in texts)])

    def gate(d: dict[str, Any]) -> bool:
        args = d.get("args")
        if type(args) is list and all(type(a) is dict for a in args):
            values = {a.get("name"): a.get("value") for a in args}
            legacy = "eventName" in d
        else:  # the v1beta1 shape (or a malformed one): argument by argument
            values = _LazyArgs(d)
            legacy = False
        answers: dict[int, bool] = {}

        def accepted(filters: tuple[ArgFilter, ...]) -> bool:
            for f in filters:
                ok = answers.get(id(f.accept)) if len(f.args) == 1 else None
                if ok is None:
                    ok = answers[id(f.accept)] = f.accept(*[values.get(n) for n in f.args])
                if not ok:
                    return False
            return True

        if any_path is not None and any_path(d):
            for filters, paths_ok in path_groups:
                if accepted(filters) and paths_ok(d):
                    return True
        for filters, _ in untexted:
            if accepted(filters):
                return True
        if texted and _text_match(d, values, legacy, first_union):
            for filters, text_groups in texted:
                if all(_text_match(d, values, legacy, g) for g in text_groups) and \
                        accepted(filters):
                    return True
        return False

    return gate


def _arg_gate_of(per_detector: list[tuple[ArgFilter, ...]]
                 ) -> Callable[[dict[str, Any]], bool]:
    """The gate of detectors that declared argument filters only (the signal signatures on
    ``kill`` and ``sched_process_exit``): the record's arguments read once, the detectors'
    filters tried in turn (those of several detectors alike once), no closure made per event.
    The same answer as :func:`_mixed_gate`'s for them."""
    distinct = list({tuple((f.accept, f.args) for f in filters): None
                     for filters in per_detector})

    def gate(d: dict[str, Any]) -> bool:
        args = d.get("args")
        values: Any
        if type(args) is list:
            try:
                values = {a.get("name"): a.get("value") for a in args}
            except AttributeError:  # a JSON value without .get is not an object
                values = _LazyArgs(d)
        else:  # the v1beta1 shape (or a malformed one): argument by argument
            values = _LazyArgs(d)
        get = values.get
        for filters in distinct:
            for accept, names in filters:
                if not accept(*[get(n) for n in names]):
                    break
            else:
                return True
        return False

    return gate


class _LazyArgs:
    """``get(name)``: an argument of a raw record of either shape, looked up when asked."""

    __slots__ = ("d", "found")

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.found: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        try:
            return self.found[name]
        except KeyError:
            v = self.found[name] = _raw_arg(self.d, name)
            return v


def _text_matchers(texts: list[TextFilter]) -> list[tuple[str, Callable[[str], bool]]]:
    """Per source the text filters name, one function: does a value match one of them?"""
    out = []
    for source in dict.fromkeys(s for f in texts for s in f.sources):
        mine = [f for f in texts if source in f.sources]
        exact = frozenset(f.value for f in mine if f.kind == "exact")
        prefixes = tuple(f.value for f in mine if f.kind == "prefix")
        suffixes = tuple(f.value for f in mine if f.kind == "suffix")
        contained = tuple(f.value for f in mine if f.kind == "contains")
        dirs = frozenset(f.value for f in mine if f.kind == "directory")

        def match(v: str, exact=exact, prefixes=prefixes, suffixes=suffixes,
                  contained=contained, dirs=dirs) -> bool:
            return (v in exact or (bool(prefixes) and v.startswith(prefixes))
                    or (bool(suffixes) and v.endswith(suffixes))
                    or any(c in v for c in contained)
                    or (bool(dirs) and posixpath.dirname(v) in dirs))
        out.append((source, match))
    return out


def _text_match(d: dict[str, Any], values: Any, legacy: bool,
                matchers: list[tuple[str, Callable[[str], bool]]]) -> bool:
    """Does a value the text filters name match one of them? A value that is not a string,
    and processName in the v1beta1 shape, let the record through: its detectors judge it."""
    for source, match in matchers:
        if source.startswith("args."):
            v = values.get(source[5:])
        elif legacy:
            v = d.get(source)
        else:
            return True
        if v is None:
            continue
        if type(v) is not str or match(v):
            return True
    return False


def _compile_gate(arg_names: tuple[str, ...], paths: PathSet
                  ) -> Callable[[dict[str, Any]], bool]:
    """A closure: does any path argument of a raw record (either Tracee shape) pass the
    filters? A record whose path cannot be found is let through: its detectors judge it."""
    matches = paths.compile()

    def slow(d: dict[str, Any]) -> bool:
        args = d.get("args")
        key = "value"
        if args is None:
            args, key = d.get("data"), "str"
        if type(args) is not list:
            return True
        found = False
        for a in args:
            if type(a) is dict and a.get("name") in arg_names:
                value = a.get(key, a.get("value"))
                if type(value) is not str or matches(value):
                    return True
                found = True
        return not found

    if len(arg_names) != 1:
        return slow
    # The common case (legacy shape, the path argument first, as every source writes it) is
    # one generated function with the path test inlined: no further call per event.
    namespace = {"slow": slow, "only": arg_names[0], **paths.test_constants()}
    source = (
        "def fast(d):\n"
        "    args = d.get('args')\n"
        "    if type(args) is list and args:\n"
        "        a = args[0]\n"
        "        if type(a) is dict and a.get('name') == only:\n"
        "            path = a.get('value')\n"
        "            if type(path) is str:\n"
        f"                return {paths.test_expression('path')}\n"
        "    return slow(d)\n"
    )
    exec(compile(source, "<memwarden path gate>", "exec"), namespace)
    return namespace["fast"]


def _raw_arg(d: dict[str, Any], name: str) -> Any:
    """The value of argument ``name`` in a raw record of either shape (None when absent)."""
    args = d.get("args")
    if type(args) is list:
        for a in args:
            if type(a) is dict and a.get("name") == name:
                return a.get("value")
        return None
    data = d.get("data")
    if type(data) is list:
        for entry in data:
            if type(entry) is dict and entry.get("name") == name:
                try:
                    return v1_value(entry)[1]
                except (TypeError, ValueError):
                    return None
    return None


def _arg_gate(f: ArgFilter) -> Callable[[dict[str, Any]], bool]:
    accept, names = f.accept, f.args

    def gate(d: dict[str, Any]) -> bool:
        return accept(*[_raw_arg(d, n) for n in names])

    return gate


def _all_gate(gates: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    if len(gates) == 1:
        return gates[0]
    return lambda d: all(g(d) for g in gates)


def _any_gate(gates: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    if len(gates) == 1:
        return gates[0]
    return lambda d: any(g(d) for g in gates)


def _v1_name(d: Any) -> Any:
    if type(d) is not dict:
        raise EventFormatError(f"expected a JSON object, got {type(d).__name__}")
    if "name" not in d:
        raise EventFormatError(
            "neither a Tracee trace.Event ('eventName') nor a v1beta1 event ('name')")
    return d["name"]
