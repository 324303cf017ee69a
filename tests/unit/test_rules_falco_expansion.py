"""Issue 12: macros that use a macro twice per level must not make loading exponential.

``m_i: (m_{i-1} or m_{i-1})`` is 2**i checks as a tree but i nodes as a DAG; every analysis
walks the DAG, and a condition whose tree would still be huge is refused at the macro, placed.
"""

from __future__ import annotations

import time

import pytest

from memwarden.core.event import Event
from memwarden.rules.falco import RulesError, load_rules
from memwarden.rules.falco.expand import MAX_EXPANDED_NODES


def _chain(levels: int, level_condition: str) -> str:
    out = ["- macro: m0\n  condition: fd.name = /x\n"]
    for i in range(1, levels + 1):
        out.append(f"- macro: m{i}\n  condition: {level_condition.format(p=f'm{i - 1}', i=i)}\n")
    out.append(f"- rule: r\n  desc: d\n  condition: evt.type = openat and m{levels}\n"
               f"  output: o\n  priority: WARNING\n")
    return "".join(out)


def _open(path: str) -> Event:
    return Event.new("security_file_open", [
        ("pathname", "const char*", path), ("flags", "int", 0), ("dev", "dev_t", 1),
        ("inode", "unsigned long", 1), ("ctime", "unsigned long", 0),
        ("syscall_pathname", "const char*", path)],
        timestamp=1, processId=1, threadId=1, hostProcessId=1, hostThreadId=1,
        hostParentProcessId=0, userId=0, processName="cat",
        executable={"path": "/usr/bin/cat"}, hostName="n", syscall="openat", returnValue=3)


@pytest.mark.parametrize("levels", [20, 40])
def test_or_chain_of_a_shared_macro_loads_fast_and_evaluates_fast(tmp_path, levels):
    f = tmp_path / "exp.yaml"
    f.write_text(_chain(levels, "({p} or {p})"))
    t = time.perf_counter()
    loaded = load_rules([str(f)])
    assert time.perf_counter() - t < 2.0
    rule = loaded.rules[0]
    assert rule.active
    det = loaded.detectors[0]
    t = time.perf_counter()
    assert det.on_event(_open("/x"))
    assert not det.on_event(_open("/y"))
    assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize("levels", [20, 40])
def test_chain_whose_tree_is_exponential_fails_at_the_macro(tmp_path, levels):
    f = tmp_path / "exp.yaml"
    f.write_text(_chain(levels, "({p} and proc.name = a{i}) or ({p} and proc.name = b{i})"))
    t = time.perf_counter()
    with pytest.raises(RulesError) as info:
        load_rules([str(f)])
    assert time.perf_counter() - t < 2.0
    # m15 is the first macro over the bound: 2**16 checks and as many and/or nodes
    line = 1 + 2 * 15
    assert str(info.value).startswith(f"{f}:{line}:")
    assert f"macro 'm15': expands to more than {MAX_EXPANDED_NODES} nodes" in str(info.value)
