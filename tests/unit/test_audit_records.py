"""Audit record parsing: headers, field encodings, numbers (hand-written records)."""

from __future__ import annotations

import pytest

from memwarden.core.linux_abi import as_int32, as_signed
from memwarden.core.linux_abi import normalize_path as normalize
from memwarden.sources.audit.records import (
    AuditFormatError,
    kernel_dev,
    keys_of,
    parse_fields,
    split_log_line,
    split_netlink,
    stamp_seconds,
    stamp_time,
    text,
)


def test_log_line_header_body_and_enriched_part_cut() -> None:
    line = (b'type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=257 '
            b'comm="cat" key=(null)\x1dARCH=x86_64 SYSCALL=openat AUID="unset"\n')
    key, type_name, body = split_log_line(line)
    assert key == b"1700000000.123:4567"
    assert type_name == "SYSCALL"
    assert body == b'arch=c000003e syscall=257 comm="cat" key=(null)'


def test_node_prefix_keeps_hosts_apart_and_syslog_prefix_is_ignored() -> None:
    a, _, _ = split_log_line(b"node=web1 type=EOE msg=audit(1700000000.123:5): \n")
    b, _, _ = split_log_line(b"node=web2 type=EOE msg=audit(1700000000.123:5): \n")
    assert a == b"web1 1700000000.123:5" and a != b
    c, t, body = split_log_line(b"Nov 23 10:00:00 host audisp-syslog: type=CWD "
                                b'msg=audit(1700000000.123:6): cwd="/root"\n')
    assert (c, t, body) == (b"1700000000.123:6", "CWD", b'cwd="/root"')


@pytest.mark.parametrize("line", [
    b"hello world\n",
    b"type=SYSCALL arch=c000003e\n",
    b"type=SYSCALL msg=audit(1700000000.1",
    b"type= msg=audit(1700000000.1:2): x=1\n",
])
def test_lines_that_are_not_records(line: bytes) -> None:
    with pytest.raises(AuditFormatError):
        split_log_line(line)


def test_netlink_payload() -> None:
    key, body = split_netlink(b'audit(1700000000.005:9): cwd="/tmp"\x00')
    assert (key, body) == (b"1700000000.005:9", b'cwd="/tmp"')
    with pytest.raises(AuditFormatError):
        split_netlink(b"garbage")


def test_event_time_to_nanoseconds() -> None:
    assert stamp_time(b"1700000000.123:4567") == (1700000000, 1700000000_123000000)
    assert stamp_time(b"node1 1700000000.5:1") == (1700000000, 1700000000_500000000)
    assert stamp_seconds(b"1700000000.123:4567") == 1700000000
    with pytest.raises(AuditFormatError):
        stamp_time(b"17x0.1:2")


def test_untrusted_strings_quoted_hex_and_null() -> None:
    assert text(b'"/etc/passwd"') == "/etc/passwd"
    assert text(b"2F746D702F612062") == "/tmp/a b"  # a space forces hex
    assert text(b"2F746D702F22FF") == '/tmp/"\ufffd'  # a quote, an invalid UTF-8 byte
    assert text(b"(null)") is None and text(None) is None
    with pytest.raises(AuditFormatError, match="unterminated"):
        text(b'"/etc/pass', "name")
    with pytest.raises(AuditFormatError, match="neither quoted nor hex"):
        text(b"/etc/passwd", "name")


def test_rule_keys_single_none_and_several() -> None:
    assert keys_of(b'"CORE_DUMP"') == "CORE_DUMP"
    assert keys_of(b"(null)") == ""
    assert keys_of(b"4B31014B32") == "K1,K2"  # several keys: hex, 0x01-separated


def test_fields_and_numbers() -> None:
    f = parse_fields(b'a0=ffffff9c a1=7ffd0 items=2 comm="ls" key=(null)')
    assert f[b"a0"] == b"ffffff9c" and f[b"items"] == b"2" and f[b"key"] == b"(null)"
    assert as_int32(0xFFFFFF9C) == -100
    assert as_int32(0xFFFFFFFFFFFFFFFF) == -1
    assert as_signed(0xFFFFFFFFFFFFFFFF, 64) == -1 and as_signed(0xFFFFFFFF, 32) == -1
    assert as_signed(0x4206, 64) == 0x4206


def test_device_numbers_use_the_kernel_encoding() -> None:
    assert kernel_dev(b"fe:01") == (0xFE << 20) | 1
    assert kernel_dev(b"00:15") == 0x15
    assert kernel_dev(None) == 0
    with pytest.raises(AuditFormatError):
        kernel_dev(b"zz:01")


def test_normalize() -> None:
    assert normalize("/var/lib/../lib/systemd/./coredump/") == "/var/lib/systemd/coredump"
    assert normalize("//proc//kcore") == "/proc/kcore"
