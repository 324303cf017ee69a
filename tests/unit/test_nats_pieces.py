"""The NATS pieces that need no server: addresses, the ``nats:`` config section, the on-disk
buffer, message ids and subjects of findings."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.app.settings import ConfigError, parse_settings
from memwarden.bus.address import NatsAddress, NatsAddressError, NatsOptions
from memwarden.bus.spool import Spool
from memwarden.engine.dispatch import Engine
from memwarden.outputs.base import OutputSpecError
from memwarden.outputs.nats import finding_id, finding_subject
from memwarden.outputs.registry import parse_output
from memwarden.signatures import load_builtin

DATA = Path(__file__).parent.parent / "data"


def test_address_round_trip_and_defaults() -> None:
    a = NatsAddress.parse("nats://127.0.0.1:4333/fleet.events?durable=det&ack_wait=2s")
    assert a.servers == ("127.0.0.1:4333",) and a.subject == "fleet.events"
    assert a.seconds("ack_wait", 30) == 2.0 and a.text("durable", "") == "det"
    assert a.stream_name(NatsOptions()) == "FLEET"
    assert a.stream_name(NatsOptions(stream="S1")) == "S1"
    assert NatsAddress.parse(str(a)) == a
    b = NatsAddress.parse("nats+tls://h1,h2:5000/x?stream=MINE")
    assert b.tls and b.servers == ("h1:4222", "h2:5000") and b.server_urls()[0] == "tls://h1:4222"
    assert b.stream_name(NatsOptions(stream="S1")) == "MINE"


@pytest.mark.parametrize("bad", [
    "nats://user:secret@h/x",  # credentials never in the address
    "nats://h:99999/x", "nats://h/", "nats://h/a..b", "nats://h/a b", "nats://h/x?bogus=1",
    "nats://h/x?retention=forever", "nats://h/x?ack_wait=soon", "nats://h/x?batch=0",
    "nats://h/x?stream=has.dot",
])
def test_bad_addresses_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(NatsAddressError):
        NatsAddress.parse(bad)


def test_output_specs() -> None:
    spec = parse_output("falco:nats://127.0.0.1:4222/findings?stream=F")
    assert spec.kind == "nats" and spec.format == "falco"
    assert str(spec) == "falco:nats://127.0.0.1:4222/findings?stream=F"
    with pytest.raises(OutputSpecError):
        parse_output("nats://127.0.0.1/findings.*")  # cannot publish to a wildcard
    with pytest.raises(OutputSpecError, match="credentials"):
        parse_output("nats://u:p@127.0.0.1/findings")


def test_config_section() -> None:
    s = parse_settings({"nats": {"token": "t0k", "buffer_max_mb": 1, "ack_wait": "2s",
                                 "retention": "workqueue"}}, "c.yaml")
    assert s.delivery.nats.token == "t0k" and s.delivery.nats.ack_wait == 2.0
    assert s.as_yaml_dict()["nats"]["token"] == "<redacted>"
    for bad, where in (({"tokn": "x"}, "tokn"), ({"batch": 0}, "batch"),
                       ({"retention": "x"}, "retention"), ({"buffer_max_mb": "lots"}, "")):
        with pytest.raises(ConfigError, match=f"c.yaml: nats: {where}"):
            parse_settings({"nats": bad}, "c.yaml")


def test_spool_keeps_order_bounds_and_survives_reopen(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), "k", max_bytes=300)
    records = [(f"s.{i}", f"id{i}", b"x" * 40) for i in range(10)]
    refused = sp.append(records)
    assert refused and sp.records == 10 - len(refused) and sp.pending_bytes <= 300
    kept = sp.records
    # a second live process on the same address gets its own slot
    other = Spool(str(tmp_path), "k", max_bytes=300)
    assert other.path != sp.path and other.records == 0
    other.close()
    first = sp.peek(2)
    assert [r for r, _ in first] == records[:2]
    sp.commit(first[-1][1], 2)
    sp.close()
    again = Spool(str(tmp_path), "k", max_bytes=300)  # what a restarted process finds
    assert again.records == kept - 2
    rest = again.peek(100)
    assert [r for r, _ in rest] == records[2:kept]
    again.commit(rest[-1][1], len(rest))
    assert again.records == 0 and again.pending_bytes == 0
    again.close()


def _findings() -> list:
    found: list = []
    engine = Engine(load_builtin(), sink=found.append)
    for line in (DATA / "tracee_legacy.jsonl").read_bytes().splitlines():
        engine.process_dict(orjson.loads(line))
    return found


def test_finding_ids_are_deterministic_and_distinct() -> None:
    a, b = _findings(), _findings()
    assert len(a) == 4
    assert [finding_id(f) for f in a] == [finding_id(f) for f in b]
    assert len({finding_id(f) for f in a}) == len(a)
    assert finding_subject("findings", a[0], "priority") == "findings.warning.TRC-1021"
    assert finding_subject("findings", a[0], "flat") == "findings"


def test_partitions_hash_as_nats_partition_mapping_does() -> None:
    from memwarden.bus.address import parse_partition, partition_of

    # what nats-server 2.9.10 filed under events.{{partition(4,1)}}.{{wildcard(1)}}
    assert [partition_of(h, 4) for h in ("host-a", "host-b", "host-c", "host-d", "web-01",
                                         "db_x")] == [1, 0, 3, 2, 3, 0]
    assert parse_partition("1/4", "x") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0", "0/5000"):
        with pytest.raises(NatsAddressError, match="partition"):
            parse_partition(bad, "x")
    with pytest.raises(NatsAddressError, match="partition"):
        NatsAddress.parse("nats://h/events?partition=2/2")
    with pytest.raises(NatsAddressError, match="partitions"):
        NatsAddress.parse("nats://h/events?partitions=0")


def test_forwarder_subjects_and_the_ancestors_it_attaches(tmp_path: Path) -> None:
    from memwarden.core.event import Event
    from memwarden.core.process import ProcessInfo
    from memwarden.enrich.proctable import ProcessTable
    from memwarden.outputs.nats import EventForwarder

    parent = ProcessInfo(77, comm="mw-par", exe="/usr/bin/mw-par", uid=0)
    child = ProcessInfo(78, ppid=77, comm="dd", exe="/usr/bin/dd")
    child.parent = parent
    fwd = EventForwarder("nats://127.0.0.1:1/events?partitions=4&batch=2",
                         NatsOptions(buffer_dir=str(tmp_path / "buf"), connect_timeout=0.1),
                         resolve=lambda ev: child if ev.host_pid == 78 else None)
    sent: list[tuple[str, bytes]] = []
    fwd.publisher.submit = lambda subject, msgid, payload: sent.append((subject, payload))
    line = (DATA / "sigpack" / "process_core_dumped.fires.jsonl").read_bytes().splitlines()[0]
    for host, pid in (("host-a", 78), ("host-a", 5), ("host.b", 78)):
        d = orjson.loads(line)
        d.update(hostName=host, hostProcessId=pid)
        fwd(Event.from_dict(d))
    fwd.close(0.1)
    # a batch per host (host-a's two events, then host.b's), each under its partition
    from memwarden.bus.address import partition_of

    assert [s for s, _ in sent] == ["events.1.host-a",
                                    f"events.{partition_of('host_b', 4)}.host_b"]
    first = [orjson.loads(x) for x in sent[0][1].splitlines()]
    assert first[0]["ancestors"][0]["thread"]["name"] == "mw-par"
    assert first[0]["ancestors"][0]["hostPid"] == 77 and "ancestors" not in first[1]
    # the consumer's table grafts them: the parent is known although never seen starting
    table = ProcessTable()
    found: list = []
    Engine(load_builtin(), sink=found.append, enricher=table).process_dict(first[0])
    proc = table.resolve(Event.from_dict(first[0]))
    assert proc is not None and proc.parent is not None
    assert (proc.parent.pid, proc.parent.comm, proc.parent.exe) == (77, "mw-par",
                                                                    "/usr/bin/mw-par")
