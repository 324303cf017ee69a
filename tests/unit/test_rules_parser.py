"""The condition parser: precedence, every operator, values, and errors with positions."""

from __future__ import annotations

import pytest

from memwarden.rules.falco import RulesError, load_rules
from memwarden.rules.falco.ast import (
    And,
    Check,
    FieldRef,
    Ident,
    ListValue,
    Not,
    Or,
    Transform,
    Value,
)
from memwarden.rules.falco.errors import ConditionSyntaxError
from memwarden.rules.falco.parser import ALL_OPS, parse_condition


def parse(text):
    return parse_condition(text)[0]


def shape(node):
    """A compact form of a tree: ('or', ...), ('and', ...), ('not', x), names and checks."""
    if isinstance(node, Or):
        return ("or", *map(shape, node.children))
    if isinstance(node, And):
        return ("and", *map(shape, node.children))
    if isinstance(node, Not):
        return ("not", shape(node.child))
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Check):
        return (node.lhs.text(), node.op)
    raise AssertionError(node)


def test_and_binds_tighter_than_or_and_not_tightest():
    assert shape(parse("a or b and not c")) == ("or", "a", ("and", "b", ("not", "c")))
    assert shape(parse("not a and b or c")) == ("or", ("and", ("not", "a"), "b"), "c")
    assert shape(parse("a and b or c and d")) == ("or", ("and", "a", "b"), ("and", "c", "d"))


def test_parentheses_group_and_not_applies_to_a_group():
    assert shape(parse("(a or b) and c")) == ("and", ("or", "a", "b"), "c")
    assert shape(parse("not (a or b)")) == ("not", ("or", "a", "b"))
    assert shape(parse("not(a) and not not b")) == ("and", ("not", "a"), "b")
    assert shape(parse("((a))")) == "a"


def test_keywords_need_a_boundary():
    # 'order' and 'android' are macro names, not 'or'/'and' followed by text
    assert shape(parse("order and android")) == ("and", "order", "android")
    assert shape(parse("nothing")) == "nothing"


@pytest.mark.parametrize("op", [o for o in ALL_OPS if o != "exists"])
def test_every_binary_operator(op):
    rhs = "(a, b)" if op in ("in", "intersects", "pmatch") else "1" if op in (
        "<", "<=", ">", ">=") else "x"
    node = parse(f"proc.name {op} {rhs}")
    assert isinstance(node, Check) and node.op == op


def test_exists_and_symbolic_operators_without_blanks():
    assert parse("proc.pid exists").op == "exists"
    node = parse("evt.dir=<")
    assert (node.op, node.rhs.text) == ("=", "<")
    node = parse("fd.num>=0")
    assert (node.op, node.rhs.text) == (">=", "0")
    assert parse('proc.name!="<NA>"').rhs.text == "<NA>"


def test_values_quoted_bare_escapes_and_lists():
    node = parse("proc.cmdline startswith \"sh -c \\\"x\\\"\"")
    assert node.rhs.text == 'sh -c "x"' and node.rhs.quoted
    assert parse("proc.args = ''").rhs.text == ""
    # Falco reads "\ " as a backslash (sandbox rules rely on it), and a bare \ is a value
    node = parse('(proc.args contains "\\ " or proc.args endswith \\)')
    assert node.children[0].rhs.text == "\\" and node.children[1].rhs.text == "\\"
    lv = parse('proc.name in (a, "b c", \'d\', runc:[0:PARENT])').rhs
    assert [v.text for v in lv.items] == ["a", "b c", "d", "runc:[0:PARENT]"]
    assert parse("proc.name in ()").rhs.items == []
    assert parse("proc.name in my_list").rhs.ref == "my_list"


def test_field_arguments_and_transformers():
    node = parse("proc.aname[2]=sshd")
    assert node.lhs == FieldRef("proc.aname", "2")
    assert parse('container.mount.dest[/proc*] != "N/A"').lhs.arg == "/proc*"
    assert parse("evt.arg.flags contains O_TRUNC").lhs.name == "evt.arg.flags"
    node = parse("tolower(basename(proc.exepath)) = bash")
    assert isinstance(node.lhs, Transform) and node.lhs.name == "tolower"
    assert node.lhs.args[0].name == "basename"
    node = parse("proc.pid != val(proc.ppid)")
    assert isinstance(node.rhs, Transform) and node.rhs.name == "val"


def test_single_string_after_a_list_operator_is_a_noted_one_item_list():
    node, notes = parse_condition('fd.name pmatch "/var/lib/systemd/coredump/"')
    assert isinstance(node.rhs, ListValue)
    assert node.rhs.items == [Value("/var/lib/systemd/coredump/", True, pos=15)]
    assert notes and notes[0][0] == 15 and "Falco's parser rejects" in notes[0][1]


@pytest.mark.parametrize("text, offset, words", [
    ("", 0, "empty"),
    ("a and", 5, "end of condition"),
    ("(a or b", 0, "missing ')'"),
    ("a b", 2, "unexpected 'b'"),
    ("proc.name startwith x", 10, "unknown operator 'startwith'"),
    ("proc.name = ", 12, "expected a value"),
    ("fd.num > x", 9, "expected a number"),
    ('proc.name = "abc', 12, "unterminated"),
    ("proc.name contains\"x\"", 18, "blank after operator 'contains'"),
    ('proc.name = "a\\qb"', 15, "unsupported string escape"),
    ("proc.aname[2 = x", 12, "expected ']'"),
])
def test_syntax_errors_say_what_and_where(text, offset, words):
    with pytest.raises(ConditionSyntaxError) as info:
        parse(text)
    assert words in info.value.message
    assert info.value.offset == offset


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_syntax_error_in_a_folded_condition_names_file_line_column(tmp_path):
    f = write(tmp_path, "r.yaml", """\
- rule: Bad
  desc: d
  condition: >
    evt.type = openat and
    proc.name startwith x
  output: o
  priority: WARNING
""")
    with pytest.raises(RulesError) as info:
        load_rules([f])
    assert str(info.value) == (f"{f}:5:15: rule 'Bad': condition syntax error: unknown "
                               f"operator 'startwith' after proc.name: expected one of "
                               f"{', '.join(ALL_OPS)}")


def test_shipped_bad_file_error(tmp_path):
    with pytest.raises(RulesError) as info:
        load_rules(["tests/data/rules/bad_syntax.yaml"])
    assert str(info.value).startswith(
        "tests/data/rules/bad_syntax.yaml:8:5: rule 'Broken': condition syntax error: "
        "missing ')'")


def test_unknown_field_error_names_file_rule_and_position(tmp_path):
    f = write(tmp_path, "r.yaml", """\
- macro: m
  condition: proc.nam = x
- rule: R
  desc: d
  condition: evt.type = openat and m
  output: o
  priority: WARNING
""")
    with pytest.raises(RulesError) as info:
        load_rules([f])
    assert str(info.value) == f"{f}:2:14: rule 'R': unknown field 'proc.nam' (in macro 'm')"


def test_unknown_event_type_and_bad_number_are_errors(tmp_path):
    f = write(tmp_path, "r.yaml", "- rule: R\n  desc: d\n  condition: evt.type = opne\n"
                                  "  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match=r"r.yaml:3:25: rule 'R': unknown event type 'opne'"):
        load_rules([f])
    f = write(tmp_path, "n.yaml", "- rule: R\n  desc: d\n  condition: fd.num = abc\n"
                                  "  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match="'abc' is not a number"):
        load_rules([f])


def test_operator_type_mismatch_is_an_error(tmp_path):
    f = write(tmp_path, "r.yaml", "- rule: R\n  desc: d\n  condition: proc.name < 3\n"
                                  "  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match="operator '<' needs a number field"):
        load_rules([f])
    f = write(tmp_path, "s.yaml", "- rule: R\n  desc: d\n  condition: proc.pid contains 3\n"
                                  "  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match="operator 'contains' needs a string field"):
        load_rules([f])


def test_macro_cycle_is_an_error(tmp_path):
    f = write(tmp_path, "r.yaml", """\
- macro: a
  condition: proc.name = x
- macro: b
  condition: a or c
- macro: c
  condition: proc.name = y
- macro: a
  condition: b
- rule: R
  desc: d
  condition: a
  output: o
  priority: INFO
""")
    with pytest.raises(RulesError, match="macro reference loop: a -> b -> a"):
        load_rules([f])


def test_undefined_macro_and_list_references(tmp_path):
    f = write(tmp_path, "m.yaml", "- rule: R\n  desc: d\n  condition: evt.type = openat and "
                                  "nosuch\n  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match=r"m.yaml:3:36: rule 'R': undefined macro 'nosuch'"):
        load_rules([f])
    f = write(tmp_path, "l.yaml", "- rule: R\n  desc: d\n  condition: proc.name in nolist\n"
                                  "  output: o\n  priority: INFO\n")
    with pytest.raises(RulesError, match="undefined list 'nolist'"):
        load_rules([f])
    # a name in parentheses that is no list is a plain value (Falco's rule)
    f = write(tmp_path, "v.yaml", "- rule: R\n  desc: d\n  condition: evt.type = execve and "
                                  "proc.name in (nolist)\n  output: o\n  priority: INFO\n")
    assert load_rules([f]).counts["active"] == 1


def test_a_macro_may_only_use_macros_defined_before_it(tmp_path):
    f = write(tmp_path, "r.yaml", """\
- macro: early
  condition: late
- macro: late
  condition: proc.name = x
- rule: R
  desc: d
  condition: evt.type = execve and early
  output: o
  priority: INFO
""")
    with pytest.raises(RulesError, match="undefined macro 'late' used in filter .it is defined "
                                         "after this macro"):
        load_rules([f])
