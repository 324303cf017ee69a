"""The replay prefilter's needles and block scan (the property that it never changes findings
is tests/fuzz/test_fuzz_prefilter.py)."""

from __future__ import annotations

import random

import pytest

from memwarden.core.linux_abi import parse_open_flags
from memwarden.core.requirements import PathFilter
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import (
    _ID_MASK,
    HYPERSCAN,
    Prefilter,
    _hyperscan_scanner,
    _needle_expression,
    _re_scanner,
    line_arg,
    line_event_name,
    line_flags,
    minimal,
    needles_of,
)
from memwarden.enrich.proctable import FEEDS, ProcessTable
from memwarden.signatures import load_builtin

SCANNERS = ["re", "hyperscan"] if HYPERSCAN else ["re"]


def test_needles_hold_what_a_matching_path_value_is_written_as() -> None:
    filters = [PathFilter("e", "exact", "/dev/mem"), PathFilter("e", "prefix", "/var/x/"),
               PathFilter("e", "suffix", "/proc/kcore"), PathFilter("e", "basename", "mem")]
    assert needles_of(filters) == {b'"/dev/mem"', b'"/var/x/', b'/proc/kcore"', b'mem"'}
    # "/dev/mem" holds mem": implied by it
    assert minimal(needles_of(filters)) == (b'/proc/kcore"', b'"/var/x/', b'mem"')


def test_the_engine_prefilter_wants_the_process_table_feeds_and_gates_file_opens() -> None:
    engine = Engine(load_builtin(), enricher=ProcessTable())
    p = engine.prefilter
    assert p.wanted >= FEEDS and "kill" in p.wanted  # kill: an argument filter, not a path
    assert "security_file_open" in p.gated and "security_file_open" not in p.wanted
    assert b"\\" in p.needles and b'/proc/kcore"' in p.needles


@pytest.mark.parametrize("scanner", SCANNERS)
def test_kept_lines_are_the_wanted_the_escaped_and_the_misshapen(scanner: str) -> None:
    p = Prefilter({"kill"}, {"security_file_open": [PathFilter("security_file_open", "suffix",
                                                               "/proc/kcore")]},
                  scanner=scanner)
    lines = [
        b'{"eventName":"close","args":[]}',                                   # 0 dropped
        b'{"eventName":"kill","args":[]}',                                    # 1 wanted
        b'{"eventName":"security_file_open","args":[{"value":"/etc/x"}]}',    # 2 dropped
        b'{"eventName":"security_file_open","args":[{"value":"/proc/kcore"}]}',  # 3 a needle
        b'{"eventName":"security_file_open","args":[{"value":"\\/proc\\/kcore"}]}',  # 4 escaped
        b'{"name": "kill", "data": []}',                                     # 5 v1beta1
        b'{"eventName":"close","args":[]',                                    # 6 truncated
        b'',                                                                  # 7 blank
        b'[1]',                                                               # 8 not an object
        b'{"eventName":"close"}',                                             # 9 dropped, last
    ]
    block = b"\n".join(lines) + b"\n"
    starts = p.kept(block)
    kept = [block[s:block.find(b"\n", s)] for s in starts]
    assert kept == [lines[i] for i in (1, 3, 4, 5, 6, 7, 8)]
    # a last line without its newline is kept (and reported as truncated by the parser)
    assert p.kept(b'{"eventName":"close"}\n{"eventName":"clo') == [22]
    assert p.kept(b'[1]\n') == [0]


@pytest.mark.parametrize("scanner", SCANNERS)
def test_a_needle_keeps_only_the_lines_of_its_own_events(scanner: str) -> None:
    """/etc/ is a needle of the opens' filters: an openat or kill line naming /etc/passwd is
    skipped, the open kept; where the line's name cannot be told from its bytes (the v1beta1
    shape, spaces, the key twice, an escape), the line is kept."""
    p = Prefilter({"kill"}, {"security_file_open": [PathFilter("security_file_open", "prefix",
                                                               "/etc/")]},
                  scanner=scanner)
    lines = [
        b'{"eventName":"openat","args":[{"value":"/etc/passwd"}]}',             # 0 not its own
        b'{"eventName":"security_file_open","args":[{"value":"/etc/passwd"}]}',  # 1 its own
        b'{"eventName":"kill","args":[{"value":"/etc/passwd"}]}',              # 2 kill: wanted
        b'{"name":"openat","data":[{"value":"/etc/passwd"}]}',                 # 3 v1beta1
        b'{"eventName": "openat","args":[{"value":"/etc/passwd"}]}',           # 4 spaced
        b'{"eventName":"openat","x":{"eventName":"y"},"a":"/etc/passwd"}',     # 5 twice
        b'{"eventName":"pkill_x","args":[{"value":"/usr/bin/pkill"}]}',        # 6 no "kill"
        b'{"eventName":"open\\u0061t","args":[{"value":"/etc/passwd"}]}',     # 7 escaped
    ]
    block = b"\n".join(lines) + b"\n"
    kept = [block[s:block.find(b"\n", s)] for s in p.kept(block)]
    if scanner == "re":  # matches that do not overlap: every needle is everybody's
        assert kept == [line for i, line in enumerate(lines) if i != 6]
    else:
        assert kept == [lines[i] for i in (1, 2, 3, 4, 5, 7)]


@pytest.mark.skipif(not HYPERSCAN, reason="the re scanner makes every needle everybody's")
def test_an_open_is_kept_only_for_a_needle_whose_flags_condition_holds() -> None:
    """/etc/ is the writes' needle, /etc/shadow the reads': a read of /etc/passwd is skipped,
    a write of it kept, a read or a write of /etc/shadow kept (the shorter needle does not
    swallow the longer one's condition); flags not told are kept."""
    read = lambda flags: (parse_open_flags(flags) & 3) == 0  # noqa: E731
    write = lambda flags: (parse_open_flags(flags) & 3) in (1, 2)  # noqa: E731
    etc, shadow = (PathFilter("security_file_open", "prefix", "/etc/"),
                   PathFilter("security_file_open", "exact", "/etc/shadow"))
    p = Prefilter(set(), {"security_file_open": [etc, shadow]}, scanner="hyperscan",
                  flag_conditions={"security_file_open": {etc: [(write,)], shadow: [(read,)]}})
    line = (b'{"eventName":"security_file_open","args":[{"name":"pathname","type":"const char*",'
            b'"value":"%s"},{"name":"flags","type":"int","value":%s}]}')
    assert p.kept(line % (b"/etc/passwd", b"32768") + b"\n") == []
    assert p.kept(line % (b"/etc/passwd", b"32769") + b"\n") == [0]
    assert p.kept(line % (b"/etc/shadow", b"0") + b"\n") == [0]
    assert p.kept(line % (b"/etc/shadow", b"1") + b"\n") == [0]
    assert p.kept(line % (b"/etc/passwd", b'"O_RDONLY"') + b"\n") == []  # Tracee's text
    assert p.kept(line % (b"/etc/passwd", b'"O_RDWR"') + b"\n") == [0]
    assert p.kept(line % (b"/etc/passwd", b'"O_RD\\u004fNLY"') + b"\n") == [0]  # escaped
    assert p.kept(line % (b"/etc/passwd", b'[1]') + b"\n") == [0]  # not a number
    assert line_flags(b'{"name":"flags","type":"int","value":-1}', 0, 41) == -1


@pytest.mark.skipif(not HYPERSCAN, reason="the re scanner keeps every wanted name's line")
def test_a_signal_or_ptrace_line_is_kept_only_when_a_detector_could_want_its_arguments() -> None:
    """The built-in signatures on kill and ptrace declared argument filters only: a SIGTERM
    or a PTRACE_SYSCALL is skipped from its bytes, a core-dumping signal or an attach kept,
    and so is a line whose argument cannot be told (escaped, absent, twice, not a number or
    a string) or that names another event."""
    p = Engine(load_builtin(), enricher=ProcessTable()).prefilter
    assert set(p.arg_conditions) >= {"kill", "tkill", "tgkill", "ptrace"}
    assert "sched_process_exit" not in p.arg_conditions  # the process table is fed by it
    kill = (b'{"eventName":"kill","processName":"kill","args":[{"name":"pid","type":"int",'
            b'"value":42},{"name":"sig","type":"int","value":%s}]}\n')
    assert p.kept(kill % b"15") == []
    assert p.kept(kill % b'"SIGTERM"') == []
    for kept in (b"11", b"6", b'"SIGSEGV"', b'"SIG\\u0053EGV"', b"15.0", b"[15]", b"null",
                 b'15},{"name":"sig","type":"int","value":15'):
        assert p.kept(kill % kept) == [0], kept
    assert p.kept(kill.replace(b'"name":"sig"', b'"name":"signal"') % b"15") == [0]
    assert p.kept(kill.replace(b'"type":"int","value":%s', b'"value":%s') % b"15") == [0]
    ptrace = (b'{"eventName":"ptrace","args":[{"name":"request","type":"long","value":%s},'
              b'{"name":"pid","type":"pid_t","value":42}]}\n')
    assert p.kept(ptrace % b"24") == []
    assert p.kept(ptrace % b'"PTRACE_CONT"') == []
    assert p.kept(ptrace % b"16") == [0]
    assert p.kept(ptrace % b'"PTRACE_SEIZE"') == [0]
    # "kill" as another event's value: that line is not kept for it
    other = b'{"eventName":"close","processName":"kill","args":[]}\n'
    assert p.kept(other) == []
    line = b'{"name":"request","type":"long","value":"PTRACE_ATTACH"}'
    assert line_arg(line, 0, len(line), b"request") == "PTRACE_ATTACH"
    assert line_arg(line, 0, len(line), b"pid") is None


def test_a_line_event_name_is_told_only_when_written_once() -> None:
    line = b'{"eventName":"security_file_open","a":1}'
    assert line_event_name(line, 0, len(line)) == b"security_file_open"
    assert line_event_name(b'{"a":1}', 0, 7) is None
    twice = b'{"eventName":"a","b":{"eventName":"c"}}'
    assert line_event_name(twice, 0, len(twice)) is None


def test_a_reload_swaps_the_prefilter_with_the_routes() -> None:
    engine = Engine([], enricher=None)
    assert not engine.prefilter.wanted
    engine.replace_detectors(load_builtin())
    assert "ptrace" in engine.prefilter.wanted


def test_newlines_counts_every_newline_of_long_and_short_lines() -> None:
    """The block's count whichever way it is taken (long lines walk, short ones count)."""
    from memwarden.engine.prefilter import newlines

    for block in (b"", b"\n", b"x", b"a\nb", b"\n" * 70000, b"{}\n" * 30000,
                  (b"x" * 999 + b"\n") * 300, (b"x" * 999 + b"\n") * 300 + b"tail",
                  b"y" * 70000 + b"\n" + b"z" * 10, (b"x" * 5000 + b"\n\n") * 40):
        assert newlines(block) == block.count(b"\n")


def _open_line(path: str, core_store: int, *, spaced: bool = False) -> bytes:
    import orjson

    from memwarden.core.event import Event
    from memwarden.events.catalogue import CATALOGUE

    values = {"pathname": path, "flags": 0, "core_store": core_store}
    ev = Event.new("security_file_open",
                   [(n, t, values.get(n, "" if t == "const char*" else 0))
                    for n, t in CATALOGUE["security_file_open"].arg_types],
                   processName="cat", hostProcessId=4242, processId=4242)
    if spaced:  # another writer's whitespace (json.dumps)
        import json
        return json.dumps(ev.data).encode()
    return orjson.dumps(ev.data)


@pytest.mark.parametrize("scanner", SCANNERS)
def test_an_open_that_is_a_core_by_identity_is_kept_wherever_it_was(scanner: str) -> None:
    """``core_store`` 1 (IDENTITY_ARGS): a stored core read through a hard link made elsewhere
    has its path outside the store; the prefilter and the engine's path gate keep it, so
    MW-1001 fires on replay as it did live. The same path with ``core_store`` 0 (a file merely
    elsewhere) is dropped unparsed, as before."""
    findings: list = []
    engine = Engine([d for d in load_builtin() if d.detector_id == "MW-1001"],
                    sink=findings.append)
    p = engine.prefilter
    p = Prefilter(p.wanted, p.gated, scanner=scanner,
                  identities={"security_file_open": ("core_store",)})
    lines = [_open_line("/srv/notes", 1), _open_line("/srv/notes", 0),
             _open_line("/srv/other", 1, spaced=True), _open_line("/srv/x", 10)]
    block = b"\n".join(lines) + b"\n"
    kept = [block[s:e].rstrip(b"\n") for s, e in p.spans(block)]
    assert kept == [lines[0], lines[2]]
    assert engine.prefilter.patterns == p.patterns  # the engine's own has them too
    engine.process_json_lines(lines, lambda *a: pytest.fail(f"bad line {a}"))
    assert [f.event.str_arg("pathname") for f in findings] == ["/srv/notes", "/srv/other"]
    assert engine.stats.events_path_filtered == 2  # the gate, given every line


@pytest.mark.parametrize("scanner", SCANNERS)
def test_a_quoted_needle_is_reported_unless_it_is_the_executables_value(scanner: str) -> None:
    """Every host's line has ``"executable":{"path":"/usr/bin/...``: the scanner itself does
    not report a quoted needle right after that key (no Python step a line for it), and
    reports it after anything else, at the start of the data or of a line, after part of
    the key, after the key spelled with a space."""
    rng = random.Random(5)
    key = b'"executable":{"path":'
    needle = b'"/usr/bin/'
    scan = (_hyperscan_scanner if scanner == "hyperscan" else _re_scanner)(
        [_needle_expression(needle, scanner)])
    pieces = [b"x", b"\n", b"{", b'"', b":", b" ", key, key.replace(b":{", b": {")]
    for _ in range(3000):
        before = b"".join(
            rng.choice([*pieces, key[:rng.randint(0, len(key))], key[rng.randint(0, len(key)):]])
            for _ in range(rng.randint(0, 4)))
        block = before + needle + b"}\n"
        reported = [m for m in scan(block, 0) if m & _ID_MASK == 0]
        wanted = not before.rpartition(b"\n")[2].endswith(key)
        assert bool(reported) == wanted, block
