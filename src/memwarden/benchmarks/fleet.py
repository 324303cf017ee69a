"""``make bench-fleet``: events/s through one JetStream consumer and through two sharing one
durable name, on this machine, beside the same events through an in-process engine (the
ceiling a consumer cannot pass) and the forwarder's publish rate.

A real ``nats-server -js`` is started on loopback (a free port, a temp store) and stopped at
the end. The events (generated, 1% of them firing TRC-1021, spread over 8 hosts) are published
first, batched as ``record nats://`` batches them; then the consumers
(``memwarden replay nats://…?durable=…``, real processes, findings to a NATS output) are
started and timed from the first one's ready line until the server says every message is
acked. A measurement, never an assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from memwarden.benchmarks.generate import generate_lines

HOSTS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(count: int) -> list[bytes]:
    out = []
    for i, line in enumerate(generate_lines(count, hit_rate=0.01, seed=7)):
        d = orjson.loads(line)
        d["hostName"] = f"host-{i % HOSTS}"
        out.append(orjson.dumps(d) + b"\n")
    return out


def _engine_rate(lines: list[bytes]) -> float:
    from memwarden.engine.dispatch import Engine
    from memwarden.signatures import load_builtin

    engine = Engine(load_builtin(), sink=lambda f: None)
    t0 = time.perf_counter()
    engine.process_json_lines(iter(lines), lambda *a: None)
    return len(lines) / (time.perf_counter() - t0)


def _handler_rate(batches: list[bytes], events: int) -> float:
    """The consumer's own work without NATS: messages split, decoded, routed to per-host
    engines (what :class:`~memwarden.app.fleet.EventHandler` does per message)."""
    import io

    from memwarden.app.fleet import EventHandler, HostEngines
    from memwarden.app.runtime import build_runtime
    from memwarden.app.settings import Settings

    runtime = build_runtime(Settings(outputs=[]), operations=False, err=io.StringIO())
    runtime.outputs.outputs = []  # findings counted, not written
    handler = EventHandler(HostEngines(runtime), io.StringIO())
    t0 = time.perf_counter()
    for i, b in enumerate(batches):
        handler(b, f"seq {i}")
    return events / (time.perf_counter() - t0)


async def _publish(url: str, subject: str, stream: str, batches: list[bytes],
                   subjects: list[str] | None = None) -> float:
    """Publish the batches to ``subject`` (or each to its own of ``subjects``, on a stream
    capturing ``subject``)."""
    import nats
    from nats.js import api

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name=stream, subjects=[subject]))
    to = subjects or [subject] * len(batches)
    t0 = time.perf_counter()
    for i in range(0, len(batches), 64):
        await asyncio.gather(*(js.publish(to[j], batches[j])
                               for j in range(i, min(i + 64, len(batches)))))
    elapsed = time.perf_counter() - t0
    await nc.close()
    return elapsed


async def _drained(url: str, stream: str, durables: list[str]) -> None:
    """Every durable has nothing pending nor unacked."""
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    while True:
        try:
            infos = [await js.consumer_info(stream, d) for d in durables]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 and i.delivered.stream_seq
                   for i in infos):
                break
        except Exception:
            pass
        await asyncio.sleep(0.02)
    await nc.close()


def _consume(url: str, subject: str, durable: str, stream: str, consumers: int,
             config: Path, partitioned: bool = False) -> tuple[float, list[str]]:
    procs = []
    src = f"{url}/{subject}?durable={durable}&stream={stream}&batch=32"
    sources = [f"{src}&partition={k}/{consumers}" for k in range(consumers)] if partitioned \
        else [src] * consumers
    durables = [f"{durable}_{k}of{consumers}" for k in range(consumers)] if partitioned \
        else [durable]
    for src in sources:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "memwarden", "replay", src, "--config", str(config),
             "--stats", "-o", f"{url}/findings"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    # wait until each says ready, then time until the server has every ack
    for p in procs:
        assert p.stderr is not None
        for line in p.stderr:
            if b"memwarden: ready" in line:
                break
    t0 = time.perf_counter()
    asyncio.run(_drained(url, stream, durables))
    elapsed = time.perf_counter() - t0
    stats = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=60)[1].decode(errors="replace")
        stats.append(" ".join(x.strip() for x in out.splitlines()
                              if x.strip().startswith(("messages:", "events_in:"))))
    return elapsed, stats


def _host_batches(lines: list[bytes], batch: int,
                  partitions: int) -> tuple[list[bytes], list[str]]:
    """The events in batches of one host each (in order per host), with their subjects."""
    from memwarden.bus.address import partition_of

    per_host: dict[str, list[bytes]] = {}
    for line in lines:
        per_host.setdefault(orjson.loads(line)["hostName"], []).append(line)
    batches, subjects = [], []
    chunks = {h: [b"".join(ls[i:i + batch]) for i in range(0, len(ls), batch)]
              for h, ls in per_host.items()}
    for i in range(max(len(c) for c in chunks.values())):  # hosts interleaved, as they come
        for h, c in chunks.items():
            if i < len(c):
                batches.append(c[i])
                subjects.append(f"bench3.{partition_of(h, partitions)}.{h}")
    return batches, subjects


def run(events: int, batch: int) -> dict[str, Any]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.path.exists(binary):
        raise SystemExit("bench-fleet: nats-server is not installed (bash scripts/setup.sh "
                         "--dev)")
    lines = _events(events)
    batches = [b"".join(lines[i:i + batch]) for i in range(0, len(lines), batch)]
    engine = _engine_rate(lines)
    handler = _handler_rate(batches, events)
    with tempfile.TemporaryDirectory(prefix="memwarden-bench-fleet-") as tmp:
        port = _free_port()
        log = Path(tmp, "server.log")
        server = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd",
                                   str(Path(tmp, "js")), "-l", str(log)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = Path(tmp, "config.yaml")
        config.write_text(f"nats:\n  buffer_dir: {tmp}/buffer\n")
        try:
            while not (log.exists() and "Server is ready" in log.read_text()):
                time.sleep(0.02)
            url = f"nats://127.0.0.1:{port}"
            results: dict[str, Any] = {"events": events, "batch": batch,
                                       "messages": len(batches), "engine_eps": engine,
                                       "handler_eps": handler}
            for n in (1, 2):
                subject, stream = f"bench{n}", f"BENCH{n}"
                pub = asyncio.run(_publish(url, subject, stream, batches))
                results[f"publish_eps_{n}"] = events / pub
                elapsed, stats = _consume(url, subject, f"d{n}", stream, n, config)
                results[f"consume_eps_{n}"] = events / elapsed
                results[f"split_{n}"] = stats
            # two partition consumers: batches of one host each, to events.<P>.<host>
            # (as ``record …?partitions=2`` publishes them), one durable per partition
            hb, hs = _host_batches(lines, batch, 2)
            asyncio.run(_publish(url, "bench3.*.*", "BENCH3", hb, hs))
            elapsed, stats = _consume(url, "bench3", "d3", "BENCH3", 2, config,
                                      partitioned=True)
            results["consume_eps_p2"] = events / elapsed
            results["split_p2"] = stats
        finally:
            server.terminate()
            server.wait(10)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=256, help="events per message")
    args = ap.parse_args(argv)
    r = run(args.events, args.batch)
    one, two = r["consume_eps_1"], r["consume_eps_2"]
    print(f"bench-fleet: {r['events']} events in {r['messages']} messages of {r['batch']}, "
          f"{os.cpu_count()} CPUs (nats-server, publisher and consumers share them)")
    print(f"  in-process engine (no NATS)      {r['engine_eps']:>10,.0f} events/s  (ceiling)")
    print(f"  per-host handler (no NATS)       {r['handler_eps']:>10,.0f} events/s  "
          f"({r['handler_eps'] / r['engine_eps']:.2f}x the engine)")
    print(f"  publish (64 acks in flight)      {r['publish_eps_1']:>10,.0f} events/s")
    print(f"  one consumer                     {one:>10,.0f} events/s  "
          f"({one / r['engine_eps']:.2f}x the engine)")
    print(f"  two consumers, one durable       {two:>10,.0f} events/s  "
          f"({two / one:.2f}x one consumer)")
    p2 = r["consume_eps_p2"]
    print(f"  two partition consumers (2 of 2) {p2:>10,.0f} events/s  "
          f"({p2 / one:.2f}x one consumer, {p2 / two:.2f}x two on one durable)")
    for n in ("1", "2", "p2"):
        for i, s in enumerate(r[f"split_{n}"]):
            print(f"    {n} consumer(s), #{i + 1}: {s}")


if __name__ == "__main__":
    main()
