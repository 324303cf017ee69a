"""The kernel's audit stream over netlink: the read-only multicast group, and the status query.

The multicast group (``AUDIT_NLGRP_READLOG``, Linux 3.16+) delivers every record the kernel
emits to any number of listeners, beside auditd (which keeps the unicast channel and keeps
writing its log); it needs CAP_AUDIT_READ. One netlink message is one record: the message type
is the record type, the payload ``audit(TS:SERIAL): fields``. A listener that falls behind
loses records (the socket buffer overflows, ``recv`` fails with ENOBUFS): that is counted and
reported, never silent.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
AUDIT_GET = 1000
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5

_NLMSGHDR = struct.Struct("=IHHII")
#: struct audit_status: mask, enabled, failure, pid, rate_limit, backlog_limit, lost, backlog
_STATUS = struct.Struct("=IIIIIIII")

DEFAULT_RCVBUF = 16 << 20


class AuditNetlinkError(OSError):
    """The audit netlink socket cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class AuditStatus:
    """The kernel's audit state (``auditctl -s``)."""

    enabled: int  # 0 off, 1 on, 2 on and locked
    failure: int
    pid: int  # auditd's pid, 0 when no daemon is registered
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int


def audit_status() -> AuditStatus:
    """Ask the kernel (AUDIT_GET). Needs CAP_AUDIT_CONTROL in the initial namespaces."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    except OSError as exc:
        raise AuditNetlinkError(exc.errno, f"cannot open an audit netlink socket: "
                                           f"{exc.strerror}") from None
    with sock:
        sock.settimeout(2.0)
        sock.bind((0, 0))
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size, AUDIT_GET, NLM_F_REQUEST | NLM_F_ACK, 1, 0))
        deadline_msgs = 8
        while deadline_msgs:
            deadline_msgs -= 1
            try:
                data = sock.recv(8192)
            except TimeoutError:
                break
            for msg_type, payload in _messages(data):
                if msg_type == NLMSG_ERROR:
                    code = struct.unpack_from("=i", payload)[0]
                    if code:
                        raise AuditNetlinkError(-code, "audit status query refused: "
                                                       f"{os.strerror(-code)} (needs root)")
                elif msg_type == AUDIT_GET and len(payload) >= _STATUS.size:
                    _, enabled, failure, pid, rate, backlog_limit, lost, backlog = \
                        _STATUS.unpack_from(payload)
                    return AuditStatus(enabled, failure, pid, rate, backlog_limit, lost, backlog)
    raise AuditNetlinkError(errno.ETIMEDOUT, "the kernel did not answer the audit status query")


class AuditMulticast:
    """A socket subscribed to the kernel's audit records."""

    def __init__(self, rcvbuf: int = DEFAULT_RCVBUF) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 NETLINK_AUDIT)
        except OSError as exc:
            raise AuditNetlinkError(exc.errno, "cannot open an audit netlink socket: "
                                               f"{exc.strerror}") from None
        try:
            sock.bind((0, 1 << (AUDIT_NLGRP_READLOG - 1)))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise AuditNetlinkError(exc.errno, "joining the audit multicast group needs "
                                                   "CAP_AUDIT_READ (run as root)") from None
            raise AuditNetlinkError(exc.errno, "cannot join the audit multicast group "
                                               f"(Linux 3.16+): {exc.strerror}") from None
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
                break
            except OSError:
                continue
        sock.setblocking(False)
        self.sock = sock
        self.overruns = 0  # times the kernel dropped records for us (ENOBUFS)
        self._buf = bytearray(1 << 16)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> Iterator[tuple[int, bytes]]:
        """Every record waiting now: (record type, payload)."""
        view = memoryview(self._buf)
        recv_into = self.sock.recv_into
        while True:
            try:
                n = recv_into(self._buf)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    continue
                raise
            if n < _NLMSGHDR.size:
                continue
            yield from _messages(bytes(view[:n]))

    def close(self) -> None:
        self.sock.close()


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The (type, payload) of each netlink message in one datagram."""
    off = 0
    size = len(data)
    while off + _NLMSGHDR.size <= size:
        length, msg_type, _, _, _ = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size:
            return
        end = min(off + length, size)
        yield msg_type, data[off + _NLMSGHDR.size:end]
        off += (length + 3) & ~3
