"""``memwarden doctor``'s report on a host's facts: this VM's (tracepoints yes, fentry and
BPF-LSM refused with EPERM, no /dev/mem, no /proc/kcore, securityfs not mounted) and the ways
a host can fail to run memwarden, each with its fix; the exit status follows ``run``."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from memwarden.app import doctor as D
from memwarden.cli import main
from memwarden.sources.ebpf.probes import Probe

EPERM = Probe(False, "Operation not permitted")
YES = Probe(True)

THIS_VM = D.HostFacts(
    kernel="6.18.44-fc-v1045", machine="x86_64", privileged=True, btf=True,
    tracefs="/sys/kernel/tracing", lockdown=None, libbpf="1.1",
    object_path="/venv/lib/python3.11/site-packages/memwarden/sources/ebpf/memwarden.bpf.o",
    object_present=True, probe_hash="1d68b1e733e5",
    hooks={"lsm": EPERM, "fentry": EPERM, "tracepoint": YES},
    io_uring_events=True, io_uring=YES, ia32_emulation=True, raw_syscalls=YES,
    send_signal=YES, ring_buffer_mb=16, audit="kernel audit enabled, auditd pid 42",
    audit_enabled=True, audit_multicast=YES,
    raw_devices={"/dev/mem": False, "/dev/kmem": False, "/dev/port": False,
                 "/proc/kcore": False})


def lines(facts: D.HostFacts) -> dict[str, D.Check]:
    return {c.name: c for c in D.report(facts)}


def test_this_vm() -> None:
    checks = lines(THIS_VM)
    assert checks["hooks: tracepoints"].ok
    assert checks["hooks: tracepoints"].detail == "yes: the sensor loads, ring buffer 16 MiB"
    for mode in ("lsm", "fentry"):
        c = checks[f"hooks: {mode}"]
        assert not c.ok and not c.blocking
        assert c.detail == "refused: Operation not permitted"
    assert "lsm=...,bpf" in checks["hooks: lsm"].fix
    assert checks["raw memory devices"].detail.startswith("absent: /dev/mem /dev/kmem")
    assert checks["NATS"].detail == "not configured"
    assert checks["bpf_send_signal"].detail.endswith("; not used by this version")
    for name in ("hooks: io_uring", "hooks: compat (32-bit)", "bpf_send_signal"):
        assert checks[name].ok
    assert checks["hooks: io_uring"].detail.startswith("yes: tp_btf/io_uring_submit_req")
    assert checks["hooks: compat (32-bit)"].detail == ("yes: IA32 emulation on, tp_btf/sys_exit "
                                                       "attaches")
    assert "securityfs not mounted" in checks["lockdown"].detail
    assert D.run_would_work(checks.values())
    screen = D.render(THIS_VM, D.report(THIS_VM))
    assert screen.splitlines()[-1] == ("memwarden run: will work (eBPF sensor, hooks: "
                                       "tracepoint, ring buffer 16 MiB)")
    assert "\nno   hooks: fentry " in screen and "\nok   hooks: tracepoints " in screen
    assert len(screen.splitlines()) < 30  # one screen


@pytest.mark.parametrize(("change", "name", "fix"), [
    ({"btf": False}, "BTF", "CONFIG_DEBUG_INFO_BTF=y"),
    ({"tracefs": None}, "tracefs", "mount -t tracefs none /sys/kernel/tracing"),
    ({"libbpf": None}, "libbpf", "install libbpf1 (Debian/Ubuntu: apt-get install libbpf1)"),
    ({"object_present": False}, "BPF probe", "install memwarden's wheel"),
    ({"privileged": False}, "privileges", "run memwarden as root"),
    ({"hooks": {"lsm": EPERM, "fentry": EPERM, "tracepoint": EPERM}}, "hooks: tracepoints",
     "--source audit"),
])
def test_what_stops_run_is_a_failure_with_its_fix(change: dict, name: str, fix: str) -> None:
    facts = dataclasses.replace(THIS_VM, **change)
    checks = D.report(facts)
    bad = {c.name: c for c in checks if c.blocking and not c.ok}
    assert name in bad and fix in bad[name].fix
    assert not D.run_would_work(checks)
    screen = D.render(facts, checks)
    assert f"\nFAIL {name}" in screen and f"fix: {bad[name].fix}" in screen
    assert screen.splitlines()[-1].startswith("memwarden run: will not start (")


def test_unprivileged_host_checks_nothing_it_cannot() -> None:
    facts = dataclasses.replace(THIS_VM, privileged=False, hooks={}, io_uring=None,
                                raw_syscalls=None, send_signal=None)
    checks = lines(facts)
    assert checks["hooks: fentry"].detail == "not checked: needs root"
    assert checks["bpf_send_signal"].detail == "not checked: needs root; not used by this version"


def test_optional_pieces_missing_do_not_stop_run() -> None:
    facts = dataclasses.replace(
        THIS_VM, io_uring_events=False, io_uring=Probe(False, "No such process"),
        send_signal=EPERM, audit=None, audit_why="no netlink", ia32_emulation=False,
        nats="nats://10.0.0.1:4222: not reachable (Connection refused)", nats_ok=False,
        raw_devices={"/dev/mem": True, "/proc/kcore": False},
        runtime_sockets=[("docker", "/run/docker.sock")])
    checks = lines(facts)
    assert D.run_would_work(checks.values())
    assert checks["audit"].fix.startswith("apt-get install auditd")
    assert checks["NATS"].fix and not checks["NATS"].ok
    assert checks["raw memory devices"].detail.startswith("present: /dev/mem; absent: /proc/kcore")
    assert checks["container runtimes"].detail == "docker /run/docker.sock"


def test_nats_reachability(monkeypatch) -> None:
    assert D._nats(None) == (None, True)

    class Nats:
        servers = ["nats://127.0.0.1:1"]

    detail, ok = D._nats(Nats())
    assert not ok and detail.startswith("nats://127.0.0.1:1: not reachable")


@pytest.mark.parametrize(("facts", "status"), [
    (THIS_VM, 0), (dataclasses.replace(THIS_VM, btf=False), 1)])
def test_exit_status(monkeypatch, facts: D.HostFacts, status: int) -> None:
    monkeypatch.setattr(D, "collect", lambda **_kw: facts)
    r = CliRunner().invoke(main, ["doctor"])
    assert r.exit_code == status, r.output
    assert r.output.startswith("memwarden ") and "doctor" in r.output.splitlines()[0]
