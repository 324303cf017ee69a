"""What every output kind shares: the :class:`Output` protocol, the delivery options of the
network outputs, the spec error, and :class:`OutputKind`, the descriptor by which a kind module
tells the registry (:mod:`memwarden.outputs.registry`) how its specs read, print and open.

Kept apart from the registry so that the kind modules can import it without importing each
other or the registry (which imports them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

from memwarden.bus.address import NatsOptions
from memwarden.core.event import Finding
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.formats import FORMATS, FindingFormat


def split_host_port(text: str) -> tuple[str, str] | None:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` as (host, port digits); None when it is not
    one (no port, a port that is not ASCII digits in 0-65535, a bare IPv6 address, unbalanced
    brackets, a bracketed host that is not an IPv6 address). Shared by every address option,
    so that each refuses the same way."""
    import ipaddress

    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        return None
    if host.startswith("[") or host.endswith("]"):
        if not (host.startswith("[") and host.endswith("]")):
            return None
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    elif ":" in host or any(not c.isprintable() or c.isspace() for c in host):
        return None
    return host, port


class OutputSpecError(ValueError):
    """An output spec cannot be understood; the message names the spec and what is wrong."""


@dataclass
class Delivery:
    """How the queued (network) outputs deliver: config ``delivery:``."""

    queue_size: int = 1000  # findings waiting per output before drops
    retries: int = 3  # attempts after the first failure
    timeout: float = 5.0  # seconds per attempt
    flush_timeout: float = 5.0  # seconds to flush at exit
    #: sent by an HTTP output as ``Authorization: Bearer`` (per output: see open_outputs)
    bearer_token: str | None = field(default=None, repr=False)
    nats: NatsOptions = field(default_factory=NatsOptions)  # config nats: (credentials, buffer)
    file_mode: int = 0o600  # file outputs: the mode a created file gets (config file_mode)


class Output(Protocol):
    name: str
    counters: OutputCounters

    def __call__(self, finding: Finding) -> None: ...

    def reopen(self) -> None: ...

    def close(self, timeout: float = 5.0) -> None: ...


def find_format(fmt: str | FindingFormat) -> FindingFormat:
    """The format of that name; raises :class:`OutputSpecError` for an unknown one."""
    if isinstance(fmt, FindingFormat):
        return fmt
    try:
        return FORMATS[fmt]
    except KeyError:
        raise OutputSpecError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})") from None


#: (spec without its FORMAT: prefix, the word before ':', what follows ':') -> target
ParseTarget = Callable[[str, str, str], str]
#: (output name, target, format, delivery options, where warnings go) -> the opened output
OpenOutput = Callable[[str, str, FindingFormat, Delivery, "IO[str] | None"], Output]


@dataclass(frozen=True, slots=True)
class OutputKind:
    """One kind of output, as the registry sees it."""

    name: str  # stdout, file, syslog, http: OutputSpec.kind and the counters' kind label
    schemes: tuple[str, ...]  # the words before ':' that name it (http, https)
    usage: str  # how a spec of it is written, for messages: syslog[:ADDR]
    parse: ParseTarget  # raises OutputSpecError
    text: Callable[[str], str]  # target -> the spec as written back (config show, counters)
    open: OpenOutput  # raises OSError when it cannot be opened
    bare: bool = False  # the scheme alone is a spec (stdout, syslog)
    with_target: bool = True  # 'scheme:TARGET' is a spec
    aliases: tuple[str, ...] = ()  # whole specs that also mean it ('-' for stdout)
    plain_paths: bool = False  # takes a spec no kind claims (a plain path: file)
