"""Helpers of the live container tests: real podman containers (runc, Debian's packages) from
an image made without a registry (``podman import`` of busybox-static and its applets), a
podman API service on a private socket (systemd is not PID 1 here), and ``memwarden run`` as
a subprocess whose stderr is read as it comes."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from memwarden.sources.ebpf.sensor import object_path

IMAGE = "localhost/memwarden-test-busybox:1.0"
BUSYBOX = "/bin/busybox"
PODMAN_RUN = ("podman", "run", "--runtime", "runc", "--ulimit", "nofile=20000:20000",
              "--ulimit", "nproc=4096:4096")
READY_S = 60.0
WAIT_S = 20.0

KUBE_LABELS = {"io.kubernetes.pod.name": "shop-web-7d4f9",
               "io.kubernetes.pod.namespace": "shop",
               "io.kubernetes.pod.uid": "0b6c9a53-3d1e-4c59-9a39-6f3e0c2b8a11",
               "io.kubernetes.container.name": "web"}


def require_podman() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not object_path().is_file():
        pytest.skip(f"{object_path()} missing: bash scripts/build-bpf.sh")
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing: bash scripts/setup.sh --dev installs it")
    if not Path(BUSYBOX).is_file():
        pytest.skip("busybox-static missing: bash scripts/setup.sh --dev installs it")


def ensure_image(tmp: Path) -> str:
    """The test image, imported from a rootfs tarball when podman does not have it."""
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0:
        return IMAGE
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    tar_path = tmp / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for a in applets:
            if a != "busybox":
                info = tarfile.TarInfo(f"bin/{a}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
    subprocess.run(["podman", "import", str(tar_path), IMAGE], check=True,
                   capture_output=True)
    return IMAGE


def api_answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.")
    except OSError:
        return False
    finally:
        s.close()


class PodmanService:
    """``podman system service`` on ``path`` until :meth:`stop`."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.proc = subprocess.Popen(["podman", "system", "service", "--time=0",
                                      f"unix://{self.path}"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: api_answers(self.path), 30.0, "podman API service")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``cond`` (state, not time) until it is true; fail naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"timed out waiting for {what}")


def podman_run(*args: str, labels: dict[str, str] | None = None, check: bool = True,
               timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    cmd = list(PODMAN_RUN)
    for k, v in (labels or {}).items():
        cmd += ["--label", f"{k}={v}"]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


class Memwarden:
    """``python -m memwarden run ARGS`` (or ``command``) with stderr collected as it
    arrives."""

    def __init__(self, *args: str, command: list[str] | None = None) -> None:
        argv = command if command is not None else [sys.executable, "-m", "memwarden", "run",
                                                     *args]
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.err = b""

    def read_err(self, timeout: float = 0.2) -> str:
        ready, _, _ = select.select([self.proc.stderr], [], [], timeout)
        if ready:
            chunk = os.read(self.proc.stderr.fileno(), 65536)  # type: ignore[union-attr]
            self.err += chunk
        return self.err.decode(errors="replace")

    def wait_stderr(self, text: str, timeout: float = READY_S) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.read_err():
                return self.err.decode(errors="replace")
            if self.proc.poll() is not None:
                self.read_err(0)
                break
        self.stop()
        pytest.fail(f"memwarden never said {text!r}: {self.err.decode(errors='replace')}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stderr.read() if self.proc.stderr else b""  # type: ignore[union-attr]
        self.err += rest
        return self.err.decode(errors="replace")


def json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):  # a line being written
            out.append(orjson.loads(line))
    return out


def scrape(mw: Memwarden) -> dict[str, float]:
    """The unlabelled samples of a running sensor's ``/metrics`` (started with
    ``--metrics-addr 127.0.0.1:0``; the port is read from its stderr), by sample name."""
    m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", mw.read_err(0))
    assert m, mw.err
    with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            samples[name] = float(value)
    return samples
