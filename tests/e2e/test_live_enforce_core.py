"""``memwarden run --enforce`` of MW-1001 (core_dump_read), TRC-1011 (core_pattern_modification)
and MW-1007 (raw_memory_device_access): the opener is killed at the open's syscall exit,
before it reads or writes a byte, only where the signature reports it, and never when an
allowlist entry exempts it, `path` globs included (the kernel matches them).

The opener (C, compiled here) opens PATH for reading or writing, reads or writes one byte,
then writes MARKER. Everything global is stood in for in a private mount namespace: a tmpfs
on /var/lib/systemd/coredump holding a core, a tmpfs on /proc holding sys/kernel/core_pattern,
a tmpfs on /dev holding a char 1:1 node. The openers run as nobody; the sensor exempts root (other
engineers' live tests run as root while it enforces), as test_live_enforce does.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import require_sensor
from test_live_enforce import AS_NOBODY, Running, action, start_victim

pytestmark = pytest.mark.live

OPENER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* opener PATH r|w MARKER: open, read or write a byte, then write MARKER ("done N") */
int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int w = !strcmp(argv[2], "w");
	int fd = open(argv[1], w ? O_WRONLY : O_RDONLY);
	int m = -1;
	if (fd < 0) {
		m = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dprintf(m, "open failed\n");
		return 3;
	}
	char b[4] = "0\n";
	ssize_t n = w ? write(fd, "0x33\n", 5) : read(fd, b, 1);
	m = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (m < 0)
		return 4;
	dprintf(m, "done %zd\n", n);
	return 0;
}
"""
STORE = "/var/lib/systemd/coredump"
CORE = f"{STORE}/core.memwarden-test.0.1"
FAKE_STORE = f"mount -t tmpfs none {STORE} && echo core > {CORE} && chmod 644 {CORE}"
FAKE_SYSCTL = ("mount -t tmpfs none /proc && mkdir -p /proc/sys/kernel && "
               "echo core > /proc/sys/kernel/core_pattern && "
               "chmod 666 /proc/sys/kernel/core_pattern")


@pytest.fixture(scope="module")
def bins() -> Iterator[Path]:
    """The opener and its copy the allowlist names, in a directory nobody may use."""
    require_sensor()
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "gcc is needed (apt-get install gcc)"
    d = Path(tempfile.mkdtemp(prefix="mw-enforce-core-"))
    try:
        d.chmod(0o755)
        (d / "opener.c").write_text(OPENER_C)
        subprocess.run([cc, "-O2", "-o", str(d / "opener"), str(d / "opener.c")], check=True)
        shutil.copy(d / "opener", d / "allowed")
        (d / "markers").mkdir()
        (d / "markers").chmod(0o777)
        yield d
    finally:
        shutil.rmtree(d)


@pytest.fixture(scope="class")  # torn down before the module's other sensor starts
def enforcing(bins: Path, tmp_path_factory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("enforcing-core")
    allowed = bins / "allowed"
    allow = ("signatures:\n"
             f"  core_dump_read:\n    - executable: {allowed}\n      path: {STORE}/*\n"
             f"  TRC-1011:\n    - executable: {allowed}\n      path: '*/proc/sys/*'\n")
    mw = Running(d / "findings.json", "--enforce", "MW-1001", "--enforce",
                 "core_pattern_modification", "--enforce", "MW-1007", allow=allow)
    assert mw.said("enforce: MW-1001 (core_dump_read), TRC-1011 (core_pattern_modification), "
                   "MW-1007 (raw_memory_device_access)")
    yield mw
    mw.stop()


_n = [0]


def marker(bins: Path) -> Path:
    _n[0] += 1
    return bins / "markers" / f"m{_n[0]}"


def in_ns(setup: str, exe: Path, path: str, mode: str, mark: Path) -> tuple[int, int]:
    """(pid, exit status) of exe run as nobody in a private mount namespace after setup;
    sh execs setpriv, which execs exe, so the pid sh prints is the opener's."""
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"{setup} && echo $$ && exec {' '.join(AS_NOBODY)} {exe} {path} {mode} "
                        f"{mark}"], capture_output=True, text=True, timeout=60)
    return int(r.stdout.split()[0]), r.returncode


def run(exe: Path, path: str, mode: str, mark: Path) -> subprocess.Popen:
    p = subprocess.Popen([*AS_NOBODY, str(exe), path, mode, str(mark)])
    p.wait(30)
    return p


class TestUnderEnforcement:
    """One sensor enforcing MW-1001, TRC-1011 and MW-1007 (``enforcing``, class-scoped)."""

    def test_a_reader_of_a_stored_core_is_killed(self, enforcing: Running, bins: Path) -> None:
        mark = marker(bins)
        pid, rc = in_ns(FAKE_STORE, bins / "opener", CORE, "r", mark)
        assert rc == -signal.SIGKILL and not mark.exists()  # never returned from open()
        f = enforcing.finding(pid, "MW-1001")
        assert action(f) == "killed"
        assert {a["name"]: a["value"] for a in f["args"]}["kind"] == "core_dump"

    def test_coredump_filter_of_another_process_read_or_written_is_killed(
            self, enforcing: Running, bins: Path) -> None:
        victim = start_victim()
        try:
            path = f"/proc/{victim.pid}/coredump_filter"
            before = Path(path).read_text()
            for mode, sig in (("r", "MW-1001"), ("w", "TRC-1011")):
                mark = marker(bins)
                p = run(bins / "opener", path, mode, mark)
                assert p.returncode == -signal.SIGKILL and not mark.exists(), (mode, p.returncode)
                assert action(enforcing.finding(p.pid, sig)) == "killed"
            assert Path(path).read_text() == before  # the write never happened
            assert victim.poll() is None
        finally:
            victim.kill()
            victim.wait()

    def test_its_own_coredump_filter_is_not_killed(self, enforcing: Running, bins: Path) -> None:
        for mode in ("r", "w"):
            mark = marker(bins)
            r = subprocess.run(["sh", "-c", f"exec {' '.join(AS_NOBODY)} {bins / 'opener'} "
                                            f"/proc/$$/coredump_filter {mode} {mark}"], timeout=30)
            assert r.returncode == 0 and mark.read_text().startswith("done"), mode

    def test_a_writer_of_core_pattern_is_killed(self, enforcing: Running, bins: Path) -> None:
        mark = marker(bins)
        pid, rc = in_ns(FAKE_SYSCTL, bins / "opener", "/proc/sys/kernel/core_pattern", "w", mark)
        assert rc == -signal.SIGKILL and not mark.exists()
        f = enforcing.finding(pid, "TRC-1011")
        assert action(f) == "killed"
        assert {a["name"]: a["value"] for a in f["args"]}["setting"] == "core_pattern"

    def test_a_reader_of_core_pattern_is_not_killed(self, enforcing: Running, bins: Path) -> None:
        mark = marker(bins)
        _pid, rc = in_ns(FAKE_SYSCTL, bins / "opener", "/proc/sys/kernel/core_pattern", "r", mark)
        assert rc == 0 and mark.read_text() == "done 1\n"

    def test_the_allowlist_path_globs_spare_only_what_they_name(self, enforcing: Running, bins: Path
                                                                ) -> None:
        """The allowlisted copy may read the store (path /var/lib/systemd/coredump/*) and write
        the sysctls (path */proc/sys/*); the same executable is killed for another process's
        coredump_filter, which neither glob names."""
        allowed = bins / "allowed"
        mark = marker(bins)
        _pid, rc = in_ns(FAKE_STORE, allowed, CORE, "r", mark)
        assert rc == 0 and mark.read_text() == "done 1\n"
        mark = marker(bins)
        _pid, rc = in_ns(FAKE_SYSCTL, allowed, "/proc/sys/kernel/core_pattern", "w", mark)
        assert rc == 0 and mark.read_text() == "done 5\n"
        victim = start_victim()
        try:
            mark = marker(bins)
            p = run(allowed, f"/proc/{victim.pid}/coredump_filter", "r", mark)
            assert p.returncode == -signal.SIGKILL and not mark.exists()
            assert action(enforcing.finding(p.pid, "MW-1001")) == "killed"
        finally:
            victim.kill()
            victim.wait()

    def test_a_refused_open_of_dev_mem_is_reported_not_killed(self, enforcing: Running, bins: Path
                                                              ) -> None:
        """This kernel has no /dev/mem driver: a 1:1 node does not open (ENXIO), so nothing can be
        read and nothing is killed; the attempt is reported, ``observed``. (A 1:1 open that
        succeeds is killed by its device number: tests/unit/test_enforce_kernel_rules.py.)"""
        mark = marker(bins)  # a refused open is named by the caller's path: /dev/mem itself
        pid, rc = in_ns("mount -t tmpfs -o mode=755 none /dev && mknod -m 666 /dev/mem c 1 1",
                        bins / "opener", "/dev/mem", "r", mark)
        assert rc == 3  # open failed, the opener went on
        f = enforcing.finding(pid, "MW-1007")
        assert action(f) == "observed"
        assert {a["name"]: a["value"] for a in f["args"]}["refused"] == "ENXIO"


def test_without_enforce_the_same_openers_complete(bins: Path, tmp_path: Path) -> None:
    mw = Running(tmp_path / "findings.json")
    try:
        mark = marker(bins)
        pid, rc = in_ns(FAKE_STORE, bins / "opener", CORE, "r", mark)
        assert rc == 0 and mark.read_text() == "done 1\n"
        assert action(mw.finding(pid, "MW-1001")) is None
        mark = marker(bins)
        pid, rc = in_ns(FAKE_SYSCTL, bins / "opener", "/proc/sys/kernel/core_pattern", "w",
                        mark)
        assert rc == 0 and mark.read_text() == "done 5\n"
        assert action(mw.finding(pid, "TRC-1011")) is None
    finally:
        mw.stop()
