"""The container metadata resolver against a Docker-API server on a real unix socket: inspect
(container, image), the event stream's prefetch, the cache, a runtime that is down (one
warning, counted), the finding's event filled for Tracee's and Falco's formats."""

from __future__ import annotations

import io
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event, Finding
from memwarden.enrich.containers import (
    ContainerInfo,
    ContainerResolver,
    DockerApiClient,
    discover_sockets,
    enrich_event,
)
from memwarden.outputs.formats import format_falco, format_table, format_tracee
from memwarden.signatures import find_signature

CID = "ab" * 32
IMAGE_ID = "cd" * 32
INSPECT = {
    "Id": CID, "Name": "/web-1", "Image": f"sha256:{IMAGE_ID}",
    "Config": {"Image": "registry.example:5000/shop/web:2.1",
               "Labels": {"io.kubernetes.pod.name": "web-7d4f9",
                          "io.kubernetes.pod.namespace": "shop",
                          "io.kubernetes.pod.uid": "uid-1", "app": "web"}},
    "HostConfig": {"Privileged": True},
    "Mounts": [{"Source": "/srv/data", "Destination": "/data"}],
    "State": {"StartedAt": "2026-12-01T10:00:00.123456789Z"},
}
GONE = "9f" * 32
IMAGE = {"Id": f"sha256:{IMAGE_ID}",
         "RepoDigests": ["registry.example:5000/shop/web@sha256:" + "ef" * 32]}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    hits: list[str]
    events: list[str]
    events_ready: threading.Event


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "unix"

    def do_GET(self) -> None:
        srv: _Server = self.server  # type: ignore[assignment]
        srv.hits.append(self.path)
        if self.path.startswith("/events"):
            self.send_response(200)
            self.send_header("Server", "Libpod/4.3.1 (linux)")
            self.end_headers()
            srv.events_ready.set()
            for cid in srv.events:
                ev = cid if isinstance(cid, dict) else {"Type": "container", "Action": "start",
                                                        "Actor": {"ID": cid}}
                self.wfile.write(json.dumps(ev).encode() + b"\n")
                self.wfile.flush()
            threading.Event().wait(5)
            return
        body: object | None = None
        if self.path == f"/containers/{CID}/json":
            body = INSPECT
        elif self.path.startswith("/images/"):
            body = IMAGE
        elif self.path == "/containers/json":
            body = []
        elif self.path == f"/containers/{GONE}/json":  # podman, mid-removal of a --rm container
            self.send_response(500)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self.send_response(200 if body is not None else 404)
        data = json.dumps(body if body is not None else {"message": "no such container"}).encode()
        self.send_header("Server", "Libpod/4.3.1 (linux)")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def api(tmp_path: Path):
    path = str(tmp_path / "api.sock")
    srv = _Server(path, _Handler)
    srv.hits, srv.events, srv.events_ready = [], [], threading.Event()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, path
    srv.shutdown()
    srv.server_close()


def _finding(cid: str = CID) -> Finding:
    sig = find_signature("proc_mem_access")
    ev = Event.new("security_file_open", [("pathname", "const char*", "/proc/6/mem")],
                   containerId=cid, container={"id": cid}, hostName="inside",
                   hostProcessId=4242, processName="sh",
                   contextFlags={"containerStarted": True, "isCompat": False})
    return Finding(sig.metadata, ev, {"target_pid": 6})


def test_inspect_reads_name_image_digest_pod_and_runtime(api) -> None:
    _, path = api
    info = DockerApiClient(path).inspect(CID)
    assert info is not None
    assert (info.name, info.image, info.image_repository, info.image_tag) == (
        "web-1", "registry.example:5000/shop/web:2.1", "registry.example:5000/shop/web", "2.1")
    assert info.image_digest == "sha256:" + "ef" * 32 and info.image_id == IMAGE_ID
    assert info.runtime == "podman" and info.privileged and info.mounts == (("/srv/data",
                                                                              "/data"),)
    assert (info.pod_name, info.pod_namespace, info.pod_uid) == ("web-7d4f9", "shop", "uid-1")
    assert info.start_ts == 1796119200123456789
    assert DockerApiClient(path).inspect("00" * 32) is None


def test_a_finding_is_filled_for_tracee_falco_and_table(api) -> None:
    _, path = api
    r = ContainerResolver([DockerApiClient(path)], wait=5, watch=False).start()
    try:
        f = _finding()
        r.enrich(f)
    finally:
        r.close()
    t = orjson.loads(format_tracee(f))
    assert t["container"]["name"] == "web-1" and t["container"]["imageDigest"].startswith(
        "sha256:")
    assert t["kubernetes"]["podName"] == "web-7d4f9" and t["kubernetes"]["podUID"] == "uid-1"
    a = orjson.loads(format_falco(f))
    fields = a["output_fields"]
    assert fields["container.id"] == CID[:12] and fields["container.full_id"] == CID
    assert fields["container.name"] == "web-1" and fields["k8s.ns.name"] == "shop"
    assert fields["container.image.tag"] == "2.1"
    assert a["hostname"] != "inside"  # the node's, not the container's UTS name
    line = format_table(f).decode()
    assert "container=web-1" in line and "image=registry.example:5000/shop/web:2.1" in line
    assert "pod=shop/web-7d4f9" in line


def test_the_cache_answers_the_second_lookup_and_what_the_stream_carries_is_kept(api) -> None:
    srv, path = api
    r = ContainerResolver([DockerApiClient(path)], wait=5, watch=False).start()
    try:
        assert r.lookup(CID) is not None and r.lookup(CID) is not None
        assert r.stats.container_lookups == 1 and r.stats.container_lookup_hits == 1
        f = _finding()
        f.event.data["container"] = {"id": CID, "name": "from-tracee", "image": "img"}
        enrich_event(f.event, r)
        assert f.event.data["container"]["name"] == "from-tracee"
    finally:
        r.close()
    assert sum(1 for h in srv.hits if h.startswith("/containers/")) == 1


def test_a_start_on_the_event_stream_fills_the_cache_before_any_finding(api) -> None:
    srv, path = api
    srv.events.append(CID)
    r = ContainerResolver([DockerApiClient(path)], wait=0, watch=True).start()
    try:
        assert srv.events_ready.wait(5)
        end = threading.Event()
        for _ in range(100):
            if r.cached(CID) is not None:
                break
            end.wait(0.05)
        assert r.cached(CID) is not None and r.cached(CID).name == "web-1"  # type: ignore
    finally:
        r.close()


def test_a_container_gone_before_inspect_is_named_from_its_create_event(api) -> None:
    """A --rm container that exits at once: its inspect fails (podman answers 500 while it
    removes it), but the create event, replayed from the sensor's start, carried its name, image
    and labels; a later refresh that fails again keeps them."""
    srv, path = api
    srv.events.append({"status": "create", "id": GONE, "Type": "container",
                       "Action": "create", "time": 1796171787,
                       "Actor": {"ID": GONE, "Attributes": {
                           "containerExitCode": "0", "image": "localhost/tools:1.0",
                           "name": "quick_one", "podId": "",
                           "io.kubernetes.pod.name": "job-x", "io.kubernetes.pod.namespace": "ci",
                           "team": "red"}}})
    r = ContainerResolver([DockerApiClient(path)], wait=2, watch=True,
                          err=io.StringIO()).start()
    try:
        assert srv.events_ready.wait(5)
        since = [h for h in srv.hits if h.startswith("/events")][0]
        assert "&since=" in since  # events from the sensor's start are replayed
        info = r.lookup(GONE)
        assert info is not None
        assert (info.name, info.image, info.image_tag) == (
            "quick_one", "localhost/tools:1.0", "1.0")
        assert info.labels == {"io.kubernetes.pod.name": "job-x",
                               "io.kubernetes.pod.namespace": "ci", "team": "red"}
        assert (info.pod_name, info.pod_namespace) == ("job-x", "ci")
        # the image outlives the container: its digest and id asked by the image's name
        assert (info.image_digest, info.image_id) == ("sha256:" + "ef" * 32, IMAGE_ID)
        r.prefetch(GONE).wait(5)  # a refresh: inspect fails again
        assert r.cached(GONE) == info
        ev = _finding(GONE)
        enrich_event(ev.event, r)
        assert ev.event.data["container"]["name"] == "quick_one"
        assert ev.event.data["kubernetes"]["podName"] == "job-x"
    finally:
        r.close()


def test_a_runtime_that_is_down_leaves_the_id_warns_once_and_counts(tmp_path: Path) -> None:
    err = io.StringIO()
    r = ContainerResolver([DockerApiClient(str(tmp_path / "gone.sock"))], wait=5,
                          watch=False, err=err).start()
    try:
        for n in range(3):
            f = _finding(f"{n:x}" * 64)
            r.enrich(f)
            assert f.event.data["container"] == {"id": f"{n:x}" * 64}
            assert f.event.data["kubernetes"] == {}
    finally:
        r.close()
    assert err.getvalue().count("warning") == 1
    assert r.stats.container_runtime_errors == 3


def test_discovery_takes_configured_sockets_else_existing_defaults(tmp_path: Path) -> None:
    assert discover_sockets(["/x/y.sock"]) == ["/x/y.sock"]
    (tmp_path / "run" / "podman").mkdir(parents=True)
    (tmp_path / "run" / "podman" / "podman.sock").touch()
    assert discover_sockets((), str(tmp_path)) == [f"{tmp_path}/run/podman/podman.sock"]


def test_falco_conditions_and_outputs_see_the_runtimes_answer(api, tmp_path: Path) -> None:
    """A rule on container.name / k8s.ns.name fires on an event that carries only the id: the
    engine completes the event from the runtime when the rule first reads those fields, and
    the output prints them; an event on the host is never sent to the runtime."""
    from memwarden.engine.dispatch import Engine
    from memwarden.rules.falco import load_rules

    srv, path = api
    rules = tmp_path / "r.yaml"
    rules.write_text("""
- rule: web reads mem
  desc: d
  condition: >
    evt.type in (open, openat) and fd.name endswith /mem and container.name = web-1
    and k8s.ns.name = shop
  output: "%container.name %container.image.repository %k8s.pod.name %fd.name"
  priority: WARNING
""")
    r = ContainerResolver([DockerApiClient(path)], wait=2, watch=False).start()
    try:
        found = []
        engine = Engine(load_rules([str(rules)]).detectors, sink=found.append,
                        complete_event=r.complete)
        host = _finding("").event
        host.data["containerId"] = ""
        host.data["container"] = {}
        engine.process_event(host)
        assert not found and not any(h.startswith("/containers/") for h in srv.hits)
        engine.process_event(_finding().event)
        assert len(found) == 1
        assert found[0].data["output"] == ("web-1 registry.example:5000/shop/web web-7d4f9 "
                                           "/proc/6/mem")
    finally:
        r.close()


def test_a_host_event_is_completed_without_a_lookup() -> None:
    """The completer on a host event (no container id) asks nothing and adds nothing."""
    r = ContainerResolver([], watch=False)
    ev = Event.new("security_file_open", [("pathname", "const char*", "/etc/passwd")])
    before = orjson.dumps(ev.data)
    ev._complete = r.complete
    assert orjson.dumps(ev.completed()) == before
    assert r.stats.container_lookups == 0 and r.stats.container_lookup_hits == 0


def test_a_remembered_container_completes_an_event_from_the_cache() -> None:
    r = ContainerResolver([], watch=False)  # no runtime, no thread: the cache alone answers
    r.remember(ContainerInfo(id=CID, name="web", image="shop/web:1.0", pod_name="web-1",
                             pod_namespace="shop", pod_labels={"app": "web"}))
    ev = Event.new("security_file_open", [], containerId=CID, container={"id": CID})
    ev._complete = r.complete
    d = ev.completed()
    assert (d["container"]["name"], d["container"]["image"]) == ("web", "shop/web:1.0")
    assert d["kubernetes"]["podLabels"] == {"app": "web"}
    assert r.stats.container_lookup_hits == 1 and r.stats.container_lookups == 0
