"""``memwarden doctor`` on this host, as root: exit 0 (``run`` works here), and its hook lines
agree with what the kernel really does (the sensor's own probe of each mode), its device line
with the filesystem."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ebpf_live import require_sensor

from memwarden.sources.ebpf import hooks as H
from memwarden.sources.ebpf.sensor import object_path

pytestmark = pytest.mark.live


def test_doctor_tells_this_host() -> None:
    require_sensor()
    r = subprocess.run([sys.executable, "-m", "memwarden", "doctor"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    by_name = {line[5:].split("  ")[0]: line for line in r.stdout.splitlines()
               if line[:5].strip() in ("ok", "no", "FAIL", "--")}
    assert by_name["hooks: tracepoints"].startswith("ok   ")
    for mode in ("lsm", "fentry"):
        allowed, _why = H.probe_mode(str(object_path()), mode)
        assert by_name[f"hooks: {mode}"].startswith("ok   " if allowed else "no   "), mode
    devmem = by_name["raw memory devices"]
    assert ("absent: /dev/mem" in devmem) == (not os.path.exists("/dev/mem"))
    best = next(m for m in H.MODES if m == "tracepoint" or
                H.probe_mode(str(object_path()), m)[0])
    assert r.stdout.splitlines()[-1].startswith(f"memwarden run: will work (eBPF sensor, hooks: "
                                                f"{best},")
