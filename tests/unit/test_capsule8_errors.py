"""Every malformed Capsule8 policy file gives ``file:line:col: what is wrong`` (a RulesError,
exit 2 from the CLI), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from memwarden.cli import main
from memwarden.rules.falco.errors import RulesError
from memwarden.rules.formats import load_rule_files

GOOD_LIST = "L:\n  type: paths\n  list: [/etc/*]\n"
OK = "match filePath == \"/x\""


def _p(head: str, rule: str) -> str:
    return (f"P:\n  policy: fileaccess\n  priority: Low\n  rules:\n    - {rule}\n"
            f"    - default ignore\n{head}")


CASES = [
    # (file text, line, col, message fragment)
    ("P:\n  policy: fileaccess\n  rules:\n    - match filePath == \"/x\"\n", 3, 3,
     "policy 'P': the rules do not end in 'default match' or 'default ignore' (mandatory)"),
    ("P:\n  policy: fileaccess\n  rules:\n    - default ignore\n    - match filePath == \"/x\"\n",
     5, 7, "rule after 'default ignore'"),
    ("P:\n  policy: fileaccess\n  rules:\n    - default maybe\n", 4, 15,
     "'default' takes 'match' or 'ignore', got 'maybe'"),
    ("P:\n  policy: fileaccess\n  rules: []\n", 3, 10, "'rules:' must be a non-empty sequence"),
    ("P:\n  policy: fileaccess\n  enabled: true\n", 1, 1, "a policy needs 'rules:'"),
    ("P:\n  policy: filez\n  rules:\n    - default match\n", 2, 11,
     "unknown policy type 'filez' (known: fileaccess, file, exec, connect, bind)"),
    ("P:\n  policy: fileaccess\n  priority: Urgent\n  rules:\n    - default match\n", 3, 13,
     "unknown priority 'Urgent' (known: Info, Low, Medium, High, Critical)"),
    ("P:\n  policy: fileaccess\n  enabled: yes please\n  rules:\n    - default match\n", 3, 12,
     "'enabled' must be true or false"),
    (_p(GOOD_LIST, "match filePath in $L and"), 5, 31,
     "condition syntax error: condition ends early: expected a field name"),
    (_p(GOOD_LIST, "match (filePath in $L"), 5, 28, "condition syntax error: missing ')'"),
    (_p(GOOD_LIST, "match fileName == \"/x\""), 5, 13,
     "unknown field 'fileName' for policy type 'fileaccess'"),
    (_p(GOOD_LIST, "match filePath in $Nope"), 5, 25, "unknown list '$Nope' (lists: $L)"),
    (_p(GOOD_LIST, "match uid in $L"), 5, 20,
     "list '$L' is of type 'paths', which does not go with 'uid' (a number)"),
    (_p(GOOD_LIST, "match uid == root"), 5, 20, "'uid' is a number, got 'root'"),
    (_p(GOOD_LIST, "match filePath < 3"), 5, 22, "'<' compares numbers"),
    (_p(GOOD_LIST, "match filePath == \"/x"), 5, 25, "unterminated string"),
    (_p(GOOD_LIST, "match filePath in \"/x\""), 5, 25, "'in' takes a named list ($Name)"),
    (_p(GOOD_LIST, "matches filePath == \"/x\""), 5, 7,
     "a rule starts with 'match', 'ignore' or 'default', got 'matches'"),
    (_p(GOOD_LIST, "match"), 5, 7, "'match' needs a condition"),
    (_p(GOOD_LIST, "match filePath == \"/x\" filePath"), 5, 30,
     "unexpected 'filePath' (expected 'and', 'or' or the end)"),
    (_p("L:\n  type: pathz\n  list: [/x]\n", OK), 8, 9,
     "list 'L': unknown list type 'pathz'"),
    (_p("L:\n  type: ports\n  list: [22, 70000]\n", OK), 9, 14,
     "bad ports item '70000': expected a whole number from 0 to 65535"),
    (_p("L:\n  type: paths\n  list: [etc/shadow]\n", OK), 9, 10,
     "expected an absolute path"),
    (_p("L:\n  type: networks\n  list: [10.0.0.0/33]\n", OK), 9, 10,
     "bad networks item"),
    (_p("L:\n  type: paths\n", OK), 7, 1, "a list needs 'list:'"),
    (_p("P:\n  policy: exec\n  rules:\n    - default match\n", OK), 7, 1,
     "'P' is defined twice (first at line 1)"),
    (_p("Q: 3\n", OK), 7, 4, "expected a mapping"),
    (_p("Q:\n  alertMessage: x\n", OK), 7, 1, "neither a policy"),
    ("P:\n  policy: fileaccess\n  policy: file\n  rules: [default match]\n", 3, 3,
     "key 'policy' given twice"),
    ("P:\n  policy: [fileaccess\n", 3, 1, "YAML syntax error"),
    ("P:\n  policy: file\n  enabled: !true yes\n  rules: [default match]\n", 3, 12,
     "cannot read the value: could not determine a constructor for the tag '!true'"),
    ("L:\n  type: ports\n  list: [!port 22]\n", 3, 10, "cannot read the value"),
    ("P:\n  policy: fileaccess\n  rules:\n    - {match: 1}\n    - default match\n", 4, 7,
     "a rule is one line of text"),
]


@pytest.mark.parametrize(("text", "line", "col", "fragment"), CASES,
                         ids=[c[3][:40] for c in CASES])
def test_every_error_is_located(tmp_path: Path, text, line, col, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rule_files([p])
    msg = str(info.value)
    assert msg.startswith(f"{p}:{line}:{col}:"), msg
    assert fragment in msg, msg


def test_a_broken_policy_file_exits_2_from_the_cli(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text(CASES[0][0])
    for args in (["rules", "check", str(p)], ["replay", "--rules", str(p), "/dev/null"]):
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 2, res.output
        assert f"{p}:3:3: policy 'P': the rules do not end in 'default match'" in res.stderr


def test_policy_names_are_unique_across_files(tmp_path: Path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for f in (a, b):
        f.write_text("P:\n  policy: file\n  rules: [default match]\n")
    with pytest.raises(RulesError, match=rf"^{b}:1:1: policy 'P': policy 'P' is already defined "
                                         rf"at {a}:1:1"):
        load_rule_files([a, b])


def test_unknown_keys_and_operations_warn(tmp_path: Path):
    p = tmp_path / "w.yaml"
    p.write_text("P:\n  policy: fileaccess\n  colour: red\n  rules:\n"
                 "    - match operation == \"write\"\n    - default ignore\n")
    loaded = load_rule_files([p])
    msgs = [str(w) for w in loaded.warnings]
    assert f"{p}:3:3: policy 'P': warning: unknown key 'colour' (ignored)" in msgs
    assert f"{p}:1:1: policy 'P': warning: no priority: Medium assumed" in msgs
    assert any(m.startswith(f"{p}:5:26: policy 'P': warning: 'operation' is never 'write'")
               for m in msgs), msgs
    assert "inactive  P [Medium] fileaccess" in loaded.render_check()


def test_mangled_policy_files_never_crash(tmp_path: Path):
    """Deterministic mutations of a policy file: each loads or fails with file:line:col."""
    import random
    import re

    src = (Path("tests/data/rules/capsule8_seed004.yaml").read_text()
           + "E:\n  policy: exec\n  responseAction: [kill, log]\n  rules:\n"
             "    - match programName in $Sh and (uid >= 1000 or not containerId == \"\")\n"
             "    - default ignore\nSh:\n  type: programs\n  list: [/bin/*sh]\n")
    rng = random.Random(20)
    chars = list(' \n:-"\'$()[]{}*!=<>andornot0123\t#&|,?%@`\\')
    p = tmp_path / "m.yaml"
    located = re.compile(rf"^{re.escape(str(p))}:\d+:\d+: ")
    for _ in range(400):
        s = list(src)
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(s))
            r = rng.random()
            if r < 0.4:
                del s[k:k + rng.randint(1, 6)]
            elif r < 0.8:
                s.insert(k, rng.choice(chars))
            else:
                s[k] = rng.choice(chars)
        p.write_text("".join(s))
        try:
            load_rule_files([p])
        except RulesError as exc:
            assert located.match(str(exc)), (str(exc), "".join(s))
