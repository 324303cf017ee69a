"""The CRI client's messages against the CRI v1 wire format (field numbers written out by hand
here as bytes), and what the client makes of a runtime's answer. The client against a real
containerd: tests/e2e/test_live_cri.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memwarden.enrich import cri
from memwarden.enrich.containers import build_resolver, cri_path, discover_sockets

pytestmark = pytest.mark.skipif(not cri.available(), reason="the cri extra is not installed")

CID = "ab" * 32


def _s(field: int, text: str | bytes) -> bytes:
    """A length-delimited field (wire type 2): a string or an encoded message."""
    raw = text.encode() if isinstance(text, str) else text
    return bytes([field << 3 | 2]) + _varint(len(raw)) + raw


def test_requests_encode_with_the_cri_v1_field_numbers() -> None:
    m = cri.messages()
    assert m["ContainerStatusRequest"](container_id="x", verbose=True).SerializeToString() \
        == _s(1, "x") + bytes([2 << 3, 1])
    assert m["PodSandboxStatusRequest"](pod_sandbox_id="p").SerializeToString() == _s(1, "p")
    listing = m["ListContainersRequest"](filter=m["ContainerFilter"](id="c"))
    assert listing.SerializeToString() == _s(1, _s(1, "c"))
    image = m["ImageStatusRequest"](image=m["ImageSpec"](image="i"))
    assert image.SerializeToString() == _s(1, _s(1, "i"))


def _status_response(info: dict) -> bytes:
    """A ContainerStatusResponse as a runtime writes it, field by field."""
    label = _s(1, "io.kubernetes.pod.name") + _s(2, "web-1")
    mount = _s(1, "/data") + _s(2, "/srv/data")
    status = (_s(1, CID) + _s(2, _s(1, "reader")) + bytes([5 << 3]) + _varint(1_700_000_000)
              + _s(8, _s(1, "docker.io/shop/web:1.2"))
              + _s(9, "docker.io/shop/web@sha256:" + "cd" * 32) + _s(12, label)
              + _s(14, mount))
    raw = json.dumps(info).encode()
    return _s(1, status) + _s(2, _s(1, "info") + _s(2, raw))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_a_container_status_decodes_into_the_fields_the_formats_use(tmp_path: Path) -> None:
    m = cri.messages()
    info = {"sandboxID": "p" * 64,
            "config": {"linux": {"security_context": {"privileged": True}}}}
    got = m["ContainerStatusResponse"].FromString(_status_response(info))
    pod = m["PodSandboxStatusResponse"](status=m["PodSandboxStatus"](
        labels={"app": "web"}, metadata=m["PodSandboxMetadata"](
            name="web-1", namespace="shop", uid="u-1")))
    client = cri.CriClient(str(tmp_path / "absent.sock"), timeout=0.5)
    try:
        c = client.container_info(got, pod, runtime="containerd")
    finally:
        client.close()
    assert (c.id, c.name, c.runtime) == (CID, "reader", "containerd")
    assert (c.image, c.image_repository, c.image_tag) == (
        "docker.io/shop/web:1.2", "docker.io/shop/web", "1.2")
    assert c.image_digest == "sha256:" + "cd" * 32
    assert c.image_id == ""  # ImageStatus unanswered (no runtime): the rest is kept
    assert c.mounts == (("/srv/data", "/data"),)
    assert c.privileged is True
    assert c.start_ts == 1_700_000_000
    assert (c.pod_name, c.pod_namespace, c.pod_uid) == ("web-1", "shop", "u-1")
    assert c.pod_labels == {"app": "web"}
    assert c.tracee_kubernetes()["podLabels"] == {"app": "web"}


@pytest.mark.parametrize("info", ["", "not json", "[1]", '{"privileged": false}',
                                  '{"config": {"linux": null}}'])
def test_odd_verbose_info_means_not_privileged(info: str) -> None:
    assert cri._privileged({"info": info} if info else {}) is False


def test_cri_sockets_are_named_or_discovered(tmp_path: Path) -> None:
    assert cri_path("cri:/x/any.sock") == "/x/any.sock"
    assert cri_path("/x/containerd.sock") == "/x/containerd.sock"
    assert cri_path("/run/podman/podman.sock") is None
    (tmp_path / "run" / "containerd").mkdir(parents=True)
    (tmp_path / "run" / "containerd" / "containerd.sock").touch()
    assert discover_sockets((), str(tmp_path)) == [
        f"cri:{tmp_path}/run/containerd/containerd.sock"]


def test_an_unreachable_cri_runtime_leaves_the_id_counted(tmp_path: Path) -> None:
    import io

    err = io.StringIO()
    r = build_resolver([f"cri:{tmp_path}/gone.sock"], wait=5, err=err,
                       cri_client=lambda p: cri.CriClient(p, timeout=1.0))
    try:
        assert r.lookup(CID) is None
    finally:
        r.close()
    assert r.stats.container_runtime_unavailable >= 1
    assert err.getvalue().count("warning") == 1, err.getvalue()
