"""Issue 15, class 4: renames and unlinks through a symlinked directory are judged on the real
directory (MW-1002).

At the syscall exit the kernel has only the caller's string: ``mv LINK/core.x OUT`` with
``LINK -> /var/lib/systemd/coredump`` names no path in the store. The probe sends such records
to user space (a rejected path with a directory part), which resolves the directory in the
caller's mount namespace and root and compares it with the store's: the event then names the
store (``old_path``/``pathname``) and keeps the caller's string beside it (``real_*``), so the
finding (and a replay of the recorded event) judges the real place.

- a move out of the store, a removal in it, a move into it, each through a symlink;
- near miss: a symlink to another directory holding a file named core.x, moved and removed:
  silent.

Every action runs in a private mount namespace with a tmpfs over /var/lib/systemd, so the
host's store is never touched; the shell that runs it (the parent of ``mv`` and ``rm``, which
exit at once) waits until the test has seen what it did, as a login shell would live on.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, require_sensor_and_coredump_dir

from memwarden.core.event import Finding
from memwarden.core.requirements import PathFilter
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

STORE = "/var/lib/systemd/coredump"
OTHER = "/var/lib/systemd/other"
LINK = "/var/lib/systemd/link"
#: opened by the shell once its actions are done: once its open is seen, so are they
MARKER = "/dev/full"
SETUP = (f"mount -t tmpfs none /var/lib/systemd && mkdir -p {STORE} {OTHER} && "
         f"echo secret > {STORE}/core.x && echo secret > {STORE}/core.y && "
         f"echo plain > {OTHER}/core.x && echo plain > {OTHER}/core.w && "
         f"echo plain > {OTHER}/f")


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor_and_coredump_dir()
    needs = Needs(["security_file_open"], [PathFilter("security_file_open", "exact", MARKER)])
    detectors = [d for d in load_builtin() if d.detector_id == "MW-1002"]
    live = LiveSensor([*detectors, needs]).start()
    yield live
    live.stop()


class PrivateShell:
    """``unshare -m`` running SETUP, then ``actions``, then opening the marker; it waits for
    :meth:`release` before it exits (its namespace, and its root, live until then)."""

    def __init__(self, tmp_path: Path, actions: str) -> None:
        self.fifo = tmp_path / "release"
        os.mkfifo(self.fifo)
        script = (f"{SETUP} && {actions} && echo $$ && : < {MARKER} && "
                  f"read _ < {self.fifo}")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                      script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            self.release()
            raise AssertionError(f"the private shell failed: {self.proc.stderr.read()!r}")
        self.pid = int(line)

    def release(self) -> None:
        if self.proc.poll() is None:
            with open(self.fifo, "w") as f:
                f.write("\n")
        self.proc.wait(timeout=30)


def shell(tmp_path: Path, sensor: LiveSensor, actions: str) -> PrivateShell:
    sh = PrivateShell(tmp_path, actions)
    sensor.wait_for("the marker open", lambda: [
        e for e in sensor.events_of(sh.pid, "security_file_open")
        if args(e)["pathname"] == MARKER])
    return sh


def tampering(sensor: LiveSensor, operation: str, path: str) -> list[Finding]:
    with sensor.lock:
        return [f for f in sensor.findings if f.metadata.id == "MW-1002"
                and f.data["operation"] == operation and f.data["path"] == path]


def test_a_move_out_of_the_store_through_a_symlink(sensor: LiveSensor, tmp_path: Path) -> None:
    sh = shell(tmp_path, sensor, f"ln -s {STORE} {LINK} && mv {LINK}/core.x {OTHER}/out")
    try:
        [f] = sensor.wait_for("MW-1002 rename", lambda: tampering(
            sensor, "rename", f"{STORE}/core.x"))
    finally:
        sh.release()
    a = args(f.event)
    assert (a["old_path"], a["new_path"]) == (f"{STORE}/core.x", f"{OTHER}/out")
    assert (a["real_old_path"], a["real_new_path"]) == (f"{LINK}/core.x", "")
    assert f.event.host_ppid == sh.pid  # mv had exited: judged in its shell's root


def test_a_removal_in_the_store_through_a_symlink(sensor: LiveSensor, tmp_path: Path) -> None:
    sh = shell(tmp_path, sensor, f"ln -s {STORE} {LINK} && rm {LINK}/core.y")
    try:
        [f] = sensor.wait_for("MW-1002 unlink", lambda: tampering(
            sensor, "unlink", f"{STORE}/core.y"))
    finally:
        sh.release()
    a = args(f.event)
    assert (a["pathname"], a["real_pathname"]) == (f"{STORE}/core.y", f"{LINK}/core.y")


def test_a_move_into_the_store_through_a_symlink(sensor: LiveSensor, tmp_path: Path) -> None:
    """Relative to the shell's cwd, the symlink's name in the caller's string."""
    sh = shell(tmp_path, sensor,
               f"ln -s {STORE} {LINK} && cd /var/lib/systemd && mv other/f link/core.z")
    try:
        [f] = sensor.wait_for("MW-1002 rename", lambda: tampering(
            sensor, "rename", f"{STORE}/core.z"))
    finally:
        sh.release()
    a = args(f.event)
    assert (a["old_path"], a["new_path"]) == (f"{OTHER}/f", f"{STORE}/core.z")
    assert (a["real_old_path"], a["real_new_path"]) == ("", f"{LINK}/core.z")


def test_a_symlink_to_another_directory_is_quiet(sensor: LiveSensor, tmp_path: Path) -> None:
    judge = sensor.sensor._decoder.dir_identity  # type: ignore[union-attr]
    with sensor.lock:
        judged, filtered = judge.counts.judged, sensor.sensor._decoder.user_filtered
    sh = shell(tmp_path, sensor, f"ln -s {OTHER} {LINK} && mv {LINK}/core.x {LINK}/out && "
                                 f"rm {LINK}/core.w")
    try:
        sensor.settle()
        with sensor.lock:
            near = [f for f in sensor.findings if f.event.host_ppid == sh.pid]
            changes = [e for e in sensor.events if e.host_ppid == sh.pid]
            judged = judge.counts.judged - judged
            filtered = sensor.sensor._decoder.user_filtered - filtered
    finally:
        sh.release()
    assert near == [] and changes == []
    # delivered for judging (a directory part the filters rejected): the rename's two paths
    # and the unlink's, judged on their directory (not the store), then dropped in user space
    # (at least: other processes on the host rename and remove files meanwhile)
    assert judged >= 3 and filtered >= 2
