"""``memwarden run --enforce`` of TRC-1024 (proc_mem_code_injection) and TRC-1025
(process_vm_write_inject): the writer is killed at the write's syscall ENTRY, so that the
victim's memory is never written, and only where the signature reports the write.

One C program (compiled here) is both sides. ``poke victim`` holds "OLDVALUE" in a buffer,
prints its address, and on a line of stdin prints what the buffer holds; ``poke MODE PID ADDR
MARKER`` writes "NEWVALUE" at ADDR in PID: through /proc/PID/mem opened O_RDWR with pwrite()
(``pwrite``), write() after lseek() (``lseek``), writev() of two pieces after lseek()
(``writev``), or with process_vm_writev() (``vm``); ``zero`` pwrite()s 0 bytes there; ``self``
pwrite()s its own buffer through /proc/self/mem. It writes MARKER after the call returned.
Victims and writers run as nobody; the sensors exempt root (other live tests run as root while
they enforce), as test_live_enforce does.
"""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import require_sensor
from test_live_enforce import AS_NOBODY, Running, action, wait_until

pytestmark = pytest.mark.live

POKE_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
static char buf[16] = "OLDVALUE";
int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "victim")) {
		char line[8];
		printf("ready %lx\n", (unsigned long)buf);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 3;
		printf("holds %.8s\n", buf);
		return 0;
	}
	if (argc < 5)
		return 2;
	const char *mode = argv[1];
	int self = !strcmp(mode, "self");
	pid_t pid = self ? getpid() : atoi(argv[2]);
	unsigned long addr = self ? (unsigned long)buf : strtoul(argv[3], 0, 16);
	static char val[] = "NEWVALUE";
	long r;
	if (!strcmp(mode, "vm")) {
		struct iovec l = {val, 8}, rv = {(void *)addr, 8};
		r = process_vm_writev(pid, &l, 1, &rv, 1, 0);
	} else {
		char path[64];
		if (self)
			snprintf(path, sizeof(path), "/proc/self/mem");
		else
			snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		int fd = open(path, O_RDWR);
		if (fd < 0) {
			perror("open");
			return 3;
		}
		if (!strcmp(mode, "pwrite") || self) {
			r = pwrite(fd, val, 8, addr);
		} else if (!strcmp(mode, "zero")) {
			r = pwrite(fd, val, 0, addr);
		} else if (lseek(fd, addr, SEEK_SET) != (off_t)addr) {
			perror("lseek");
			return 4;
		} else if (!strcmp(mode, "writev")) {
			struct iovec v[2] = {{val, 4}, {val + 4, 4}};
			r = writev(fd, v, 2);
		} else {
			r = write(fd, val, 8);
		}
	}
	int m = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (m < 0)
		return 5;
	dprintf(m, "done %ld %.8s\n", r, buf);
	return 0;
}
"""
ALLOWED_EXE = "allowed-poke"
ALLOWED_NAME = "mw-allowed-name"  # 15 bytes: the whole comm
SIGS = ("TRC-1024", "TRC-1025")


@pytest.fixture(scope="module")
def bins() -> Iterator[Path]:
    """poke, and the copies the allowlist names (by executable, by process name)."""
    require_sensor()
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "gcc is needed (apt-get install gcc)"
    d = Path(tempfile.mkdtemp(prefix="mw-enforce-write-"))
    try:
        d.chmod(0o755)
        (d / "poke.c").write_text(POKE_C)
        subprocess.run([cc, "-O2", "-o", str(d / "poke"), str(d / "poke.c")], check=True)
        shutil.copy(d / "poke", d / ALLOWED_EXE)
        shutil.copy(d / "poke", d / ALLOWED_NAME)
        (d / "markers").mkdir()
        (d / "markers").chmod(0o777)
        yield d
    finally:
        shutil.rmtree(d)


_n = [0]


def marker(bins: Path) -> Path:
    _n[0] += 1
    return bins / "markers" / f"m{_n[0]}"


class Victim:
    """poke victim (as nobody): its buffer's address, and what it holds once asked."""

    def __init__(self, bins: Path) -> None:
        self.proc = subprocess.Popen([*AS_NOBODY, str(bins / "poke"), "victim"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("ready "), line
        self.addr = line.split()[1]
        self.pid = self.proc.pid

    def holds(self) -> str:
        out, _ = self.proc.communicate("x\n", timeout=30)
        assert self.proc.returncode == 0, out
        return out.split()[-1]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def victim(bins: Path) -> Iterator[Victim]:
    v = Victim(bins)
    try:
        yield v
    finally:
        v.kill()


def poke(bins: Path, exe: str, mode: str, victim: Victim, mark: Path) -> int:
    """Run the writer (as nobody) to its end; its pid (the exit status is checked by the
    caller through ``poke.status``)."""
    p = subprocess.Popen([*AS_NOBODY, str(bins / exe), mode, str(victim.pid), victim.addr,
                          str(mark)])
    poke.status = p.wait(30)  # type: ignore[attr-defined]
    return p.pid


def data(f: dict) -> dict:
    return {a["name"]: a["value"] for a in f["args"]}


def sensor(bins: Path, tmp: Path, *args: str) -> Running:
    allow = ("signatures:\n"
             + "".join(f"  {s}:\n    - executable: {bins / ALLOWED_EXE}\n"
                       f"    - process_name: {ALLOWED_NAME}\n" for s in SIGS))
    return Running(tmp / "findings.json", *args, allow=allow)


WRITES = [("pwrite", "TRC-1024", "pwrite64"), ("lseek", "TRC-1024", "write"),
          ("writev", "TRC-1024", "writev"), ("vm", "TRC-1025", "process_vm_writev")]


@pytest.fixture(scope="class")  # torn down before the module's other sensors start
def enforcing(bins: Path, tmp_path_factory) -> Iterator[Running]:
    mw = sensor(bins, tmp_path_factory.mktemp("enforcing-write"),
                "--enforce", "TRC-1024", "--enforce", "process_vm_write_inject")
    assert mw.said("enforce: TRC-1024 (proc_mem_code_injection), TRC-1025 "
                   "(process_vm_write_inject)")
    yield mw
    mw.stop()


class TestUnderEnforcement:
    @pytest.mark.parametrize("mode, sig, syscall", WRITES)
    def test_the_writer_is_killed_before_the_victim_is_written(
            self, enforcing: Running, bins: Path, victim: Victim, mode: str, sig: str,
            syscall: str) -> None:
        mark = marker(bins)
        pid = poke(bins, "poke", mode, victim, mark)
        assert poke.status == -signal.SIGKILL  # type: ignore[attr-defined]
        assert not mark.exists()  # never returned to user space from the write
        f = enforcing.finding(pid, sig)
        assert action(f) == "killed"
        assert f["syscall"] == syscall
        d = data(f)
        assert d["target_pid"] == victim.pid
        # nothing was copied: mem_rw found no byte written (EIO), process_vm_writev no page
        # pinned (EFAULT): their page walk gave up on the pending SIGKILL
        if sig == "TRC-1024":
            assert d["bytes_written"] == 0 and d["pos"] == int(victim.addr, 16)
            assert f["returnValue"] == -errno.EIO
        else:
            assert d["succeeded"] is False and f["returnValue"] == -errno.EFAULT
        assert victim.holds() == "OLDVALUE"

    @pytest.mark.parametrize("exe", [ALLOWED_EXE, ALLOWED_NAME])
    @pytest.mark.parametrize("mode", ["pwrite", "vm"])
    def test_an_allowlisted_writer_survives_and_writes(
            self, enforcing: Running, bins: Path, victim: Victim, exe: str, mode: str) -> None:
        mark = marker(bins)
        pid = poke(bins, exe, mode, victim, mark)
        assert poke.status == 0  # type: ignore[attr-defined]
        assert mark.read_text().split()[:2] == ["done", "8"]
        assert victim.holds() == "NEWVALUE"
        assert all(enforcing.findings(pid, s) == [] for s in SIGS)  # allowlisted: none

    @pytest.mark.parametrize("mode, done", [("self", ["done", "8", "NEWVALUE"]),
                                            ("zero", ["done", "0", "OLDVALUE"])])
    def test_writing_its_own_memory_or_nothing_is_not_killed(
            self, enforcing: Running, bins: Path, victim: Victim, mode: str,
            done: list[str]) -> None:
        mark = marker(bins)
        pid = poke(bins, "poke", mode, victim, mark)
        assert poke.status == 0  # type: ignore[attr-defined]
        assert mark.read_text().split() == done
        assert victim.holds() == "OLDVALUE"
        # a later killed write of the same sensor is reported: so this one would have been
        mark2 = marker(bins)
        victim2 = Victim(bins)
        try:
            pid2 = poke(bins, "poke", "pwrite", victim2, mark2)
            assert poke.status == -signal.SIGKILL  # type: ignore[attr-defined]
            enforcing.finding(pid2, "TRC-1024")
        finally:
            victim2.kill()
        assert enforcing.findings(pid, "TRC-1024") == []


def written(mw: Running, bins: Path, mode: str, sig: str, syscall: str) -> dict:
    """The write done, the victim changed; the finding."""
    v = Victim(bins)
    try:
        mark = marker(bins)
        pid = poke(bins, "poke", mode, v, mark)
        assert poke.status == 0  # type: ignore[attr-defined]
        assert mark.read_text().split()[:2] == ["done", "8"]
        assert v.holds() == "NEWVALUE"
    finally:
        v.kill()
    f = mw.finding(pid, sig)
    assert f["syscall"] == syscall
    if sig == "TRC-1024":
        assert data(f)["bytes_written"] == 8 and data(f)["pos"] == int(v.addr, 16)
    return f


@pytest.fixture(scope="class")
def dry_run(bins: Path, tmp_path_factory) -> Iterator[Running]:
    mw = sensor(bins, tmp_path_factory.mktemp("dry-run-write"), "--enforce", "TRC-1024",
                "--enforce", "TRC-1025", "--dry-run-enforce")
    yield mw
    mw.stop()


@pytest.fixture(scope="class")
def watching(bins: Path, tmp_path_factory) -> Iterator[Running]:
    mw = sensor(bins, tmp_path_factory.mktemp("watching-write"))
    yield mw
    mw.stop()


class TestDryRun:
    @pytest.mark.parametrize("mode, sig, syscall", WRITES)
    def test_the_write_happens_and_would_kill_is_said(self, dry_run: Running, bins: Path,
                                                      mode: str, sig: str,
                                                      syscall: str) -> None:
        assert action(written(dry_run, bins, mode, sig, syscall)) == "would_kill"


class TestWithoutEnforce:
    @pytest.mark.parametrize("mode, sig, syscall", WRITES)
    def test_the_write_happens_and_is_reported(self, watching: Running, bins: Path,
                                               mode: str, sig: str, syscall: str) -> None:
        assert action(written(watching, bins, mode, sig, syscall)) is None


def test_a_reload_attaches_and_detaches_the_entry_hooks(bins: Path, tmp_path: Path) -> None:
    """``enforce: [TRC-1024]`` in the config file: killed; reloaded to none (the entry
    programs detached): the write happens, no action; reloaded back (attached again):
    killed."""
    config = tmp_path / "config.yaml"
    config.write_text("enforce: [TRC-1024]\n")
    mw = sensor(bins, tmp_path, "--config", str(config))
    try:
        for i, text in enumerate(("enforce: [TRC-1024]\n", "enforce: []\n",
                                  "enforce: [proc_mem_code_injection]\n")):
            if i:
                config.write_text(text)
                mw.proc.send_signal(signal.SIGHUP)
                wait_until(f"reload {i}", lambda n=i: mw.said("reloaded configuration") == n)
            v = Victim(bins)
            try:
                mark = marker(bins)
                pid = poke(bins, "poke", "pwrite", v, mark)
                killed = i != 1
                assert poke.status == (-signal.SIGKILL if killed else 0)  # type: ignore[attr-defined]
                assert v.holds() == ("OLDVALUE" if killed else "NEWVALUE")
            finally:
                v.kill()
            assert action(mw.finding(pid, "TRC-1024")) == ("killed" if killed else None)
    finally:
        err = mw.stop()
    assert "reload failed" not in err
