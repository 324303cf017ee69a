"""Scoped origins: a signature that only applies to the containers running an image
(``image:GLOB``) or belonging to a pod namespace (``namespace:GLOB``).

The container's image and pod come from the event (a replayed Tracee stream carries them) or
from the container runtime, asked through the event's completer on the first scoped check
(:meth:`memwarden.core.event.Event.completed`): events on the host never ask.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from memwarden.core.event import Event, split_image


def scope_check(origin: str) -> Callable[[Event], bool] | None:
    """Whether an event is in a container the scoped ``origin`` names; None for the plain
    origins (host, container, container-init, any)."""
    kind, _, pattern = origin.partition(":")
    if kind not in ("image", "namespace") or not pattern:
        return None
    match = re.compile(fnmatch.translate(pattern)).match
    if kind == "image":
        def in_image(ev: Event) -> bool:
            if not ev.container_id:
                return False
            c = ev.completed().get("container")
            image = c.get("image") if isinstance(c, dict) else None
            if not isinstance(image, str) or not image:
                return False
            return match(image) is not None or match(split_image(image)[0]) is not None
        return in_image

    def in_namespace(ev: Event) -> bool:
        if not ev.container_id:
            return False
        k = ev.completed().get("kubernetes")
        ns = k.get("podNamespace") if isinstance(k, dict) else None
        return isinstance(ns, str) and bool(ns) and match(ns) is not None
    return in_namespace
