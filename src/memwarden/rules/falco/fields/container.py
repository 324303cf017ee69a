"""``container.*`` and ``k8s.*``: the container and the pod as the event carries them: the id
from the cgroup path, and on live findings what the container runtime said
(:mod:`memwarden.enrich.containers` fills ``container`` and ``kubernetes``; a replayed Tracee
stream carries Tracee's). ``container.id`` is Falco's 12-character id (rules and exceptions are
written with it), ``container.full_id`` the 64-character one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memwarden.core.event import Event, split_image
from memwarden.rules.falco.fields.base import (
    BOOL,
    NUMBER,
    STRING,
    FieldSpec,
    Getter,
    fixed,
)

_NO_CONTAINER = "not given by the container runtime APIs memwarden asks"


def _container(ev: Event) -> dict[str, Any]:
    """The event's ``container`` object; for an event in a container that does not carry the
    runtime's answer yet, completed first (:meth:`Event.completed`: asked once per event)."""
    d = ev.data
    c = d.get("container")
    if isinstance(c, dict) and c.get("name"):
        return c
    if d.get("containerId"):
        c = ev.completed().get("container")
    return c if isinstance(c, dict) else {}


def _part(ev: Event, where: str) -> Any:
    """``container`` or ``kubernetes``, completed as :func:`_container` says."""
    if where == "container":
        return _container(ev)
    v = ev.data.get(where)
    if not v and ev.data.get("containerId"):
        _container(ev)
        v = ev.data.get(where)
    return v or {}


def _full_id(ev: Event) -> str:
    return ev.data.get("containerId") or (ev.data.get("container") or {}).get("id") or ""


def _container_id(ev: Event) -> Any:
    return _full_id(ev)[:12] or "host"


def _container_full_id(ev: Event) -> Any:
    return _full_id(ev) or "host"


def _container_type(ev: Event) -> Any:
    if not _full_id(ev):
        return "host"
    c = _container(ev)
    return (c.get("runtime") or None) if isinstance(c, dict) else None


def _image_id(ev: Event) -> Any:
    c = _container(ev)
    v = c.get("imageId") if isinstance(c, dict) else None
    return v[:12] if isinstance(v, str) and v else None


def _privileged(ev: Event) -> Any:
    c = _container(ev)
    v = c.get("privileged") if isinstance(c, dict) else None
    return v if isinstance(v, bool) else None


def _start_ts(ev: Event) -> Any:
    c = _container(ev)
    v = c.get("startTime") if isinstance(c, dict) else None
    return v if type(v) is int and v > 0 else None


def _mount_list(ev: Event) -> list[dict[str, Any]] | None:
    c = _container(ev)
    v = c.get("mounts") if isinstance(c, dict) else None
    return v if isinstance(v, list) else None


def _mounts(ev: Event) -> Any:
    mounts = _mount_list(ev)
    if mounts is None:
        return None
    return ",".join(f"{m.get('source', '')}:{m.get('destination', '')}" for m in mounts
                    if isinstance(m, dict))


def _mount_key(key: str) -> Callable[[str | None], Getter]:
    """``container.mount.source[/dest]`` (by destination or index) and ``.dest[/source]``."""
    other = "destination" if key == "source" else "source"

    def make(arg: str | None) -> Getter:
        def get(ev: Event) -> Any:
            mounts = _mount_list(ev)
            if not mounts or arg is None:
                return None
            if arg.isdigit():
                i = int(arg)
                return mounts[i].get(key) if i < len(mounts) else None
            for m in mounts:
                if isinstance(m, dict) and m.get(other) == arg:
                    return m.get(key)
            return None
        return get
    return make


def _labels(where: str, key: str) -> Callable[[str | None], Getter]:
    """``container.labels`` / ``k8s.pod.labels`` (all, ``k:v, ...``) or ``[name]``."""
    def make(arg: str | None) -> Getter:
        def get(ev: Event) -> Any:
            c = _part(ev, where)
            labels = c.get(key) if isinstance(c, dict) else None
            if not isinstance(labels, dict):
                return None
            if arg is None:
                return ", ".join(f"{k}:{v}" for k, v in labels.items()) or None
            return labels.get(arg)
        return get
    return make


def _container_key(key: str, host_value: str | None = None) -> Getter:
    def get(ev: Event) -> Any:
        c = _container(ev)
        v = c.get(key) if isinstance(c, dict) else None
        if v:
            return v
        if host_value is not None and not (ev.data.get("containerId") or c.get("id")):
            return host_value
        return None
    return get




def _image_part(index: int) -> Getter:
    get_image = _container_key("image")

    def get(ev: Event) -> Any:
        image = get_image(ev)
        return (split_image(image)[index] or None) if image else None
    return get


def _kube(key: str) -> Getter:
    def get(ev: Event) -> Any:
        k = _part(ev, "kubernetes")
        return (k.get(key) or None) if isinstance(k, dict) else None
    return get


FILLED: list[FieldSpec] = [
    FieldSpec("container.id", STRING, "container id (12 characters), or 'host'",
              make=fixed(_container_id), source="containerId"),
    FieldSpec("container.full_id", STRING, "container id (64 characters), or 'host'",
              make=fixed(_container_full_id), source="containerId"),
    FieldSpec("container.type", STRING, "container runtime (docker, podman), or 'host'",
              make=fixed(_container_type), source="container.runtime"),
    FieldSpec("container.privileged", BOOL, "whether the container runs privileged",
              make=fixed(_privileged), source="container.privileged"),
    FieldSpec("container.mounts", STRING, "the mounts, source:dest, comma separated",
              make=fixed(_mounts), source="container.mounts"),
    FieldSpec("container.mount.source", STRING, "a mount's source, by destination or index",
              arg="required", make=_mount_key("source"), source="container.mounts"),
    FieldSpec("container.mount.dest", STRING, "a mount's destination, by source or index",
              arg="required", make=_mount_key("destination"), source="container.mounts"),
    FieldSpec("container.start_ts", NUMBER, "when the container started (ns)",
              make=fixed(_start_ts), source="container.startTime"),
    FieldSpec("container.image.id", STRING, "image id (12 characters)",
              make=fixed(_image_id), source="container.imageId"),
    FieldSpec("container.labels", STRING, "container labels, or one by name",
              arg="optional", make=_labels("container", "labels"), source="container.labels"),
    FieldSpec("k8s.pod.labels", STRING, "pod labels, or one by name", arg="optional",
              make=_labels("kubernetes", "podLabels"), source="kubernetes.podLabels"),
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
    ("container.mount", STRING, "required", _NO_CONTAINER),
    ("container.info", STRING, "none", "deprecated by Falco: outputs print nothing for it"),
]
