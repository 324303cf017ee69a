"""The replay prefilter's needles and block scan (the property that it never changes findings
is tests/fuzz/test_fuzz_prefilter.py)."""

from __future__ import annotations

import pytest

from memwarden.core.requirements import PathFilter
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import HYPERSCAN, Prefilter, minimal, needles_of
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
