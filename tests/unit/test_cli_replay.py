"""``memwarden replay`` and ``signatures`` as a user runs them (real processes)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from memwarden import __version__

DATA = Path(__file__).parent.parent / "data"
LEGACY = DATA / "tracee_legacy.jsonl"


def memwarden(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], input=stdin,
                          capture_output=True, timeout=60)


def findings(out: bytes) -> list[dict]:
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


def test_replay_prints_tracee_findings_as_json_lines() -> None:
    r = memwarden("replay", str(LEGACY))
    assert r.returncode == 0, r.stderr
    got = findings(r.stdout)
    assert [f["eventName"] for f in got] == ["proc_kcore_read"] * 4
    assert got[0]["metadata"]["Properties"]["signatureID"] == "TRC-1021"


def test_stdin_and_gzip_inputs(tmp_path: Path) -> None:
    r = memwarden("replay", "-", stdin=LEGACY.read_bytes())
    assert r.returncode == 0 and len(findings(r.stdout)) == 4
    gz = tmp_path / "events.json.gz"  # told by content, not by the name: try a plain name too
    gz.write_bytes(gzip.compress(LEGACY.read_bytes()))
    plain_name = tmp_path / "events.log"
    shutil.copy(gz, plain_name)
    for path in (gz, plain_name):
        r = memwarden("replay", str(path))
        assert r.returncode == 0 and len(findings(r.stdout)) == 4, r.stderr
    r = memwarden("replay", "-", stdin=gzip.compress(LEGACY.read_bytes()))
    assert len(findings(r.stdout)) == 4


def _bad_lines(tmp_path: Path) -> Path:
    good = LEGACY.read_bytes().splitlines()
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\n".join([
        good[0],
        b"{not json",
        b"[1, 2, 3]",
        b'{"eventName": "security_file_open", "args": "oops"}',
        b"",
        good[1],
        b'{"timestamp": 1}',
        good[2][: len(good[2]) // 2],  # a truncated last line, no newline
    ]))
    return bad


def test_malformed_and_truncated_lines_are_reported_counted_and_skipped(tmp_path: Path) -> None:
    bad = _bad_lines(tmp_path)
    r = memwarden("replay", "--stats", "--no-prefilter", str(bad))
    assert r.returncode == 0
    err = r.stderr.decode()
    assert f"{bad}:2: invalid JSON" in err
    assert f"{bad}:3: expected a JSON object, got list" in err
    assert f"{bad}:4: 'args' must be a list" in err
    assert f"{bad}:7: neither a Tracee trace.Event" in err
    assert f"{bad}:8: truncated or invalid JSON" in err
    assert "parse_errors: 5" in err
    assert len(findings(r.stdout)) == 2  # lines 1 and 6 still detected


def test_the_prefilter_skips_unwanted_lines_unvalidated_and_reports_the_misshapen(
        tmp_path: Path) -> None:
    """Prefiltered, a line that is not ``{...}`` (not JSON, a list, truncated) is still parsed
    and reported; a braced line no detector can want (a file open of no declared path, a
    record without an event name) is counted in events_prefiltered, not validated."""
    bad = _bad_lines(tmp_path)
    r = memwarden("replay", "--stats", "--prefilter", str(bad))
    assert r.returncode == 0
    err = r.stderr.decode()
    assert f"{bad}:2: invalid JSON" in err
    assert f"{bad}:3: expected a JSON object, got list" in err
    assert f"{bad}:8: truncated or invalid JSON" in err
    assert f"{bad}:4:" not in err and f"{bad}:7:" not in err
    assert "parse_errors: 3" in err and "events_prefiltered: 2" in err
    assert len(findings(r.stdout)) == 2  # lines 1 and 6 still detected


def test_strict_stops_at_the_first_bad_line_with_status_2(tmp_path: Path) -> None:
    good = LEGACY.read_bytes().splitlines()
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\n".join([good[0], b"{oops", good[1]]) + b"\n")
    r = memwarden("replay", "--strict", str(bad))
    assert r.returncode == 2
    assert f"memwarden: {bad}:2: invalid JSON" in r.stderr.decode()
    assert len(findings(r.stdout)) == 1


def test_strict_stop_still_prints_stats_before_the_error(tmp_path: Path) -> None:
    good = LEGACY.read_bytes().splitlines()
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\n".join([good[0], b"{oops", good[1]]) + b"\n")
    r = memwarden("replay", "--strict", "--stats", "--fail-on-finding", str(bad))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.index("memwarden stats:") < err.index(f"memwarden: {bad}:2: invalid JSON")
    assert "findings: 1" in err


def test_truncated_gzip_is_reported_not_a_crash(tmp_path: Path) -> None:
    data = gzip.compress(LEGACY.read_bytes() * 50)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    r = memwarden("replay", "--stats", str(cut))
    assert r.returncode == 0, r.stderr
    assert "cannot read further" in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


def test_exit_codes(tmp_path: Path) -> None:
    assert memwarden("replay", "--fail-on-finding", str(LEGACY)).returncode == 1
    quiet = DATA / "kcore_near_misses.jsonl"
    assert memwarden("replay", "--fail-on-finding", str(quiet)).returncode == 0
    missing = memwarden("replay", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and b"cannot open" in missing.stderr
    assert memwarden("replay").returncode == 2
    assert memwarden("replay", "--origin", "nosuch=host", str(LEGACY)).returncode == 2
    assert memwarden("replay", "--origin", "proc_kcore_read=mars", str(LEGACY)).returncode == 2


def test_origin_option_and_output_file_and_table(tmp_path: Path) -> None:
    out = tmp_path / "findings.json"
    r = memwarden("replay", "--origin", "proc_kcore_read=container", "-o", str(out), str(LEGACY))
    assert r.returncode == 0 and r.stdout == b""
    assert [f["hostProcessId"] for f in findings(out.read_bytes())] == [9001]
    r = memwarden("replay", "--format", "table", str(LEGACY))
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("TIME") and len(lines) == 5
    assert "TRC-1021" in lines[1] and "/proc/kcore" in lines[1]


def test_signatures_list_show_and_version() -> None:
    r = memwarden("signatures", "list", "--json")
    rows = orjson.loads(r.stdout)
    kcore = next(x for x in rows if x["ID"] == "TRC-1021")
    assert kcore["EventName"] == "proc_kcore_read" and kcore["Properties"]["Severity"] == 2
    assert b"TRC-1021" in memwarden("signatures", "list").stdout
    page = memwarden("signatures", "show", "proc_kcore_read").stdout.decode()
    for section in ("## NAME", "## DESCRIPTION", "## SIGNATURE METADATA", "## EVENT SETS",
                    "## DATA FIELDS", "## DEPENDENCIES", "## USE CASES"):
        assert section in page
    assert "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665" in page
    assert memwarden("signatures", "show", "TRC-1021").stdout.decode() == page
    bad = memwarden("signatures", "show", "nope")
    assert bad.returncode == 2 and b"unknown signature" in bad.stderr
    assert __version__.encode() in memwarden("--version").stdout


@pytest.mark.parametrize("cmd", [[], ["replay"], ["signatures"], ["signatures", "list"]])
def test_help_everywhere(cmd: list[str]) -> None:
    r = memwarden(*cmd, "--help")
    assert r.returncode == 0 and b"Usage:" in r.stdout


def test_bench_command_runs_and_reports_both_rates() -> None:
    # a smoke test of the benchmark command: it must run and report; no timing is asserted
    r = memwarden("bench", "--events", "3000")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "JSON parse only" in out and "full replay" in out and "ratio (b)/(a)" in out
    assert "container resolver" in out and "Event.completed()" in out


def test_replay_from_a_pipe_scans_in_a_second_process_and_finds_the_same() -> None:
    """``-`` (a pipe) with and without the scan process: the same findings, the same counts,
    the same message at the same line for a broken record."""
    lines = LEGACY.read_bytes().splitlines()
    data = b"\n".join([*lines, b"{oops", *lines]) + b"\n"
    runs = [memwarden("replay", "--prefilter", flag, "--stats", "--format", "tracee", "-",
                      stdin=data) for flag in ("--scan-process", "--no-scan-process")]
    for r in runs:
        assert r.returncode == 0, r.stderr
    there, here = runs
    assert findings(there.stdout) == findings(here.stdout) != []
    assert f"<stdin>:{len(lines) + 1}: invalid JSON" in there.stderr.decode()
    assert there.stderr == here.stderr
