"""The sensor's start errors that cannot be produced on a live test host (no BTF, no tracefs, a
refusal with lockdown on): each one line that says what to do."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from memwarden.sources.ebpf import errors as E
from memwarden.sources.ebpf import sensor as S
from memwarden.sources.ebpf.libbpf import LibbpfError


@pytest.fixture
def privileged(monkeypatch) -> None:
    monkeypatch.setattr(S.os, "geteuid", lambda: 0)


def test_no_btf(privileged, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(S, "BTF_PATH", str(tmp_path / "vmlinux"))
    with pytest.raises(E.NoBtf) as exc:
        S.preflight(tmp_path / "memwarden.bpf.o")
    assert str(exc.value) == (
        f"this kernel has no BTF ({tmp_path / 'vmlinux'} is missing); the CO-RE probe needs a "
        "kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or later, as distributions ship them)")


def test_object_missing(privileged, monkeypatch, tmp_path: Path) -> None:
    btf = tmp_path / "vmlinux"
    btf.write_bytes(b"")
    monkeypatch.setattr(S, "BTF_PATH", str(btf))
    with pytest.raises(E.ObjectMissing, match="build it with bash scripts/build-bpf.sh"):
        S.preflight(tmp_path / "memwarden.bpf.o")


def test_tracefs_missing(privileged, monkeypatch, tmp_path: Path) -> None:
    btf, obj = tmp_path / "vmlinux", tmp_path / "memwarden.bpf.o"
    btf.write_bytes(b"")
    obj.write_bytes(b"")
    monkeypatch.setattr(S, "BTF_PATH", str(btf))
    monkeypatch.setattr(S, "TRACEFS_DIRS", (str(tmp_path / "tracing"),))
    with pytest.raises(E.TracefsMissing, match="mount -t tracefs none /sys/kernel/tracing"):
        S.preflight(obj)


def test_not_privileged(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(S.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(S, "_capabilities", lambda: 0)
    with pytest.raises(E.NotPrivileged, match="needs root"):
        S.preflight(tmp_path / "x")
    # CAP_BPF and CAP_PERFMON are enough
    monkeypatch.setattr(S, "_capabilities", lambda: (1 << S.CAP_BPF) | (1 << S.CAP_PERFMON))
    monkeypatch.setattr(S, "BTF_PATH", str(tmp_path / "none"))
    with pytest.raises(E.NoBtf):
        S.preflight(tmp_path / "x")


def test_refused_message_names_lockdown(monkeypatch, tmp_path: Path) -> None:
    lockdown = tmp_path / "lockdown"
    lockdown.write_text("none [integrity] confidentiality\n")
    real_open = open

    def fake_open(path, *a, **kw):
        if path == "/sys/kernel/security/lockdown":
            return real_open(lockdown, *a, **kw)
        return real_open(path, *a, **kw)

    monkeypatch.setattr("builtins.open", fake_open)
    msg = S._refused_message(LibbpfError(errno.EPERM, "cannot load BPF object x"))
    assert msg.startswith("the kernel refused to load memwarden's BPF programs (cannot load BPF "
                          "object x: Operation not permitted (errno 1)); kernel lockdown is on "
                          "(none [integrity] confidentiality)")


def test_verifier_rejection_message_quotes_the_verifier() -> None:
    exc = LibbpfError(errno.EACCES, "cannot load BPF object x",
                      ["libbpf: prog 'p': BPF program load failed: Permission denied",
                       "123: (85) call bpf_probe_read_kernel_str#115",
                       "invalid access to memory, mem_size=16384 off=16382 size=253",
                       "R1 max value is outside of the allowed memory range",
                       "processed 33564 insns (limit 1000000)", "-- END PROG LOAD LOG --"])
    msg = S._load_failure_message(exc)
    assert "invalid access to memory" in msg and "R1 max value is outside" in msg
    assert msg.endswith("MEMWARDEN_LIBBPF_DEBUG=1 memwarden run)")


def test_ring_buffer_size_is_a_power_of_two() -> None:
    assert S._power_of_two_mb(16) == 16 << 20
    assert S._power_of_two_mb(3) == 4 << 20
    assert S._power_of_two_mb(0) == 1 << 20


def test_object_path_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(S.OBJECT_ENV, raising=False)
    assert S.object_path() == S.PACKAGE_DIR / "memwarden.bpf.o"
    monkeypatch.setenv(S.OBJECT_ENV, str(tmp_path / "other.o"))
    assert S.object_path() == tmp_path / "other.o"
