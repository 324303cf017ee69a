"""The pip route, end to end: a wheel built from a copy of this tree (the build hook compiles
the probe), installed into a fresh venv, runs ``memwarden run`` on a PATH without clang, llc or
bpftool, and raises MW-1001 for a read of /proc/1/coredump_filter, with no warning on stderr.

Nothing is reused across runs: the copy leaves out every compiled object, manifest, build
directory and egg-info of the dev tree, and the wheel, the venv and the PATH are made afresh
in the test's temporary directory (only pip's download cache of the dependencies is shared,
which says nothing about our packaging).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import require_root

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = re.compile(r"^(clang|llc|llvm|bpftool|lld|opt)([-.].*)?$|.*-clang(-.*)?$")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", "*.bpf.o", "*.bpf.o.json", "*.tmp", "tests", "deploy")
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TIMEOUT = 300


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kw)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _path_without_compilers(bindir: Path, venv: Path) -> str:
    """A PATH of the venv's bin and one directory of links to the system's programs, minus
    the BPF compilers and tools."""
    bindir.mkdir()
    for d in BIN_DIRS:
        if not os.path.isdir(d) or os.path.islink(d):
            continue
        for entry in os.scandir(d):
            target = bindir / entry.name
            if HIDDEN.match(entry.name) or target.exists() or target.is_symlink():
                continue
            target.symlink_to(entry.path)
    path = f"{venv / 'bin'}:{bindir}"
    for tool in ("clang", "llc", "bpftool", "llvm-strip"):
        assert shutil.which(tool, path=path) is None, f"{tool} still on {path}"
    return path


class Child:
    """memwarden run from the venv: stdout and stderr read by threads, the ready line awaited."""

    def __init__(self, cmd: list[str], env: dict, cwd: Path) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, env=env, cwd=cwd)
        self.out: list[str] = []
        self.err: list[str] = []
        self.ready = threading.Event()
        self.got_output = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(s, sink), daemon=True)
                        for s, sink in ((self.proc.stdout, self.out),
                                        (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    def _read(self, stream, sink: list[str]) -> None:
        for line in stream:
            with self.got_output:
                sink.append(line.rstrip("\n"))
                if line.startswith("memwarden: ready"):
                    self.ready.set()
                self.got_output.notify_all()
        with self.got_output:
            self.got_output.notify_all()

    def wait_for(self, what: str, cond, timeout: float):
        """Wait (on the readers' notifications) until ``cond()`` is true or the child exits."""
        end = time.monotonic() + timeout
        with self.got_output:
            while not (got := cond()):
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no {what}:\n" + "\n".join(self.err + self.out))
                self.got_output.wait(min(left, 0.5))
        return got

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(60)
        for t in self.readers:
            t.join(30)
        return rc


def test_wheel_in_fresh_venv_runs_without_clang(tmp_path: Path) -> None:
    require_root()
    if shutil.which("clang") is None:
        pytest.skip("building the wheel needs clang (scripts/setup.sh installs it)")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE, symlinks=True)
    assert not list(src.rglob("*.bpf.o")), "the copy must not carry a compiled object"

    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
         cwd=tmp_path)
    [wheel] = list(wheels.glob("memwarden-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MEMWARDEN_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "CC",
                                                          "CLANG")}
    env["PATH"] = _path_without_compilers(tmp_path / "bin", venv)
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import memwarden.sources.ebpf.sensor as s; print(s.object_path())"],
                 env=env, cwd=tmp_path).stdout.strip()
    obj = Path(where)
    assert obj.is_relative_to(venv) and obj.is_file(), where
    manifest = json.loads(obj.with_name(obj.name + ".json").read_text())

    version = _run(["memwarden", "--version"], env=env, cwd=tmp_path).stdout
    assert version.strip().endswith(f"(probe {manifest['source_sha256'][:12]})"), version

    doctor = subprocess.run(["memwarden", "doctor"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=TIMEOUT)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "\nok   hooks: tracepoints " in doctor.stdout and "warning" not in doctor.stdout

    mw = Child(["memwarden", "run"], env, tmp_path)
    try:
        mw.wait_for("ready line", lambda: mw.ready.is_set(), 120)
        reader = subprocess.run(["cat", "/proc/1/coredump_filter"], capture_output=True,
                                text=True, env=env, timeout=30)
        assert reader.returncode == 0, reader.stderr

        def finding() -> list[dict]:
            return [f for f in (json.loads(x) for x in mw.out if x.startswith("{"))
                    if f["metadata"]["Properties"]["signatureID"] == "MW-1001"
                    and f.get("processName") == "cat"]

        found = mw.wait_for("MW-1001 finding", finding, 30)
    finally:
        rc = mw.stop()
    assert rc == 0, "\n".join(mw.err)
    trig = {a["name"]: a["value"] for a in found[0]["args"][-1]["value"]["args"]}
    assert trig["pathname"] == "/proc/1/coredump_filter"
    assert not [x for x in mw.err if "warning" in x.lower()], "\n".join(mw.err)
