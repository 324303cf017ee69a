"""The NATS client in its own thread: nats-py is asyncio, the engine is synchronous.

:class:`LoopThread` runs one event loop in a daemon thread; synchronous code hands it
coroutines (:meth:`LoopThread.call` waits with a deadline, :meth:`LoopThread.submit` does not).
:class:`Link` is one connection on that loop: it keeps trying the first connect in the
background (a sensor must start while the server is down), lets nats-py reconnect after that,
and records the state and its changes for ``--stats`` and the metrics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ssl
import threading
import time
from collections.abc import Coroutine
from typing import Any

from memwarden.bus.address import NatsAddress, NatsOptions
from memwarden.core.threads import start_daemon

try:  # an optional dependency: pip install 'memwarden[nats]'
    import nats as _nats
    from nats.js import api as js_api
except ImportError:  # pragma: no cover - reported when a nats:// address is used
    _nats = None
    js_api = None


class NatsUnavailable(RuntimeError):
    """nats-py is not installed."""


def require_nats() -> None:
    if _nats is None:
        raise NatsUnavailable("nats:// needs the nats-py package: pip install 'memwarden[nats]'")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = start_daemon(threading.Thread(target=self._run, name=name))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop and wait for its result (``TimeoutError`` past the
        deadline, the coroutine cancelled)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout}s") from None

    def wake(self, callback: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed at shutdown
            self.loop.call_soon_threadsafe(callback)

    def stop(self, timeout: float = 2.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


class LinkStats:
    """Connection state and publish latency, read by ``--stats`` and the metrics."""

    def __init__(self) -> None:
        self.state = "connecting"  # connecting, connected, disconnected, closed
        self.connects = 0
        self.disconnects = 0
        self.reconnects = 0
        self.latency_count = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self._recent: list[float] = []  # the last 1024 publish round trips, for p99

    def observe(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum += seconds
        self.latency_max = max(self.latency_max, seconds)
        recent = self._recent
        recent.append(seconds)
        if len(recent) > 1024:
            del recent[:512]

    def p99(self) -> float | None:
        recent = sorted(self._recent)
        return recent[min(len(recent) - 1, int(len(recent) * 0.99))] if recent else None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"state": self.state, "connects": self.connects,
                             "disconnects": self.disconnects, "reconnects": self.reconnects}
        d["latency_sum"], d["latency_count"] = self.latency_sum, self.latency_count
        if self.latency_count:
            d["publish_mean_ms"] = round(self.latency_sum / self.latency_count * 1000, 3)
            p99 = self.p99()
            d["publish_p99_ms"] = round((p99 or 0.0) * 1000, 3)
        return d


def _tls_context(options: NatsOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=options.tls_ca or None)
    if options.tls_cert:
        ctx.load_cert_chain(options.tls_cert, options.tls_key or None)
    return ctx


def connect_kwargs(address: NatsAddress, options: NatsOptions) -> dict[str, Any]:
    """nats-py ``connect`` arguments for this address and these options (credentials from
    the options only)."""
    kw: dict[str, Any] = {
        "servers": address.server_urls(), "connect_timeout": max(1, int(options.connect_timeout)),
        "allow_reconnect": True, "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
        "name": "memwarden",
    }
    if address.tls or options.tls_ca or options.tls_cert:
        kw["tls"] = _tls_context(options)
    if options.token:
        kw["token"] = options.token
    if options.user:
        kw["user"] = options.user
        kw["password"] = options.password
    if options.creds:
        kw["user_credentials"] = options.creds
    if options.nkey:
        kw["nkeys_seed"] = options.nkey
    return kw


class Link:
    """One NATS connection on a :class:`LoopThread`; ``nc``/``js`` are None until the first
    connect succeeds. Every method is a coroutine run on the loop."""

    def __init__(self, address: NatsAddress, options: NatsOptions) -> None:
        require_nats()
        self.address = address
        self.options = options
        self.stats = LinkStats()
        self.nc: Any = None
        self.js: Any = None
        self.last_error = ""
        self._closing = False

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self, deadline: float | None = None) -> bool:
        """Try to connect until it works, ``deadline`` (monotonic) passes or :meth:`close`."""
        delay = 0.1
        while not self._closing:
            try:
                nc = await _nats.connect(**connect_kwargs(self.address, self.options),
                                         disconnected_cb=self._on_disconnected,
                                         reconnected_cb=self._on_reconnected,
                                         closed_cb=self._on_closed, error_cb=self._on_error)
            except Exception as exc:  # refused, timeout, TLS, auth: keep trying
                self.last_error = f"{type(exc).__name__}: {exc}"
                if deadline is not None and time.monotonic() + delay > deadline:
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self.nc, self.js = nc, nc.jetstream()
            self.stats.state = "connected"
            self.stats.connects += 1
            return True
        return False

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        if self.stats.state == "connected":
            self.stats.disconnects += 1
        self.stats.state = "disconnected"

    async def _on_reconnected(self) -> None:
        self.stats.state = "connected"
        self.stats.reconnects += 1

    async def _on_closed(self) -> None:
        self.stats.state = "closed"

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"

    async def ensure_stream(self, name: str, subject: str) -> None:
        """The stream exists and captures ``subject`` (created with the address's and
        options' retention, age and duplicate window; an existing stream gains the subject)."""
        js = self.js
        try:
            info = await js.stream_info(name)
        except _nats.js.errors.NotFoundError:
            a, o = self.address, self.options
            config = js_api.StreamConfig(
                name=name, subjects=[subject],
                retention=js_api.RetentionPolicy(a.text("retention", o.retention)),
                storage=js_api.StorageType.FILE,
                max_age=a.seconds("max_age", o.max_age),
                duplicate_window=a.seconds("duplicate_window", o.duplicate_window))
            with contextlib.suppress(_nats.js.errors.BadRequestError):  # a racing creator
                await js.add_stream(config)
            return
        subjects = list(info.config.subjects or [])
        if subject not in subjects and not any(_covers(s, subject) for s in subjects):
            info.config.subjects = [*subjects, subject]
            await js.update_stream(info.config)

    async def close(self) -> None:
        self._closing = True
        if self.nc is not None and not self.nc.is_closed:
            # flush (acks, publishes on the wire), no drain: a pull subscription's drain
            # waits on its pending queue, and nothing of ours is left in it
            with contextlib.suppress(Exception):
                await self.nc.flush(2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 2.0)
        self.stats.state = "closed"


def _covers(pattern: str, subject: str) -> bool:
    """Does the subject filter ``pattern`` capture every subject ``subject`` captures?"""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]) or (tok == "*" and s[i] == ">"):
            return False
    return len(p) == len(s)
