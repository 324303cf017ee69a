"""Syslog output: RFC 5424 messages to the local socket, or over UDP or TCP.

Addresses (``--output syslog[:ADDR]``): nothing (the local ``/dev/log``), ``/path/to/socket``,
``udp://HOST:PORT``, ``tcp://HOST:PORT``, ``HOST:PORT`` (UDP). ``?facility=NAME`` picks the
facility (default ``auth``). TCP frames use octet counting (RFC 6587), the local socket and UDP
one message per datagram.

Severity comes from the signature: Tracee's 0 info, 1 low, 2 medium, 3 high map to syslog's
informational (6), notice (5), warning (4), critical (2). MSGID is the signature ID; MSG is the
finding in the output's format (Tracee JSON by default).
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import socket
import urllib.parse
from typing import IO

from memwarden.core.event import Finding
from memwarden.outputs.base import Delivery, Output, OutputKind, OutputSpecError, split_host_port
from memwarden.outputs.formats import FindingFormat
from memwarden.outputs.queued import QueuedOutput

DEFAULT_SOCKET = "/dev/log"
DEFAULT_PORT = 514
APP_NAME = "memwarden"

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21,
    "local6": 22, "local7": 23,
}

#: Tracee severity -> syslog severity
SYSLOG_SEVERITY = {0: 6, 1: 5, 2: 4, 3: 2}


def _printable(text: str, limit: int) -> str:
    """RFC 5424 header fields: printable US-ASCII, no spaces, bounded length, '-' if empty."""
    out = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    return out or "-"


class SyslogAddress:
    """A parsed ``syslog[:ADDR]`` target."""

    def __init__(self, spec: str) -> None:
        spec, _, query = spec.partition("?")
        params = urllib.parse.parse_qs(query, strict_parsing=False) if query else {}
        facility = params.get("facility", ["auth"])[-1]
        if facility not in FACILITIES:
            raise ValueError(f"unknown syslog facility {facility!r} "
                             f"(known: {', '.join(FACILITIES)})")
        self.facility = FACILITIES[facility]
        self.host = ""
        self.port = 0
        if not spec or spec.startswith("/"):
            self.transport = "unix"
            self.path = spec or DEFAULT_SOCKET
            return
        self.path = ""
        if spec.startswith(("udp://", "tcp://")):
            self.transport, rest = spec[:3], spec[6:]
        else:
            self.transport, rest = "udp", spec
        parts = split_host_port(rest if ":" in rest.rpartition("]")[2] else
                                f"{rest}:{DEFAULT_PORT}")
        host, port = parts if parts is not None else ("", "0")
        if not host or not 0 < int(port) < 65536:
            raise ValueError(f"syslog address {spec!r}: expected [udp://|tcp://]HOST:PORT "
                             f"or /path/to/socket")
        self.host, self.port = host, int(port)

    def __str__(self) -> str:
        if self.transport == "unix":
            return self.path
        return f"{self.transport}://{self.host}:{self.port}"


def rfc5424(finding: Finding, message: bytes, facility: int, hostname: str, procid: str,
            now: _dt.datetime | None = None) -> bytes:
    """One RFC 5424 message (no trailing newline): ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID
    - MSG``."""
    severity = SYSLOG_SEVERITY.get(finding.severity, 4)
    when = (now or _dt.datetime.now(_dt.UTC)).isoformat(timespec="microseconds")
    when = when.replace("+00:00", "Z")
    msgid = _printable(finding.metadata.id, 32)
    header = f"<{facility * 8 + severity}>1 {when} {hostname} {APP_NAME} {procid} {msgid} - "
    return header.encode() + message.rstrip(b"\n")


class SyslogTransport:
    def __init__(self, address: SyslogAddress, *, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self.hostname = _printable(socket.gethostname(), 255)
        self.procid = str(os.getpid())
        self._sock: socket.socket | None = None
        self._stream = False

    def _connect(self) -> socket.socket:
        a = self.address
        if a.transport == "unix":
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.settimeout(self.timeout)
                s.connect(a.path)
                self._stream = False
            except OSError as exc:
                s.close()
                if exc.errno != errno.EPROTOTYPE:
                    raise
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                s.connect(a.path)
                self._stream = True
            return s
        if a.transport == "udp":
            info = socket.getaddrinfo(a.host, a.port, type=socket.SOCK_DGRAM)[0]
            s = socket.socket(info[0], socket.SOCK_DGRAM)
            s.settimeout(self.timeout)
            s.connect(info[4])
            self._stream = False
            return s
        s = socket.create_connection((a.host, a.port), timeout=self.timeout)
        self._stream = True
        return s

    def send(self, payload: bytes, finding: Finding) -> None:
        message = rfc5424(finding, payload, self.address.facility, self.hostname, self.procid)
        try:
            sock = self._sock
            if sock is None:
                sock = self._sock = self._connect()
            if self._stream and self.address.transport == "unix":
                sock.sendall(message + b"\n")  # local stream sockets split on newlines
            elif self._stream:
                sock.sendall(b"%d %s" % (len(message), message))
            else:
                sock.send(message)
        except OSError as exc:
            self.close()
            raise OSError(f"syslog {self.address}: {exc}") from exc

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# -- the output kind (``syslog[:ADDR]``) ------------------------------------------------------

def _parse(spec: str, head: str, rest: str) -> str:
    try:
        SyslogAddress(rest)
    except ValueError as exc:
        raise OutputSpecError(f"output {spec!r}: {exc}") from None
    return rest


def _open(name: str, target: str, fmt: FindingFormat, delivery: Delivery,
          err: IO[str] | None) -> Output:
    transport = SyslogTransport(SyslogAddress(target), timeout=delivery.timeout)
    return QueuedOutput(name, "syslog", transport, fmt.render, queue_size=delivery.queue_size,
                        retries=delivery.retries, err=err)


KIND = OutputKind("syslog", ("syslog",), "syslog[:ADDR]", _parse,
                  lambda target: f"syslog:{target}" if target else "syslog", _open, bare=True)
