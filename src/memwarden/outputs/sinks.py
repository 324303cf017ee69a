"""Where findings go: any number of outputs at once, each with its own format.

Output specs (``--output``, repeatable; config ``outputs``):

- ``stdout`` (or ``-``): standard output;
- ``file:PATH`` or a plain ``PATH``: append to a file, reopened on reload (SIGHUP, logrotate);
- ``syslog[:ADDR]``: RFC 5424 syslog (see :mod:`memwarden.outputs.syslog` for ADDR);
- ``http://URL``, ``https://URL`` (also written ``http:http://URL``): one POST per finding.

Any spec may start with ``FORMAT:`` (``falco:http://...``, ``table:stdout``) to pick its own
format; the others use the command's ``--format``. stdout and files are written synchronously
(fast, local); syslog and HTTP go through a bounded queue drained by a thread
(:mod:`memwarden.outputs.queued`), so a slow receiver never stalls detection.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from memwarden.core.event import Finding
from memwarden.outputs.counters import OutputCounters
from memwarden.outputs.formats import FORMATS, TABLE_HEADER

#: format names a spec may start with (``falco`` is listed even before its module loads, so
#: that a spec is parsed the same way whatever is installed)
FORMAT_PREFIXES = ("tracee", "falco", "table")


class OutputSpecError(ValueError):
    """An output spec cannot be understood; the message names the spec and what is wrong."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    kind: str  # stdout, file, syslog, http
    target: str  # path, syslog address, URL ("" for stdout)
    format: str | None = None  # None: the command's --format

    def __str__(self) -> str:
        text = {"stdout": "stdout", "file": f"file:{self.target}",
                "syslog": f"syslog:{self.target}" if self.target else "syslog",
                "http": self.target}[self.kind]
        return f"{self.format}:{text}" if self.format else text


def parse_output(spec: str) -> OutputSpec:
    """Parse one output spec; raises :class:`OutputSpecError`."""
    if not isinstance(spec, str) or not spec:
        raise OutputSpecError(f"output {spec!r}: expected stdout, file:PATH, syslog[:ADDR] or "
                              f"http(s)://URL")
    fmt = None
    head, sep, rest = spec.partition(":")
    if sep and head in FORMAT_PREFIXES:
        fmt, spec = head, rest
        head, sep, rest = spec.partition(":")
    if spec in ("-", "stdout"):
        return OutputSpec("stdout", "", fmt)
    if head == "file" and sep:
        if not rest:
            raise OutputSpecError(f"output {spec!r}: file: needs a path")
        return OutputSpec("file", rest, fmt)
    if head == "syslog":
        from memwarden.outputs.syslog import SyslogAddress

        try:
            SyslogAddress(rest)
        except ValueError as exc:
            raise OutputSpecError(f"output {spec!r}: {exc}") from None
        return OutputSpec("syslog", rest, fmt)
    if head in ("http", "https") and sep:
        url = rest if rest.startswith(("http://", "https://")) else spec
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutputSpecError(f"output {spec!r}: expected http://HOST[:PORT]/PATH or "
                                  f"https://HOST[:PORT]/PATH")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise OutputSpecError(f"output {spec!r}: {exc}") from None
        return OutputSpec("http", url, fmt)
    if sep and head.isalpha() and head.lower() == head:
        raise OutputSpecError(f"output {spec!r}: unknown output kind {head!r} (known: stdout, "
                              f"file, syslog, http, https; write file:{spec} for a file of "
                              f"that name)")
    return OutputSpec("file", spec, fmt)


def _formatter(fmt: str) -> Callable[[Finding], bytes]:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise OutputSpecError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})") from None


class Output(Protocol):
    name: str
    counters: OutputCounters

    def __call__(self, finding: Finding) -> None: ...

    def reopen(self) -> None: ...

    def close(self, timeout: float = 5.0) -> None: ...


class StreamOutput:
    """Writes formatted findings to a binary stream; flushes after each (findings are rare and
    someone may be tailing the output)."""

    def __init__(self, name: str, stream: IO[bytes], fmt: str) -> None:
        self.name = name
        self.counters = OutputCounters(name, "stdout")
        self.format = _formatter(fmt)
        self.stream = stream
        if fmt == "table":
            stream.write(TABLE_HEADER.encode())

    def __call__(self, finding: Finding) -> None:
        self.stream.write(self.format(finding))
        self.stream.flush()
        self.counters.sent += 1

    def reopen(self) -> None:
        pass

    def close(self, timeout: float = 5.0) -> None:  # noqa: ARG002 - Output API
        self.stream.flush()


class StreamSink(StreamOutput):
    """A single stream output without the fan-out (benchmarks, embedding)."""

    def __init__(self, stream: IO[bytes], fmt: str = "tracee", close: bool = False) -> None:
        super().__init__("stream", stream, fmt)
        self._close = close

    def close(self, timeout: float = 5.0) -> None:
        super().close(timeout)
        if self._close:
            self.stream.close()


class FileOutput:
    """Appends formatted findings to a file; :meth:`reopen` (SIGHUP) makes the next write open
    the path again, so that logrotate can move the file away."""

    def __init__(self, name: str, path: str, fmt: str) -> None:
        self.name = name
        self.path = path
        self.counters = OutputCounters(name, "file")
        self.format = _formatter(fmt)
        self._table = fmt == "table"
        self._reopen = False
        self.stream = self._open()  # raises OSError: the caller reports it

    def _open(self) -> IO[bytes]:
        stream = open(self.path, "ab")  # noqa: SIM115 - closed by close()/reopen
        if self._table and stream.tell() == 0:
            stream.write(TABLE_HEADER.encode())
        return stream

    def __call__(self, finding: Finding) -> None:
        if self._reopen:
            self._reopen = False
            old, self.stream = self.stream, self._open()
            old.close()
        self.stream.write(self.format(finding))
        self.stream.flush()
        self.counters.sent += 1

    def reopen(self) -> None:
        """Called from any thread: the engine's thread reopens before its next write."""
        self._reopen = True

    def close(self, timeout: float = 5.0) -> None:  # noqa: ARG002 - Output API
        self.stream.close()


def open_output(spec: OutputSpec, default_format: str, *, queue_size: int = 1000,
                retries: int = 3, timeout: float = 5.0, err: IO[str] | None = None,
                bearer_token: str | None = None) -> Output:
    """Open one output; raises ``OSError`` (file cannot be opened) or :class:`OutputSpecError`.
    ``bearer_token``: sent by an HTTP output as ``Authorization: Bearer``."""
    fmt = spec.format or default_format
    name = str(spec)
    if spec.kind == "stdout":
        return StreamOutput(name, sys.stdout.buffer, fmt)
    if spec.kind == "file":
        return FileOutput(name, spec.target, fmt)
    from memwarden.outputs.queued import QueuedOutput

    formatter = _formatter(fmt)
    if spec.kind == "syslog":
        from memwarden.outputs.syslog import SyslogAddress, SyslogTransport

        transport: Any = SyslogTransport(SyslogAddress(spec.target), timeout=timeout)
    else:
        from memwarden.outputs.http import HttpTransport

        content_type = "text/plain; charset=utf-8" if fmt == "table" else "application/json"
        transport = HttpTransport(spec.target, content_type=content_type, timeout=timeout,
                                  bearer_token=bearer_token)
    return QueuedOutput(name, spec.kind, transport, formatter, queue_size=queue_size,
                        retries=retries, err=err)


class Outputs:
    """The fan-out sink given to the engine: every finding goes to every output. A failing
    output (disk full, closed pipe) is counted and reported; the others still get the finding.

    ``latency``, when given, observes the time from the event's kernel timestamp to the finding
    having left for every output (live sources only: recorded timestamps are in the past).
    """

    def __init__(self, outputs: Sequence[Output], latency: Any = None,
                 err: IO[str] | None = None) -> None:
        self.outputs: list[Output] = list(outputs)
        self.latency = latency
        self._err = err if err is not None else sys.stderr
        self._reported: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        #: seconds ``close()`` gives the network queues when called without a timeout
        self.flush_timeout = 5.0

    def __call__(self, finding: Finding) -> None:
        for out in self.outputs:
            try:
                out(finding)
            except Exception as exc:  # one broken output never stops the others
                out.counters.add(errors=1, dropped=1)
                if out.name not in self._reported:
                    self._reported.add(out.name)
                    print(f"memwarden: warning: output {out.name}: cannot write a finding "
                          f"({exc}); further failures of it are only counted",
                          file=self._err, flush=True)
        latency = self.latency
        if latency is not None:
            ts = finding.event.timestamp
            if ts:
                latency.observe((time.time_ns() - ts) / 1e9)

    @property
    def counters(self) -> list[OutputCounters]:
        return [o.counters for o in self.outputs]

    def stats(self) -> dict[str, dict[str, int]]:
        return {o.name: o.counters.as_dict() for o in self.outputs}

    def reopen(self) -> None:
        for out in self.outputs:
            out.reopen()

    def replace(self, outputs: Sequence[Output], timeout: float = 5.0) -> None:
        """Swap in a new set of outputs (config reload), then close the old ones."""
        with self._lock:
            old, self.outputs = self.outputs, list(outputs)
        for out in old:
            if out not in self.outputs:
                out.close(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close every output (once); network queues get ``timeout`` seconds in all
        (default: :attr:`flush_timeout`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        for out in self.outputs:
            try:
                out.close(max(0.0, deadline - time.monotonic()))
            except OSError as exc:
                print(f"memwarden: warning: output {out.name}: closing failed: {exc}",
                      file=self._err, flush=True)


def open_outputs(specs: Iterable[str | OutputSpec] | str | None, fmt: str, *,
                 latency: Any = None, queue_size: int = 1000, retries: int = 3,
                 timeout: float = 5.0, flush_timeout: float = 5.0,
                 tokens: dict[str, str] | None = None) -> Outputs:
    """Open every output (stdout when none is given); closes what was opened if one fails.
    ``tokens``: output spec (as written) -> bearer token for that HTTP output."""
    if specs is None or isinstance(specs, str):
        specs = (specs,) if specs else ()
    parsed = [s if isinstance(s, OutputSpec) else parse_output(s) for s in specs]
    if not parsed:
        parsed = [OutputSpec("stdout", "")]
    opened: list[Output] = []
    try:
        for spec in parsed:
            token = (tokens or {}).get(str(spec)) if spec.kind == "http" else None
            opened.append(open_output(spec, fmt, queue_size=queue_size, retries=retries,
                                      timeout=timeout, bearer_token=token))
    except BaseException:
        for out in opened:
            out.close(0.0)
        raise
    outputs = Outputs(opened, latency=latency)
    outputs.flush_timeout = flush_timeout
    return outputs


def open_sink(output: Iterable[str] | str | None, fmt: str) -> Outputs:
    """The engine's sink for ``--output`` values (one or several) and ``--format``, with the
    delivery settings of the running command's configuration."""
    from memwarden.app.operations import current_settings

    settings = current_settings()
    if settings is None:
        return open_outputs(output, fmt)
    d = settings.delivery
    return open_outputs(output, fmt, queue_size=d.queue_size, retries=d.retries,
                        timeout=d.timeout, flush_timeout=d.flush_timeout,
                        tokens=settings.output_tokens)
