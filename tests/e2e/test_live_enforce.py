"""``memwarden run --enforce``: the reader is killed at the open's syscall exit, before it reads a
byte, and only when the enforced signature would report it.

The reader is a small C program compiled here: it opens PATH, pread()s one byte, then writes
MARKER ("read done"). Killed at the open, it never writes the marker and dies of SIGKILL.
This kernel has no /proc/kcore: the kcore reads run in a private mount namespace with a tmpfs on
/proc holding a file named kcore (as test_live_ebpf_kcore does).

The readers run as nobody (uid 65534) and every sensor here exempts root through a global
allowlist entry (which the kernel applies before it kills): other live tests on this host read
kcore as root while these sensors enforce, and must not be killed by them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ebpf_live import require_sensor

pytestmark = pytest.mark.live

READER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int fd = open(argv[1], argc > 3 && !strcmp(argv[3], "rw") ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 3;
	}
	char b[1];
	ssize_t n = pread(fd, b, 1, 0);
	int m = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (m < 0)
		return 4;
	dprintf(m, "read done %zd\n", n);
	close(m);
	return 0;
}
"""
VM_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>
/* vm PID MARKER: process_vm_readv a byte of PID's first mapping; seize PID MARKER: PTRACE_SEIZE.
 * MARKER is written after the call returned. */
int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	pid_t pid = atoi(argv[2]);
	long r;
	if (!strcmp(argv[1], "vm")) {
		static char buf[8];
		char path[64];
		unsigned long lo = (unsigned long)buf;
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		FILE *f = fopen(path, "r");
		if (f && pid != getpid()) {
			if (fscanf(f, "%lx", &lo) != 1)
				return 5;
		}
		if (f)
			fclose(f);
		struct iovec l = {buf, 1}, rv = {(void *)lo, 1};
		r = process_vm_readv(pid, &l, 1, &rv, 1, 0);
	} else {
		r = ptrace(PTRACE_SEIZE, pid, 0, 0);
	}
	int m = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (m < 0)
		return 4;
	dprintf(m, "call done %ld\n", r);
	close(m);
	return 0;
}
"""
FAKE_KCORE = "mount -t tmpfs none /proc && echo fake > /proc/kcore && chmod 644 /proc/kcore"
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
SPARE_ROOT = ("global:\n  - user: 0\n    reason: only the test's own readers (nobody) may be "
              "killed\n")
WAIT_S = 10.0


def wait_until(what: str, cond, timeout: float = WAIT_S):
    end = time.monotonic() + timeout
    while not (got := cond()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return got


class Running:
    """``memwarden run ARGS`` with findings to a file; stderr collected by a thread."""

    def __init__(self, out: Path, *args: str, allow: str = "") -> None:
        self.out = out
        spare = out.parent / "spare-root.yaml"
        spare.write_text(SPARE_ROOT + allow)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memwarden", "run", "-o", f"file:{out}", "--allowlist",
             str(spare), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True)
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until("the ready line", lambda: self.said("memwarden: ready") or
                   self.proc.poll() is not None, 60)
        assert self.said("memwarden: ready"), "\n".join(self.err)

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.err.append(line.rstrip("\n"))

    def said(self, text: str) -> int:
        return sum(text in line for line in list(self.err))

    def findings(self, pid: int, sig: str) -> list[dict]:
        if not self.out.exists():
            return []
        found = []
        text = self.out.read_text()
        for line in text[:text.rfind("\n") + 1].splitlines():  # not a line being written
            if not line.startswith("{"):
                continue
            f = json.loads(line)
            if f["hostProcessId"] == pid and f["metadata"]["Properties"]["signatureID"] == sig:
                found.append(f)
        return found

    def finding(self, pid: int, sig: str) -> dict:
        found = wait_until(f"{sig} for pid {pid}", lambda: self.findings(pid, sig))
        assert len(found) == 1, found
        return found[0]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(30) == 0, "\n".join(self.err)
        self._reader.join(30)
        return "\n".join(self.err)


def action(f: dict) -> str | None:
    return {a["name"]: a["value"] for a in f["args"]}.get("action")


@pytest.fixture(scope="module")
def reader() -> Iterator[Path]:
    """The reader, and its copy that the allowlist names, in a directory nobody may use."""
    require_sensor()
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "gcc is needed (apt-get install gcc)"
    d = Path(tempfile.mkdtemp(prefix="mw-enforce-"))
    try:
        d.chmod(0o755)
        (d / "reader.c").write_text(READER_C)
        subprocess.run([cc, "-O2", "-o", str(d / "reader"), str(d / "reader.c")], check=True)
        (d / "vm.c").write_text(VM_C)
        subprocess.run([cc, "-O2", "-o", str(d / "vm"), str(d / "vm.c")], check=True)
        shutil.copy(d / "reader", d / "allowed-reader")
        yield d / "reader"
    finally:
        shutil.rmtree(d)


@pytest.fixture
def markers() -> Iterator[Path]:
    """A directory the readers (nobody) can write their markers to."""
    d = Path(tempfile.mkdtemp(prefix="mw-enforce-markers-"))
    try:
        d.chmod(0o777)
        yield d
    finally:
        shutil.rmtree(d)


def run_kcore_reader(exe: Path, marker: Path) -> subprocess.CompletedProcess:
    """The reader (as nobody) opens the fake /proc/kcore; unshare execs sh, which execs setpriv,
    which execs the reader, so the child's pid is the reader's (printed first)."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"{FAKE_KCORE} && echo $$ && exec {' '.join(AS_NOBODY)} {exe} "
                           f"/proc/kcore {marker}"],
                          capture_output=True, text=True, timeout=60)


def pid_of(r: subprocess.CompletedProcess) -> int:
    return int(r.stdout.split()[0])


@pytest.fixture(scope="class")  # torn down before the module's other sensors start
def enforcing(reader: Path, tmp_path_factory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("enforcing")
    allowed = reader.parent / "allowed-reader"
    allow = ("signatures:\n  proc_kcore_read:\n"
             f"    - executable: {allowed}\n      reason: the test's allowlisted reader\n"
             f"  TRC-1023:\n    - executable: {allowed}\n")
    mw = Running(d / "findings.json", "--enforce", "TRC-1021", "--enforce",
                 "proc_mem_access", "--enforce", "MW-1005", "--enforce", "MW-1006", "--stats",
                 allow=allow)
    assert mw.said("enforce: TRC-1021 (proc_kcore_read), TRC-1023 (proc_mem_access), "
                   "MW-1005 (process_vm_read), MW-1006 (ptrace_memory_access))")
    yield mw
    mw.stop()


def start_victim() -> subprocess.Popen:
    """sleep as nobody, once it runs sleep: until setpriv has exec'd it, the process is not
    dumpable (it changed its uid) and nobody may open its mem."""
    victim = subprocess.Popen([*AS_NOBODY, "sleep", "60"])
    comm = Path(f"/proc/{victim.pid}/comm")
    wait_until("the victim's exec", lambda: comm.read_text() == "sleep\n")
    return victim


class TestUnderEnforcement:
    """One sensor enforcing TRC-1021, TRC-1023, MW-1005 and MW-1006 (``enforcing``,
    class-scoped: no other sensor of this module runs while it does)."""

    @pytest.mark.parametrize("call, sig, operation", [
        ("vm", "MW-1005", "process_vm_readv"), ("seize", "MW-1006", "PTRACE_SEIZE")])
    def test_a_process_vm_reader_or_tracer_of_another_process_is_killed(
            self, enforcing: Running, reader: Path, markers: Path, call: str, sig: str,
            operation: str) -> None:
        victim = start_victim()
        try:
            marker = markers / "marker"
            r = subprocess.Popen([*AS_NOBODY, str(reader.parent / "vm"), call, str(victim.pid),
                                  str(marker)])
            assert r.wait(30) == -signal.SIGKILL
            assert not marker.exists()  # never returned to user space after the call
            f = enforcing.finding(r.pid, sig)
            assert action(f) == "killed"
            data = {a["name"]: a["value"] for a in f["args"]}
            assert (data["target_pid"], data["operation"]) == (victim.pid, operation)
            assert victim.poll() is None
        finally:
            victim.kill()
            victim.wait()

    def test_process_vm_readv_of_itself_is_not_killed(self, enforcing: Running, reader: Path,
                                                      markers: Path) -> None:
        marker = markers / "marker"
        r = subprocess.run(["sh", "-c", f"exec {' '.join(AS_NOBODY)} {reader.parent / 'vm'} vm "
                                        f"$$ {marker}"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert marker.read_text() == "call done 1\n"

    def test_kcore_reader_is_killed_before_it_reads(self, enforcing: Running, reader: Path,
                                                    markers: Path) -> None:
        marker = markers / "marker"
        r = run_kcore_reader(reader, marker)
        assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
        assert not marker.exists()  # never returned from open(): no read, no marker
        f = enforcing.finding(pid_of(r), "TRC-1021")
        assert action(f) == "killed"
        assert f["processName"] == "reader"

    def test_reader_of_another_process_memory_is_killed(self, enforcing: Running, reader: Path,
                                                        markers: Path) -> None:
        victim = start_victim()
        try:
            marker = markers / "marker"
            r = subprocess.Popen([*AS_NOBODY, str(reader), f"/proc/{victim.pid}/mem", str(marker)])
            assert r.wait(30) == -signal.SIGKILL
            assert not marker.exists()
            f = enforcing.finding(r.pid, "TRC-1023")
            assert action(f) == "killed"
            assert {a["name"]: a["value"] for a in f["args"]}["target_pid"] == victim.pid
            assert victim.poll() is None  # the reader dies, not its target
        finally:
            victim.kill()
            victim.wait()

    @pytest.mark.parametrize("path", ["/proc/self/mem", "/proc/$$/mem", "/proc/$$/task/$$/mem"])
    def test_a_process_reading_its_own_memory_is_not_killed(self, enforcing: Running, reader: Path,
                                                            markers: Path, path: str) -> None:
        marker = markers / "marker"
        r = subprocess.run(["sh", "-c", f"exec {' '.join(AS_NOBODY)} {reader} {path} {marker}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert marker.read_text().startswith("read done")

    def test_benign_workload_is_not_killed(self, enforcing: Running, markers: Path) -> None:
        work = ("ps aux >/dev/null && cat /proc/[0-9]*/status >/dev/null 2>&1; "
                "cat /proc/[0-9]*/maps >/dev/null 2>&1; echo survived")
        r = subprocess.run([*AS_NOBODY, "sh", "-c", work], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and r.stdout == "survived\n", (r.returncode, r.stderr)

    def test_an_allowlisted_reader_survives(self, enforcing: Running, reader: Path, markers: Path
                                            ) -> None:
        marker = markers / "marker"
        r = run_kcore_reader(reader.parent / "allowed-reader", marker)
        assert r.returncode == 0, r.stderr
        assert marker.read_text().startswith("read done")
        victim = start_victim()
        try:
            marker2 = markers / "marker2"
            p = subprocess.run([*AS_NOBODY, str(reader.parent / "allowed-reader"),
                                f"/proc/{victim.pid}/mem", str(marker2)], timeout=30)
            assert p.returncode == 0
            assert marker2.read_text().startswith("read done")
        finally:
            victim.kill()
            victim.wait()


def test_enforce_config_reloads_kill_audit_off(reader: Path, markers: Path, tmp_path: Path
                                              ) -> None:
    """``enforce:`` in the config file, reloaded on SIGHUP: kill, then audit (would_kill, the
    reader completes), then nothing (completes, no action)."""
    require_sensor()
    config = tmp_path / "config.yaml"
    config.write_text("enforce: [TRC-1021]\n")
    mw = Running(tmp_path / "findings.json", "--config", str(config))
    try:
        steps = (("enforce: [TRC-1021]\n", "killed"),
                 ("enforce: {signatures: [proc_kcore_read], mode: audit}\n", "would_kill"),
                 ("enforce: []\n", None))
        for i, (text, expected) in enumerate(steps):
            if i:
                config.write_text(text)
                mw.proc.send_signal(signal.SIGHUP)
                wait_until(f"reload {i}", lambda n=i: mw.said("reloaded configuration") == n)
            marker = markers / f"marker{i}"
            r = run_kcore_reader(reader, marker)
            f = mw.finding(pid_of(r), "TRC-1021")
            assert action(f) == expected, (text, f)
            if expected == "killed":
                assert r.returncode == -signal.SIGKILL and not marker.exists()
            else:
                assert r.returncode == 0, r.stderr
                assert marker.read_text().startswith("read done")
    finally:
        err = mw.stop()
    assert "reload failed" not in err


def test_enforce_refuses_what_the_kernel_cannot_decide() -> None:
    require_sensor()
    r = subprocess.run([sys.executable, "-m", "memwarden", "run", "--enforce", "MW-1002",
                        "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "MW-1002 (core_dump_tampering) cannot decide in the kernel" in r.stderr
    assert ("enforceable: MW-1001, MW-1005, MW-1006, MW-1007, TRC-1011, TRC-1021, TRC-1023, "
            "TRC-1024, TRC-1025") in r.stderr
    assert "memwarden: ready" not in r.stderr


def test_stats_count_the_kills(reader: Path, markers: Path, tmp_path: Path) -> None:
    mw = Running(tmp_path / "findings.json", "--enforce", "TRC-1021", "--stats")
    r = run_kcore_reader(reader, markers / "marker")
    assert r.returncode == -signal.SIGKILL
    mw.finding(pid_of(r), "TRC-1021")
    err = mw.stop()
    assert "TRC-1021 killed: 1" in err, err
