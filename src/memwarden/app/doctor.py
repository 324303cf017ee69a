"""``memwarden doctor``: one screen that says what this host allows and what memwarden will use,
each missing piece with its fix, and whether ``memwarden run`` would work (the exit status).

Two halves, so that the report can be tested on a host's facts without that host:
:func:`collect` asks the host (files, sockets, and real BPF loads through
:mod:`memwarden.sources.ebpf.probes`: what a kernel allows is only known by trying), and
:func:`report` turns those :class:`HostFacts` into :class:`Check` lines, pure. A check is
*blocking* when ``run`` cannot start without it; everything else is reported with what it
costs (a hook mode not available, a feature not used by this version).
"""

from __future__ import annotations

import gzip
import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memwarden import __version__
from memwarden.sources.ebpf import probes as P
from memwarden.sources.ebpf import sensor as S
from memwarden.sources.ebpf.libbpf import LIBBPF_PACKAGE, LIBBPF_SONAME

LOCKDOWN_PATH = "/sys/kernel/security/lockdown"
KERNEL_CONFIGS = ("/proc/config.gz", "/boot/config-{release}")
RAW_DEVICES = ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore")
#: the usual API sockets of the container runtimes (rootful)
RUNTIME_SOCKETS: tuple[tuple[str, str], ...] = (
    ("docker", "/run/docker.sock"),
    ("docker", "/var/run/docker.sock"),
    ("podman", "/run/podman/podman.sock"),
    ("containerd", "/run/containerd/containerd.sock"),
    ("containerd (k3s)", "/run/k3s/containerd/containerd.sock"),
    ("cri-o", "/run/crio/crio.sock"),
    ("cri-o", "/var/run/crio/crio.sock"),
)
NOT_USED = "not used by this version"
LIBBPF_FIX = f"install {LIBBPF_PACKAGE} (Debian/Ubuntu: apt-get install {LIBBPF_PACKAGE})"


@dataclass
class HostFacts:
    """Everything the report says, as found on one host (``collect``) or written by a test."""

    kernel: str
    machine: str
    privileged: bool
    btf: bool
    tracefs: str | None  # the mounted tracefs directory with syscall events
    lockdown: str | None  # the lockdown file's text; None: securityfs not mounted
    libbpf: str | None  # libbpf version; None: libbpf.so.1 cannot be loaded
    object_path: str
    object_present: bool
    probe_hash: str = "unknown"
    probe_problem: str | None = None
    hooks: dict[str, P.Probe] = field(default_factory=dict)  # lsm, fentry, tracepoint
    io_uring_events: bool = False
    io_uring: P.Probe | None = None
    ia32_emulation: bool | None = None  # None: unknown (no kernel config, no symbols)
    raw_syscalls: P.Probe | None = None
    send_signal: P.Probe | None = None
    ring_buffer_mb: int = 16
    audit: str | None = None  # "kernel audit enabled, auditd pid 123"; None: not available
    audit_enabled: bool = False
    audit_why: str = ""
    audit_multicast: P.Probe | None = None
    runtime_sockets: list[tuple[str, str]] = field(default_factory=list)
    nats: str | None = None  # None: not configured; else "servers: reachable/why"
    nats_ok: bool = True
    raw_devices: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    blocking: bool = False  # run cannot start without it
    info: bool = False  # neither good nor bad: a fact


# -- asking the host --------------------------------------------------------------------------

def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _kernel_config(release: str) -> str | None:
    for pattern in KERNEL_CONFIGS:
        path = pattern.format(release=release)
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt") as f:
                    return f.read()
            with open(path) as f:
                return f.read()
        except OSError:
            continue
    return None


def _ia32_emulation(release: str, machine: str) -> bool | None:
    if machine != "x86_64":
        return None  # arm64's compat (AArch32) is another question; not probed
    config = _kernel_config(release)
    if config is not None:
        if "CONFIG_IA32_EMULATION=y" not in config:
            return False
        cmdline = _read("/proc/cmdline") or ""
        return "ia32_emulation=false" not in cmdline and "ia32_emulation=0" not in cmdline
    try:
        with open("/proc/kallsyms") as f:
            return any(line.endswith(" ia32_sys_call\n") for line in f)
    except OSError:
        return None


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _audit(facts: HostFacts) -> None:
    from memwarden.sources.audit.netlink import AuditMulticast, AuditNetlinkError, audit_status

    try:
        st = audit_status()
    except (AuditNetlinkError, OSError) as exc:
        facts.audit, facts.audit_why = None, str(exc)
        return
    state = {0: "disabled", 1: "enabled", 2: "enabled and locked"}.get(st.enabled, "?")
    daemon = f"auditd pid {st.pid}" if st.pid else "no auditd running"
    facts.audit = f"kernel audit {state}, {daemon}"
    facts.audit_enabled = st.enabled in (1, 2)
    try:
        AuditMulticast(rcvbuf=1 << 16).sock.close()
        facts.audit_multicast = P.Probe(True)
    except (AuditNetlinkError, OSError) as exc:
        facts.audit_multicast = P.Probe(False, str(exc))


def _nats(config: Any) -> tuple[str | None, bool]:
    """The ``nats`` settings section, if this build's configuration has one: its servers and
    whether a TCP connection to the first reaches it."""
    if config is None:
        return None, True
    servers = getattr(config, "servers", None) or getattr(config, "url", None)
    if isinstance(servers, str):
        servers = [servers]
    if not servers:
        return None, True
    url = str(servers[0])
    hostport = url.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host:
        host, port = hostport, "4222"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2.0):
            pass
    except (OSError, ValueError) as exc:
        return f"{url}: not reachable ({getattr(exc, 'strerror', None) or exc})", False
    return f"{url}: reachable", True


def collect(*, ring_buffer_mb: int = 16, nats_config: Any = None,
            object_path: Path | None = None) -> HostFacts:
    """Ask this host. Loads (and unloads) BPF programs when privileged: run as root."""
    uname = os.uname()
    obj = object_path or S.object_path()
    facts = HostFacts(
        kernel=uname.release, machine=uname.machine,
        privileged=_privileged(), btf=os.path.exists(S.BTF_PATH),
        tracefs=next((d for d in S.TRACEFS_DIRS
                      if os.path.isdir(os.path.join(d, "events", "syscalls"))), None),
        lockdown=_read(LOCKDOWN_PATH), libbpf=P.libbpf_version(),
        object_path=str(obj), object_present=obj.is_file(),
        ring_buffer_mb=S._power_of_two_mb(ring_buffer_mb) >> 20)
    if facts.object_present:
        state = S.probe_state(obj)
        facts.probe_hash, facts.probe_problem = state.short_hash, state.problem
    facts.io_uring_events = facts.tracefs is not None and os.path.isdir(
        os.path.join(facts.tracefs, "events", "io_uring"))
    facts.ia32_emulation = _ia32_emulation(uname.release, uname.machine)
    facts.runtime_sockets = [(name, path) for name, path in RUNTIME_SOCKETS if _is_socket(path)]
    facts.nats, facts.nats_ok = _nats(nats_config)
    facts.raw_devices = {p: os.path.exists(p) for p in RAW_DEVICES}
    if facts.privileged:
        _audit(facts)
    if facts.privileged and facts.btf and facts.libbpf and facts.object_present:
        for mode in ("lsm", "fentry"):
            facts.hooks[mode] = P.hook_mode(obj, mode)
        facts.hooks["tracepoint"] = P.sensor_load(obj, "tracepoint", facts.ring_buffer_mb << 20)
        doctor = obj.with_name(P.DOCTOR_OBJECT)
        facts.io_uring = P.load_program(doctor, P.IO_URING_PROGRAM, attach=True)
        facts.raw_syscalls = P.load_program(doctor, P.RAW_SYSCALLS_PROGRAM, attach=True)
        facts.send_signal = P.load_program(doctor, P.SEND_SIGNAL_PROGRAM, attach=False)
    return facts


def _privileged() -> bool:
    caps = S._capabilities()
    return os.geteuid() == 0 or bool((caps >> S.CAP_SYS_ADMIN) & 1) or bool(
        (caps >> S.CAP_BPF) & 1 and (caps >> S.CAP_PERFMON) & 1)


# -- the report -------------------------------------------------------------------------------

def _probe_check(name: str, probe: P.Probe | None, yes: str, fix: str, *,
                 used: bool = True, blocking: bool = False, unchecked: str) -> Check:
    suffix = "" if used else f"; {NOT_USED}"
    if probe is None:
        return Check(name, False, f"not checked: {unchecked}{suffix}", blocking=blocking)
    if probe.ok:
        return Check(name, True, yes + suffix)
    return Check(name, False, f"refused: {probe.why}{suffix}", fix, blocking=blocking)


def report(f: HostFacts) -> list[Check]:
    """The doctor's lines for ``f``, in screen order."""
    unchecked = ("needs root" if not f.privileged else "no BTF" if not f.btf
                 else "no libbpf" if not f.libbpf else "no BPF object")
    c: list[Check] = [
        Check("kernel", True, f"Linux {f.kernel} {f.machine}", info=True),
        Check("privileges", f.privileged, "root (or CAP_BPF + CAP_PERFMON)" if f.privileged
              else "not root", "run memwarden as root", blocking=True),
        Check("BTF", f.btf, S.BTF_PATH if f.btf else f"{S.BTF_PATH} missing",
              "a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8+, as distributions ship them)",
              blocking=True),
        Check("tracefs", f.tracefs is not None, f"mounted at {f.tracefs}" if f.tracefs
              else "not mounted", "mount -t tracefs none /sys/kernel/tracing", blocking=True),
    ]
    if f.lockdown is None:
        c.append(Check("lockdown", True, f"unknown (no {LOCKDOWN_PATH}: securityfs not "
                       "mounted); the loads below tell", info=True))
    else:
        active = f.lockdown[f.lockdown.find("[") + 1:f.lockdown.find("]")] \
            if "[" in f.lockdown else f.lockdown
        c.append(Check("lockdown", active != "confidentiality", active,
                       "" if active != "confidentiality" else
                       "lockdown=confidentiality forbids BPF reads of kernel memory: boot "
                       "without it (lockdown=integrity is fine)"))
    c.append(Check("libbpf", f.libbpf is not None,
                   f"{LIBBPF_SONAME} (libbpf {f.libbpf})" if f.libbpf
                   else f"{LIBBPF_SONAME} cannot be loaded", LIBBPF_FIX, blocking=True))
    if f.object_present:
        detail = f"{f.object_path} (probe {f.probe_hash})"
        c.append(Check("BPF probe", True, detail if f.probe_problem is None
                       else f"{detail}; warning: {f.probe_problem}"))
    else:
        c.append(Check("BPF probe", False, f"{f.object_path} missing",
                       "bash scripts/build-bpf.sh in a checkout, or install memwarden's wheel",
                       blocking=True))
    c.append(_probe_check("hooks: lsm", f.hooks.get("lsm"), "yes: lsm/file_open",
                          "boot with BPF-LSM enabled: lsm=...,bpf on the kernel command line "
                          "(optional: tracepoints work)", unchecked=unchecked))
    c.append(_probe_check("hooks: fentry", f.hooks.get("fentry"),
                          "yes: fentry/security_file_open",
                          "a kernel that allows BPF trampolines (optional: tracepoints work)",
                          unchecked=unchecked))
    c.append(_probe_check("hooks: tracepoints", f.hooks.get("tracepoint"),
                          f"yes: the sensor loads, ring buffer {f.ring_buffer_mb} MiB",
                          "the kernel refuses BPF tracepoint programs: check seccomp/LSM "
                          "policy, or run with --source audit", blocking=True,
                          unchecked=unchecked))
    uring = f.io_uring
    if uring is None and not f.io_uring_events:
        uring = P.Probe(False, "no io_uring tracepoints in tracefs")
    c.append(_probe_check("hooks: io_uring", uring,
                          "yes: tp_btf/io_uring_submit_req loads (io_uring opens, renames, "
                          "unlinks, links)",
                          "a kernel with CONFIG_IO_URING and its tracepoints (optional: "
                          "without them there are no io_uring requests to see)",
                          unchecked=unchecked))
    compat = f.raw_syscalls
    ia32 = {True: "IA32 emulation on", False: "no IA32 emulation", None: "IA32 emulation unknown"}
    if compat is not None and compat.ok:
        compat_detail = f"yes: {ia32[f.ia32_emulation]}, tp_btf/sys_exit attaches"
    else:
        compat_detail = ia32[f.ia32_emulation]
    c.append(_probe_check("hooks: compat (32-bit)", compat, compat_detail,
                          "the raw_syscalls tracepoint (32-bit syscalls are not seen "
                          "without it)", unchecked=unchecked))
    c.append(_probe_check("bpf_send_signal", f.send_signal, "yes: for --enforce",
                          "a kernel that allows bpf_send_signal in tracing programs (5.3+)",
                          used=False, unchecked=unchecked))
    if f.audit is None:
        c.append(Check("audit", False, f"not available ({f.audit_why or 'not checked'})",
                       "apt-get install auditd (for --source audit, and the fallback of "
                       "--source auto)"))
    else:
        mc = f.audit_multicast
        joined = mc is not None and mc.ok
        fix = ("" if f.audit_enabled and joined else
               "run as root (CAP_AUDIT_READ)" if not joined else
               "start auditd, or auditctl -e 1 (for --source audit and --source auto's "
               "fallback)")
        c.append(Check("audit", f.audit_enabled and joined, f"{f.audit}; multicast " + (
            "joined" if joined else f"refused: {mc.why if mc else '?'}"), fix))
    socks = ", ".join(f"{n} {p}" for n, p in f.runtime_sockets)
    c.append(Check("container runtimes", True, socks or "no socket of podman, docker, "
                   "containerd or cri-o at the usual paths", info=True))
    c.append(Check("NATS", f.nats_ok, f.nats or "not configured",
                   "" if f.nats_ok else "check the nats servers in the configuration",
                   info=f.nats is None))
    have = [p for p, there in f.raw_devices.items() if there]
    gone = [p for p, there in f.raw_devices.items() if not there]
    c.append(Check("raw memory devices", True, "; ".join(
        ([f"present: {' '.join(have)}"] if have else []) +
        ([f"absent: {' '.join(gone)}"] if gone else [])) + " (watched all the same)",
        info=True))
    return c


def run_would_work(checks: Iterable[Check]) -> bool:
    return not [x for x in checks if x.blocking and not x.ok]


def chosen_mode(f: HostFacts) -> str:
    for mode in ("lsm", "fentry", "tracepoint"):
        probe = f.hooks.get(mode)
        if probe is not None and probe.ok:
            return mode
    return "none"


def render(f: HostFacts, checks: list[Check]) -> str:
    """The screen: one line per check (``ok``, ``no``, ``FAIL`` that blocks ``run``, ``--`` a
    fact), a fix line under what is missing, and the verdict."""
    width = max(len(x.name) for x in checks) + 2
    lines = [f"memwarden {__version__} doctor: what this host allows, what memwarden uses"]
    for x in checks:
        mark = "--" if x.info else "ok" if x.ok else "FAIL" if x.blocking else "no"
        lines.append(f"{mark:<5}{x.name:<{width}}{x.detail}")
        if x.fix and not x.ok:
            lines.append(f"{'':<5}{'':<{width}}fix: {x.fix}")
    failing = [x.name for x in checks if x.blocking and not x.ok]
    if failing:
        lines.append(f"memwarden run: will not start ({', '.join(failing)})")
    else:
        lines.append(f"memwarden run: will work (eBPF sensor, hooks: {chosen_mode(f)}, ring "
                     f"buffer {f.ring_buffer_mb} MiB)")
    return "\n".join(lines) + "\n"


def doctor(*, ring_buffer_mb: int = 16, nats_config: Any = None) -> tuple[str, bool]:
    """Collect, report, render: the screen and whether ``run`` would work."""
    facts = collect(ring_buffer_mb=ring_buffer_mb, nats_config=nats_config)
    checks = report(facts)
    return render(facts, checks), run_would_work(checks)
