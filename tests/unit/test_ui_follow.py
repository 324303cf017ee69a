"""``memwarden ui --from FILE``: the follower takes complete lines only, across appends, a
rotation (rest of the old file, then the new one) and a truncation; the console ingests them
and counts the bad ones."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from memwarden.ui.filters import parse_filters
from memwarden.ui.follow import Follower, follow_file
from memwarden.ui.server import Console, ConsoleConfig
from ui_bodies import falco_body, tracee_body


def test_appends_partial_lines_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    f = Follower(str(path))
    assert f.poll() == []  # not there yet
    path.write_bytes(b"one\ntw")
    assert f.poll() == [(1, b"one")]
    with path.open("ab") as out:
        out.write(b"o\n\nthree\n")
    assert f.poll() == [(2, b"two"), (4, b"three")]
    with path.open("ab") as out:
        out.write(b"four\n")
    os.rename(path, tmp_path / "findings.jsonl.1")
    path.write_bytes(b"new-1\n")
    assert f.poll() == [(5, b"four"), (1, b"new-1")]
    path.write_bytes(b"x\n")  # truncated in place (same inode, smaller)
    assert f.poll() == [(1, b"x")]
    f.close()


def test_follow_file_ingests_and_counts_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    path.write_bytes(tracee_body() + b"not json\n")
    err = io.StringIO()

    async def main() -> Console:
        console = Console(ConsoleConfig(), err=err)
        task = asyncio.create_task(follow_file(console, str(path), poll_s=0.01))
        for _ in range(500):
            if console.counters.followed_lines == 2:
                break
            await asyncio.sleep(0.01)
        with path.open("ab") as out:
            out.write(falco_body())
        for _ in range(500):
            if console.counters.ingested == 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return console

    console = asyncio.run(main())
    assert console.counters.ingested == 2 and console.counters.followed_malformed == 1
    assert f"{path}:2: line 1: not JSON" in err.getvalue()
    assert [r["kind"] for r in console.store.list(parse_filters({}))] == [
        "falco", "tracee"]
