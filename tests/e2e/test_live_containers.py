"""Live: findings from inside real podman containers, labelled as the kubelet labels them, carry
what the runtime's API says (id, name, image, digest, pod name/namespace/uid) in Tracee's and
Falco's formats, with Falco's 12-character id and the node's hostname; with the runtime's
socket gone mid-run, findings keep coming with the id alone, counted.

The action is proc_mem_access's: a shell in the container opens its own child's
/proc/PID/mem for reading (allowed without capabilities: the parent of a dumpable child)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from podman_live import (
    IMAGE,
    KUBE_LABELS,
    WAIT_S,
    Memwarden,
    PodmanService,
    ensure_image,
    json_lines,
    podman_run,
    require_podman,
    scrape,
    wait_for,
)

pytestmark = pytest.mark.live

ACTION = "sleep 30 & exec 3</proc/$!/mem; kill $!"


@pytest.fixture()
def service(tmp_path: Path):
    require_podman()
    ensure_image(tmp_path)
    svc = PodmanService(tmp_path / "podman.sock")
    try:
        yield svc
    finally:
        svc.stop()


def _start(tmp_path: Path, sock: str) -> tuple[Memwarden, Path, Path]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"containers:\n  sockets: [{sock}]\n  wait: 10\n")
    tracee, falco = tmp_path / "tracee.jsonl", tmp_path / "falco.jsonl"
    mw = Memwarden("--config", str(cfg), "--enable", "proc_mem_access", "--stats",
                   "--metrics-addr", "127.0.0.1:0",
                   "--output", f"tracee:file:{tracee}", "--output", f"falco:file:{falco}")
    mw.wait_stderr("memwarden: ready")
    return mw, tracee, falco


def _finding(path: Path, cid: str, key: str = "containerId") -> dict | None:
    for f in json_lines(path):
        got = f.get(key) if key == "containerId" else \
            f.get("output_fields", {}).get("container.full_id")
        if got == cid:
            return f
    return None


def test_a_finding_from_a_kubelet_labelled_container_names_container_and_pod(
        service: PodmanService, tmp_path: Path) -> None:
    mw, tracee, falco = _start(tmp_path, service.path)
    name = f"mwtest-{uuid.uuid4().hex[:8]}"
    try:
        done = podman_run("--rm", "--name", name, "--hostname", "inside-pod", "--cidfile",
                          str(tmp_path / "cid"), *_labels(), IMAGE, "sh", "-c", ACTION)
        assert done.returncode == 0, done.stderr
        cid = (tmp_path / "cid").read_text().strip()
        t = wait_for(lambda: _finding(tracee, cid), WAIT_S, "the Tracee finding")
        a = wait_for(lambda: _finding(falco, cid, "falco"), WAIT_S, "the Falco alert")
        metrics = scrape(mw)  # the resolver's counters, after a real container's events
    finally:
        err = mw.stop()
    assert t["eventName"] == "proc_mem_access"
    assert t["container"].get("name"), err
    assert t["container"]["id"] == cid and t["container"]["name"] == name
    assert t["container"]["image"] == "localhost/memwarden-test-busybox:1.0"
    assert t["container"]["imageDigest"].startswith("sha256:")
    assert t["kubernetes"]["podName"] == KUBE_LABELS["io.kubernetes.pod.name"]
    assert t["kubernetes"]["podNamespace"] == "shop"
    assert t["kubernetes"]["podUID"] == KUBE_LABELS["io.kubernetes.pod.uid"]
    assert t["hostName"] == "inside-pod"  # Tracee's hostName: the process's UTS name
    fields = a["output_fields"]
    assert fields["container.id"] == cid[:12] and fields["container.full_id"] == cid
    assert fields["container.name"] == name
    assert fields["container.image.repository"] == "localhost/memwarden-test-busybox"
    assert fields["container.image.tag"] == "1.0"
    assert fields["container.image.digest"] == t["container"]["imageDigest"]
    assert fields["k8s.ns.name"] == "shop"
    assert fields["k8s.pod.name"] == KUBE_LABELS["io.kubernetes.pod.name"]
    assert fields["k8s.pod.uid"] == KUBE_LABELS["io.kubernetes.pod.uid"]
    assert a["hostname"] == socket.gethostname()  # the node's, not the container's
    assert "container_lookup_late: 0" in err
    assert metrics["memwarden_container_lookups_total"] >= 1, metrics
    assert metrics["memwarden_container_lookup_late_total"] == 0
    # podman answers HTTP 500 to an inspect of a --rm container it is removing: counted as a
    # runtime error (1 run in 3), so only their presence is asserted here
    assert "memwarden_container_runtime_errors_total" in metrics
    assert "memwarden_container_runtime_unavailable_total" in metrics
    assert metrics["memwarden_container_event_stream_reconnects_total"] == 0


def _labels() -> list[str]:
    out: list[str] = []
    for k, v in KUBE_LABELS.items():
        out += ["--label", f"{k}={v}"]
    return out


def test_runtime_socket_removed_mid_run_findings_keep_coming_with_the_id(
        service: PodmanService, tmp_path: Path) -> None:
    mw, tracee, _ = _start(tmp_path, service.path)
    try:
        first = podman_run("--rm", "--cidfile", str(tmp_path / "cid1"), *_labels(),
                           IMAGE, "sh", "-c", ACTION)
        assert first.returncode == 0, first.stderr
        cid1 = (tmp_path / "cid1").read_text().strip()
        f1 = wait_for(lambda: _finding(tracee, cid1), WAIT_S, "the first finding")
        service.stop()
        Path(service.path).unlink(missing_ok=True)
        second = podman_run("--rm", "--cidfile", str(tmp_path / "cid2"), *_labels(),
                            IMAGE, "sh", "-c", ACTION)
        assert second.returncode == 0, second.stderr
        cid2 = (tmp_path / "cid2").read_text().strip()
        f2 = wait_for(lambda: _finding(tracee, cid2), WAIT_S, "the finding after removal")
        metrics = wait_for(lambda: _counted(mw), WAIT_S, "the reconnects and failures counted")
    finally:
        err = mw.stop()
    assert f1["container"].get("name"), err  # named while the runtime answered
    assert f2["containerId"] == cid2 and not f2["container"].get("name")
    assert f2["kubernetes"] == {}
    assert err.count("container runtime") == 1, err  # one warning
    errors = [line for line in err.splitlines() if "container_runtime_errors:" in line]
    assert errors and int(errors[0].split(":")[1]) >= 1, err
    assert metrics["memwarden_container_runtime_errors_total"] >= 1
    assert metrics["memwarden_container_runtime_unavailable_total"] >= 1  # cid2's lookup


def _counted(mw: Memwarden) -> dict[str, float] | None:
    """The metrics once the broken event stream was retried and cid2's lookup failed."""
    m = scrape(mw)
    ok = (m.get("memwarden_container_event_stream_reconnects_total", 0) >= 1
          and m.get("memwarden_container_runtime_unavailable_total", 0) >= 1)
    return m if ok else None
