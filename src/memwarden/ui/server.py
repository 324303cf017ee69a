"""The findings console's HTTP server (``memwarden ui``).

Why aiohttp: the console holds long-lived server-sent-event streams open (one per browser tab)
while sensors POST findings and the page queries the store. An asyncio server does that on one
thread without a thread per open stream, has a real HTTP/1.1 parser (keep-alive, chunked bodies,
slow clients, timeouts) and streaming responses for the export, and is one well-kept library with
a handful of small dependencies. The stdlib ``ThreadingHTTPServer`` would need a thread per
stream, its own keep-alive and timeout care, and no protection against slow-loris clients;
starlette + uvicorn would do the job as well but is two projects (plus anyio, h11) for the same
result.

Routes::

    GET  /                       the page (static/index.html); filters are query parameters
    GET  /static/FILE            the front end (no CDN: everything ships in the package)
    POST /ingest                 findings (ingest.py: Tracee, Tracee v1beta1, Falco alert)
    GET  /api/findings           the newest findings matching the filters (filters.py)
    GET  /api/findings/ID        one finding with its detail and raw body
    GET  /api/counts?group=G     counts over time by signature|severity|host|container|image
    GET  /api/export             the filtered set as JSON lines (the bodies as received)
    GET  /api/stream             server-sent events: each new finding matching the filters
    GET  /api/signatures/NAME    a built-in signature's manual page (markdown text)
    GET  /api/stats              counters (ingest accepted/refused by reason, store, streams)
    GET  /healthz                "ok" (no token needed)
    POST /login                  the page's sign-in form (token -> session cookie)

Security: with a token configured (``--token-file``, config ``ui.token``, or
``MEMWARDEN_UI_TOKEN``), ``/ingest`` needs ``Authorization: Bearer TOKEN`` and the page and API
need the bearer header or the session cookie that ``/login`` sets (HttpOnly, SameSite=Strict,
an HMAC of the token, not the token). Without a token the console only binds to loopback (the
command refuses otherwise), and then checks the ``Host`` header (a DNS-rebinding page cannot
read it) and refuses ``/ingest`` requests that carry an ``Origin`` (a web page cannot post
findings through the browser). Every response carries a strict Content-Security-Policy (self
only, no inline script); the page renders finding text with ``textContent`` only.

Limits on ``/ingest``, each refusal counted in ``/api/stats``: a body size limit (413), a token
bucket rate limit over requests (429 with Retry-After), unreadable bodies (400), a wrong or
missing token (401).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import IO, Any

import orjson
from aiohttp import web

from memwarden.ui.filters import MAX_EXPORT, FilterError, Filters, parse_filters
from memwarden.ui.ingest import IngestError, Record, parse_body
from memwarden.ui.storage import GROUPS, Store

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_RATE = 200.0  # ingest requests per second, sustained
DEFAULT_BURST = 1000
HEARTBEAT_S = 15.0
COOKIE = "memwarden_ui"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml", ".png": "image/png"}
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ConsoleConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    db: str = ":memory:"
    max_age_s: float = 7 * 86400
    max_bytes: int = 256 * 1024 * 1024
    max_body: int = DEFAULT_MAX_BODY
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    follow: list[str] = field(default_factory=list)


class Counters:
    """What ``/api/stats`` shows; every refusal by its reason."""

    NAMES = ("ingest_requests", "ingested", "refused_unauthorized", "refused_too_large",
             "refused_rate_limited", "refused_malformed", "refused_origin", "refused_host",
             "followed_lines", "followed_malformed")

    def __init__(self) -> None:
        for name in self.NAMES:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.NAMES}


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Hub:
    """Fans new findings out to the open event streams; a stream that falls too far behind is
    closed (the browser reconnects and reloads the list)."""

    def __init__(self) -> None:
        self.streams: set[asyncio.Queue[Any]] = set()
        self.lagged = 0

    def publish(self, rows: list[dict[str, Any]]) -> None:
        for q in list(self.streams):
            for row in rows:
                try:
                    q.put_nowait(row)
                except asyncio.QueueFull:
                    self.streams.discard(q)
                    self.lagged += 1
                    with contextlib.suppress(asyncio.QueueFull):
                        q.get_nowait()
                        q.put_nowait(None)
                    break

    def close(self) -> None:
        for q in list(self.streams):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        self.streams.clear()


def matches(f: Filters, row: dict[str, Any]) -> bool:
    """The filters' SQL condition, in Python, for the live stream."""
    if f.signatures and row["signature"] not in f.signatures:
        return False
    if f.severities and row["severity"] not in f.severities:
        return False
    if f.host and row["host"] != f.host:
        return False
    if f.container and not (row["container_id"].startswith(f.container)
                            or row["container_name"] == f.container):
        return False
    if f.image and not row["image"].startswith(f.image):
        return False
    if f.process and row["process"] != f.process:
        return False
    if f.since is not None and row["ts"] < f.since:
        return False
    return not (f.until is not None and row["ts"] > f.until)


def _static(name: str) -> bytes:
    return resources.files("memwarden.ui").joinpath("static", name).read_bytes()


class Console:
    """The console's state and handlers; :meth:`app` builds the aiohttp application."""

    def __init__(self, config: ConsoleConfig, store: Store | None = None,
                 err: IO[str] | None = None) -> None:
        self.config = config
        self.store = store if store is not None else Store(
            config.db, max_age_s=config.max_age_s, max_bytes=config.max_bytes)
        self.counters = Counters()
        self.bucket = TokenBucket(config.rate, config.burst)
        self.hub = Hub()
        self.err = err if err is not None else sys.stderr
        self.started = time.time()
        token = config.token
        self._token = token.encode() if token else None
        self._session = (hmac.new(self._token, b"memwarden-ui-session", hashlib.sha256)
                         .hexdigest() if self._token else None)
        self._allowed_hosts = {"localhost", "127.0.0.1", "::1", "[::1]", config.host,
                               f"[{config.host}]"}
        self._tasks: list[asyncio.Task[Any]] = []

    # -- ingest, from any source ----------------------------------------------------------------

    def ingest(self, records: list[Record]) -> list[dict[str, Any]]:
        rows = self.store.add(records)
        self.counters.ingested += len(rows)
        self.hub.publish(rows)
        return rows

    # -- auth -----------------------------------------------------------------------------------

    def _bearer_ok(self, request: web.Request) -> bool:
        assert self._token is not None
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                                  self._token)

    def _reader_ok(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        if self._bearer_ok(request):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self._session or "")

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._token is None:
            host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").endswith(
                "]") else request.host
            if host not in self._allowed_hosts and not is_loopback(host):
                self.counters.refused_host += 1
                raise web.HTTPMisdirectedRequest(text="memwarden ui: unexpected Host header\n")
        path = request.path
        open_paths = ("/healthz", "/login", "/ingest")
        if not path.startswith("/static/") and path not in open_paths \
                and not self._reader_ok(request):
            if path.startswith("/api/"):
                raise web.HTTPUnauthorized(text="memwarden ui: token needed (Authorization: "
                                                "Bearer, or sign in on the page)\n",
                                           headers={"WWW-Authenticate": "Bearer"})
            return _html(_static("login.html"), status=401)
        return await handler(request)

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
            _secure(resp)
            raise
        _secure(resp)
        return resp

    # -- handlers -------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        return _html(_static("index.html"))

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        suffix = name[name.rfind("."):] if "." in name else ""
        if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES:
            raise web.HTTPNotFound()
        try:
            body = _static(name)
        except (FileNotFoundError, IsADirectoryError):
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type=_STATIC_TYPES[suffix],
                            headers={"Cache-Control": "no-cache"})

    async def login(self, request: web.Request) -> web.StreamResponse:
        if self._token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        token = str(form.get("token", "")).encode()
        if not hmac.compare_digest(token, self._token):
            self.counters.refused_unauthorized += 1
            return _html(_static("login.html"), status=401)
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(COOKIE, self._session or "", httponly=True, samesite="Strict",
                        path="/", secure=request.secure)
        raise resp

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def post_ingest(self, request: web.Request) -> web.StreamResponse:
        c = self.counters
        c.ingest_requests += 1
        if self._token is not None and not self._bearer_ok(request):
            c.refused_unauthorized += 1
            raise web.HTTPUnauthorized(text="memwarden ui: /ingest needs Authorization: Bearer "
                                            "TOKEN\n", headers={"WWW-Authenticate": "Bearer"})
        if self._token is None and "Origin" in request.headers:
            c.refused_origin += 1
            raise web.HTTPForbidden(text="memwarden ui: /ingest does not take requests from web "
                                         "pages (Origin header)\n")
        if not self.bucket.take():
            c.refused_rate_limited += 1
            raise web.HTTPTooManyRequests(text="memwarden ui: too many ingest requests\n",
                                          headers={"Retry-After": "1"})
        limit = self.config.max_body
        if request.content_length is not None and request.content_length > limit:
            c.refused_too_large += 1
            raise web.HTTPRequestEntityTooLarge(max_size=limit,
                                                actual_size=request.content_length)
        body = bytearray()
        async for chunk in request.content.iter_chunked(65536):
            body += chunk
            if len(body) > limit:
                c.refused_too_large += 1
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        try:
            records = parse_body(bytes(body))
        except IngestError as exc:
            c.refused_malformed += 1
            raise web.HTTPBadRequest(text=f"memwarden ui: {exc}\n") from None
        rows = self.ingest(records)
        return web.json_response({"accepted": len(rows), "ids": [r["id"] for r in rows]},
                                 dumps=_dumps)

    def _filters(self, request: web.Request, max_limit: int | None = None) -> Filters:
        try:
            if max_limit is None:
                return parse_filters(request.query)
            return parse_filters(request.query, max_limit=max_limit)
        except FilterError as exc:
            raise web.HTTPBadRequest(text=f"memwarden ui: {exc}\n") from None

    async def findings(self, request: web.Request) -> web.StreamResponse:
        f = self._filters(request)
        rows = self.store.list(f)
        return web.json_response({"findings": rows, "total": self.store.count(f),
                                  "filters": f.query()}, dumps=_dumps)

    async def finding(self, request: web.Request) -> web.StreamResponse:
        try:
            fid = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        row = self.store.get(fid)
        if row is None:
            raise web.HTTPNotFound(text="memwarden ui: no such finding (retention may have "
                                        "removed it)\n")
        return web.json_response(row, dumps=_dumps)

    async def counts(self, request: web.Request) -> web.StreamResponse:
        group = request.query.get("group", "severity")
        if group not in GROUPS:
            raise web.HTTPBadRequest(text=f"memwarden ui: group: one of {', '.join(GROUPS)}\n")
        return web.json_response(self.store.counts(self._filters(request), group),
                                 dumps=_dumps)

    async def export(self, request: web.Request) -> web.StreamResponse:
        f = self._filters(request, MAX_EXPORT)
        if "limit" not in request.query:
            f.limit = MAX_EXPORT
        resp = web.StreamResponse(headers={
            "Content-Type": "application/x-ndjson",
            "Content-Disposition": 'attachment; filename="memwarden-findings.jsonl"'})
        await resp.prepare(request)
        for line in self.store.raw(f):
            await resp.write(line)
        await resp.write_eof()
        return resp

    async def stream(self, request: web.Request) -> web.StreamResponse:
        f = self._filters(request)
        q: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)
        self.hub.streams.add(q)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        try:
            await resp.prepare(request)
            await resp.write(b"retry: 1000\n: connected\n\n")
            while True:
                try:
                    row = await asyncio.wait_for(q.get(), HEARTBEAT_S)
                except TimeoutError:
                    await resp.write(b": ping\n\n")
                    continue
                if row is None:
                    break
                if matches(f, row):
                    await resp.write(b"event: finding\nid: %d\ndata: %s\n\n"
                                     % (row["id"], _dumps_b(row)))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.streams.discard(q)
        return resp

    async def signature_page(self, request: web.Request) -> web.StreamResponse:
        from memwarden.signatures import UnknownSignatureError, find_signature
        from memwarden.signatures.lib.docs import render

        try:
            cls = find_signature(request.match_info["name"])
        except UnknownSignatureError:
            raise web.HTTPNotFound(text="memwarden ui: not a built-in signature\n") from None
        return web.Response(text=render(cls), content_type="text/markdown")

    async def stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "counters": self.counters.as_dict(),
            "store": {"findings": self.store.count(), "used_bytes": self.store.used_bytes(),
                      "pruned": self.store.pruned, "max_bytes": self.store.max_bytes,
                      "max_age_s": self.store.max_age_s},
            "streams": {"open": len(self.hub.streams), "lagged": self.hub.lagged},
            "auth": self._token is not None,
            "uptime_s": round(time.time() - self.started, 1),
        }, dumps=_dumps)

    # -- application ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        # aiohttp's own limit is a backstop; post_ingest counts and answers before it applies
        app = web.Application(middlewares=[self._headers, self._guard],
                              client_max_size=self.config.max_body + 65536)
        app.add_routes([
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.post("/login", self.login),
            web.get("/healthz", self.healthz),
            web.post("/ingest", self.post_ingest),
            web.get("/api/findings", self.findings),
            web.get("/api/findings/{id}", self.finding),
            web.get("/api/counts", self.counts),
            web.get("/api/export", self.export),
            web.get("/api/stream", self.stream),
            web.get("/api/signatures/{name}", self.signature_page),
            web.get("/api/stats", self.stats),
        ])
        app.on_startup.append(self._start_followers)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _start_followers(self, app: web.Application) -> None:
        from memwarden.ui.follow import follow_file

        for path in self.config.follow:
            self._tasks.append(asyncio.create_task(follow_file(self, path)))

    async def _shutdown(self, app: web.Application) -> None:
        self.hub.close()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def _secure(resp: web.StreamResponse) -> None:
    h = resp.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cache-Control", "no-store")


def _html(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="text/html", charset="utf-8")


def _dumps_b(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def serve(console: Console, *, ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM when run by :func:`run`)."""
    runner = web.AppRunner(console.app(), access_log=None, shutdown_timeout=2.0,
                           handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, console.config.host, console.config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    url_host = f"[{host}]" if ":" in host else host
    if ready is not None:
        ready(f"http://{url_host}:{port}/")
    stop = stop or asyncio.Event()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        console.store.close()


def run(console: Console, ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(console, ready=ready, stop=stop)

    asyncio.run(main())
