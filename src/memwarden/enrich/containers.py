"""Container metadata (name, image, labels, pod) from the container runtime's own API.

The sensor knows a container only by the 64-hex id in its cgroup path. Everything a user
allowlists or routes by (name, image, digest, pod, namespace) lives in the runtime, so it is
asked, over its REST API on the unix socket (Docker's, which podman also serves), by a thread
of its own:

- never on the event path: only a *finding's* event is enriched (:meth:`ContainerResolver.
  enrich`), so events that raise nothing cost nothing; the first finding of a container not yet
  in the cache waits at most ``wait`` seconds for the lookup, then goes out with the id alone
  (``container_lookup_late`` counts it);
- cached by full id (bounded, oldest first out) and filled ahead of time from the runtime's
  event stream (``/events``, replayed from the sensor's start, or from the last event seen
  after a reconnect): a container's ``create`` puts its name, image and labels (from the
  event itself) in the cache and queues the full ``inspect``, so that a ``--rm`` container
  that has gone by the time its finding is written is still named; a refresh that fails never
  replaces what was known;
- a runtime that is down or absent leaves findings with the id alone: one warning, then only
  ``container_runtime_errors`` counts, and the socket is tried again after ``RETRY_S``.

Kubernetes pod name, namespace and uid come from the ``io.kubernetes.*`` labels the kubelet
sets on every container. containerd and CRI-O are asked through the CRI API (gRPC):
:mod:`memwarden.enrich.cri`, given to :func:`build_resolver` by the assembly.

The Docker API is spoken with the standard library only (``http.client`` over ``AF_UNIX``):
the two calls needed (inspect a container, inspect its image) and one stream do not justify
a client library and its dependencies in a sensor.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import queue
import socket
import sys
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from memwarden.core.event import Event, Finding, split_image
from memwarden.core.threads import start_daemon
from memwarden.events.tracee_json import parse_rfc3339_ns

#: where runtimes put their Docker-compatible API socket, in the order tried
DEFAULT_SOCKETS: tuple[str, ...] = (
    "/run/podman/podman.sock",
    "/var/run/docker.sock",
    "/run/docker.sock",
)
#: CRI sockets (gRPC: containerd, CRI-O), in the order tried after the Docker-API ones
CRI_SOCKETS: tuple[str, ...] = ("/run/containerd/containerd.sock", "/run/crio/crio.sock",
                                "/var/run/containerd/containerd.sock", "/var/run/crio/crio.sock")
#: a configured socket is spoken to through the CRI API when it is named so (``cri:PATH``)
#: or its file name is one of these
CRI_NAMES = frozenset({"containerd.sock", "crio.sock"})

RETRY_S = 5.0  # a runtime that failed is not asked again before this
NEGATIVE_TTL_S = 2.0  # an id no runtime knows is asked again after this
K8S_POD_NAME = "io.kubernetes.pod.name"
K8S_POD_NAMESPACE = "io.kubernetes.pod.namespace"
K8S_POD_UID = "io.kubernetes.pod.uid"
K8S_CONTAINER_NAME = "io.kubernetes.container.name"
#: attributes of a runtime's container event that are not the container's labels
_EVENT_ATTRIBUTES = frozenset({"name", "image", "containerExitCode", "exitCode", "podId",
                               "signal", "execID", "execDuration"})


class RuntimeUnavailable(OSError):
    """The runtime's socket cannot be reached or does not answer as expected."""


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """What the runtime says about one container (Falco's container.* and k8s.* fields)."""

    id: str
    name: str = ""
    image: str = ""  # as the container was created from it: repository[:tag]
    image_repository: str = ""
    image_tag: str = ""
    image_digest: str = ""  # sha256:... (the repository digest)
    image_id: str = ""  # the image's id, 64 hex
    runtime: str = ""  # docker, podman (Falco's container.type)
    privileged: bool = False
    mounts: tuple[tuple[str, str], ...] = ()  # (source, destination)
    labels: dict[str, str] = field(default_factory=dict)
    start_ts: int = 0  # ns since the epoch
    pod_name: str = ""
    pod_namespace: str = ""
    pod_uid: str = ""
    pod_labels: dict[str, str] = field(default_factory=dict)

    def tracee_container(self) -> dict[str, Any]:
        """Tracee's ``container`` object (id, name, image, imageDigest) plus what Falco's
        fields need beyond it, under names Tracee readers ignore."""
        return {"id": self.id, "name": self.name, "image": self.image,
                "imageDigest": self.image_digest, "imageId": self.image_id,
                "runtime": self.runtime, "privileged": self.privileged,
                "mounts": [{"source": s, "destination": d} for s, d in self.mounts],
                "labels": dict(self.labels), "startTime": self.start_ts}

    def tracee_kubernetes(self) -> dict[str, Any]:
        if not (self.pod_name or self.pod_namespace or self.pod_uid):
            return {}
        return {"podName": self.pod_name, "podNamespace": self.pod_namespace,
                "podUID": self.pod_uid, "podLabels": dict(self.pod_labels)}




# -- the Docker-compatible REST API (Docker, podman) ------------------------------------------

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class DockerApiClient:
    """Docker's Engine API on a unix socket; podman serves the same (its compat API)."""

    kind = "docker-api"

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._runtime = ""
        self.since = time.time() - 1.0  # where the next /events connection starts

    def __repr__(self) -> str:
        return f"{self.runtime or 'docker-api'} at {self.path}"

    def _get(self, url: str) -> Any:
        conn = _UnixHTTPConnection(self.path, self.timeout)
        try:
            conn.request("GET", url)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RuntimeUnavailable(f"{self.path}: {exc}") from None
        finally:
            conn.close()
        if not self._runtime:  # podman answers as "Libpod/4.3.1 (linux)" (its /version is slow)
            server = (resp.getheader("Server") or "") + (resp.getheader("Libpod-Api-Version")
                                                          or "")
            self._runtime = "podman" if "libpod" in server.lower() or resp.getheader(
                "Libpod-Api-Version") else "docker"
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise RuntimeUnavailable(f"{self.path}: GET {url}: HTTP {resp.status}")
        try:
            return json.loads(body)
        except ValueError:
            raise RuntimeUnavailable(f"{self.path}: GET {url}: not JSON") from None

    @property
    def runtime(self) -> str:
        """``podman`` or ``docker``, from the headers of the first answer."""
        return self._runtime

    def running_ids(self) -> list[str]:
        listed = self._get("/containers/json")
        if not isinstance(listed, list):
            return []
        return [c["Id"] for c in listed if isinstance(c, dict) and c.get("Id")]

    def inspect(self, cid: str) -> ContainerInfo | None:
        """The container's metadata, None when this runtime does not know it; raises
        :class:`RuntimeUnavailable`."""
        d = self._get(f"/containers/{cid}/json")
        if not d:
            return None
        config = d.get("Config") or {}
        labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
        image = str(config.get("Image") or "")
        image_id = str(d.get("Image") or "")
        digest, _ = self.image_facts(image_id or image)
        repo, tag = split_image(image)
        if image_id.startswith("sha256:"):
            image_id = image_id[7:]
        started = (d.get("State") or {}).get("StartedAt") or ""
        try:
            start_ts = parse_rfc3339_ns(started) if started else 0
        except ValueError:
            start_ts = 0
        mounts = tuple((str(m.get("Source", "")), str(m.get("Destination", "")))
                       for m in d.get("Mounts") or ())
        return ContainerInfo(
            id=str(d.get("Id") or cid), name=str(d.get("Name") or "").lstrip("/"),
            image=image, image_repository=repo, image_tag=tag, image_digest=digest,
            image_id=image_id, runtime=self._runtime,
            privileged=bool((d.get("HostConfig") or {}).get("Privileged")),
            mounts=mounts, labels=labels, start_ts=max(start_ts, 0),
            pod_name=labels.get(K8S_POD_NAME, ""),
            pod_namespace=labels.get(K8S_POD_NAMESPACE, ""),
            pod_uid=labels.get(K8S_POD_UID, ""))

    def image_facts(self, ref: str) -> tuple[str, str]:
        """(repository digest, image id without ``sha256:``) of an image by id or name ("" for
        what the runtime does not say); raises :class:`RuntimeUnavailable`."""
        digest, image_id = "", ""
        img = self._get(f"/images/{urllib.parse.quote(ref, safe='')}/json") if ref else None
        if img:
            image_id = str(img.get("Id") or "")
            for rd in img.get("RepoDigests") or ():
                if "@" in rd:
                    digest = rd.split("@", 1)[1]
                    break
        return digest, image_id[7:] if image_id.startswith("sha256:") else image_id

    def watch(self, on_event: Any, stop: threading.Event) -> None:
        """Call ``on_event(id, info)`` for every container the runtime creates or starts,
        ``info`` being what the event itself says (name, image, labels), until ``stop`` or the
        stream breaks (raises :class:`RuntimeUnavailable`). Each connection asks the runtime to
        replay the events since the last one seen (at first: since this client was made), so
        that a container created before the stream opened, or while it was down, is not
        missed."""
        filters = urllib.parse.quote(json.dumps({"type": ["container"],
                                                 "event": ["create", "start"]}))
        url = f"/events?filters={filters}&since={int(self.since)}"
        conn = _UnixHTTPConnection(self.path, None)  # type: ignore[arg-type]
        try:
            conn.request("GET", url)
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeUnavailable(f"{self.path}: /events: HTTP {resp.status}")
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    raise RuntimeUnavailable(f"{self.path}: /events: stream ended")
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(ev, dict):
                    continue
                actor = ev.get("Actor") if isinstance(ev.get("Actor"), dict) else {}
                cid = ev.get("id") or actor.get("ID")
                if isinstance(cid, str) and cid:
                    on_event(cid, self._from_event(cid, actor.get("Attributes")))
                t = ev.get("time")
                if isinstance(t, int | float) and t > self.since:
                    self.since = t  # whole seconds: the next replay repeats that second's
        except (OSError, http.client.HTTPException) as exc:
            raise RuntimeUnavailable(f"{self.path}: /events: {exc}") from None
        finally:
            conn.close()

    def _from_event(self, cid: str, attrs: Any) -> ContainerInfo | None:
        """The container as its create/start event describes it: name, image and labels (both
        Docker and podman put the labels among the event's attributes), which is all a
        finding needs when the container is gone before ``inspect`` could ask."""
        if not isinstance(attrs, dict) or not attrs.get("name"):
            return None
        labels = {str(k): str(v) for k, v in attrs.items() if k not in _EVENT_ATTRIBUTES}
        image = str(attrs.get("image") or "")
        repo, tag = split_image(image)
        return ContainerInfo(
            id=cid, name=str(attrs["name"]).lstrip("/"), image=image, image_repository=repo,
            image_tag=tag, runtime=self._runtime, labels=labels,
            pod_name=labels.get(K8S_POD_NAME, ""),
            pod_namespace=labels.get(K8S_POD_NAMESPACE, ""),
            pod_uid=labels.get(K8S_POD_UID, ""))


def discover_sockets(configured: Sequence[str] = (), root: str = "") -> list[str]:
    """The sockets to ask: the configured ones (kept even while absent: the runtime may come
    up later), else every default Docker-API socket, then CRI socket (``cri:PATH``), that
    exists under ``root`` (one path of each: /var/run is often a link to /run)."""
    if configured:
        return list(configured)
    found = [root + p for p in DEFAULT_SOCKETS if os.path.exists(root + p)]
    seen: set[str] = set()
    for p in CRI_SOCKETS:
        if os.path.exists(root + p) and os.path.realpath(root + p) not in seen:
            seen.add(os.path.realpath(root + p))
            found.append("cri:" + root + p)
    return found


def cri_path(socket_path: str) -> str | None:
    """The socket's path if it is to be spoken to through the CRI API, else None."""
    if socket_path.startswith("cri:"):
        return socket_path[4:]
    return socket_path if os.path.basename(socket_path) in CRI_NAMES else None


# -- the resolver -----------------------------------------------------------------------------

@dataclass
class ResolverStats:
    container_lookups: int = 0
    container_lookup_hits: int = 0  # answered from the cache
    container_unknown: int = 0  # the runtimes that answered did not know the id (misses)
    container_runtime_unavailable: int = 0  # a lookup no runtime could answer (down, absent)
    container_lookup_late: int = 0  # a finding went out before its lookup answered
    container_runtime_errors: int = 0  # a runtime did not answer
    container_event_stream_reconnects: int = 0  # a runtime's event stream broke, asked again

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class ContainerResolver:
    """Container id -> :class:`ContainerInfo`, looked up by a worker thread, cached."""

    def __init__(self, clients: Sequence[Any], *, wait: float = 0.5, cache_size: int = 4096,
                 watch: bool = True, err: IO[str] | None = None) -> None:
        self.clients = list(clients)
        self.wait = wait
        self.cache_size = cache_size
        self.watch_events = watch
        self.stats = ResolverStats()
        self._err = err if err is not None else sys.stderr
        self._cache: OrderedDict[str, tuple[ContainerInfo | None, float]] = OrderedDict()
        self._pending: dict[str, threading.Event] = {}
        self._provisional: set[str] = set()  # cached from an event only; inspect pending
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._down_until: dict[int, float] = {}
        self._warned = False
        self._threads: list[threading.Thread] = []

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> ContainerResolver:
        self._threads.append(start_daemon(threading.Thread(target=self._work,
                                                           name="mw-containers")))
        for i, client in enumerate(self.clients):
            if self.watch_events and hasattr(client, "watch"):
                self._threads.append(start_daemon(threading.Thread(
                    target=self._watch, args=(i, client), name=f"mw-containers-events-{i}")))
        return self

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)

    # -- asking -------------------------------------------------------------------------------
    def cached(self, cid: str) -> ContainerInfo | None:
        hit = self._cache.get(cid)
        return hit[0] if hit is not None else None

    def remember(self, info: ContainerInfo) -> None:
        """Put a full answer in the cache (a runtime's listing at start; the benchmark)."""
        with self._lock:
            self._cache[info.id] = (info, 0.0)
            self._provisional.discard(info.id)
            self._cache.move_to_end(info.id)
            while len(self._cache) > self.cache_size:
                self._provisional.discard(self._cache.popitem(last=False)[0])

    def prefetch(self, cid: str) -> threading.Event:
        """Queue a lookup of ``cid`` (again, even if cached: a start refreshes)."""
        with self._lock:
            ev = self._pending.get(cid)
            if ev is None:
                ev = self._pending[cid] = threading.Event()
                self._queue.put(cid)
        return ev

    def lookup(self, cid: str, wait: float | None = None) -> ContainerInfo | None:
        """The metadata of ``cid`` from the cache, else asked and waited for at most
        ``wait`` seconds (None: unknown, runtime down, or not answered in time)."""
        now = time.monotonic()
        hit = self._cache.get(cid)
        if hit is not None and (hit[0] is not None or now < hit[1]):
            self.stats.container_lookup_hits += 1
            pending = self._pending.get(cid) if cid in self._provisional else None
            if pending is not None:  # the full answer is on its way: worth the same short wait
                pending.wait(self.wait if wait is None else wait)
                return self.cached(cid)
            return hit[0]
        done = self.prefetch(cid)
        if not done.wait(self.wait if wait is None else wait):
            self.stats.container_lookup_late += 1
            return None
        return self.cached(cid)

    def complete(self, event: Event) -> None:
        """Fill an event a detector reads container metadata of (conditions and outputs on
        ``container.*``/``k8s.*``): the same answer, cache and wait as for findings. A host
        event (no container id) returns at once: two dict reads (``make bench``)."""
        d = event.data
        if d.get("containerId") or d.get("container"):
            enrich_event(event, self)

    def enrich(self, finding: Finding) -> None:
        """Fill the finding's event with its container's metadata (keys the event already
        carries, e.g. from a replayed Tracee stream, are kept)."""
        enrich_event(finding.event, self)

    # -- threads ------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            cid = self._queue.get()
            if cid is None:
                return
            info = self._ask(cid)
            if info is None and cid in self._provisional:  # the container gone before inspect
                known = self._cache.get(cid)
                if known is not None and known[0] is not None and known[0].image:
                    info = self._with_image(known[0])  # its image outlives a --rm container
            with self._lock:
                known = self._cache.get(cid)
                if info is None and known is not None and known[0] is not None:
                    info = known[0]  # a refresh that failed (the container gone) keeps what was
                else:
                    self._provisional.discard(cid)
                self._cache[cid] = (info, time.monotonic() + NEGATIVE_TTL_S)
                self._cache.move_to_end(cid)
                while len(self._cache) > self.cache_size:
                    self._provisional.discard(self._cache.popitem(last=False)[0])
                done = self._pending.pop(cid, None)
            if done is not None:
                done.set()

    def _with_image(self, info: ContainerInfo) -> ContainerInfo:
        """An entry made from a container's event, with its image's digest and id asked of
        the runtime (the container itself may be gone, its image is not)."""
        for client in self.clients:
            facts = getattr(client, "image_facts", None)
            if facts is None:
                continue
            try:
                digest, image_id = facts(info.image)
            except RuntimeUnavailable:
                continue
            if digest or image_id:
                return dataclasses.replace(info, image_digest=digest, image_id=image_id)
        return info

    def _ask(self, cid: str) -> ContainerInfo | None:
        self.stats.container_lookups += 1
        if not self.clients:
            self.stats.container_runtime_errors += 1
            self.stats.container_runtime_unavailable += 1
            if not self._warned:
                self._warned = True
                print("memwarden: warning: no container runtime socket found (docker, podman; "
                      "containers.sockets in the config names others): findings from "
                      "containers carry the container id only", file=self._err, flush=True)
            return None
        now = time.monotonic()
        answered = False
        for i, client in enumerate(self.clients):
            if self._down_until.get(i, 0.0) > now:
                self.stats.container_runtime_errors += 1
                continue
            try:
                info = client.inspect(cid)
            except RuntimeUnavailable as exc:
                self._failed(i, client, exc)
                continue
            answered = True
            self._down_until.pop(i, None)
            if info is not None:
                return info
        if answered:
            self.stats.container_unknown += 1
        else:
            self.stats.container_runtime_unavailable += 1
        return None

    def _failed(self, i: int, client: Any, exc: Exception) -> None:
        self.stats.container_runtime_errors += 1
        self._down_until[i] = time.monotonic() + RETRY_S
        if not self._warned:
            self._warned = True
            print(f"memwarden: warning: container runtime {client!r} does not answer "
                  f"({exc}); findings carry the container id only until it does (further "
                  "failures are counted: container_runtime_errors)", file=self._err,
                  flush=True)

    def _watch(self, i: int, client: Any) -> None:
        backoff = 0.5
        first = True
        while not self._stop.is_set():
            if not first:
                self.stats.container_event_stream_reconnects += 1
            first = False
            try:
                for cid in client.running_ids():
                    self.prefetch(cid)
                client.watch(self._on_event, self._stop)
                backoff = 0.5
            except RuntimeUnavailable:
                pass
            except Exception as exc:  # an odd answer never ends the watch
                print(f"memwarden: container events from {client!r}: {exc!r}",
                      file=self._err, flush=True)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, RETRY_S)

    def _on_event(self, cid: str, info: ContainerInfo | None) -> None:
        """A container created or started: what its event says goes into the cache at once
        (unless a full answer is there), and the full ``inspect`` is queued."""
        if info is not None:
            with self._lock:
                known = self._cache.get(cid)
                if known is None or known[0] is None:
                    self._cache[cid] = (info, 0.0)
                    self._provisional.add(cid)
                    self._cache.move_to_end(cid)
                    while len(self._cache) > self.cache_size:
                        self._provisional.discard(self._cache.popitem(last=False)[0])
        self.prefetch(cid)


def enrich_event(event: Event, resolver: ContainerResolver) -> None:
    """Put the runtime's answer for the event's container into ``container``/``kubernetes``."""
    cid = event.container_id
    if not cid:
        return
    data = event.data
    c = data.get("container")
    if isinstance(c, dict) and c.get("name"):
        return  # the stream carried it (Tracee writes these), or an earlier finding filled it
    info = resolver.lookup(cid)
    if info is None:
        return
    filled = info.tracee_container()
    if isinstance(c, dict):
        filled.update({k: v for k, v in c.items() if v})
    data["container"] = filled
    k = data.get("kubernetes")
    if not (isinstance(k, dict) and k.get("podName")):
        data["kubernetes"] = info.tracee_kubernetes()


def build_resolver(sockets: Iterable[str] = (), *, wait: float = 0.5, root: str = "",
                   err: IO[str] | None = None,
                   cri_client: Callable[[str], Any] | None = None) -> ContainerResolver:
    """A started resolver on the configured (else discovered) sockets: Docker-API ones, and
    CRI ones through ``cri_client`` (None: the ``cri`` extra is not installed, said once)."""
    err = err if err is not None else sys.stderr
    clients: list[Any] = []
    for p in discover_sockets(list(sockets), root):
        path = cri_path(p)
        if path is None:
            clients.append(DockerApiClient(p))
        elif cri_client is not None:
            clients.append(cri_client(path))
        else:
            print(f"memwarden: warning: {path} is a CRI socket (containerd, CRI-O) and the CRI "
                  "client needs grpcio and protobuf: pip install 'memwarden[cri]'; findings "
                  "from its containers carry the container id only", file=err, flush=True)
    return ContainerResolver(clients, wait=wait, err=err).start()
