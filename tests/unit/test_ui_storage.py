"""The console's SQLite store and its filters: every filter narrows the list, the counts and
the export alike; retention removes by age and by size; query parameters are validated."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from memwarden.ui.filters import FilterError, parse_filters
from memwarden.ui.ingest import parse_body
from memwarden.ui.storage import Store
from ui_bodies import FALCO_OWN, V1BETA1, falco_body, tracee_body

T0 = 1700000000123456789


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ui.sqlite")
    s.add(parse_body(tracee_body() + tracee_body(line=2) + falco_body()
                     + orjson.dumps(FALCO_OWN) + b"\n" + orjson.dumps(V1BETA1)))
    return s


def listed(store: Store, **query: str) -> list[str]:
    return [f"{r['signature']}/{r['kind']}" for r in store.list(parse_filters(query))]


def test_newest_first_and_every_filter(store: Store) -> None:
    assert listed(store) == ["MW-1001/tracee-v1beta1", "Read sensitive file untrusted/falco",
                             "TRC-1021/falco", "TRC-1021/tracee", "TRC-1021/tracee"]
    assert listed(store, signature="TRC-1021") == ["TRC-1021/falco", "TRC-1021/tracee",
                                                   "TRC-1021/tracee"]
    assert listed(store, signature="MW-1001,Read sensitive file untrusted") == [
        "MW-1001/tracee-v1beta1", "Read sensitive file untrusted/falco"]
    assert listed(store, severity="high") == ["MW-1001/tracee-v1beta1"]
    assert listed(store, severity="3,medium") == listed(store)
    assert listed(store, host="node-7") == ["Read sensitive file untrusted/falco"]
    assert listed(store, container="7d0f2b9c4e6a") == ["TRC-1021/tracee"]
    assert listed(store, container="debugger") == ["MW-1001/tracee-v1beta1"]
    assert listed(store, image="docker.io/library/debian") == ["MW-1001/tracee-v1beta1"]
    assert listed(store, process="gdb") == ["MW-1001/tracee-v1beta1"]
    assert listed(store, since=str(T0 + 1)) == ["MW-1001/tracee-v1beta1"]
    assert listed(store, since="2023-11-14T22:13:20Z", until="2023-11-14T22:13:20.4Z") == \
        listed(store)[1:]
    assert listed(store, limit="2") == listed(store)[:2]
    newest = store.list(parse_filters({}))[0]["id"]
    assert listed(store, before=str(newest)) == listed(store)[1:]
    assert store.count(parse_filters({"signature": "TRC-1021"})) == 3


def test_detail_and_export(store: Store) -> None:
    row = store.list(parse_filters({"process": "gdb"}))[0]
    detail = store.get(row["id"])
    assert detail is not None and detail["raw"] == V1BETA1
    assert [a["hostPid"] for a in detail["ancestors"]] == [5100, 1]
    assert store.get(10_000) is None
    lines = list(store.raw(parse_filters({"signature": "TRC-1021"})))
    assert [orjson.loads(x).get("rule", "tracee") for x in lines] == [
        "tracee", "tracee", "Kcore memory file read"]  # oldest first, as received


def test_counts_over_time(store: Store) -> None:
    c = store.counts(parse_filters({}), "severity")
    assert c["total"] == 5 and c["step"] >= 1_000_000_000
    assert {k: sum(v) for k, v in c["series"].items()} == {"2": 4, "3": 1}
    c = store.counts(parse_filters({"host": "node-1"}), "signature")
    assert {k: sum(v) for k, v in c["series"].items()} == {"TRC-1021": 3}
    many = Store()
    for i in range(12):
        many.add(parse_body(tracee_body(processName=f"p{i}")))
    c = many.counts(parse_filters({}), "process", top=8)
    assert len(c["series"]) == 9 and sum(c["series"]["(other)"]) == 4


def test_retention_by_age() -> None:
    s = Store(max_age_s=60)
    s.add(parse_body(tracee_body()), received=1_000 * 10**9)
    s.add(parse_body(tracee_body()), received=1_100 * 10**9)
    assert s.prune(now_ns=1_120 * 10**9) == 1
    assert s.count() == 1 and s.pruned == 1


def test_retention_by_size(tmp_path: Path) -> None:
    s = Store(tmp_path / "small.sqlite", max_bytes=200 * 1024)
    body = tracee_body()
    for _ in range(30):
        s.add(parse_body(body * 20))
    s.prune()
    assert s.used_bytes() <= 200 * 1024
    assert 0 < s.count() < 600 and s.pruned == 600 - s.count()
    newest = s.list(parse_filters({"limit": "1"}))[0]["id"]
    assert newest == 600  # the oldest went first


@pytest.mark.parametrize(("query", "says"), [
    ({"severity": "urgent"}, "severity: 'urgent'"),
    ({"since": "last tuesday"}, "since: 'last tuesday'"),
    ({"limit": "-1"}, "limit"),
    ({"before": "x"}, "before"),
    ({"host": "a,b"}, "host: give one value"),
])
def test_bad_filters_name_the_parameter(query: dict[str, str], says: str) -> None:
    with pytest.raises(FilterError, match=says):
        parse_filters(query)


def test_relative_times_and_limits() -> None:
    f = parse_filters({"since": "15m", "limit": "999999"}, now_ns=3600 * 10**9)
    assert f.since == 2700 * 10**9 and f.limit == 5000
    assert parse_filters({"severity": "high", "signature": "TRC-1021"}).query() == {
        "signature": "TRC-1021", "severity": "high"}


def test_filter_values_are_parameters_not_sql(store: Store) -> None:
    assert listed(store, host="x' OR '1'='1") == []
    assert store.count() == 5
