"""Reading Falco rules files: ``list``, ``macro`` and ``rule`` items, several files in order,
later items redefining, appending to or overriding earlier ones, as Falco's rule loader does.

- A ``list``/``macro``/``rule`` of an existing name replaces it (keeping its place in the order).
- ``append: true`` (deprecated in Falco, still honoured) or ``override: {KEY: append}`` adds:
  list items, macro and rule condition text (joined by a blank), rule output/desc text,
  tags and exceptions (values of an existing exception, or new exceptions).
- ``override: {KEY: replace}`` replaces rule keys (condition, output, desc, priority, tags,
  exceptions, enabled, warn_evttypes, skip-if-unknown-filter).
- a rule item with only ``enabled`` (no condition/output/desc/priority) switches an existing
  rule on or off.
- ``required_engine_version`` above memwarden's engine version is an error;
  ``required_plugin_versions`` is recorded (memwarden runs no plugins: rules of plugin sources
  are inactive).
- unknown top-level items and unknown keys are warnings, as in Falco.

Conditions are parsed later (:mod:`memwarden.rules.falco.compiler`), so the order of definitions
does not matter for rules; a macro may only use macros defined before it (Falco's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memwarden.core.located_yaml import YamlLocationError, check_printable, locate
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where
from memwarden.rules.falco.source import CondText, Locator, compose_documents, line_col, to_python

#: the Falco rules engine version whose rules language memwarden implements
#: the Falco engine version whose rules language memwarden implements (Falco 0.44's): string
#: operator modifiers (oneof/anyof/allof, also in exception comps), transformers in exception
#: fields and values, the rule keys capture/capture_duration, the evt.dir and evt.latency
#: deprecation warnings, and the container plugin's fields built in.
ENGINE_VERSION = (0, 62, 0)

PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational",
              "debug")
_PRIORITY_ALIASES = {"info": "informational"}

_RX_IDENT = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RX_BARE = re.compile(r"[^()\"'\s=,]+")
_RX_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")

_LIST_KEYS = frozenset({"list", "items", "append", "override"})
_MACRO_KEYS = frozenset({"macro", "condition", "append", "override"})
_RULE_KEYS = frozenset({"rule", "condition", "desc", "output", "priority", "tags", "enabled",
                        "source", "exceptions", "append", "override", "warn_evttypes",
                        "skip-if-unknown-filter", "capture", "capture_duration"})
_RULE_APPENDABLE = frozenset({"condition", "output", "desc", "tags", "exceptions"})
_RULE_REPLACEABLE = frozenset({"condition", "output", "desc", "priority", "tags", "exceptions",
                               "enabled", "warn_evttypes", "skip-if-unknown-filter",
                               "capture", "capture_duration"})


@dataclass
class ExceptionDef:
    name: str
    fields: str | list[str] | None
    comps: str | list[str] | None
    values: list[Any]
    where: Where


@dataclass
class ListDef:
    name: str
    items: list[str]
    where: Where
    index: int
    visibility: int


@dataclass
class MacroDef:
    name: str
    cond: CondText
    where: Where
    index: int
    visibility: int


@dataclass
class RuleDef:
    name: str
    cond: CondText
    output: str
    output_where: Where
    desc: str
    priority: str
    source: str
    enabled: bool
    tags: list[str]
    exceptions: list[ExceptionDef]
    warn_evttypes: bool
    skip_if_unknown_filter: bool
    where: Where
    index: int
    visibility: int
    #: Falco's capture keys (a capture file per alert; memwarden records them, writes none)
    capture: bool = False
    capture_duration: int = 0


@dataclass
class PluginRequirement:
    alternatives: list[tuple[str, str]]  # (plugin name, version)
    where: Where

    @property
    def satisfied_by(self) -> str | None:
        """What in memwarden stands in for the plugin (None: nothing, its rules stay off)."""
        if any(name == "container" for name, _ in self.alternatives):
            return "memwarden's own container.* fields (from its sources' container data)"
        return None

    def describe(self) -> str:
        want = " or ".join(f"{n} >= {v}" for n, v in self.alternatives)
        how = self.satisfied_by
        return f"{want}: satisfied by {how}" if how else (
            f"{want}: not satisfied (memwarden runs no Falco plugins)")


@dataclass
class RulesFiles:
    """Everything read from the files, in definition order (names keep their first place)."""

    files: list[str] = field(default_factory=list)
    lists: dict[str, ListDef] = field(default_factory=dict)
    macros: dict[str, MacroDef] = field(default_factory=dict)
    rules: dict[str, RuleDef] = field(default_factory=dict)
    required_engine_version: tuple[int, int, int] | None = None
    plugin_requirements: list[PluginRequirement] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)
    counter: int = 0

    def next_index(self) -> int:
        self.counter += 1
        return self.counter


def parse_priority(text: str) -> str | None:
    t = text.strip().lower()
    t = _PRIORITY_ALIASES.get(t, t)
    return t if t in PRIORITIES else None


_TRUE = frozenset({"true", "yes", "on", "y"})
_FALSE = frozenset({"false", "no", "off", "n"})
_NULL_TAG = "tag:yaml.org,2002:null"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


class _Item:
    """One top-level mapping: its keys, values and nodes, and where it is."""

    def __init__(self, node: yaml.MappingNode, reader: _FileReader) -> None:
        self.node = node
        self.reader = reader
        self.nodes: dict[str, yaml.Node] = {}
        self.keys: list[str] = []
        for k, v in node.value:
            key = to_python(k)
            key = str(key)
            self.nodes[key] = v
            self.keys.append(key)
        self.where = reader.where(node)

    def has(self, key: str) -> bool:
        return key in self.nodes

    def fail(self, message: str, key: str | None = None) -> RulesError:
        node = self.nodes.get(key) if key else None
        where = self.reader.where(node, self.where) if node is not None else self.where
        return RulesError(where, message)

    def scalar(self, key: str, optional: bool = False) -> str | None:
        """The scalar's text as written (YAML quoting removed, no typing: ``yes`` stays
        ``yes``, as Falco reads it)."""
        node = self.nodes.get(key)
        if node is None:
            if optional:
                return None
            raise self.fail(f"item has no mapping for key '{key}'")
        if _is_null(node):
            raise self.fail(f"mapping for key '{key}' is empty", key)
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(f"value of '{key}' is not a scalar", key)
        if not node.value.strip() and key != "output":
            raise self.fail(f"value of '{key}' must be non-empty", key)
        return node.value

    def text(self, key: str, optional: bool = False) -> str | None:
        return self.scalar(key, optional)

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        value = self.scalar(key, optional=True)
        if value is None:
            return default
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise self.fail(f"value of '{key}' must be true or false, got {value!r}", key)

    def seq(self, key: str, optional: bool = False) -> list[Any] | None:
        node = self.nodes.get(key)
        if node is None:
            if optional:
                return None
            raise self.fail(f"item has no mapping for key '{key}'")
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"value of '{key}' is not a sequence", key)
        out = []
        for child in node.value:
            if not isinstance(child, yaml.ScalarNode):
                raise RulesError(self.reader.where(child, self.where),
                                 f"items of '{key}' must be scalars")
            out.append(child.value)
        return out

    def cond(self, key: str = "condition") -> CondText:
        text = self.text(key)
        return CondText(text, [(0, Locator(text, self.nodes[key], self.reader.source,
                                           self.reader.name))])

    def unknown_keys(self, known: frozenset[str]) -> None:
        for k in self.keys:
            if k not in known:
                self.reader.warn(self.where, f"unknown key '{k}' (ignored)")

    def overrides(self, appendable: frozenset[str], replaceable: frozenset[str]
                  ) -> tuple[set[str], set[str]]:
        node = self.nodes.get("override")
        if node is None:
            return set(), set()
        if not isinstance(node, yaml.MappingNode):
            raise self.fail("'override' must be a mapping of KEY: append|replace", "override")
        append, replace = set(), set()
        for k, v in node.value:
            key, op = str(to_python(k)), to_python(v)
            where = self.reader.where(v, self.where)
            if op == "append":
                if key not in appendable:
                    raise RulesError(where, f"key '{key}' cannot be appended to, use "
                                            f"'replace' instead")
                append.add(key)
            elif op == "replace":
                if key not in replaceable:
                    raise RulesError(where, f"key '{key}' cannot be replaced")
                replace.add(key)
            else:
                allowed = [w for w, ok in (("append", key in appendable),
                                           ("replace", key in replaceable)) if ok]
                raise RulesError(where, f"invalid override operation for key '{key}': "
                                        f"{op!r} (allowed: {', '.join(allowed) or 'none'})")
        return append, replace


class _FileReader:
    def __init__(self, out: RulesFiles, name: str, source: str) -> None:
        self.out = out
        self.name = name
        self.source = source

    def where(self, node: yaml.Node | None, base: Where | None = None) -> Where:
        if node is None:
            return base or Where(self.name)
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if base is not None:
            return Where(self.name, line, col, base.kind, base.name)
        return Where(self.name, line, col)

    def warn(self, where: Where, message: str) -> None:
        self.out.warnings.append(LoadWarning(where, message))

    def read(self) -> None:
        try:
            check_printable(self.source, self.name)  # else an offset, not a line:col
            docs = compose_documents(self.source)
        except (YamlLocationError, yaml.YAMLError, RecursionError) as exc:
            loc = locate(exc, self.source, self.name)
            raise RulesError(Where(self.name, loc.line, loc.col),
                             f"YAML syntax error: {loc.problem}") from None
        for doc in docs:
            if doc is None or _is_null(doc):
                continue
            if not isinstance(doc, yaml.SequenceNode):
                raise RulesError(self.where(doc), "rules content is not a YAML sequence of "
                                                  "items (- rule: ..., - macro: ..., ...)")
            for node in doc.value:
                if _is_null(node):
                    continue
                if not isinstance(node, yaml.MappingNode):
                    raise RulesError(self.where(node), "unexpected element: each item must be "
                                                       "a mapping")
                self.read_item(_Item(node, self))

    # -- items --------------------------------------------------------------------------------
    def read_item(self, item: _Item) -> None:
        if item.has("required_engine_version"):
            self.engine_version(item)
        elif item.has("required_plugin_versions"):
            self.plugin_versions(item)
        elif item.has("list"):
            self.list_item(item)
        elif item.has("macro"):
            self.macro_item(item)
        elif item.has("rule"):
            self.rule_item(item)
        else:
            self.warn(item.where, f"unknown top level item with keys "
                                  f"{', '.join(item.keys) or 'none'} (ignored)")

    def engine_version(self, item: _Item) -> None:
        item.where = Where(self.name, item.where.line, item.where.col, "required_engine_version")
        raw = item.scalar("required_engine_version").strip()
        if raw.isdigit():
            version = (0, int(raw), 0)
        else:
            m = _RX_SEMVER.fullmatch(str(raw).strip())
            if m is None:
                raise item.fail(f"unable to parse engine version {raw!r}: expected a number or "
                                f"x.y.z", "required_engine_version")
            version = (int(m[1]), int(m[2]), int(m[3]))
        if version[0] != ENGINE_VERSION[0] or version > ENGINE_VERSION:
            have = ".".join(map(str, ENGINE_VERSION))
            raise item.fail(f"rules require engine version {'.'.join(map(str, version))}, but "
                            f"memwarden implements Falco engine version {have}",
                            "required_engine_version")
        old = self.out.required_engine_version
        if old is None or version > old:
            self.out.required_engine_version = version

    def plugin_versions(self, item: _Item) -> None:
        node = item.nodes["required_plugin_versions"]
        base = Where(self.name, item.where.line, item.where.col, "required_plugin_versions")
        if not isinstance(node, yaml.SequenceNode):
            raise RulesError(base, "value of required_plugin_versions must be a sequence")
        for entry in node.value:
            where = self.where(entry, base)
            if not isinstance(entry, yaml.MappingNode):
                raise RulesError(where, "plugin version must be a mapping")
            sub = _Item(entry, self)
            sub.where = where
            alternatives = [(sub.text("name"), sub.text("version"))]
            alt_node = sub.nodes.get("alternatives")
            if alt_node is not None:
                if not isinstance(alt_node, yaml.SequenceNode):
                    raise RulesError(where, "plugin version alternatives must be a sequence")
                for alt in alt_node.value:
                    if not isinstance(alt, yaml.MappingNode):
                        raise RulesError(self.where(alt, where), "plugin version alternative "
                                                                 "must be a mapping")
                    a = _Item(alt, self)
                    a.where = self.where(alt, where)
                    alternatives.append((a.text("name"), a.text("version")))
            seen: set[str] = set()
            for name, version in alternatives:
                if _RX_SEMVER.match(version or "") is None:
                    raise RulesError(where, f"invalid required version {version!r} for plugin "
                                            f"'{name}'")
                if name in seen:
                    raise RulesError(where, f"multiple alternative version requirements for "
                                            f"plugin '{name}'")
                seen.add(name)
            req = PluginRequirement(alternatives, where)
            self.out.plugin_requirements.append(req)
            if req.satisfied_by is not None:
                continue
            self.warn(where, f"requires plugin {' or '.join(n for n, _ in alternatives)}: "
                             f"memwarden runs no Falco plugins; rules of plugin sources stay "
                             f"inactive")

    def list_item(self, item: _Item) -> None:
        name = item.text("list")
        item.where = Where(self.name, item.where.line, item.where.col, "list", name)
        if not _RX_BARE.fullmatch(name):
            # a warning in Falco (0.36+): the list is defined, only a condition cannot name it
            self.warn(item.where, "list has an invalid name: list names should be a bare word "
                                  "(no blanks, quotes, parentheses, commas or '=')")
        item.unknown_keys(_LIST_KEYS)
        items = item.seq("items")
        append = bool(item.boolean("append", False))
        if append:
            self.warn(item.where, "'append' is deprecated; use 'override: {items: append}'")
        ov_append, ov_replace = item.overrides(frozenset({"items"}), frozenset({"items"}))
        if append and (ov_append or ov_replace):
            raise item.fail("'append' and 'override' cannot be used together")
        out = self.out
        if append or "items" in ov_append:
            prev = out.lists.get(name)
            if prev is None:
                raise item.fail("list has 'append' but no list by that name exists yet")
            prev.items.extend(items)
            prev.visibility = out.next_index()
            return
        self.define(out.lists, name, ListDef(name, items, item.where, 0, 0))

    def macro_item(self, item: _Item) -> None:
        name = item.text("macro")
        item.where = Where(self.name, item.where.line, item.where.col, "macro", name)
        if not _RX_IDENT.fullmatch(name):
            # a warning in Falco (0.36+): the macro is defined, only a condition cannot name it
            self.warn(item.where, "macro has an invalid name: macro names should match "
                                  "[a-zA-Z]+[a-zA-Z0-9_]*")
        item.unknown_keys(_MACRO_KEYS)
        cond = item.cond()
        append = bool(item.boolean("append", False))
        if append:
            self.warn(item.where, "'append' is deprecated; use 'override: {condition: append}'")
        ov_append, ov_replace = item.overrides(frozenset({"condition"}),
                                               frozenset({"condition"}))
        if append and (ov_append or ov_replace):
            raise item.fail("'append' and 'override' cannot be used together")
        out = self.out
        if append or "condition" in ov_append:
            prev = out.macros.get(name)
            if prev is None:
                raise item.fail("macro has 'append' but no macro by that name exists yet")
            prev.cond = prev.cond.appended(cond)
            prev.visibility = out.next_index()
            return
        self.define(out.macros, name, MacroDef(name, cond, item.where, 0, 0))

    def define(self, table: dict, name: str, definition) -> None:
        index = self.out.next_index()
        prev = table.get(name)
        definition.index = prev.index if prev is not None else index
        definition.visibility = index
        table[name] = definition

    def exceptions(self, item: _Item, appending: bool) -> list[ExceptionDef]:
        node = item.nodes.get("exceptions")
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise item.fail("rule exceptions must be a sequence", "exceptions")
        out: list[ExceptionDef] = []
        for ex in node.value:
            where = self.where(ex, item.where)
            if not isinstance(ex, yaml.MappingNode):
                raise RulesError(where, "rule exception must be a mapping")
            sub = _Item(ex, self)
            sub.where = where
            name = sub.text("name")
            where = Where(self.name, where.line, where.col, item.where.kind,
                          f"{item.where.name}' exception '{name}")
            sub.where = where
            if any(e.name == name for e in out):
                # Falco warns and keeps both
                self.warn(where, "multiple definitions of exception with the same name in "
                                 "the rule (both apply)")
            for key in sub.keys:
                if key not in ("name", "fields", "comps", "values"):
                    self.warn(where, f"unknown key '{key}' (ignored)")
            fields = self._entry(sub, "fields", optional=appending)
            comps = self._entry(sub, "comps", optional=True)
            values_node = sub.nodes.get("values")
            values: list[Any] = []
            if values_node is not None:
                if not isinstance(values_node, yaml.SequenceNode):
                    raise RulesError(where, "exception values must be a sequence")
                values = [_raw(v, where) for v in values_node.value]
            elif appending:
                self.warn(where, "appending or overriding an exception with no values")
            out.append(ExceptionDef(name, fields, comps, values, where))
        return out

    def _entry(self, sub: _Item, key: str, optional: bool) -> str | list[str] | None:
        node = sub.nodes.get(key)
        if node is None:
            if optional:
                return None
            raise sub.fail(f"item has no mapping for key '{key}'")
        value = _raw(node, sub.where)
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise sub.fail(f"'{key}' must be a string or a list of strings", key)
            return value
        if not value.strip():
            raise sub.fail(f"value of '{key}' must be non-empty", key)
        return value

    def rule_item(self, item: _Item) -> None:
        name = item.text("rule")
        item.where = Where(self.name, item.where.line, item.where.col, "rule", name)
        item.unknown_keys(_RULE_KEYS)
        out = self.out
        append = bool(item.boolean("append", False))
        if append:
            self.warn(item.where, "'append' is deprecated; use 'override: {KEY: append}'")
        ov_append, ov_replace = item.overrides(_RULE_APPENDABLE, _RULE_REPLACEABLE)
        if append and (ov_append or ov_replace):
            raise item.fail("'append' and 'override' cannot be used together")
        if ov_append or ov_replace:
            expected = {k for k in _RULE_APPENDABLE | _RULE_REPLACEABLE if item.has(k)}
            for key in sorted((ov_append | ov_replace) - expected):
                raise item.fail(f"an override for '{key}' was specified but '{key}' is not "
                                f"defined")
            for key in sorted(expected - ov_append - ov_replace):
                raise item.fail(f"unexpected key '{key}': no corresponding entry under "
                                f"'override' is defined", key)
            prev = self._previous(item, name)
            self._same_source(item, prev)
            if ov_append:
                self._append(item, prev, ov_append)
            if ov_replace:
                self._replace(item, prev, ov_replace)
            prev.visibility = out.next_index()
            return
        if append:
            prev = self._previous(item, name)
            self._same_source(item, prev)
            keys = {k for k in ("condition", "exceptions") if item.has(k)}
            if not keys:
                raise item.fail("appended rule must have a condition or exceptions")
            self._append(item, prev, keys)
            prev.visibility = out.next_index()
            return
        if not any(item.has(k) for k in ("condition", "output", "desc", "priority")):
            enabled = item.boolean("enabled")
            if enabled is None:
                raise item.fail("item has no mapping for key 'condition'")
            self.warn(item.where, "an item with only 'enabled' is deprecated; use "
                                  "'override: {enabled: replace}'")
            prev = self._previous(item, name, what="'enabled'")
            prev.enabled = enabled
            return
        cond = item.cond()
        output = (item.text("output") or "").strip()
        desc = item.text("desc")
        priority_text = item.text("priority")
        priority = parse_priority(priority_text)
        if priority is None:
            raise item.fail(f"invalid priority {priority_text!r} (one of: "
                            f"{', '.join(PRIORITIES)})", "priority")
        source = item.text("source", optional=True) or "syscall"
        prev = out.rules.get(name)
        if prev is not None and prev.source != source:
            raise item.fail("rule has been re-defined with a different source")
        tags = item.seq("tags", optional=True) or []
        exceptions = self.exceptions(item, appending=False)
        for ex in exceptions:
            if ex.fields is None:
                raise RulesError(ex.where, "rule exception must have fields")
        rule = RuleDef(
            name=name, cond=cond, output=output,
            output_where=self.where(item.nodes.get("output"), item.where), desc=desc,
            priority=priority, source=source, enabled=bool(item.boolean("enabled", True)),
            tags=tags, exceptions=exceptions,
            warn_evttypes=bool(item.boolean("warn_evttypes", True)),
            skip_if_unknown_filter=bool(item.boolean("skip-if-unknown-filter", False)),
            where=item.where, index=0, visibility=0,
            capture=self.capture(item, False), capture_duration=self.capture_duration(item))
        self.define(out.rules, name, rule)

    def _previous(self, item: _Item, name: str, what: str = "'append' or 'override'"
                  ) -> RuleDef:
        prev = self.out.rules.get(name)
        if prev is None:
            raise item.fail(f"rule has {what} but no rule by that name exists yet")
        return prev

    @staticmethod
    def _same_source(item: _Item, prev: RuleDef) -> None:
        """Appending to or overriding a rule of another source is an error (Falco 0.40); an
        empty ``source`` keeps the rule's."""
        node = item.nodes.get("source")
        if node is None or _is_null(node) or not isinstance(node, yaml.ScalarNode):
            return
        if node.value.strip() and node.value.strip() != prev.source:
            raise item.fail("rule has been re-defined with a different source")

    def _append(self, item: _Item, prev: RuleDef, keys: set[str]) -> None:
        if "condition" in keys:
            prev.cond = prev.cond.appended(item.cond())
        if "output" in keys:
            prev.output = f"{prev.output} {item.text('output').strip()}"
        if "desc" in keys:
            prev.desc = f"{prev.desc} {item.text('desc')}"
        if "tags" in keys:
            for t in item.seq("tags") or []:
                if t not in prev.tags:
                    prev.tags.append(t)
        if "exceptions" in keys:
            for ex in self.exceptions(item, appending=True):
                old = next((e for e in prev.exceptions if e.name == ex.name), None)
                if old is None:
                    if ex.fields is None:
                        raise RulesError(ex.where, "a new exception must have fields")
                    if not ex.values:
                        raise RulesError(ex.where, "a new exception must have values")
                    prev.exceptions.append(ex)
                else:
                    if ex.fields is not None or ex.comps is not None:
                        raise RulesError(ex.where, "cannot append fields or comps to an "
                                                   "existing exception, only values")
                    old.values.extend(ex.values)

    def _replace(self, item: _Item, prev: RuleDef, keys: set[str]) -> None:
        if "condition" in keys:
            prev.cond = item.cond()
        if "output" in keys:
            prev.output = (item.text("output") or "").strip()
            prev.output_where = self.where(item.nodes.get("output"), item.where)
        if "desc" in keys:
            prev.desc = item.text("desc")
        if "tags" in keys:
            prev.tags = item.seq("tags") or []
        if "exceptions" in keys:
            prev.exceptions = self.exceptions(item, appending=True)
        if "priority" in keys:
            text = item.text("priority")
            priority = parse_priority(text)
            if priority is None:
                raise item.fail(f"invalid priority {text!r}", "priority")
            prev.priority = priority
        if "enabled" in keys:
            prev.enabled = bool(item.boolean("enabled"))
        if "warn_evttypes" in keys:
            prev.warn_evttypes = bool(item.boolean("warn_evttypes"))
        if "skip-if-unknown-filter" in keys:
            prev.skip_if_unknown_filter = bool(item.boolean("skip-if-unknown-filter"))
        if "capture" in keys:
            prev.capture = self.capture(item, prev.capture)
        if "capture_duration" in keys:
            prev.capture_duration = self.capture_duration(item)

    def capture(self, item: _Item, default: bool) -> bool:
        """``capture``: a boolean; another value fails Falco's schema (a warning) and is
        read as false, as Falco does."""
        node = item.nodes.get("capture")
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            self.warn(item.where, "schema validation: 'capture' must be a boolean, not a "
                                  "string")
        try:
            return bool(item.boolean("capture", default))
        except RulesError as exc:
            self.warn(exc.where, f"schema validation: {exc.message}")
            return False

    def capture_duration(self, item: _Item) -> int:
        """``capture_duration``: milliseconds, an unsigned integer (anything else is an error,
        as in Falco)."""
        raw = item.scalar("capture_duration", optional=True)
        if raw is None:
            return 0
        if not raw.strip().isdigit():
            raise item.fail(f"value of 'capture_duration' must be an unsigned integer "
                            f"(milliseconds), got {raw!r}", "capture_duration")
        return int(raw)


def _raw(node: yaml.Node, where: Where) -> Any:
    """A scalar's text, or a list of (nested) scalar texts, as Falco reads exception entries."""
    if isinstance(node, yaml.ScalarNode):
        if _is_null(node):
            raise RulesError(where, "exception entries must not be empty")
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_raw(v, where) for v in node.value]
    raise RulesError(where, "exception entries must be strings or lists of strings")


def read_files(paths: list[str | Path], out: RulesFiles | None = None) -> RulesFiles:
    """Read rules files in order into one :class:`RulesFiles`; raises :class:`RulesError`."""
    out = out or RulesFiles()
    for path in paths:
        name = str(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise RulesError(Where(name), f"cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            line, col = line_col(exc.object.decode("utf-8", "replace"), exc.start) if isinstance(
                exc.object, bytes) else (0, 0)
            raise RulesError(Where(name, line, col), "not UTF-8 text") from None
        read_text(text, name, out)
    return out


def read_text(text: str, name: str, out: RulesFiles | None = None) -> RulesFiles:
    out = out or RulesFiles()
    out.files.append(name)
    _FileReader(out, name, text).read()
    return out
