"""containerd and CRI-O through the Kubernetes CRI API (``runtime.v1``, gRPC on a unix socket).

Only what the resolver needs is spoken: ``Version`` (the runtime's name: Falco's
``container.type``), ``ListContainers`` (is the id known, which pod sandbox is it in),
``ContainerStatus`` with ``verbose`` (name, image, image ref, labels, mounts, start time, and
from the verbose info, privileged), ``PodSandboxStatus`` (the pod's own labels, which only the
sandbox carries) and ``ImageService.ImageStatus`` (the image's repository digest and id).

The messages are declared here, by hand, with only the fields used; the field numbers are the
CRI v1 API's (a wire format, fixed by the Kubernetes project). They are built at import time
into protobuf message classes from a descriptor (no ``protoc``, no generated code). grpcio and
protobuf are an optional extra (``pip install memwarden[cri]``): without them, a CRI socket
is reported once and the other runtimes still answer.

CRI v1 of the runtimes in Debian 12 (containerd 1.6) has no container event stream, so
:meth:`CriClient.watch` lists the running containers every ``POLL_S`` seconds and prefetches
the new ones, which is what names a short-lived container whose finding comes after it ended.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from memwarden.core.event import split_image
from memwarden.enrich.containers import (
    K8S_POD_NAME,
    K8S_POD_NAMESPACE,
    K8S_POD_UID,
    ContainerInfo,
    RuntimeUnavailable,
)

try:  # the optional extra
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:  # pragma: no cover - exercised where the extra is absent
    grpc = None  # type: ignore[assignment]

POLL_S = 1.0
PACKAGE = "runtime.v1"
RUNTIME = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"

#: message -> [(field, number, type, label, message type)]: type is a protobuf scalar name,
#: "map" (string to string) or "message"; label "r" repeated, "" singular
Fields = list[tuple[str, int, str, str, str]]
MESSAGES: dict[str, Fields] = {
    "VersionRequest": [("version", 1, "string", "", "")],
    "VersionResponse": [("version", 1, "string", "", ""), ("runtime_name", 2, "string", "", ""),
                        ("runtime_version", 3, "string", "", ""),
                        ("runtime_api_version", 4, "string", "", "")],
    "ContainerMetadata": [("name", 1, "string", "", ""), ("attempt", 2, "uint32", "", "")],
    "ImageSpec": [("image", 1, "string", "", ""), ("annotations", 2, "map", "", "")],
    "Mount": [("container_path", 1, "string", "", ""), ("host_path", 2, "string", "", ""),
              ("readonly", 3, "bool", "", "")],
    "ContainerFilter": [("id", 1, "string", "", ""), ("pod_sandbox_id", 3, "string", "", ""),
                        ("label_selector", 4, "map", "", "")],
    "ListContainersRequest": [("filter", 1, "message", "", "ContainerFilter")],
    "Container": [("id", 1, "string", "", ""), ("pod_sandbox_id", 2, "string", "", ""),
                  ("metadata", 3, "message", "", "ContainerMetadata"),
                  ("image", 4, "message", "", "ImageSpec"), ("image_ref", 5, "string", "", ""),
                  ("state", 6, "int32", "", ""), ("created_at", 7, "int64", "", ""),
                  ("labels", 8, "map", "", ""), ("annotations", 9, "map", "", "")],
    "ListContainersResponse": [("containers", 1, "message", "r", "Container")],
    "ContainerStatusRequest": [("container_id", 1, "string", "", ""),
                               ("verbose", 2, "bool", "", "")],
    "ContainerStatus": [("id", 1, "string", "", ""),
                        ("metadata", 2, "message", "", "ContainerMetadata"),
                        ("state", 3, "int32", "", ""), ("created_at", 4, "int64", "", ""),
                        ("started_at", 5, "int64", "", ""), ("finished_at", 6, "int64", "", ""),
                        ("exit_code", 7, "int32", "", ""),
                        ("image", 8, "message", "", "ImageSpec"),
                        ("image_ref", 9, "string", "", ""), ("labels", 12, "map", "", ""),
                        ("annotations", 13, "map", "", ""),
                        ("mounts", 14, "message", "r", "Mount")],
    "ContainerStatusResponse": [("status", 1, "message", "", "ContainerStatus"),
                                ("info", 2, "map", "", "")],
    "PodSandboxMetadata": [("name", 1, "string", "", ""), ("uid", 2, "string", "", ""),
                           ("namespace", 3, "string", "", ""), ("attempt", 4, "uint32", "", "")],
    "PodSandboxStatusRequest": [("pod_sandbox_id", 1, "string", "", ""),
                                ("verbose", 2, "bool", "", "")],
    "PodSandboxStatus": [("id", 1, "string", "", ""),
                         ("metadata", 2, "message", "", "PodSandboxMetadata"),
                         ("state", 3, "int32", "", ""), ("created_at", 4, "int64", "", ""),
                         ("labels", 7, "map", "", ""), ("annotations", 8, "map", "", ""),
                         ("runtime_handler", 9, "string", "", "")],
    "PodSandboxStatusResponse": [("status", 1, "message", "", "PodSandboxStatus"),
                                 ("info", 2, "map", "", "")],
    "ImageStatusRequest": [("image", 1, "message", "", "ImageSpec"),
                           ("verbose", 2, "bool", "", "")],
    "Image": [("id", 1, "string", "", ""), ("repo_tags", 2, "string", "r", ""),
              ("repo_digests", 3, "string", "r", "")],
    "ImageStatusResponse": [("image", 1, "message", "", "Image"), ("info", 2, "map", "", "")],
}

CONTAINER_RUNNING = 1  # ContainerState.CONTAINER_RUNNING


def build_messages(messages: dict[str, Fields], package: str = PACKAGE,
                   file_name: str = "memwarden_cri.proto") -> dict[str, Any]:
    """Protobuf message classes for ``messages`` (proto3), by name. Raises ImportError
    without the ``cri`` extra."""
    if grpc is None:
        raise ImportError("the CRI client needs grpcio and protobuf: pip install memwarden[cri]")
    fdp = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
    fd = descriptor_pb2.FieldDescriptorProto
    scalars = {"string": fd.TYPE_STRING, "bool": fd.TYPE_BOOL, "int32": fd.TYPE_INT32,
               "int64": fd.TYPE_INT64, "uint32": fd.TYPE_UINT32, "int64r": fd.TYPE_INT64}
    for name, fields in messages.items():
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, mtype in fields:
            f = m.field.add(name=fname, number=number, json_name=_camel(fname))
            f.label = fd.LABEL_REPEATED if label == "r" or ftype == "map" else fd.LABEL_OPTIONAL
            if ftype == "map":
                entry = "".join(p.capitalize() for p in fname.split("_")) + "Entry"
                e = m.nested_type.add(name=entry)
                e.options.map_entry = True
                e.field.add(name="key", number=1, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
                e.field.add(name="value", number=2, type=fd.TYPE_STRING,
                            label=fd.LABEL_OPTIONAL)
                f.type, f.type_name = fd.TYPE_MESSAGE, f".{package}.{name}.{entry}"
            elif ftype == "message":
                f.type, f.type_name = fd.TYPE_MESSAGE, f".{package}.{mtype}"
            else:
                f.type = scalars[ftype]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"{package}.{name}")) for name in messages}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


_M: dict[str, Any] | None = None


def messages() -> dict[str, Any]:
    """The CRI message classes (built once)."""
    global _M
    if _M is None:
        _M = build_messages(MESSAGES)
    return _M


def available() -> bool:
    """Whether the ``cri`` extra (grpcio, protobuf) is installed."""
    return grpc is not None


class CriClient:
    """The CRI RuntimeService/ImageService of containerd or CRI-O on a unix socket."""

    kind = "cri"

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._m = messages()
        self._channel = grpc.insecure_channel(f"unix://{path}")
        self._calls: dict[str, Callable[..., Any]] = {}
        self._runtime = ""

    def __repr__(self) -> str:
        return f"{self._runtime or 'cri'} at {self.path}"

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any, response: str) -> Any:
        call = self._calls.get(method)
        if call is None:
            call = self._calls[method] = self._channel.unary_unary(
                method, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=self._m[response].FromString)
        try:
            return call(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            detail = exc.details() if hasattr(exc, "details") else exc
            raise RuntimeUnavailable(f"{self.path}: {method}: {code}: {detail}") from None

    @property
    def runtime(self) -> str:
        """``containerd`` or ``cri-o`` (the runtime's own name, from ``Version``)."""
        if not self._runtime:
            v = self._call(RUNTIME + "Version", self._m["VersionRequest"](version="v1"),
                           "VersionResponse")
            if v is not None:
                self._runtime = v.runtime_name
        return self._runtime

    def running_ids(self) -> list[str]:
        got = self._call(RUNTIME + "ListContainers", self._m["ListContainersRequest"](),
                         "ListContainersResponse")
        return [c.id for c in got.containers if c.state == CONTAINER_RUNNING] if got else []

    def inspect(self, cid: str) -> ContainerInfo | None:
        """The container's metadata, None when this runtime does not know it; raises
        :class:`RuntimeUnavailable`."""
        m = self._m
        listed = self._call(RUNTIME + "ListContainers", m["ListContainersRequest"](
            filter=m["ContainerFilter"](id=cid)), "ListContainersResponse")
        found = [c for c in listed.containers if c.id == cid] if listed else []
        if not found:
            return None
        got = self._call(RUNTIME + "ContainerStatus", m["ContainerStatusRequest"](
            container_id=cid, verbose=True), "ContainerStatusResponse")
        if got is None:
            return None
        pod = self._call(RUNTIME + "PodSandboxStatus", m["PodSandboxStatusRequest"](
            pod_sandbox_id=found[0].pod_sandbox_id), "PodSandboxStatusResponse")
        return self.container_info(got, pod, runtime=self.runtime)

    def container_info(self, got: Any, pod: Any, runtime: str = "") -> ContainerInfo:
        """A :class:`ContainerInfo` from a ``ContainerStatusResponse`` and (if any) its pod's
        ``PodSandboxStatusResponse``."""
        st = got.status
        labels = dict(st.labels)
        image = st.image.image
        if image.startswith("sha256:") and ":" in (st.labels.get("image") or ""):
            image = st.labels["image"]
        repo, tag = split_image(image)
        ref = st.image_ref
        digest = ref.split("@", 1)[1] if "@" in ref else ""
        image_id = ref[7:] if ref.startswith("sha256:") else ""
        if not digest or not image_id:
            try:
                d, i = self.image_facts(image or ref)
            except RuntimeUnavailable:  # the container's own answer is kept without them
                d, i = "", ""
            digest, image_id = digest or d, image_id or i
        pod_labels = dict(pod.status.labels) if pod is not None else {}
        meta = pod.status.metadata if pod is not None else None
        return ContainerInfo(
            id=st.id, name=st.metadata.name, image=image, image_repository=repo,
            image_tag=tag, image_digest=digest, image_id=image_id, runtime=runtime,
            privileged=_privileged(got.info), labels=labels,
            mounts=tuple((mt.host_path, mt.container_path) for mt in st.mounts),
            start_ts=max(int(st.started_at), 0),
            pod_name=labels.get(K8S_POD_NAME, "") or (meta.name if meta else ""),
            pod_namespace=labels.get(K8S_POD_NAMESPACE, "") or (meta.namespace if meta else ""),
            pod_uid=labels.get(K8S_POD_UID, "") or (meta.uid if meta else ""),
            pod_labels=pod_labels)

    def image_facts(self, ref: str) -> tuple[str, str]:
        """(repository digest, image id without ``sha256:``) of an image; raises
        :class:`RuntimeUnavailable`."""
        if not ref:
            return "", ""
        m = self._m
        got = self._call(IMAGES + "ImageStatus", m["ImageStatusRequest"](
            image=m["ImageSpec"](image=ref)), "ImageStatusResponse")
        if got is None or not got.image.id:
            return "", ""
        digest = next((d.split("@", 1)[1] for d in got.image.repo_digests if "@" in d), "")
        image_id = got.image.id
        return digest, image_id[7:] if image_id.startswith("sha256:") else image_id

    def watch(self, on_event: Callable[[str, ContainerInfo | None], None],
              stop: threading.Event) -> None:
        """Prefetch every container that appears, listed every ``POLL_S`` seconds (CRI v1 of
        these runtimes has no event stream); raises :class:`RuntimeUnavailable`."""
        seen: set[str] = set()
        while not stop.is_set():
            ids = set(self.running_ids())
            for cid in ids - seen:
                on_event(cid, None)
            seen = ids
            stop.wait(POLL_S)


def _privileged(info: Any) -> bool:
    """Whether the verbose info says the container is privileged: containerd's ``info`` JSON
    holds the CRI config it was created with, CRI-O's a ``privileged`` key."""
    raw = info.get("info") if info is not None else None
    if not raw:
        return False
    try:
        d = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(d, dict):
        return False
    if isinstance(d.get("privileged"), bool):
        return d["privileged"]
    sc = (((d.get("config") or {}).get("linux") or {}).get("security_context") or {})
    return bool(sc.get("privileged")) if isinstance(sc, dict) else False
