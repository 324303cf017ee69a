"""Issue 15, class 4: the core-dump store is known by identity, not by its path.

The kernel learns the store's directory and files by (dev, inode) when an open under the
store's path is delivered (and from a walk of the store at start-up), so a stored core read
under another name still raises MW-1001 (``core_store`` 1, ``pathname`` where it was read):

- through a hard link made outside the store, on the same file system;
- through a bind mount of the store directory (also a file created through the bind mount,
  never seen under the store's path: its directory is the store's);
- through a second mount of the store's file system (one ext4 loop device, mounted twice);
- through a hard link made before anything opened the core (renamed into the store): the
  kernel finds the file's other name in the store's directory (its dentry aliases);
- near miss: a file named core.x elsewhere on the same file system stays silent.

Every action runs in a private mount namespace with a tmpfs over /var/lib/systemd, so the
host's store is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from ebpf_live import LiveSensor, Needs, args, require_sensor_and_coredump_dir

from memwarden.core.requirements import PathFilter
from memwarden.signatures import load_builtin

pytestmark = pytest.mark.live

PYTHON = os.path.realpath(sys.executable)
STORE = "/var/lib/systemd/coredump"
OTHER = "/var/lib/systemd/other"
#: opened by every reader after its read: once its open is seen, so is the read's
MARKER = "/dev/full"
SETUP = f"mount -t tmpfs none /var/lib/systemd && mkdir -p {STORE} {OTHER}"


@pytest.fixture(scope="module")
def sensor() -> Iterator[LiveSensor]:
    require_sensor_and_coredump_dir()
    needs = Needs(["security_file_open"], [PathFilter("security_file_open", "exact", MARKER)])
    detectors = [d for d in load_builtin() if d.detector_id == "MW-1001"]
    live = LiveSensor([*detectors, needs]).start()
    yield live
    live.stop()


def read_in_private_ns(setup: str, target: str) -> int:
    """Run ``setup`` (its writes in child shells) in a fresh private mount namespace, then
    read ``target`` and open the marker from a process of its own; that reader's pid."""
    reader = (f"import os; open({target!r}, 'rb').read(); "
              f"os.close(os.open({MARKER!r}, os.O_RDONLY))")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"{SETUP} && {setup} && echo $$ && exec {PYTHON} -c \"{reader}\""],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    return int(r.stdout.split()[-1])


def write(path: str) -> str:
    """A child shell writes a file: its open is not the reader's."""
    return f"sh -c 'echo secret > {path}'"


def core_read(sensor: LiveSensor, pid: int, path: str) -> dict:
    sensor.wait_for("the marker open", lambda: [
        e for e in sensor.events_of(pid, "security_file_open")
        if args(e)["pathname"] == MARKER])
    [f] = sensor.wait_for(f"MW-1001 for pid {pid}", lambda: sensor.findings_of(pid, "MW-1001"))
    a = args(f.event)
    assert (a["pathname"], a["core_store"], f.data["kind"]) == (path, 1, "core_dump")
    return a


def test_a_hard_link_outside_the_store_is_a_core(sensor: LiveSensor) -> None:
    pid = read_in_private_ns(f"{write(STORE + '/core.x')} && ln {STORE}/core.x {OTHER}/notes",
                             f"{OTHER}/notes")
    core_read(sensor, pid, f"{OTHER}/notes")


def test_a_bind_mount_of_the_store_is_the_store(sensor: LiveSensor) -> None:
    """core.y is made through the bind mount (never opened under the store's path): its
    directory is the store, known since core.x was written there."""
    bind = "/var/lib/systemd/b"
    pid = read_in_private_ns(f"{write(STORE + '/core.x')} && mkdir {bind} && "
                             f"mount --bind {STORE} {bind} && {write(bind + '/core.y')}",
                             f"{bind}/core.y")
    core_read(sensor, pid, f"{bind}/core.y")


def test_a_second_mount_of_the_stores_file_system(sensor: LiveSensor) -> None:
    if not shutil.which("mkfs.ext4"):
        pytest.skip("no mkfs.ext4 (e2fsprogs)")
    img, second = "/var/lib/systemd/img", "/var/lib/systemd/second"
    setup = (f"truncate -s 8M {img} && mkfs.ext4 -q {img} && mount -o loop {img} {STORE} && "
             f"mkdir {second} && mount $(findmnt -no SOURCE {STORE}) {second} && "
             f"{write(STORE + '/core.z')} && {write(second + '/core.w')}")
    pid = read_in_private_ns(setup, f"{second}/core.z")
    core_read(sensor, pid, f"{second}/core.z")
    pid = read_in_private_ns(setup, f"{second}/core.w")  # made there, its directory known
    core_read(sensor, pid, f"{second}/core.w")


def test_a_core_with_several_names_before_any_open(sensor: LiveSensor) -> None:
    """core.m is renamed into the store (no open: the kernel does not know its inode) and
    hard-linked elsewhere before anything opens it: the open of the other name finds the
    file's other name (a dentry alias) in the store's directory, known since core.x."""
    pid = read_in_private_ns(f"{write(STORE + '/core.x')} && {write(OTHER + '/f')} && "
                             f"mv {OTHER}/f {STORE}/core.m && ln {STORE}/core.m {OTHER}/m",
                             f"{OTHER}/m")
    core_read(sensor, pid, f"{OTHER}/m")


def assert_quiet(sensor: LiveSensor, pid: int) -> None:
    """The process's closing marker was seen, then nothing: no finding, no other open."""
    sensor.wait_for("the marker open", lambda: [
        e for e in sensor.events_of(pid, "security_file_open")
        if args(e)["pathname"] == MARKER])
    sensor.settle()
    assert sensor.findings_of(pid) == []
    assert [args(e)["pathname"] for e in sensor.events_of(pid, "security_file_open")] == [MARKER]


def test_a_file_with_several_names_outside_the_store_is_quiet(sensor: LiveSensor) -> None:
    pid = read_in_private_ns(f"{write(STORE + '/core.x')} && {write(OTHER + '/f')} && "
                             f"ln {OTHER}/f {OTHER}/g", f"{OTHER}/g")
    assert_quiet(sensor, pid)


def test_a_file_named_like_a_core_elsewhere_is_quiet(sensor: LiveSensor) -> None:
    pid = read_in_private_ns(f"{write(STORE + '/core.x')} && {write(OTHER + '/core.x')}",
                             f"{OTHER}/core.x")
    assert_quiet(sensor, pid)
