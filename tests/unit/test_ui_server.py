"""The console's HTTP side: ingest of each body kind, the JSON API with filters, the token
(401 without it, the page behind a sign-in), the size and rate limits and garbage (4xx, each
counted), and the console serving on after every refusal; the live stream; the CLI's refusals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from memwarden.ui.server import Console, ConsoleConfig, TokenBucket
from ui_bodies import FALCO_OWN, V1BETA1, falco_body, tracee_body

TOKEN = "s3cret-token-for-tests"


def run(config: ConsoleConfig, body: Callable[[TestClient, Console], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        console = Console(config)
        async with TestClient(TestServer(console.app(), host="127.0.0.1")) as client:
            return await body(client, console)

    return asyncio.run(main())


def test_ingest_each_kind_and_query_them() -> None:
    async def body(c: TestClient, console: Console) -> None:
        for b in (tracee_body(), falco_body(), orjson.dumps(FALCO_OWN), orjson.dumps(V1BETA1)):
            r = await c.post("/ingest", data=b)
            assert r.status == 200, await r.text()
        r = await c.get("/api/findings", params={"signature": "TRC-1021"})
        data = await r.json()
        assert data["total"] == 2 and {f["kind"] for f in data["findings"]} == {"tracee", "falco"}
        r = await c.get("/api/findings", params={"severity": "high"})
        [one] = (await r.json())["findings"]
        detail = await (await c.get(f"/api/findings/{one['id']}")).json()
        assert detail["raw"] == V1BETA1 and detail["pod"] == "debug-pod"
        r = await c.get("/api/export", params={"host": "node-7"})
        assert [orjson.loads(x)["rule"] for x in (await r.read()).splitlines()] == [
            FALCO_OWN["rule"]]
        counts = await (await c.get("/api/counts", params={"group": "signature"})).json()
        assert counts["total"] == 4
        page = await (await c.get("/api/signatures/TRC-1021")).text()
        assert "proc_kcore_read" in page
        r = await c.get("/")
        assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert (await c.get("/api/findings", params={"severity": "bad"})).status == 400
        assert (await c.get("/static/../server.py")).status == 404
        assert console.counters.ingested == 4

    run(ConsoleConfig(), body)


def test_with_a_token() -> None:
    async def body(c: TestClient, console: Console) -> None:
        assert (await c.post("/ingest", data=tracee_body())).status == 401
        bad = {"Authorization": "Bearer wrong"}
        assert (await c.post("/ingest", data=tracee_body(), headers=bad)).status == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert (await c.post("/ingest", data=tracee_body(), headers=ok)).status == 200
        assert (await c.get("/api/findings")).status == 401
        r = await c.get("/")
        assert r.status == 401 and 'action="/login"' in await r.text()
        assert (await c.get("/api/findings", headers=ok)).status == 200
        # the page's sign-in: a session cookie (not the token itself), then the page serves
        r = await c.post("/login", data={"token": "nope"}, allow_redirects=False)
        assert r.status == 401
        r = await c.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert r.status == 303 and TOKEN not in r.headers["Set-Cookie"]
        assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Strict" in \
            r.headers["Set-Cookie"]
        assert (await c.get("/api/findings")).status == 200
        assert (await c.post("/ingest", data=tracee_body())).status == 401  # bearer only
        assert console.counters.refused_unauthorized == 4
        assert (await c.get("/healthz")).status == 200

    run(ConsoleConfig(token=TOKEN), body)


def test_size_limit_garbage_and_origin_are_counted_and_the_console_serves_on() -> None:
    async def body(c: TestClient, console: Console) -> None:
        big = b"[" + b",".join([tracee_body().rstrip()] * 400) + b"]"
        assert len(big) > 64 * 1024
        r = await c.post("/ingest", data=big)
        assert r.status == 413

        async def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(20):
                yield b" " * 8192

        assert (await c.post("/ingest", data=chunks())).status == 413
        r = await c.post("/ingest", data=b"\x00garbage")
        assert r.status == 400 and "not JSON" in await r.text()
        assert (await c.post("/ingest", data=b'{"x": 1}')).status == 400
        r = await c.post("/ingest", data=tracee_body(), headers={"Origin": "http://evil"})
        assert r.status == 403
        assert (await c.post("/ingest", data=tracee_body())).status == 200
        stats = (await (await c.get("/api/stats")).json())["counters"]
        assert stats["refused_too_large"] == 2 and stats["refused_malformed"] == 2
        assert stats["refused_origin"] == 1 and stats["ingested"] == 1
        assert stats["ingest_requests"] == 6
        r = await c.get("/api/findings", headers={"Host": "rebound.example:80"})
        assert r.status == 421  # DNS rebinding: an unexpected Host without a token

    run(ConsoleConfig(max_body=64 * 1024), body)


def test_rate_limit() -> None:
    async def body(c: TestClient, console: Console) -> None:
        statuses = [(await c.post("/ingest", data=tracee_body())).status for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        assert console.counters.refused_rate_limited == 3
        assert (await c.get("/api/findings")).status == 200

    run(ConsoleConfig(rate=0.001, burst=5), body)


def test_token_bucket_refills() -> None:
    now = [0.0]
    b = TokenBucket(10, 2, clock=lambda: now[0])
    assert [b.take(), b.take(), b.take()] == [True, True, False]
    now[0] = 0.1
    assert [b.take(), b.take()] == [True, False]


def test_the_live_stream_sends_new_matching_findings() -> None:
    async def body(c: TestClient, console: Console) -> None:
        resp = await c.get("/api/stream", params={"signature": "MW-1001"})
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await resp.content.readuntil(b"\n\n")  # retry + connected
        await c.post("/ingest", data=tracee_body())  # filtered out
        await c.post("/ingest", data=orjson.dumps(V1BETA1))
        event = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        lines = dict(x.split(b": ", 1) for x in event.strip().split(b"\n"))
        assert lines[b"event"] == b"finding"
        assert orjson.loads(lines[b"data"])["signature"] == "MW-1001"
        resp.close()

    run(ConsoleConfig(), body)


def memwarden(*args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "memwarden", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "MEMWARDEN_CONFIG": "", "MEMWARDEN_UI_TOKEN": "",
                               **env})


def test_cli_refuses_a_public_bind_without_a_token_and_nats() -> None:
    r = memwarden("ui", "--listen", "0.0.0.0:0", "--db", ":memory:")
    assert r.returncode == 2 and "not a loopback address: set a token" in r.stderr
    r = memwarden("ui", "--from", "nats://127.0.0.1:4222/findings")
    assert r.returncode == 2
    assert "not supported yet: needs the NATS source (issue 19)" in r.stderr
    r = memwarden("ui", "--listen", "nonsense")
    assert r.returncode == 2 and "expected HOST:PORT" in r.stderr
