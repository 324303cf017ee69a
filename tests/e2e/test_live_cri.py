"""Live: a real containerd (Debian's package, started by the test with a private root, state,
config and socket; its CRI plugin on), a pod created through the CRI API as the kubelet
creates one (RunPodSandbox with the io.kubernetes.* labels and the pod's own labels,
CreateContainer, StartContainer; host network, no CNI), and ``memwarden run`` asking that
containerd through CRI: the finding of a container reading /proc/1/coredump_filter (MW-1001)
names the container, its image, the pod's name, namespace and uid, and the pod's labels (which
only the sandbox carries), in Tracee's and Falco's formats."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from cri_live import Containerd, require_containerd
from podman_live import IMAGE, WAIT_S, Memwarden, json_lines, scrape, wait_for

pytestmark = pytest.mark.live

POD_LABELS = {"app": "shop-web", "tier": "front"}


@pytest.fixture()
def containerd(tmp_path: Path):
    require_containerd()
    # its own dir, short: unix socket paths are limited to 107 bytes
    root = Path(tempfile.mkdtemp(prefix="mwcri-", dir="/tmp"))
    runtime = Containerd(root)
    try:
        runtime.import_images()
        yield runtime
    finally:
        runtime.stop()
        shutil.rmtree(root, ignore_errors=True)


def _finding(path: Path, cid: str, falco: bool = False) -> dict | None:
    for f in json_lines(path):
        got = f.get("output_fields", {}).get("container.full_id") if falco else \
            f.get("containerId")
        if got == cid:
            return f
    return None


def test_a_finding_from_a_cri_pod_names_container_image_pod_and_pod_labels(
        containerd: Containerd, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"containers:\n  sockets: [{containerd.sock}]\n  wait: 10\n")
    tracee, falco = tmp_path / "tracee.jsonl", tmp_path / "falco.jsonl"
    mw = Memwarden("--config", str(cfg), "--enable", "core_dump_read", "--stats",
                   "--metrics-addr", "127.0.0.1:0",
                   "--output", f"tracee:file:{tracee}", "--output", f"falco:file:{falco}")
    mw.wait_stderr("memwarden: ready")
    uid = str(uuid.uuid4())
    pod_id = ""
    try:
        pod_id, pod_config = containerd.run_pod("shop-web-5c9d", "shop", uid, POD_LABELS)
        cid = containerd.run_container(pod_id, pod_config, "reader", [
            "/bin/sh", "-c", "cat /proc/1/coredump_filter; sleep 30"])
        t = wait_for(lambda: _finding(tracee, cid), WAIT_S, "the Tracee finding")
        a = wait_for(lambda: _finding(falco, cid, True), WAIT_S, "the Falco alert")
        metrics = scrape(mw)
    finally:
        err = mw.stop()
        if pod_id:
            containerd.remove_pod(pod_id)
    assert t["eventName"] == "core_dump_read"
    assert t["container"].get("name") == "reader", err
    assert t["container"]["id"] == cid
    assert t["container"]["image"] == IMAGE
    assert t["container"]["runtime"] == "containerd"
    assert len(t["container"]["imageId"]) == 64
    k = t["kubernetes"]
    assert (k["podName"], k["podNamespace"], k["podUID"]) == ("shop-web-5c9d", "shop", uid)
    assert POD_LABELS.items() <= k["podLabels"].items()
    fields = a["output_fields"]
    assert fields["container.id"] == cid[:12] and fields["container.full_id"] == cid
    assert fields["container.name"] == "reader"
    assert fields["container.image.repository"] == "localhost/memwarden-test-busybox"
    assert fields["container.image.tag"] == "1.0"
    assert (fields["k8s.pod.name"], fields["k8s.ns.name"], fields["k8s.pod.uid"]) == (
        "shop-web-5c9d", "shop", uid)
    assert "app:shop-web" in fields["k8s.pod.labels"]
    assert "tier:front" in fields["k8s.pod.labels"]
    assert "container_lookup_late: 0" in err
    assert metrics["memwarden_container_lookups_total"] >= 1
