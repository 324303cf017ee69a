"""Hyperscan tests an open's access mode itself: for the needles of detectors that want some
access modes only (Falco's ``open_write``, ``open_read``), a string value holding a needle
and followed by the flags as the legacy shape writes them with another mode is no match at
all, so the line costs no Python step; any other spelling after the value (a string, another
argument, spaces, v1beta1) is a match, and the line is judged as before. The regular
expressions are checked against their definitions, and lines against the full replay."""

from __future__ import annotations

import contextlib
import itertools
import random
import re

import orjson
import pytest

from memwarden.core.linux_abi import OPEN_FLAGS
from memwarden.core.requirements import OpenModes, PathFilter
from memwarden.engine.prefilter import (
    HYPERSCAN,
    Prefilter,
    access_mode_digits,
    access_modes,
    not_after_any,
    string_flags_other_than,
)

MODE_SETS = [frozenset(c) for k in (1, 2, 3) for c in itertools.combinations(range(4), k)]


@pytest.mark.parametrize("modes", MODE_SETS, ids=lambda m: "".join(map(str, sorted(m))))
def test_the_digits_of_an_access_mode_are_its_last_two(modes: frozenset[int]) -> None:
    digits = re.compile(access_mode_digits(modes) + rb"\Z")
    numbers = [*range(0, 2000), *random.Random(7).sample(range(1 << 40), 2000)]
    assert [n for n in numbers if bool(digits.match(str(n).encode())) != (n & 3 in modes)] \
        == []


def test_not_after_any_context() -> None:
    contexts = [b'"executable":{"path":', b'{"name":"syscall_pathname","value":', b'x:']
    rx = re.compile(not_after_any(contexts) + rb"N\Z")
    rng = random.Random(3)
    alphabet = b'"{}:,xe path'
    for _ in range(4000):
        before = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        if rng.random() < 0.5:
            before += rng.choice(contexts)[rng.randrange(0, 8):]
        text = before + b"N"
        expected = not any(before.endswith(c) for c in contexts)
        assert bool(rx.search(text)) == expected, text


def test_access_modes_of_conditions() -> None:
    write, read = OpenModes(frozenset({1, 2})), OpenModes(frozenset({0, 2}))
    assert access_modes([(write,)]) == {1, 2}
    assert access_modes([(write, read)]) == {2}
    assert access_modes([(write,), (read,)]) == {0, 1, 2}  # not 3
    assert access_modes([(write,), (OpenModes(frozenset({0, 3})),)]) is None  # every mode
    assert access_modes([(write,), (bool,)]) is None  # a detector with no mode
    assert access_modes([(write, bool)]) == {1, 2}


def _line(flags: object, path: str = "/etc/passwd", *, name: str = "security_file_open",
          flags_type: str = "int") -> bytes:
    d = {"timestamp": 1, "processName": "cat", "executable": {"path": "/etc/cat"},
         "eventName": name,
         "args": [{"name": "pathname", "type": "const char*", "value": path},
                  {"name": "flags", "type": flags_type, "value": flags},
                  {"name": "syscall_pathname", "type": "const char*", "value": path}]}
    return orjson.dumps(d) + b"\n"


@pytest.fixture
def writes_below_etc() -> Prefilter:
    f = PathFilter("security_file_open", "prefix", "/etc/")
    return Prefilter((), {"security_file_open": [f]}, scanner="hyperscan",
                     flag_conditions={"security_file_open": {f: [(OpenModes(
                         frozenset({1, 2})),)]}})


@pytest.mark.skipif(not HYPERSCAN, reason="the scanner's own test of the flags needs Hyperscan")
def test_a_read_below_etc_is_no_match_for_the_rules_on_writes(
        writes_below_etc: Prefilter) -> None:
    p = writes_below_etc
    for flags in (0, 32768, 0o2100000, 4, 1 << 40):  # read-only (and mode 0 of big numbers)
        assert p._scan(_line(flags), 0) == [], flags  # no match: no Python step either
        assert p.kept(_line(flags)) == []
    for flags in (1, 2, 0o101, 0o2101, 33, (1 << 40) + 1):
        assert p.kept(_line(flags)) == [0], flags
    # another spelling of the flags, or of the line: a match, judged as before (kept when
    # the flags cannot be told from the bytes or cannot be parsed)
    assert p._scan(_line("O_RDONLY|O_CLOEXEC"), 0) == []  # Tracee's names: read-only
    for line, kept in ((_line("O_WRONLY|O_TRUNC"), True), (_line("o_rdonly"), False),
                       (_line("O_RDONLY|O_NEW"), True), (_line(-1), False), (_line(1.5), True),
                       (_line(32768, flags_type="unsigned int"), True),
                       (_line(32768).replace(b'"value":32768', b'"value": 32768'), False),
                       (_line(32768).replace(b',{"name":"flags"', b',{"name":"mode","type":'
                                             b'"int","value":0},{"name":"flags"'), False)):
        assert p._scan(line, 0) != [], line
        assert p.kept(line) == ([0] if kept else []), line
    # a needle only in the executable's value or the caller's string: no match
    assert p._scan(_line(32768, "/srv/x").replace(b'"/srv/x"}]', b'"/etc/x"}]'), 0) == []
    assert p._scan(_line(1, "/srv/x"), 0) == []
    # a needle in another string before the flags (a rename's paths, say): judged by the flags
    assert p.kept(_line(32768, "/etc/x").replace(b'"pathname"', b'"oldpath"')) == []
    assert p.kept(_line(1, "/etc/x").replace(b'"pathname"', b'"oldpath"')) == [0]


def _string_flags_judged(text: str, modes: frozenset[int]) -> bool:
    """What the line's own gate says of flags written as the string ``text``."""
    return OpenModes(modes)(text)


@pytest.mark.parametrize("modes", MODE_SETS, ids=lambda m: "".join(map(str, sorted(m))))
def test_string_flags_of_another_mode_are_told_from_every_other_string(
        modes: frozenset[int]) -> None:
    """The scanner passes over a string of flags only when the gate would reject it."""
    rx = re.compile(b'"' + string_flags_other_than(modes))
    names = [*OPEN_FLAGS, "O_RDONLYX", "O_DIRECT", "O_DIRECTOR", "X", "_", "", "O_", "FASYN"]
    rng = random.Random(len(modes) * 10 + min(modes))
    texts = ["", "O_RDONLY", "o_wronly", "O_WRONLY|O_RDWR", "32769", "0x1", " O_RDWR",
             "O_RDONLY||O_CREAT", "|"]
    for _ in range(3000):
        texts.append("|".join(rng.choice(names) for _ in range(rng.randrange(1, 4))))
    for text in texts:
        written = b'"' + text.encode() + b'"}'
        matched = bool(rx.match(written))
        if not matched:  # passed over: the gate rejects it too
            assert not _string_flags_judged(text, modes), text
    # and what the gate rejects is mostly passed over (names it knows, no other byte)
    assert not rx.match(b'"O_RDONLY|O_CLOEXEC"}') or 0 in modes or 3 in modes


RULES = """
- macro: open_write
  condition: (evt.type in (open,openat) and evt.is_open_write=true and fd.typechar='f')
- macro: open_read
  condition: (evt.type in (open,openat) and evt.is_open_read=true and fd.typechar='f')
- rule: write below etc
  desc: d
  condition: open_write and fd.name startswith /etc/
  output: "%fd.name"
  priority: ERROR
- rule: shadow read
  desc: d
  condition: open_read and fd.name = /etc/shadow and not proc.name = sshd
  output: "%fd.name"
  priority: ERROR
- rule: log truncated
  desc: d
  condition: open_write and fd.name endswith .log and evt.arg.flags contains O_TRUNC
  output: "%fd.name"
  priority: ERROR
- rule: traversal
  desc: d
  condition: open_read and fd.nameraw contains ../
  output: "%fd.nameraw"
  priority: ERROR
"""
FLAGS = (0, 1, 2, 3, 32768, 32769, 0o101, 0o1101, 0o2101, 0o1002, -1, 1 << 40,
         "O_RDONLY", "O_WRONLY|O_TRUNC", "O_RDWR|O_CREAT", "O_RDONLY|O_CLOEXEC", "o_wronly",
         "O_RDONLY|O_BOGUS", "", "1", "O_WRONLY|O_RDWR", "O_DIRECTORY|O_RDONLY")
PATHS = ("/etc/passwd", "/etc/shadow", "/var/x.log", "/srv/a", "/etc/../etc/shadow",
         "/usr/lib/libc.so", "/tmp/y.log")


def _open_lines(rng: random.Random, count: int) -> bytes:
    from memwarden.events.tracee_json import legacy_to_v1beta1

    out = []
    for i in range(count):
        path, raw = rng.choice(PATHS), rng.choice(PATHS)
        flags = rng.choice(FLAGS)
        args = [{"name": "pathname", "type": "const char*", "value": path},
                {"name": "flags", "type": "int", "value": flags},
                {"name": "dev", "type": "dev_t", "value": 259},
                {"name": "syscall_pathname", "type": "const char*",
                 "value": raw if rng.random() < 0.3 else path}]
        if rng.random() < 0.15:
            rng.shuffle(args)
        d = {"timestamp": 1000 + i, "processId": 7, "hostProcessId": 7, "threadId": 7,
             "hostThreadId": 7, "processName": rng.choice(("cat", "sshd")),
             "executable": {"path": rng.choice(("/usr/bin/cat", "/etc/x", "/a/b.log"))},
             "eventId": "0", "eventName": rng.choice(("security_file_open", "openat")),
             "argsNum": len(args), "returnValue": 0, "args": args}
        if rng.random() < 0.1:
            d = legacy_to_v1beta1(d)
        line = orjson.dumps(d)
        roll = rng.random()
        if roll < 0.05:
            line = line.replace(b'"value":', b'"value": ')
        elif roll < 0.1:
            line = line.replace(b"/", b"\\/")
        out.append(line + b"\n")
    return b"".join(out)


@pytest.mark.skipif(not HYPERSCAN, reason="the scanner's own test of the flags needs Hyperscan")
@pytest.mark.parametrize("seed", range(5))
def test_opens_of_every_spelling_lose_no_finding(tmp_path, seed: int) -> None:
    import io

    from memwarden.core.event import EventFormatError
    from memwarden.engine.dispatch import Engine
    from memwarden.events.tracee_json import event_from_dict
    from memwarden.rules.falco import load_rules
    from memwarden.sources.tracee_json import JsonLinesReplay

    rules = tmp_path / "opens.yaml"
    rules.write_text(RULES)
    data = _open_lines(random.Random(seed), 3000)

    def engine(found: list) -> Engine:
        return Engine(load_rules([rules]).detectors,
                      sink=lambda f: found.append((f.metadata.id, f.event.timestamp)))

    ungated: list = []
    e = engine(ungated)
    for line in data.splitlines():
        with contextlib.suppress(EventFormatError):  # what the replay reports and skips
            e.process_event(event_from_dict(orjson.loads(line)))
    assert {r for r, _ in ungated} == {"write below etc", "shadow read", "log truncated",
                                       "traversal"}
    found: list = []
    e = engine(found)
    assert e.prefilter.scanner == "hyperscan"
    stream = io.BytesIO(data)
    JsonLinesReplay("<t>", e, err=io.StringIO(), prefilter=True)._run(stream, stream, "<t>")
    assert found == ungated
    assert e.stats.events_prefiltered > 0
