"""Live: Tracee's ``container-init`` origin, decided in the kernel. A podman container's
runtime init (runc init, in the container's new cgroup, before it execs the entrypoint) writes
the ``--sysctl`` it was given; the entrypoint then reads the same file. A detector selected for
``container-init`` sees the write and not the read; one selected for ``container`` the read
and not the write (the engine's origin check, as ``--origin NAME=ORIGIN`` sets it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from ebpf_live import LiveSensor
from podman_live import IMAGE, ensure_image, podman_run, require_podman

from memwarden.core.event import Event, Finding
from memwarden.core.linux_abi import O_ACCMODE, O_RDONLY
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.core.requirements import PathFilter, Requirements, Selector

pytestmark = pytest.mark.live

SYSCTL = "/proc/sys/kernel/shm_rmid_forced"


class OriginProbe:
    """Raises a finding for every open of SYSCTL from the origin it is selected for."""

    def __init__(self, origin: str) -> None:
        self.detector_id = f"TEST-{origin}"
        self.metadata = SignatureMetadata(
            id=self.detector_id, version="1", name=f"open from {origin}",
            event_name=f"test_open_{origin.replace('-', '_')}", description="test",
            properties=Properties(severity=1, category="test", technique="test"))
        self.requirements = Requirements(
            (Selector("security_file_open", origin),),
            (PathFilter("security_file_open", "exact", SYSCTL),))

    def on_event(self, event: Event) -> Sequence[Finding]:
        if event.arg("pathname") != SYSCTL:
            return ()
        return (Finding(self.metadata, event, {"flags": event.open_flags()}),)


def test_container_init_is_the_runtime_init_before_the_entrypoint_exec(tmp_path: Path) -> None:
    require_podman()
    ensure_image(tmp_path)
    init, started = OriginProbe("container-init"), OriginProbe("container")
    class Execs(OriginProbe):  # the container's execs, to say why if the write is missed
        def __init__(self) -> None:
            super().__init__("any")
            self.requirements = Requirements((Selector("sched_process_exec", "any"),))

        def on_event(self, event: Event) -> Sequence[Finding]:
            return ()
    live = LiveSensor([init, started, Execs()]).start()
    try:
        done = podman_run("--rm", "--sysctl", "kernel.shm_rmid_forced=1", "--cidfile",
                          str(tmp_path / "cid"), IMAGE, "cat", SYSCTL)
        assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
        cid = (tmp_path / "cid").read_text().strip()

        def of(det: OriginProbe) -> list[Finding]:
            return [f for f in live.findings if f.metadata.id == det.detector_id
                    and f.event.container_id == cid]

        live.wait_for("the entrypoint's read", lambda: of(started))
        try:
            live.wait_for("the runtime init's write", lambda: of(init))
        except AssertionError:
            with live.lock:
                seen = [(f.metadata.id, f.event.process_name, f.event.container_id[:12],
                         f.event.origin, f.event.host_pid, f.data["flags"],
                         f.event.data.get("contextFlags")) for f in live.findings]
                seen += [(e.name, e.process_name, e.arg("pathname"), e.host_pid, e.timestamp,
                          e.data.get("contextFlags")) for e in live.events
                         if e.container_id == cid]
            raise AssertionError(f"cid {cid[:12]}: {seen}") from None
        live.settle()
        with live.lock:
            init_f, started_f = of(init), of(started)
    finally:
        live.stop()
    # before the exec: the runtime init writing the sysctl, never the entrypoint's read
    assert all(f.data["flags"] & O_ACCMODE != O_RDONLY for f in init_f), init_f
    assert all(f.event.process_name != "cat" for f in init_f)
    assert {f.event.origin for f in init_f} == {"container-init"}
    # after it: the entrypoint (cat) reading it, never the write
    assert [f.event.process_name for f in started_f] == ["cat"]
    assert all(f.data["flags"] & O_ACCMODE == O_RDONLY for f in started_f)
