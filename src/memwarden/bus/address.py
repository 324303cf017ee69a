"""NATS addresses (``nats://HOST:PORT/SUBJECT?k=v``, ``nats+tls://…``) and the ``nats:`` section
of the config file.

Secrets (token, user/password, a ``.creds`` file, an nkey seed) are config keys only, never
part of the address: an address is printed in ``--stats``, counters and ``config show``, and a
command line is visible to every user of the host (``/proc/PID/cmdline``). An address carrying
``user:password@`` is refused for that reason.

Query parameters (all optional; the config's ``nats:`` keys are the defaults):

- ``stream=NAME``: the JetStream stream (created if absent; default: the subject's first token
  in capitals, ``findings`` -> ``FINDINGS``);
- ``retention=limits|interest|workqueue``, ``max_age=SECONDS``, ``duplicate_window=SECONDS``:
  the stream's settings when it is created;
- ``subjects=priority|flat`` (outputs): ``SUBJECT.<priority>.<signature>`` (the default, like
  falcosidekick's ``falco.<priority>.<rule>``) or ``SUBJECT`` itself;
- ``durable=NAME``, ``ack_wait=2s``, ``batch=N``, ``max_deliver=N`` (consumers).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMES = ("nats", "nats+tls")
DEFAULT_PORT = 4222
RETENTIONS = ("limits", "interest", "workqueue")
SUBJECT_MODES = ("priority", "flat")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")
_FILTER_TOKEN = re.compile(r"^([A-Za-z0-9_\-]+|\*|>)$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_PARAMS = ("stream", "retention", "max_age", "duplicate_window", "subjects", "durable",
           "ack_wait", "batch", "max_deliver", "partitions", "partition")
MAX_PARTITIONS = 1024


class NatsAddressError(ValueError):
    """A NATS address or ``nats:`` config value is not understood; the message says why."""


def is_nats_url(text: str) -> bool:
    return isinstance(text, str) and text.split("://", 1)[0] in SCHEMES and "://" in text


def duration(text: str, what: str) -> float:
    """``2s``, ``500ms``, ``1m`` or a plain number of seconds."""
    t = text.strip()
    scale = 1.0
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], factor
            break
    try:
        value = float(t) * scale
    except ValueError:
        raise NatsAddressError(f"{what}: {text!r} is not a duration (2s, 500ms, 1m)") from None
    if value < 0:
        raise NatsAddressError(f"{what}: must not be negative, got {text!r}")
    return value


def sanitize_token(text: str) -> str:
    """A subject token from free text (a signature id or a Falco rule name)."""
    out = re.sub(r"[^A-Za-z0-9_\-]", "_", text)
    return out or "_"


def partition_of(token: str, partitions: int) -> int:
    """The partition of a subject token: FNV-1a (32 bits) of its bytes modulo ``partitions``,
    the hash of NATS's own ``{{partition(N,1)}}`` subject mapping (nats-server 2.8+), so a
    server mapping ``SUBJECT.*`` -> ``SUBJECT.{{partition(N,1)}}.{{wildcard(1)}}`` files a
    host's events under the same partition as ``record …?partitions=N`` does."""
    h = 0x811C9DC5
    for byte in token.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def parse_partition(text: str, what: str) -> tuple[int, int]:
    """``K/N`` (0 <= K < N <= MAX_PARTITIONS) -> (K, N)."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n) <= MAX_PARTITIONS):
        raise NatsAddressError(f"{what}: partition {text!r}: expected K/N with 0 <= K < N <= "
                               f"{MAX_PARTITIONS} (e.g. 0/2)")
    return int(k), int(n)


@dataclass(frozen=True)
class NatsAddress:
    """One parsed address; :meth:`__str__` writes it back (without secrets: it has none)."""

    tls: bool
    servers: tuple[str, ...]  # host:port, possibly several (host1:4222,host2:4222)
    subject: str
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=True)

    @classmethod
    def parse(cls, text: str) -> NatsAddress:
        if not is_nats_url(text):
            raise NatsAddressError(f"{text!r}: expected nats://HOST[:PORT]/SUBJECT or "
                                   f"nats+tls://HOST[:PORT]/SUBJECT")
        scheme, rest = text.split("://", 1)
        netloc, _, tail = rest.partition("/")
        path, _, query = tail.partition("?")
        if "@" in netloc:
            raise NatsAddressError(f"{text!r}: credentials do not go in the address (it is "
                                   f"printed and visible in the process list): set nats.token, "
                                   f"nats.user/password, nats.creds or nats.nkey in the config")
        servers = []
        for part in netloc.split(","):
            host, sep, port = part.rpartition(":")
            if not sep:
                host, port = part, str(DEFAULT_PORT)
            host = host.strip("[]")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise NatsAddressError(f"{text!r}: bad server {part!r} (expected HOST[:PORT])")
            servers.append(f"{host}:{int(port)}")
        subject = urllib.parse.unquote(path).strip("/")
        if not subject:
            raise NatsAddressError(f"{text!r}: no subject (nats://HOST:PORT/SUBJECT)")
        tokens = subject.split(".")
        if not all(_FILTER_TOKEN.match(t) for t in tokens) or ">" in tokens[:-1]:
            raise NatsAddressError(f"{text!r}: subject {subject!r}: tokens of letters, digits, "
                                   f"'_' or '-', separated by '.' ('*' and a final '>' only "
                                   f"to consume)")
        params: dict[str, str] = {}
        for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
            if key not in _PARAMS:
                raise NatsAddressError(f"{text!r}: unknown parameter {key!r} "
                                       f"(known: {', '.join(_PARAMS)})")
            params[key] = values[-1]
        address = cls(scheme == "nats+tls", tuple(servers), subject, params)
        address.check()
        return address

    def check(self) -> None:
        p = self.params
        if "stream" in p and not _NAME.match(p["stream"]):
            raise NatsAddressError(f"{self}: stream {p['stream']!r}: letters, digits, '_', '-'")
        if "durable" in p and not _NAME.match(p["durable"]):
            raise NatsAddressError(f"{self}: durable {p['durable']!r}: letters, digits, '_', "
                                   f"'-'")
        if "retention" in p and p["retention"] not in RETENTIONS:
            raise NatsAddressError(f"{self}: retention {p['retention']!r} is not one of "
                                   f"{', '.join(RETENTIONS)}")
        if "subjects" in p and p["subjects"] not in SUBJECT_MODES:
            raise NatsAddressError(f"{self}: subjects {p['subjects']!r} is not one of "
                                   f"{', '.join(SUBJECT_MODES)}")
        for key in ("max_age", "duplicate_window", "ack_wait"):
            if key in p:
                duration(p[key], f"{self}: {key}")
        if "partitions" in p and not (p["partitions"].isdigit()
                                      and 1 <= int(p["partitions"]) <= MAX_PARTITIONS):
            raise NatsAddressError(f"{self}: partitions {p['partitions']!r}: expected 1 to "
                                   f"{MAX_PARTITIONS}")
        if "partition" in p:
            parse_partition(p["partition"], str(self))
        for key in ("batch", "max_deliver"):
            if key in p and not (p[key].lstrip("-").isdigit() and int(p[key]) != 0
                                 and (int(p[key]) > 0 or key == "max_deliver")):
                raise NatsAddressError(f"{self}: {key} {p[key]!r}: expected a positive integer")

    @property
    def publish_subject_is_literal(self) -> bool:
        return all(_TOKEN.match(t) for t in self.subject.split("."))

    def server_urls(self) -> list[str]:
        scheme = "tls" if self.tls else "nats"
        return [f"{scheme}://{s}" for s in self.servers]

    def stream_name(self, options: NatsOptions) -> str:
        if "stream" in self.params:
            return self.params["stream"]
        if options.stream:
            return options.stream
        return sanitize_token(self.subject.split(".")[0]).upper()

    def seconds(self, key: str, default: float) -> float:
        return duration(self.params[key], key) if key in self.params else default

    def integer(self, key: str, default: int) -> int:
        return int(self.params[key]) if key in self.params else default

    def text(self, key: str, default: str) -> str:
        return self.params.get(key, default)

    def __str__(self) -> str:
        scheme = "nats+tls" if self.tls else "nats"
        query = f"?{urllib.parse.urlencode(self.params)}" if self.params else ""
        return f"{scheme}://{','.join(self.servers)}/{self.subject}{query}"


@dataclass
class NatsOptions:
    """The config file's ``nats:`` section: credentials, TLS files, stream defaults, the
    on-disk buffer. Every key is optional."""

    token: str = ""  # a token (server authorization.token)
    user: str = ""
    password: str = ""
    creds: str = ""  # a .creds file (JWT + nkey seed; needs the 'nkeys' package)
    nkey: str = ""  # an nkey seed file (needs the 'nkeys' package)
    tls_ca: str = ""  # CA bundle for nats+tls:// (default: the system's)
    tls_cert: str = ""  # client certificate (mutual TLS)
    tls_key: str = ""
    stream: str = ""  # default stream name (else derived from the subject)
    retention: str = "limits"
    max_age: float = 0.0  # seconds, 0 = unlimited
    duplicate_window: float = 120.0  # seconds the server remembers message ids
    ack_wait: float = 30.0  # consumers: seconds before an unacked message is redelivered
    batch: int = 64  # consumers: messages per fetch; record: events per message
    connect_timeout: float = 2.0
    buffer_dir: str = "/var/lib/memwarden/nats"  # the on-disk buffer while the server is down
    buffer_max_mb: float = 64.0

    KEYS = ("token", "user", "password", "creds", "nkey", "tls_ca", "tls_cert", "tls_key",
            "stream", "retention", "max_age", "duplicate_window", "ack_wait", "batch",
            "connect_timeout", "buffer_dir", "buffer_max_mb")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> NatsOptions:
        """Validate the ``nats:`` mapping; raises :class:`NatsAddressError` ``'KEY: what'``."""
        o = cls()
        types = {f.name: f.type for f in fields(cls)}
        for key, value in data.items():
            if key not in cls.KEYS:
                raise NatsAddressError(f"{key}: unknown key (known: {', '.join(cls.KEYS)})")
            kind = types[key]
            if kind == "str":
                if not isinstance(value, str):
                    raise NatsAddressError(f"{key}: expected a string, got {value!r}")
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise NatsAddressError(f"{key}: expected a positive integer, got {value!r}")
            else:
                if isinstance(value, str):
                    value = duration(value, key)
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise NatsAddressError(f"{key}: expected a number >= 0, got {value!r}")
                value = float(value)
            setattr(o, key, value)
        if o.retention not in RETENTIONS:
            raise NatsAddressError(f"retention: {o.retention!r} is not one of "
                                   f"{', '.join(RETENTIONS)}")
        if o.stream and not _NAME.match(o.stream):
            raise NatsAddressError(f"stream: {o.stream!r}: letters, digits, '_', '-'")
        return o

    def as_dict(self, *, redact: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if redact:
            for key in ("token", "password"):
                if d[key]:
                    d[key] = "<redacted>"
        return d
