"""A real ``nats-server -js`` for the tests: loopback only, a free port, a temp store dir,
stopped by the test (and restartable on the same port and store, for outage tests).

Also small synchronous helpers that read a stream (stored messages by id, consumer info)
through nats-py on a private event loop, so that tests wait on the server's state.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

WAIT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            why = "nats-server is not installed (bash scripts/setup.sh --dev)"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(why)  # CI must not go green without the fleet tests
            pytest.skip(why)
        self.binary = binary
        self.store = store
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store / "server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd",
             str(self.store / "js"), "-l", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log.read_text()[-2000:]}")
            if self.log.exists() and "Server is ready" in self.log.read_text():
                return
            time.sleep(0.02)
        raise RuntimeError("nats-server did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log.exists():  # the next start waits for its own "ready" line
            self.log.rename(self.log.with_suffix(f".{time.monotonic_ns()}.log"))

    # -- reading the server's state ----------------------------------------------------------
    def _run(self, coro_fn: Any) -> Any:
        import nats

        async def main() -> Any:
            nc = await nats.connect(self.url, connect_timeout=2, allow_reconnect=False)
            try:
                return await coro_fn(nc, nc.jetstream())
            finally:
                await nc.close()

        return asyncio.run(main())

    def stream_messages(self, stream: str) -> list[tuple[int, str, str, bytes]]:
        """Every stored message: (sequence, subject, Nats-Msg-Id, payload)."""

        async def read(nc: Any, js: Any) -> list[tuple[int, str, str, bytes]]:
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                if not info.state.messages:
                    break
                try:
                    msg = await js.get_msg(stream, seq)
                except Exception:  # deleted
                    continue
                out.append((seq, msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""),
                            msg.data or b""))
            return out

        return self._run(read)

    def stream_count(self, stream: str) -> int:
        async def count(nc: Any, js: Any) -> int:
            try:
                return (await js.stream_info(stream)).state.messages
            except Exception:
                return -1

        return self._run(count)

    def consumer_info(self, stream: str, durable: str) -> Any:
        async def info(nc: Any, js: Any) -> Any:
            return await js.consumer_info(stream, durable)

        return self._run(info)

    def publish(self, subject: str, payloads: list[bytes], ids: list[str] | None = None,
                stream: str | None = None) -> None:
        async def pub(nc: Any, js: Any) -> None:
            if stream is not None:
                from nats.js import api

                try:
                    await js.stream_info(stream)
                except Exception:
                    await js.add_stream(api.StreamConfig(name=stream, subjects=[subject]))
            for i, p in enumerate(payloads):
                headers = {"Nats-Msg-Id": ids[i]} if ids else None
                await js.publish(subject, p, headers=headers)

        self._run(pub)


def wait_for(predicate: Any, what: str, timeout: float = WAIT, interval: float = 0.05) -> Any:
    """Poll a state until it holds (never a timed assertion: the bound is generous)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
