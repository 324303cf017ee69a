"""``container.*`` and ``k8s.*``: what a source gives of the container and the pod (id, name,
image, pod identity); no container runtime enrichment yet.
"""

from __future__ import annotations

from typing import Any

from memwarden.core.event import Event
from memwarden.rules.falco.fields.base import (
    BOOL,
    NUMBER,
    STRING,
    FieldSpec,
    Getter,
    fixed,
)

_NO_CONTAINER = "no container runtime enrichment yet (only the id, name and image a source gives)"


def _container_id(ev: Event) -> Any:
    return ev.data.get("containerId") or (ev.data.get("container") or {}).get("id") or "host"


def _container_key(key: str, host_value: str | None = None) -> Getter:
    def get(ev: Event) -> Any:
        c = ev.data.get("container") or {}
        v = c.get(key) if isinstance(c, dict) else None
        if v:
            return v
        if host_value is not None and not (ev.data.get("containerId") or c.get("id")):
            return host_value
        return None
    return get


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/repo/name:tag@sha256:...`` -> (``registry:5000/repo/name``, ``tag``)."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, ""


def _image_part(index: int) -> Getter:
    get_image = _container_key("image")

    def get(ev: Event) -> Any:
        image = get_image(ev)
        return (split_image(image)[index] or None) if image else None
    return get


def _kube(key: str) -> Getter:
    def get(ev: Event) -> Any:
        k = ev.data.get("kubernetes") or {}
        return (k.get(key) or None) if isinstance(k, dict) else None
    return get


FILLED: list[FieldSpec] = [
    FieldSpec("container.id", STRING, "container id, or 'host'", make=fixed(_container_id),
              source="containerId"),
    FieldSpec("container.name", STRING, "container name, or 'host'",
              make=fixed(_container_key("name", "host")), source="container.name"),
    FieldSpec("container.image", STRING, "container image", make=fixed(_container_key(
        "image")), source="container.image"),
    FieldSpec("container.image.repository", STRING, "image without its tag",
              make=fixed(_image_part(0)), source="container.image"),
    FieldSpec("container.image.tag", STRING, "image tag", make=fixed(_image_part(1)),
              source="container.image"),
    FieldSpec("container.image.digest", STRING, "image digest",
              make=fixed(_container_key("imageDigest")), source="container.imageDigest"),
    FieldSpec("k8s.ns.name", STRING, "Kubernetes namespace",
              make=fixed(_kube("podNamespace")), source="kubernetes.podNamespace"),
    FieldSpec("k8s.pod.name", STRING, "Kubernetes pod name", make=fixed(_kube("podName")),
              source="kubernetes.podName"),
    FieldSpec("k8s.pod.uid", STRING, "Kubernetes pod uid", make=fixed(_kube("podUID")),
              source="kubernetes.podUID"),
]

#: container fields memwarden cannot fill (yet): name, type, arg, why
UNFILLED: list[tuple[str, str, str, str]] = [
    ("container.privileged", BOOL, "none", _NO_CONTAINER),
    ("container.mounts", STRING, "none", _NO_CONTAINER),
    ("container.mount", STRING, "required", _NO_CONTAINER),
    ("container.mount.dest", STRING, "required", _NO_CONTAINER),
    ("container.mount.source", STRING, "required", _NO_CONTAINER),
    ("container.start_ts", NUMBER, "none", _NO_CONTAINER),
    ("container.type", STRING, "none", _NO_CONTAINER),
    ("container.image.id", STRING, "none", _NO_CONTAINER),
    ("container.info", STRING, "none", "deprecated by Falco: outputs print nothing for it"),
]
