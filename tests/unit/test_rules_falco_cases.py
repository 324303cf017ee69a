"""The rules-loader corpus: snippets built from the facts of Falco's rule-loader unit tests,
each with Falco's outcome (loads or an error, and the warnings), in
tests/data/rules/falco_loader_cases.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from memwarden.core.event import Event
from memwarden.rules.falco import RulesError, load_rules

CASES = yaml.safe_load(Path("tests/data/rules/falco_loader_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_falco_loader_case(tmp_path, case):
    f = tmp_path / "rules.yaml"
    f.write_text(case["rules"])
    if case["outcome"] == "error":
        with pytest.raises(RulesError) as info:
            load_rules([str(f)])
        assert case["error"].lower() in str(info.value).lower()
        assert str(info.value).startswith(f"{f}:")
        return
    loaded = load_rules([str(f)])
    texts = [str(w).lower() for w in loaded.warnings]
    for want in case.get("warnings", []):
        assert any(want.lower() in t for t in texts), (want, texts)
    for unwanted in case.get("no_warnings", []):
        if unwanted == "":
            assert not texts, texts
        else:
            assert not any(unwanted.lower() in t for t in texts), (unwanted, texts)


def _exec(comm: str, argv: list[str]) -> Event:
    return Event.new("sched_process_exec", [
        ("cmdpath", "const char*", "/usr/bin/" + comm), ("pathname", "const char*",
                                                          "/usr/bin/" + comm),
        ("argv", "const char**", argv)],
        timestamp=1, processId=1, threadId=1, hostProcessId=1, hostThreadId=1,
        hostParentProcessId=0, userId=0, processName=comm,
        executable={"path": "/usr/bin/" + comm}, hostName="n", syscall="execve", returnValue=0)


def test_modifiers_evaluate_as_falco_defines_them(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("- rule: r\n  desc: d\n  condition: evt.type = execve and proc.name "
                 "startswith oneof (ssh, su) and proc.cmdline contains allof (curl, http)\n"
                 "  output: o\n  priority: INFO\n"
                 "  exceptions:\n    - name: e\n      fields: [proc.name]\n"
                 "      comps: [endswith anyof]\n      values: [[[d, x]]]\n")
    det = load_rules([str(f)]).detectors[0]
    assert det.on_event(_exec("sudo", ["sudo", "curl", "http://x"]))
    assert not det.on_event(_exec("sudo", ["sudo", "curl"]))  # allof: both needed
    assert not det.on_event(_exec("cat", ["cat", "curl", "http://x"]))  # oneof: none
    assert not det.on_event(_exec("sshd", ["sshd", "curl", "http://x"]))  # exception


def test_multi_value_transformers_and_byte_escapes_evaluate(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("- rule: r\n  desc: d\n  condition: >\n    evt.type = execve and "
                 "concat(proc.name, \"-x\") = cat-x and join(\",\", (proc.name, proc.exepath))"
                 " = \"cat,/usr/bin/cat\" and tolower(concat(proc.name, \"X\")) = catx\n"
                 "  output: o\n  priority: INFO\n"
                 "- rule: b\n  desc: d\n  condition: 'evt.type = execve and proc.name = "
                 "\"c\\x61t\"'\n  output: o\n  priority: INFO\n")
    loaded = load_rules([str(f)])
    t, b = loaded.detectors
    assert t.on_event(_exec("cat", ["cat"])) and not t.on_event(_exec("dog", ["dog"]))
    assert b.on_event(_exec("cat", ["cat"])) and not b.on_event(_exec("cbt", ["cbt"]))


def test_output_fields_keep_falcos_value_types(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text("- rule: r\n  desc: d\n  condition: evt.type = execve\n"
                 "  output: t=%evt.time pid=%proc.pid name=%proc.name img=%container.image\n"
                 "  priority: INFO\n")
    det = load_rules([str(f)]).detectors[0]
    data = det.finding(_exec("cat", ["cat"])).data
    fields = data["output_fields"]
    assert fields["evt.time"] == 1  # ns since the epoch, as in Falco's JSON alert
    assert fields["proc.pid"] == 1 and fields["proc.name"] == "cat"
    assert ":" in data["output"].split("t=", 1)[1].split(" ")[0]  # a time of day in the text
