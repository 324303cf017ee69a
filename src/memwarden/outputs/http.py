"""HTTP(S) output: one POST per finding, JSON body, on a kept-alive connection.

With ``--format falco`` the body is Falco's JSON alert, which is what Falco's ``http_output``
posts and what falcosidekick accepts on ``/``. ``bearer_token`` (config: an output's
``bearer_token``/``bearer_token_env``) is sent as ``Authorization: Bearer TOKEN``, as the findings
console (``memwarden ui``) and most collectors expect; it replaces credentials in the URL.
Any 2xx answer is a delivery; anything else, a timeout or a connection error is a failed attempt
(the queue retries it).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from typing import IO

from memwarden import __version__
from memwarden.core.event import Finding
from memwarden.outputs.base import Delivery, Output, OutputKind, OutputSpecError
from memwarden.outputs.formats import FindingFormat
from memwarden.outputs.queued import QueuedOutput

DEFAULT_TIMEOUT = 5.0


class HttpError(OSError):
    """The receiver answered with a non-2xx status."""


class HttpTransport:
    def __init__(self, url: str, *, content_type: str = "application/json",
                 timeout: float = DEFAULT_TIMEOUT, verify_tls: bool = True,
                 bearer_token: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r}: expected http://HOST[:PORT]/PATH or https://...")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.headers = {"Content-Type": content_type, "User-Agent": f"memwarden/{__version__}"}
        if parts.username is not None:
            import base64

            cred = f"{urllib.parse.unquote(parts.username)}:" \
                   f"{urllib.parse.unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        if bearer_token:
            if any(c in bearer_token for c in "\r\n"):
                raise ValueError(f"{url!r}: the bearer token holds a line break")
            self.headers["Authorization"] = f"Bearer {bearer_token}"
        self._context = None
        if self.scheme == "https":
            self._context = ssl.create_default_context()
            if not verify_tls:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def send(self, payload: bytes, finding: Finding) -> None:
        body = payload.rstrip(b"\n")
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        try:
            conn.request("POST", self.path, body=body, headers=self.headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # reconnect on the next attempt
            raise OSError(f"{self.url}: {exc or type(exc).__name__}") from exc
        if resp.will_close:
            self.close()
        if not 200 <= resp.status < 300:
            raise HttpError(f"{self.url}: HTTP {resp.status} {resp.reason}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- the output kind (``http(s)://URL``, also written ``http:http://URL``) ---------------------

def _parse(spec: str, head: str, rest: str) -> str:
    url = rest if rest.startswith(("http://", "https://")) else spec
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise OutputSpecError(f"output {spec!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            not c.isprintable() or c.isspace() for c in url):
        raise OutputSpecError(f"output {spec!r}: expected http://HOST[:PORT]/PATH or "
                              f"https://HOST[:PORT]/PATH")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise OutputSpecError(f"output {spec!r}: {exc}") from None
    return url


def _open(name: str, target: str, fmt: FindingFormat, delivery: Delivery,
          err: IO[str] | None) -> Output:
    transport = HttpTransport(target, content_type=fmt.content_type, timeout=delivery.timeout,
                              bearer_token=delivery.bearer_token)
    return QueuedOutput(name, "http", transport, fmt.render, queue_size=delivery.queue_size,
                        retries=delivery.retries, err=err)


KIND = OutputKind("http", ("http", "https"), "http(s)://URL", _parse, lambda target: target,
                  _open)
