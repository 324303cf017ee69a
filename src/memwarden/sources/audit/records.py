"""One audit record: its header (type, ``msg=audit(TS:SERIAL)``, node) and its fields.

A record as auditd logs it (or an audisp plugin receives it)::

    [node=NAME ]type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=257 …

and as the kernel sends it over netlink (the type is the message type)::

    audit(1700000000.123:4567): arch=c000003e syscall=257 …

auditd's ``log_format = ENRICHED`` appends the interpreted fields after a 0x1D separator; they
are cut off here (the raw fields carry everything). Text that audit marks untrusted (paths,
comm, exe, key, proctitle, execve arguments) is either ``"quoted"`` or, when it holds a space,
a quote or a non-printable byte, hex-encoded; ``(null)`` means absent.

Hot path: :func:`split_log_line` and :func:`split_netlink` are called for every record; fields
are only parsed (:func:`parse_fields`) for the records of events memwarden decodes.
"""

from __future__ import annotations

AT_FDCWD_HEX = b"ffffff9c"  # -100 as audit prints a 32-bit int argument


class AuditFormatError(ValueError):
    """A record (or a field of one) is malformed; the message says which and why."""


_TYPE = b"type="
_MSG = b" msg=audit("
_NODE = b"node="
_ENRICHED = b"\x1d"
_TYPE_NAMES: dict[bytes, str] = {}  # record type names seen, decoded once


def split_log_line(line: bytes) -> tuple[bytes, str, bytes]:
    """``(event key, record type, fields)`` of one log line.

    The event key is ``TS:SERIAL``, prefixed with the node name when the line has one (records
    of different hosts never merge). Text before ``type=`` other than ``node=`` (a syslog
    prefix) is ignored. Raises :class:`AuditFormatError` for a line that is not a record.
    """
    start = 0 if line.startswith(_TYPE) else line.find(_TYPE)
    if start < 0:
        raise AuditFormatError("not an audit record (no 'type=')")
    msg = line.find(_MSG, start)
    if msg < 0:
        raise AuditFormatError("not an audit record (no ' msg=audit(')")
    end = line.find(b"):", msg)
    if end < 0 or msg == start + 5:
        raise AuditFormatError("truncated record header (no 'msg=audit(TS:SERIAL):')")
    raw_type = line[start + 5:msg]
    type_name = _TYPE_NAMES.get(raw_type)
    if type_name is None:
        type_name = raw_type.decode("ascii", "replace")
        if len(_TYPE_NAMES) < 4096:
            _TYPE_NAMES[raw_type] = type_name
    stamp = line[msg + 11:end]
    if start:
        node = line.find(_NODE, 0, start)
        if node >= 0:
            stop = line.find(b" ", node, start)
            stamp = line[node + 5:stop if stop > 0 else start] + b" " + stamp
    cut = line.find(_ENRICHED, end)
    body = line[end + 2:cut] if cut >= 0 else line[end + 2:]
    return stamp, type_name, body.strip()


def split_netlink(payload: bytes) -> tuple[bytes, bytes]:
    """``(event key, fields)`` of a record received over netlink (``audit(TS:SERIAL): …``)."""
    if not payload.startswith(b"audit("):
        raise AuditFormatError("netlink record without 'audit(TS:SERIAL):' header")
    end = payload.find(b"):", 6)
    if end < 0:
        raise AuditFormatError("truncated netlink record header")
    body = payload[end + 2:]
    nul = body.find(b"\x00")
    if nul >= 0:
        body = body[:nul]
    return payload[6:end], body.strip()


#: The range of every number an event carries (Tracee's int64/uint64 fields): a record with a
#: number outside it is malformed, not an event no output could write.
NUMBER_MIN = -(1 << 63)
NUMBER_MAX = (1 << 64) - 1
#: event times: nanoseconds since the epoch must fit in a uint64
STAMP_SECONDS_MAX = NUMBER_MAX // 1_000_000_000 - 1


def stamp_time(stamp: bytes) -> tuple[int, int]:
    """``(seconds, nanoseconds since the epoch)`` of an event key (node prefix allowed)."""
    secs, ns = _stamp_time(stamp)
    if not 0 <= secs <= STAMP_SECONDS_MAX:
        raise AuditFormatError(f"event time {_show(stamp)} is out of range")
    return secs, ns


def _stamp_time(stamp: bytes) -> tuple[int, int]:
    sp = stamp.rfind(b" ")
    if sp >= 0:
        stamp = stamp[sp + 1:]
    colon = stamp.find(b":")
    dot = stamp.find(b".", 0, colon)
    try:
        if dot < 0:
            secs = int(stamp[:colon])
            return secs, secs * 1_000_000_000
        secs = int(stamp[:dot])
        frac = stamp[dot + 1:colon]
        return secs, secs * 1_000_000_000 + int((frac + b"000000000")[:9])
    except ValueError:
        raise AuditFormatError(f"bad event time {stamp.decode('ascii', 'replace')!r}") from None


def stamp_seconds(stamp: bytes) -> int:
    """The whole seconds of an event key, cheaply (0 if unreadable: the caller validates)."""
    sp = stamp.rfind(b" ")
    dot = stamp.find(b".", sp + 1)
    try:
        return int(stamp[sp + 1:dot])
    except ValueError:
        return 0


def parse_fields(body: bytes) -> dict[bytes, bytes]:
    """``key=value`` pairs of a record's raw fields (values still encoded)."""
    out: dict[bytes, bytes] = {}
    for token in body.split():
        key, eq, value = token.partition(b"=")
        if eq:
            out[key] = value
    return out


def text_bytes(value: bytes | None, field: str = "value") -> bytes | None:
    """Decode an untrusted-string field: ``"quoted"``, hex, or ``(null)``/``(none)``."""
    if value is None or value in (b"(null)", b"(none)"):
        return None
    if value[:1] == b'"':
        if len(value) < 2 or value[-1:] != b'"':
            raise AuditFormatError(f"{field}: unterminated quoted string {_show(value)}")
        return value[1:-1]
    try:
        return bytes.fromhex(value.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise AuditFormatError(f"{field}: neither quoted nor hex-encoded: {_show(value)}"
                               ) from None


def text(value: bytes | None, field: str = "value") -> str | None:
    """:func:`text_bytes` as a string (invalid UTF-8 replaced, as Go's JSON does)."""
    raw = text_bytes(value, field)
    return None if raw is None else raw.decode("utf-8", "replace")


def keys_of(value: bytes | None) -> str:
    """The rule key(s) of a SYSCALL record: several keys are joined by 0x01 in the kernel;
    memwarden joins them with ``,``. ``""`` when no rule key was set."""
    raw = text_bytes(value, "key")
    if not raw:
        return ""
    return raw.decode("utf-8", "replace").replace("\x01", ",")


def number(fields: dict[bytes, bytes], name: bytes, default: int | None = None) -> int:
    """A decimal field (``pid=``, ``exit=``, ``items=``…)."""
    value = fields.get(name)
    if value is None:
        if default is not None:
            return default
        raise AuditFormatError(f"missing field {name.decode()}")
    try:
        n = int(value)
    except ValueError:
        raise AuditFormatError(f"{name.decode()}={_show(value)} is not a number") from None
    if not NUMBER_MIN <= n <= NUMBER_MAX:
        raise AuditFormatError(f"{name.decode()}={_show(value)} is out of the 64-bit range")
    return n


def hex_number(fields: dict[bytes, bytes], name: bytes) -> int:
    """A hex field as an unsigned number (``a0=ffffff9c``, ``arch=c000003e``)."""
    value = fields.get(name)
    if value is None:
        raise AuditFormatError(f"missing field {name.decode()}")
    try:
        n = int(value, 16)
    except ValueError:
        raise AuditFormatError(f"{name.decode()}={_show(value)} is not hexadecimal") from None
    if n > NUMBER_MAX or n < 0:
        raise AuditFormatError(f"{name.decode()}={_show(value)} is out of the 64-bit range")
    return n


def kernel_dev(value: bytes | None) -> int:
    """``dev=fe:01`` (hex major:minor) → the kernel's internal dev_t (major << 20 | minor),
    the encoding Tracee's ``dev`` arguments use. 0 when absent."""
    if not value:
        return 0
    major, sep, minor = value.partition(b":")
    try:
        dev = (int(major, 16) << 20) | int(minor, 16) if sep else 0
    except ValueError:
        raise AuditFormatError(f"dev={_show(value)} is not MAJOR:MINOR") from None
    if not 0 <= dev <= NUMBER_MAX:
        raise AuditFormatError(f"dev={_show(value)} is out of the 64-bit range")
    return dev


def printable(value: bytes) -> str:
    """Untrusted bytes for a message: control characters escaped, so one line stays one."""
    return value.decode("ascii", "backslashreplace").encode("unicode_escape").decode("ascii")


def _show(value: bytes, limit: int = 40) -> str:
    s = value.decode("ascii", "backslashreplace")
    return repr(s if len(s) <= limit else s[:limit] + "…")
