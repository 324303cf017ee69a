"""The directory of an unlink/rename/link path judged by what it is (enrich/dir_identity.py):
on real directories, symlinks and processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from memwarden.enrich.dir_identity import DirIdentity

OWN_NS = os.stat("/proc/self/ns/mnt").st_ino


def tree(tmp_path: Path) -> tuple[str, Path]:
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(store)
    (tmp_path / "chain").symlink_to(tmp_path / "link")  # a symlink to a symlink
    (tmp_path / "rel").symlink_to("store")  # relative
    (tmp_path / "elsewhere").symlink_to(tmp_path / "other")
    return f"{store}/", tmp_path


def test_symlinked_directories_are_the_watched_one(tmp_path: Path) -> None:
    watched, t = tree(tmp_path)
    judge = DirIdentity(watched)
    for via in ("link", "chain", "rel"):
        assert judge.real_path(f"{t}/{via}/core.x", os.getpid(), 0, OWN_NS) == watched + "core.x"
    assert judge.real_path(f"{t}/elsewhere/core.x", os.getpid(), 0, OWN_NS) is None
    assert (judge.counts.judged, judge.counts.matched) == (4, 3)


def test_paths_it_does_not_judge(tmp_path: Path) -> None:
    """Already in the watched directory, no directory part, a missing directory."""
    watched, t = tree(tmp_path)
    judge = DirIdentity(watched)
    assert judge.real_path(watched + "core.x", os.getpid(), 0, OWN_NS) is None
    assert judge.real_path("core.x", os.getpid(), 0, OWN_NS) is None
    assert judge.real_path("/core.x", os.getpid(), 0, OWN_NS) is None
    assert judge.counts.judged == judge.counts.unresolved == 0
    assert judge.real_path(f"{t}/gone/core.x", os.getpid(), 0, OWN_NS) is None
    assert judge.counts.unresolved == 1


def test_another_namespace_resolved_in_the_callers_root(tmp_path: Path) -> None:
    """A caller in a mount namespace of its own: its root (while it or its parent lives) is
    where the symlink is followed; once both are gone the path is left as it is (counted)."""
    watched, t = tree(tmp_path)
    child = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                              "import os, sys; print(os.stat('/proc/self/ns/mnt').st_ino, "
                              "flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ns = int(child.stdout.readline())
        assert ns != OWN_NS
        judge = DirIdentity(watched)
        # the unshare process execs python: the pid is the one in that namespace
        assert judge.real_path(f"{t}/link/core.x", child.pid, 0, ns) == watched + "core.x"
        assert judge.real_path(f"{t}/link/core.x", 0, child.pid, ns) == watched + "core.x"
        # a pid outside the event's namespace is not the caller's root
        assert judge.real_path(f"{t}/link/core.x", os.getpid(), 0, ns) is None
    finally:
        child.communicate("", timeout=30)
    assert judge.real_path(f"{t}/link/core.x", child.pid, 0, ns) is None
    assert judge.counts.unresolved == 2


def test_the_budget_bounds_the_work(tmp_path: Path) -> None:
    watched, t = tree(tmp_path)
    judge = DirIdentity(watched, budget_per_second=3)
    got = [judge.real_path(f"{t}/link/core.{i}", os.getpid(), 0, OWN_NS) for i in range(10)]
    assert got.count(None) >= 7 - 3 and judge.counts.over_budget >= 4
    assert judge.counts.matched + judge.counts.over_budget == 10
