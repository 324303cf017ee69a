"""Host affinity on a real ``nats-server -js``: ``record …?partitions=2`` files each host's
events under ``events.<partition>.<host>``; two ``replay …?partition=K/2`` consumers each take
whole hosts, so a per-host sequence (MW-1004: a core signal, then the target's core-dumped
exit, which names the sender only if the same engine saw both) comes out exactly as a single
in-process engine per host makes it; one partition's consumer is SIGKILLed and a replacement
binding the same partition durable finishes the stream, losing nothing.

The events are built so that affinity matters: one event per message, hosts interleaved (a
host's signal and its exit are in different messages with other hosts' in between), and the
same target pids on every host with a different sender per host.
"""

from __future__ import annotations

import collections
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from natsserver import WAIT, NatsServer, wait_for
from test_fleet_nats import Consumer

from memwarden.bus.address import NatsOptions, partition_of
from memwarden.core.event import Event
from memwarden.engine.dispatch import Engine
from memwarden.outputs.nats import EventForwarder, finding_id
from memwarden.signatures import load_builtin

SIGPACK = Path(__file__).resolve().parents[1] / "data" / "sigpack"
#: two hosts in each of the two partitions (NATS's partition() hash, checked below)
HOSTS = ("host-a", "host-b", "host-c", "host-d")
ROUNDS = 40
T0 = 1_700_000_100_000_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _templates() -> tuple[dict[str, Any], dict[str, Any]]:
    kill, exit_ = (orjson.loads(x) for x in
                   (SIGPACK / "process_core_dumped.fires.jsonl").read_bytes().splitlines()[:2])
    assert kill["eventName"] == "kill" and exit_["eventName"] == "sched_process_exit"
    return kill, exit_


def sequence_events() -> list[dict[str, Any]]:
    """Per round: every host's core signal, then every host's core-dumped exit of the target
    (the same pid on every host; the sender differs per host)."""
    kill, exit_ = _templates()
    out: list[dict[str, Any]] = []
    ts = T0
    for r in range(ROUNDS):
        target = 5000 + r
        for phase in (kill, exit_):
            for h, host in enumerate(HOSTS):
                ts += 1_000_000
                d = orjson.loads(orjson.dumps(phase))
                d["hostName"], d["timestamp"] = host, ts
                if phase is kill:
                    sender = 1000 + h
                    d.update(processId=sender, threadId=sender, hostProcessId=sender,
                             hostThreadId=sender, processName=f"killer-{host}")
                    d["args"][0]["value"] = target
                else:
                    d.update(processId=target, threadId=target, hostProcessId=target,
                             hostThreadId=target)
                out.append(d)
    return out


def finding_key(d: dict[str, Any]) -> tuple:
    args = {a["name"]: a["value"] for a in d["args"] if a["name"] != "triggeredBy"}
    return (d["hostName"], d["hostProcessId"], d["timestamp"], d["eventName"],
            orjson.dumps(args, option=orjson.OPT_SORT_KEYS))


def expected(events: list[dict[str, Any]]) -> tuple[set[str], collections.Counter]:
    """What one engine per host raises: the findings' ids and keys."""
    found: list = []
    engines: dict[str, Engine] = {}
    for d in events:
        host = d["hostName"]
        if host not in engines:
            engines[host] = Engine(load_builtin(), sink=found.append)
        engines[host].process_dict(orjson.loads(orjson.dumps(d)))
    keys = collections.Counter(finding_key(orjson.loads(orjson.dumps(f.to_tracee())))
                               for f in found)
    return {finding_id(f) for f in found}, keys


def stored(server: NatsServer) -> tuple[collections.Counter, collections.Counter]:
    msgs = server.stream_messages("FINDINGS")
    return (collections.Counter(mid for _, _, mid, _ in msgs),
            collections.Counter(finding_key(orjson.loads(p)) for _, _, _, p in msgs))


def settled(server: NatsServer, durable: str) -> bool:
    try:
        i = server.consumer_info("EVENTS", durable)
    except Exception:
        return False
    return i.num_pending == 0 and i.num_ack_pending == 0


def test_hosts_split_over_partitions_as_the_server_would() -> None:
    # the assignments a nats-server 2.9.10 made with the mapping
    # events.* -> events.{{partition(4,1)}}.{{wildcard(1)}} (and 2 partitions: these mod 2)
    assert [partition_of(h, 4) for h in ("host-a", "host-b", "host-c", "host-d")] == \
        [1, 0, 3, 2]
    assert sorted(partition_of(h, 2) for h in HOSTS) == [0, 0, 1, 1]


def test_partitioned_consumers_keep_per_host_sequences_through_a_takeover(
        server: NatsServer, config: Path, tmp_path: Path) -> None:
    events = sequence_events()
    want_ids, want_keys = expected(events)
    mw1004 = [k for k in want_keys if k[3] == "process_core_dumped"]
    assert len(mw1004) == ROUNDS * len(HOSTS)
    assert all(b"killer-" in k[4] for k in mw1004)  # every sender attributed, per host
    fwd = EventForwarder(f"{server.url}/events?partitions=2&batch=1",
                         NatsOptions(buffer_dir=str(tmp_path / "fwd-buffer")))
    url = f"{server.url}/events?durable=det&ack_wait=2s"
    a = Consumer("a", url + "&partition=0/2&batch=3", config, tmp_path)
    b = Consumer("b", url + "&partition=1/2&batch=3", config, tmp_path)
    half = len(events) // 2  # whole rounds: no sequence straddles the takeover
    assert half % (2 * len(HOSTS)) == 0
    for d in events[:half]:
        fwd(Event.from_dict(d))
    fwd.flush()
    wait_for(lambda: fwd.publisher.stats()["buffer_records"] == 0
             and server.stream_count("EVENTS") == half, "the first half stored")
    wait_for(lambda: settled(server, "det_0of2") and settled(server, "det_1of2"),
             "the first half consumed")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(WAIT)
    a2 = Consumer("a2", url + "&partition=0/2&batch=3", config, tmp_path)  # the takeover
    for d in events[half:]:
        fwd(Event.from_dict(d))
    fwd.close()
    assert fwd.events == len(events)
    wait_for(lambda: server.stream_count("EVENTS") == len(events), "every event stored")
    wait_for(lambda: server.stream_count("FINDINGS") >= len(want_ids), "every finding stored")
    wait_for(lambda: settled(server, "det_0of2") and settled(server, "det_1of2"),
             "every event consumed")
    sb, sa2 = b.stop(), a2.stop()
    ids, keys = stored(server)
    assert set(ids) == want_ids and set(ids.values()) == {1}
    assert keys == want_keys  # the same findings with the same data: senders attributed
    # each partition's consumer saw only its hosts' subjects
    subjects = collections.Counter(s for _, s, _, _ in server.stream_messages("EVENTS"))
    assert set(subjects) == {f"events.{partition_of(h, 2)}.{h}" for h in HOSTS}
    assert sb["messages"] == sum(n for s, n in subjects.items() if s.startswith("events.1."))
    assert sb["hosts"] == 2 and sa2["hosts"] == 2 and a.found() > 0
    # one group over every partition (no affinity needed: a single member): all of them
    arch = Consumer("arch", f"{server.url}/events.*.*?durable=archive", config, tmp_path)
    wait_for(lambda: settled(server, "archive"), "the archive consumer done")
    sarch = arch.stop()
    assert sarch["messages"] == len(events) and sarch["hosts"] == len(HOSTS)
    assert stored(server) == (ids, keys)  # its findings: the same ids, stored once
    print(f"\nmessages: partition 0 = A {a.found()} findings then A2 {sa2['messages']} "
          f"messages; partition 1 = B {sb['messages']} messages")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"nats:\n  buffer_dir: {tmp_path / 'buffer'}\ndelivery:\n  timeout: 2.0\n")
    return path
