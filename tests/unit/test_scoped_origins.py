"""Scoped origins: a signature applied only to the containers of an image (``image:GLOB``) or
of a pod namespace (``namespace:GLOB``), from what the event carries or, live, from the
container runtime through the event's completer (never asked for host events)."""

from __future__ import annotations

import pytest

from memwarden.app.settings import ConfigError, parse_origin_flags
from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.signatures.base import SignatureSettings

CID = "ab" * 32


def _kcore(cid: str = CID, image: str | None = None, ns: str | None = None) -> Event:
    context: dict = {"containerId": cid, "container": {"id": cid},
                     "contextFlags": {"containerStarted": bool(cid), "isCompat": False}}
    if image is not None:
        context["container"] = {"id": cid, "name": "c1", "image": image}
    if ns is not None:
        context["kubernetes"] = {"podName": "p", "podNamespace": ns, "podUID": "u"}
    return Event.new("security_file_open", [
        ("pathname", "const char*", "/proc/kcore"), ("flags", "int", 0),
        ("dev", "dev_t", 1), ("inode", "unsigned long", 2)],
        processName="dd", hostProcessId=4242, **context)


def _engine(origin: str, complete=None) -> Engine:
    return Engine(load_builtin({"proc_kcore_read": SignatureSettings(origin=origin)}),
                  complete_event=complete)


def _fired(engine: Engine, ev: Event) -> bool:
    return any(f.metadata.id == "TRC-1021" for f in engine.process_event(ev))


def test_image_scope_matches_repository_tag_or_repository() -> None:
    e = _engine("image:registry.example:5000/shop/*")
    assert _fired(e, _kcore(image="registry.example:5000/shop/web:2.1"))
    assert not _fired(e, _kcore(image="docker.io/library/busybox:1.36"))
    assert not _fired(e, _kcore(cid="", image=None))  # the host
    by_repo = _engine("image:localhost/memwarden-test-busybox")
    assert _fired(by_repo, _kcore(image="localhost/memwarden-test-busybox:1.0"))


def test_namespace_scope_asks_the_runtime_once_and_never_for_the_host() -> None:
    asked: list[str] = []

    def complete(ev: Event) -> None:  # what the container resolver fills, live
        asked.append(ev.container_id)
        ev.data["container"] = {"id": ev.container_id, "name": "web-1", "image": "shop/web:2"}
        ev.data["kubernetes"] = {"podName": "web-7d", "podNamespace": "shop", "podUID": "u"}

    e = _engine("namespace:sho?", complete)
    assert _fired(e, _kcore())
    assert asked == [CID]
    assert not _fired(e, _kcore(cid=""))
    assert asked == [CID]
    assert not _engine("namespace:kube-system", complete).process_event(_kcore())


def test_scoped_origins_parse_and_bad_ones_are_refused() -> None:
    assert parse_origin_flags(["TRC-1021=image:nginx*", "TRC-1023=namespace:prod"]) == {
        "TRC-1021": "image:nginx*", "TRC-1023": "namespace:prod"}
    for bad in ("TRC-1021=image:", "TRC-1021=pod:x", "TRC-1021=containers"):
        with pytest.raises(ConfigError, match="image:GLOB, namespace:GLOB"):
            parse_origin_flags([bad])
