"""Reading Capsule8 policy files with positions, so every complaint is ``file:line:col``.

A Capsule8 file is one YAML mapping: each key names either a policy instance (a mapping with a
``policy:`` type) or a named list (a mapping with a ``type:`` and a ``list:``). PyYAML's node
tree is read directly (not the constructed Python values) because nodes keep their marks: a
duplicate name, a missing ``default`` rule or a bad list item is reported where it stands.
Nothing here judges predicates; the compiler parses them, locating offsets through
:class:`~memwarden.rules.falco.source.Locator`.
"""

from __future__ import annotations

import yaml

from memwarden.core.located_yaml import YamlLocationError, check_printable, locate
from memwarden.rules.capsule8.model import (
    DEFAULT_PRIORITY,
    LIST_TYPES,
    POLICY_TYPES,
    PRIORITIES,
    RESPONSE_ACTIONS,
    ListDef,
    PolicyDef,
    PolicyFile,
    RuleLine,
)
from memwarden.rules.falco.errors import LoadWarning, RulesError, Where
from memwarden.rules.falco.source import Locator, compose_documents, to_python

_POLICY_KEYS = frozenset({"policy", "enabled", "alertMessage", "comments", "priority", "rules",
                          "responseAction", "responseActions"})
_LIST_KEYS = frozenset({"type", "list", "comments"})
_NULL_TAG = "tag:yaml.org,2002:null"


def compose(name: str, source: str) -> yaml.Node | None:
    """The file's one YAML document node (None when empty); raises located RulesError."""
    try:
        check_printable(source, name)  # else PyYAML reports a character offset
        docs = [d for d in compose_documents(source)
                if d is not None and not (isinstance(d, yaml.ScalarNode) and d.tag == _NULL_TAG)]
    except (YamlLocationError, yaml.YAMLError, RecursionError) as exc:
        loc = locate(exc, source, name)
        raise RulesError(Where(name, loc.line, loc.col), f"YAML syntax error: {loc.problem}"
                         ) from None
    if len(docs) > 1:
        raise RulesError(_at(name, docs[1]), "a Capsule8 policy file holds one YAML document")
    return docs[0] if docs else None


def is_policy_document(node: yaml.Node | None) -> bool:
    """The shape test: Capsule8 files are a mapping of names; Falco files are a sequence."""
    return isinstance(node, yaml.MappingNode)


def _value(name: str, node: yaml.Node, kind: str = "", item: str = ""):
    """A scalar's Python value; an unknown tag (``!foo``) is a located error."""
    try:
        return to_python(node)
    except yaml.YAMLError as exc:
        raise RulesError(_at(name, node, kind, item),
                         f"cannot read the value: {getattr(exc, 'problem', None) or exc}"
                         ) from None


def _at(name: str, node: yaml.Node, kind: str = "", item: str = "") -> Where:
    return Where(name, node.start_mark.line + 1, node.start_mark.column + 1, kind, item)


class PolicyReader:
    """Reads one file into a :class:`PolicyFile`; warnings are appended to ``warnings``."""

    def __init__(self, name: str, source: str, warnings: list[LoadWarning]) -> None:
        self.name = name
        self.source = source
        self.warnings = warnings

    def read(self, doc: yaml.Node | None = None) -> PolicyFile:
        if doc is None:
            doc = compose(self.name, self.source)
        out = PolicyFile(self.name)
        if doc is None:
            return out
        if not isinstance(doc, yaml.MappingNode):
            raise RulesError(_at(self.name, doc), "a Capsule8 policy file is a mapping of "
                                                  "policy and list names")
        seen: dict[str, Where] = {}
        items = []
        for key, value in doc.value:
            name = self.scalar_text(key, Where(self.name))
            where = _at(self.name, key, "", name)
            if name in seen:
                first = seen[name]
                raise RulesError(where, f"'{name}' is defined twice (first at line {first.line})")
            seen[name] = where
            items.append((name, key, value))
        for name, key, value in items:  # lists first: policies refer to them by name
            if isinstance(value, yaml.MappingNode) and self.keys(value).get("type") is not None \
                    and "policy" not in self.keys(value):
                lst = self.list_item(name, key, value)
                out.lists[name] = lst
        for name, key, value in items:
            if name in out.lists:
                continue
            if not isinstance(value, yaml.MappingNode):
                raise RulesError(_at(self.name, value, "item", name),
                                 "expected a mapping: a policy (policy: TYPE, rules: ...) or a "
                                 "list (type: paths, list: ...)")
            keys = self.keys(value)
            if "policy" not in keys:
                raise RulesError(_at(self.name, key, "item", name),
                                 "neither a policy (no 'policy:' key) nor a list (no 'type:' "
                                 "key)")
            out.policies.append(self.policy_item(name, key, value))
        return out

    # -- helpers ------------------------------------------------------------------------------
    def keys(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise RulesError(_at(self.name, k), "keys must be plain names")
            if k.value in out:
                raise RulesError(_at(self.name, k), f"key '{k.value}' given twice")
            out[k.value] = (k, v)
        return out

    def scalar_text(self, node: yaml.Node, where: Where) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL_TAG:
            raise RulesError(_at(self.name, node, where.kind, where.name),
                             "expected a text value")
        return str(node.value)

    def warn(self, where: Where, message: str) -> None:
        self.warnings.append(LoadWarning(where, message))

    # -- lists --------------------------------------------------------------------------------
    def list_item(self, name: str, key: yaml.Node, node: yaml.MappingNode) -> ListDef:
        where = _at(self.name, key, "list", name)
        keys = self.keys(node)
        for k, (knode, _) in keys.items():
            if k not in _LIST_KEYS:
                self.warn(_at(self.name, knode, "list", name), f"unknown key '{k}' (ignored)")
        tnode = keys["type"][1]
        ltype = self.scalar_text(tnode, where)
        if ltype not in LIST_TYPES:
            raise RulesError(_at(self.name, tnode, "list", name),
                             f"unknown list type '{ltype}' (known: {', '.join(LIST_TYPES)})")
        if "list" not in keys:
            raise RulesError(where, "a list needs 'list:' (a sequence of items)")
        lnode = keys["list"][1]
        if isinstance(lnode, yaml.ScalarNode) and lnode.tag == _NULL_TAG:
            return ListDef(name, ltype, [], where)
        if not isinstance(lnode, yaml.SequenceNode):
            raise RulesError(_at(self.name, lnode, "list", name),
                             "'list:' must be a sequence of items")
        check = LIST_TYPES[ltype].check
        items = []
        for child in lnode.value:
            iw = _at(self.name, child, "list", name)
            if not isinstance(child, yaml.ScalarNode):
                raise RulesError(iw, f"a {ltype} list item must be a single value")
            try:
                items.append(check(_value(self.name, child, "list", name)))
            except ValueError as exc:
                raise RulesError(iw, f"bad {ltype} item {child.value!r}: {exc}") from None
        return ListDef(name, ltype, items, where)

    # -- policies -----------------------------------------------------------------------------
    def policy_item(self, name: str, key: yaml.Node, node: yaml.MappingNode) -> PolicyDef:
        where = _at(self.name, key, "policy", name)
        keys = self.keys(node)

        def at(n: yaml.Node) -> Where:
            return _at(self.name, n, "policy", name)

        for k, (knode, _) in keys.items():
            if k not in _POLICY_KEYS:
                self.warn(at(knode), f"unknown key '{k}' (ignored)")
        pnode = keys["policy"][1]
        ptype = self.scalar_text(pnode, where)
        if ptype not in POLICY_TYPES:
            raise RulesError(at(pnode), f"unknown policy type '{ptype}' (known: "
                                        f"{', '.join(POLICY_TYPES)})")
        enabled = True
        if "enabled" in keys:
            enode = keys["enabled"][1]
            value = (_value(self.name, enode, 'policy', name)
                     if isinstance(enode, yaml.ScalarNode) else None)
            if not isinstance(value, bool):
                raise RulesError(at(enode), "'enabled' must be true or false")
            enabled = value
        message = self.text_key(keys, "alertMessage", where) or name
        comments = self.text_key(keys, "comments", where)
        if "priority" in keys:
            prnode = keys["priority"][1]
            prio = self.scalar_text(prnode, where).lower()
            if prio not in PRIORITIES:
                shown = list(dict.fromkeys(v[0] for v in PRIORITIES.values()))
                raise RulesError(at(prnode), f"unknown priority '{prnode.value}' (known: "
                                             f"{', '.join(shown)})")
        else:
            prio = DEFAULT_PRIORITY
            self.warn(where, f"no priority: {PRIORITIES[prio][0]} assumed")
        actions = self.response_actions(keys, where)
        if "rules" not in keys:
            raise RulesError(where, "a policy needs 'rules:' ending in 'default match' or "
                                    "'default ignore'")
        rnode = keys["rules"][1]
        rules, default = self.rules(rnode, keys["rules"][0], where)
        return PolicyDef(name, ptype, enabled, message, comments, prio, rules, default, actions,
                         where, self.name)

    def text_key(self, keys: dict, key: str, where: Where) -> str:
        if key not in keys:
            return ""
        node = keys[key][1]
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return ""
        return " ".join(self.scalar_text(node, where).split())

    def response_actions(self, keys: dict, where: Where) -> list[str]:
        out: list[str] = []
        for key in ("responseAction", "responseActions"):
            if key not in keys:
                continue
            node = keys[key][1]
            nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
            for n in nodes:
                action = self.scalar_text(n, where)
                out.append(action)
                w = _at(self.name, n, "policy", where.name)
                if action.lower() in RESPONSE_ACTIONS:
                    self.warn(w, f"responseAction '{action}' is not enforced (memwarden's "
                                 f"--enforce covers built-in signatures only): the policy only "
                                 f"alerts")
                else:
                    self.warn(w, f"responseAction '{action}' is not supported (ignored): the "
                                 f"policy only alerts")
        return out

    def rules(self, node: yaml.Node, key: yaml.Node, where: Where
              ) -> tuple[list[RuleLine], str]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise RulesError(_at(self.name, node if isinstance(node, yaml.SequenceNode) else key,
                                 "policy", where.name),
                             "'rules:' must be a non-empty sequence ending in 'default match' "
                             "or 'default ignore'")
        lines: list[RuleLine] = []
        default = ""
        for child in node.value:
            cw = _at(self.name, child, "policy", where.name)
            if not isinstance(child, yaml.ScalarNode) or child.tag == _NULL_TAG:
                raise RulesError(cw, "a rule is one line of text: 'match EXPR', 'ignore EXPR', "
                                     "'default match' or 'default ignore'")
            if default:
                raise RulesError(cw, f"rule after 'default {default}' (the default rule is the "
                                     f"last one)")
            text = str(child.value)
            loc = Locator(text, child, self.source, self.name)
            stripped = text.lstrip()
            lead = len(text) - len(stripped)
            word, _, rest = stripped.partition(" ")
            if word == "default":
                value = rest.strip()
                if value not in ("match", "ignore"):
                    col_at = lead + len(word) + 1 + (len(rest) - len(rest.lstrip()))
                    line, col = loc.locate(col_at)
                    raise RulesError(cw.at(line, col), f"'default' takes 'match' or 'ignore', "
                                                       f"got {value!r}")
                default = value
                continue
            if word not in ("match", "ignore"):
                line, col = loc.locate(lead)
                raise RulesError(cw.at(line, col), f"a rule starts with 'match', 'ignore' or "
                                                   f"'default', got {word!r}")
            offset = lead + len(word) + 1 + (len(rest) - len(rest.lstrip()))
            if not rest.strip():
                line, col = loc.locate(lead)
                raise RulesError(cw.at(line, col), f"'{word}' needs a condition")
            lines.append(RuleLine(text, word, False, offset, cw, loc.locate))
        if not default:
            raise RulesError(_at(self.name, key, "policy", where.name),
                             "the rules do not end in 'default match' or 'default ignore' "
                             "(mandatory)")
        return lines, default
