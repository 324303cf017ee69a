"""What the container resolver costs: nothing measurable, when it answers from its cache.

Two measurements, each side by side and interleaved in one run (best of the rounds kept, so
that machine drift affects both alike):

1. **Replay**: the benchmark stream with 30% of its events from 50 containers, each carrying
   its 64-hex id only (as the eBPF sensor writes them), replayed with every built-in
   signature by an engine without a resolver and by one whose resolver answers from its
   cache (``complete_event`` and ``enrich_finding`` wired as ``memwarden run`` wires them).
   The ratio of the two rates should be 1.00 within noise; the resolver's findings from
   containers carry the containers' names.
2. **Event completion**, per event: ``Event.completed()`` (what a condition or output on
   ``container.*``/``k8s.*`` calls) on host events, with no completer (an engine without a
   resolver) and with the resolver's (which the engine gives only to events with a container
   id: a host event's slot is None), and on container events answered from the cache.

``python -m memwarden.benchmarks.containers [--events N]``; ``memwarden bench`` runs it too.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

from memwarden.benchmarks.generate import generate_lines
from memwarden.core.event import Event, Finding
from memwarden.engine.dispatch import Engine
from memwarden.enrich.containers import ContainerInfo, ContainerResolver
from memwarden.enrich.proctable import ProcessTable
from memwarden.outputs.stream import StreamSink
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay

CONTAINERS = 50


def container_ids(n: int = CONTAINERS) -> list[str]:
    return [f"{i:02x}" * 32 for i in range(n)]


def write_stream(path: str, events: int, hit_rate: float, ids: list[str]) -> int:
    """The benchmark stream, its container events spread over ``ids`` and stripped to the id
    (no name: the resolver has something to fill); returns how many are from containers."""
    n = 0
    with open(path, "wb") as f:
        for line in generate_lines(events, hit_rate):
            d = orjson.loads(line)
            if d.get("containerId"):
                cid = ids[n % len(ids)]
                d["containerId"], d["container"] = cid, {"id": cid}
                n += 1
            f.write(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE))
    return n


def cached_resolver(ids: list[str]) -> ContainerResolver:
    """A resolver with no runtime to ask and every container of the stream in its cache."""
    r = ContainerResolver([], watch=False)
    for i, cid in enumerate(ids):
        r.remember(ContainerInfo(
            id=cid, name=f"web-{i}", image="localhost/shop/web:1.0",
            image_repository="localhost/shop/web", image_tag="1.0",
            image_digest="sha256:" + "ab" * 32, runtime="containerd",
            labels={"io.kubernetes.pod.name": f"web-{i}", "io.kubernetes.pod.namespace": "shop"},
            pod_name=f"web-{i}", pod_namespace="shop", pod_uid=f"uid-{i}",
            pod_labels={"app": "web"}))
    return r


def replay(path: str, resolver: ContainerResolver | None,
           sink: Callable[[Finding], None] | None = None) -> tuple[int, int]:
    """(events in, findings) of a replay with every built-in signature, with the resolver
    wired as a live command wires it (None: as ``memwarden replay`` runs)."""
    with open(os.devnull, "wb") as devnull:
        engine = Engine(load_builtin(), sink=sink or StreamSink(devnull, "tracee"),
                        enricher=ProcessTable(),
                        enrich_finding=resolver.enrich if resolver is not None else None,
                        complete_event=resolver.complete if resolver is not None else None)
        JsonLinesReplay(path, engine).run()
        return engine.stats.events_in, engine.stats.findings


def _complete_loop(events: list[Event], complete: Callable[[Event], None] | None) -> float:
    """Seconds to complete every event once, as the engine arms it (``None``: no completer,
    the slot left unset as by an engine without a resolver)."""
    now = time.perf_counter
    if complete is None:
        t = now()
        for ev in events:
            ev.completed()
        return now() - t
    t = now()
    for ev in events:  # armed as Engine._dispatch arms it: only a container's event
        d = ev.data
        ev._complete = complete if d.get("containerId") or d.get("container") else None
        ev.completed()
    return now() - t


def _events(n: int, cid: str = "") -> list[Event]:
    return [Event.new("security_file_open", [("pathname", "const char*", "/etc/passwd")],
                      hostProcessId=1000 + i, containerId=cid,
                      container={"id": cid} if cid else {}) for i in range(n)]


def run_containers_bench(events: int = 200_000, hit_rate: float = 0.01, rounds: int = 3,
                         per_event: int = 200_000) -> dict[str, Any]:
    ids = container_ids()
    resolver = cached_resolver(ids)
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-containers-") as tmp:
        path = os.path.join(tmp, "events.json")
        in_containers = write_stream(path, events, hit_rate, ids)
        runs: dict[str, Callable[[], tuple[int, int]]] = {
            "without": lambda: replay(path, None),
            "resolver": lambda: replay(path, resolver),
        }
        replay(path, None)  # the page cache, the signatures' imports
        best = dict.fromkeys(runs, float("inf"))
        results: dict[str, tuple[int, int]] = {}
        for _ in range(rounds):
            for name, run in runs.items():
                t = time.perf_counter()
                results[name] = run()
                best[name] = min(best[name], time.perf_counter() - t)
        found: list[Finding] = []
        replay(path, resolver, found.append)
    from_containers = [f for f in found if f.event.container_id]
    named = sum(1 for f in from_containers if f.event.data["container"].get("name"))
    assert results["without"] == results["resolver"], results
    rate = {k: events / v for k, v in best.items()}
    ratio = rate["resolver"] / rate["without"]
    print(f"container resolver, replay of {events:,} events ({in_containers:,} from "
          f"{len(ids)} containers, id only; {results['without'][1]:,} findings):")
    print(f"  (a) without a resolver:             {rate['without']:>10,.0f} events/s")
    print(f"  (b) resolver answering from cache:  {rate['resolver']:>10,.0f} events/s "
          f"({named}/{len(from_containers)} findings from containers named)")
    print(f"  ratio (b)/(a): {ratio:.3f}   (1.00: the lookup adds nothing measurable)")

    host, inside = _events(per_event), _events(per_event, ids[0])
    complete = resolver.complete
    spent = {"none": float("inf"), "host": float("inf"), "container": float("inf")}
    for _ in range(rounds * 2):
        for ev in host:
            ev._complete = None
        spent["none"] = min(spent["none"], _complete_loop(host, None))
        spent["host"] = min(spent["host"], _complete_loop(host, complete))
        for ev in inside:
            ev.data["container"] = {"id": ids[0]}
        spent["container"] = min(spent["container"], _complete_loop(inside, complete))
    ns = {k: v / per_event * 1e9 for k, v in spent.items()}
    print(f"  Event.completed(), per event ({per_event:,} events, best of {rounds * 2}):")
    print(f"    (c) no completer (engine without a resolver): {ns['none']:6.0f} ns")
    print(f"    (d) resolver's, host event:                   {ns['host']:6.0f} ns   "
          f"(d)/(c): {ns['host'] / ns['none']:.2f}   (d)-(c): {ns['host'] - ns['none']:.0f} ns")
    print(f"    (e) resolver's, container event, cache hit:   {ns['container']:6.0f} ns   "
          f"(e)/(c): {ns['container'] / ns['none']:.2f}")
    return {"replay_ratio": ratio, "named": named, "from_containers": len(from_containers),
            "ns": ns}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m memwarden.benchmarks.containers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--hit-rate", type=float, default=0.01)
    ns = parser.parse_args(argv)
    run_containers_bench(ns.events, ns.hit_rate)


if __name__ == "__main__":
    main()
