"""Output specs and the registry of output kinds: how ``--output`` / config ``outputs`` entries
are read, written back and opened.

Output specs (``--output``, repeatable; config ``outputs``):

- ``stdout`` (or ``-``): standard output;
- ``file:PATH`` or a plain ``PATH``: append to a file, reopened on reload (SIGHUP, logrotate);
- ``syslog[:ADDR]``: RFC 5424 syslog (see :mod:`memwarden.outputs.syslog` for ADDR);
- ``http://URL``, ``https://URL`` (also written ``http:http://URL``): one POST per finding;
- ``nats://HOST:PORT/SUBJECT`` (``nats+tls://``): JetStream, acked, buffered on disk while the
  server is down (:mod:`memwarden.outputs.nats`).

Any spec may start with ``FORMAT:`` (``falco:http://...``, ``table:stdout``) to pick its own
format; the others use the command's ``--format``. stdout and files are written synchronously
(fast, local); syslog and HTTP go through a bounded queue drained by a thread
(:mod:`memwarden.outputs.queued`), so a slow receiver never stalls detection.

Each kind is one module exporting an :class:`~memwarden.outputs.base.OutputKind` named
``KIND``; :data:`OUTPUT_KINDS` below is the one list of them (a new output: its module and one
line here). Parsing, printing, the error messages that list the kinds and opening all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from memwarden.outputs import file, http, nats, stream, syslog
from memwarden.outputs.base import Delivery, Output, OutputKind, OutputSpecError, find_format
from memwarden.outputs.formats import FORMATS

#: every output kind, in the order messages list them
OUTPUT_KINDS: dict[str, OutputKind] = {k.name: k for k in (
    stream.KIND,
    file.KIND,
    syslog.KIND,
    http.KIND,
    nats.KIND,
)}


def _usage() -> str:
    usages = [k.usage for k in OUTPUT_KINDS.values()]
    return f"{', '.join(usages[:-1])} or {usages[-1]}" if len(usages) > 1 else usages[0]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    kind: str  # a key of OUTPUT_KINDS
    target: str  # path, syslog address, URL ("" for stdout)
    format: str | None = None  # None: the command's --format

    def __str__(self) -> str:
        text = OUTPUT_KINDS[self.kind].text(self.target)
        return f"{self.format}:{text}" if self.format else text


def parse_output(spec: str) -> OutputSpec:
    """Parse one output spec; raises :class:`OutputSpecError`."""
    if not isinstance(spec, str) or not spec:
        raise OutputSpecError(f"output {spec!r}: expected {_usage()}")
    fmt = None
    head, sep, rest = spec.partition(":")
    if sep and head in FORMATS:
        fmt, spec = head, rest
        if not spec:
            raise OutputSpecError(f"output {fmt + ':'!r}: expected an output after "
                                  f"'{fmt}:' ({_usage()})")
        head, sep, rest = spec.partition(":")
    for kind in OUTPUT_KINDS.values():
        if spec in kind.aliases or (not sep and kind.bare and head in kind.schemes):
            return OutputSpec(kind.name, kind.parse(spec, head, ""), fmt)
        if sep and kind.with_target and head in kind.schemes:
            return OutputSpec(kind.name, kind.parse(spec, head, rest), fmt)
    if sep and head.isalpha() and head.lower() == head:
        known = ", ".join(s for k in OUTPUT_KINDS.values() for s in k.schemes)
        raise OutputSpecError(f"output {spec!r}: unknown output kind {head!r} (known: {known}; "
                              f"write file:{spec} for a file of that name)")
    plain = next(k for k in OUTPUT_KINDS.values() if k.plain_paths)
    return OutputSpec(plain.name, spec, fmt)


def open_output(spec: OutputSpec, default_format: str, delivery: Delivery | None = None,
                err: IO[str] | None = None) -> Output:
    """Open one output; raises ``OSError`` (cannot be opened) or :class:`OutputSpecError`."""
    fmt = find_format(spec.format or default_format)
    return OUTPUT_KINDS[spec.kind].open(str(spec), spec.target, fmt, delivery or Delivery(), err)
