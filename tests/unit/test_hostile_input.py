"""Hostile input (issue 12): one bad file, option or record gets a one-line, located
``memwarden: ...`` message and exit status 2, never a traceback; what memwarden prints for
people cannot be forged by what it reads. One section per class of the issue."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from memwarden.cli import main


def cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


# -- class 6: every YAML reader reports FILE:line:col, exit 2 ------------------------------------

#: (name, the bytes at line 2 column 8 of the file, expected line) - each one PyYAML refuses
BAD_BYTES = [
    ("bell", b"\x07"), ("escape", b"\x1b"), ("nul", b"\x00"), ("delete", b"\x7f"),
    ("c1-csi", "\x9b".encode()), ("u+fffe", "\ufffe".encode()), ("not-utf8", b"\xff"),
    ("lone-continuation", b"\x80"),
]

#: (what reads the file, how a file of that reader is written (mapping or sequence), argv)
READERS = [
    ("config", "mapping", lambda p: ["config", "show", "--config", p]),
    ("allowlist", "mapping", lambda p: ["signatures", "show", "TRC-1021", "--allowlist", p]),
    ("falco-rules", "sequence", lambda p: ["rules", "check", p]),
    ("capsule8", "mapping", lambda p: ["rules", "check", p]),
    ("replay-config", "mapping", lambda p: ["replay", "--config", p, "/dev/null"]),
    ("replay-allowlist", "mapping", lambda p: ["replay", "--allowlist", p, "/dev/null"]),
    ("replay-rules", "sequence", lambda p: ["replay", "--rules", p, "/dev/null"]),
]


def _file(shape: str, bad: bytes, newline: bytes = b"\n") -> bytes:
    lead = b"- k" if shape == "sequence" else b"key"
    return b"# first line" + newline + lead + b': "v' + bad + b'"' + newline


def _assert_one_located_line(code: int, err: str, path: Path, line: int, col: int) -> None:
    assert code == 2, err
    assert err.startswith(f"memwarden: {path}:{line}:{col}: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err and "position" not in err, err


@pytest.mark.parametrize(("reader", "shape", "argv"), READERS, ids=[r[0] for r in READERS])
@pytest.mark.parametrize(("what", "bad"), BAD_BYTES, ids=[b[0] for b in BAD_BYTES])
def test_a_character_yaml_refuses_is_located_by_every_reader(
        tmp_path: Path, reader: str, shape: str, argv, what: str, bad: bytes) -> None:
    p = tmp_path / f"{reader}.yaml"
    p.write_bytes(_file(shape, bad))
    code, _, err = cli(*argv(str(p)))
    _assert_one_located_line(code, err, p, 2, 8)


@pytest.mark.parametrize(("reader", "shape", "argv"), READERS, ids=[r[0] for r in READERS])
@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf"])
def test_lines_are_counted_as_yaml_counts_them(tmp_path: Path, reader: str, shape: str,
                                               argv, newline: bytes) -> None:
    p = tmp_path / f"{reader}.yaml"
    p.write_bytes(b"# zero" + newline + _file(shape, b"\x07", newline))
    code, _, err = cli(*argv(str(p)))
    _assert_one_located_line(code, err, p, 3, 8)


@pytest.mark.parametrize(("reader", "shape", "argv"), READERS, ids=[r[0] for r in READERS])
def test_a_syntax_error_is_located_by_every_reader(tmp_path: Path, reader: str, shape: str,
                                                   argv) -> None:
    p = tmp_path / f"{reader}.yaml"
    lead = b"- k" if shape == "sequence" else b"key"
    p.write_bytes(b"# first\n" + lead + b": [a, b\n")
    code, _, err = cli(*argv(str(p)))
    _assert_one_located_line(code, err, p, 3, 1)


def test_a_value_pyyaml_cannot_build_is_located(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("# first\nstats: 2001-13-01\n")  # a timestamp with month 13
    code, _, err = cli("config", "show", "--config", str(cfg))
    _assert_one_located_line(code, err, cfg, 2, 8)
    allow = tmp_path / "a.yaml"
    allow.write_text("signatures:\n  TRC-1021:\n    - reason: 2001-13-01\n")
    code, _, err = cli("signatures", "show", "TRC-1021", "--allowlist", str(allow))
    _assert_one_located_line(code, err, allow, 3, 15)


@pytest.mark.parametrize(("reader", "shape", "argv"), READERS, ids=[r[0] for r in READERS])
def test_too_deep_nesting_is_an_error_not_a_crash(tmp_path: Path, reader: str, shape: str,
                                                  argv) -> None:
    p = tmp_path / f"{reader}.yaml"
    p.write_text("[" * 20000)
    code, _, err = cli(*argv(str(p)))
    assert code == 2 and err.startswith(f"memwarden: {p}") and err.count("\n") == 1, err


# -- class 11: nothing memwarden reads reaches the terminal raw --------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import orjson  # noqa: E402

from memwarden.core.text import EscapedLines, json_safe, printable  # noqa: E402

DATA = Path(__file__).parent.parent / "data"
KCORE = orjson.loads((DATA / "tracee_legacy.jsonl").read_bytes().splitlines()[0])
#: what a process can make its comm (prctl PR_SET_NAME), and worse
FORGED = "a\n20:00 high \x1b[31m\x9b2J\u202e\u2028\x00\x7f"
#: bytes that must never reach a terminal: C0 controls but LF, DEL, C1 (UTF-8), U+2028/9, RLO
RAW_CONTROLS = [bytes([c]) for c in range(0x20) if c != 0x0A] + [
    b"\x7f", *("\x9b\x85\u2028\u2029\u202e".encode()[i:i + 2] for i in (0, 2)),
    "\u2028".encode(), "\u2029".encode(), "\u202e".encode()]


def memwarden(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], input=stdin,
                          capture_output=True, timeout=60,
                          env={**os.environ, "MEMWARDEN_CONFIG": ""})


def _no_raw_controls(data: bytes) -> None:
    for raw in RAW_CONTROLS:
        assert raw not in data, (raw, data)


@pytest.mark.parametrize(("text", "shown"), [
    ("plain", "plain"), ("a\nb", "a\\nb"), ("\x1b[31m", "\\x1b[31m"), ("\x9b", "\\x9b"),
    ("\t\r", "\\t\\r"), ("\u202e", "\\u202e"), ("\u2028", "\\u2028"), ("\x00\x7f", "\\x00\\x7f"),
    ("é ü 日本", "é ü 日本"), ("back\\slash", "back\\slash"), ("\udcff", "\\udcff"),
    ("\U000e0001", "\\U000e0001"),
])
def test_printable_escapes_every_non_printable_character(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_json_safe_escapes_what_orjson_leaves_raw_and_keeps_the_value() -> None:
    raw = orjson.dumps({"comm": FORGED, "ok": "é日本"})
    safe = json_safe(raw)
    assert orjson.loads(safe) == orjson.loads(raw)
    _no_raw_controls(safe)


def test_escaped_lines_escapes_each_line_and_keeps_the_breaks() -> None:
    import io

    out = io.StringIO()
    w = EscapedLines(out)
    print("memwarden: bad record type=\x1b[2J", file=w)
    w.write("part")
    w.write("ial\n")
    assert out.getvalue() == "memwarden: bad record type=\\x1b[2J\npartial\n"


def _forged_event() -> bytes:
    ev = dict(KCORE, processName=FORGED, eventName=KCORE["eventName"])
    return orjson.dumps(ev) + b"\n"


@pytest.mark.parametrize("fmt", ["table", "tracee", "falco"])
def test_a_forged_comm_prints_one_line_without_escapes(fmt: str) -> None:
    res = memwarden("replay", "--format", fmt, "-", stdin=_forged_event())
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == (2 if fmt == "table" else 1), res.stdout  # table: header + finding
    _no_raw_controls(res.stdout)
    if fmt == "table":
        assert "a\\n20:00 high \\x1b[31m\\x9b2J" in lines[1].decode()
    else:
        assert orjson.loads(lines[0]) is not None  # still JSON


def test_stderr_messages_that_quote_input_are_escaped(tmp_path: Path) -> None:
    name = tmp_path / "rec\x1b[31m\nforged.jsonl"
    name.write_bytes(b'{"not json\x1b[2J\n' + _forged_event())
    ev = dict(KCORE, eventName="x\x1b]0;title\x07")
    res = memwarden("replay", "--stats", str(name), "-", stdin=orjson.dumps(ev) + b"\n")
    _no_raw_controls(res.stderr)
    assert "rec\\x1b[31m\\nforged.jsonl:1: " in res.stderr.decode()
    # a missing file's name in the one-line error
    res = memwarden("replay", str(tmp_path / "no\x1b[31m\nsuch"))
    assert res.returncode == 2
    assert res.stderr.count(b"\n") == 1 and b"no\\x1b[31m\\nsuch" in res.stderr, res.stderr
    _no_raw_controls(res.stderr)


def test_audit_records_quoted_in_messages_are_escaped(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e \x1b[2J\x9b\n"
                    b"type=garbage\x1b[31m no msg\n"
                    b'node=x\x1b[31m type=PATH msg=audit(1700000000.123:43): name="a"\n')
    res = memwarden("replay", "--source", "audit", str(log))
    _no_raw_controls(res.stderr)
    assert b"x\\x1b[31m" in res.stderr, res.stderr


def test_signatures_show_escapes_what_allowlists_say(tmp_path: Path) -> None:
    allow = tmp_path / "a.yaml"
    # YAML's double-quoted escapes make control characters without a raw one in the file
    allow.write_text('signatures:\n  TRC-1021:\n    - executable: "/x\\e[31m"\n'
                     '      reason: "ok\\n20:00 high forged\\x9b"\n')
    code, out, err = cli("signatures", "show", "TRC-1021", "--allowlist", str(allow))
    assert code == 0, err
    _no_raw_controls(out.encode())
    line = next(ln for ln in out.splitlines() if "/x" in ln)
    assert "/x\\x1b[31m" in line and "ok\\n20:00 high forged\\x9b" in line


def test_rules_check_escapes_what_rules_files_say(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text('- rule: "name \\e[31m"\n  desc: d\n'
                     '  condition: evt.type=open and fd.name=/x\n'
                     '  output: "o \\e[2J"\n  priority: WARNING\n')
    res = memwarden("rules", "check", str(rules))
    _no_raw_controls(res.stdout + res.stderr)
    assert b"name \\x1b[31m" in res.stdout


def test_rules_check_keeps_a_rule_or_policy_name_with_a_newline_on_one_line(
        tmp_path: Path) -> None:
    falco = tmp_path / "falco.yaml"
    falco.write_text('- rule: "a\\nactive    forged [CRITICAL] on everything"\n  desc: d\n'
                     '  condition: evt.type=open and fd.name=/x\n'
                     '  output: o\n  priority: WARNING\n')
    capsule8 = tmp_path / "capsule8.yaml"
    capsule8.write_text('"b\\nactive    forged":\n  policy: fileaccess\n  enabled: true\n'
                        '  alertMessage: m\n  priority: Medium\n  rules:\n'
                        '    - match operation == "open"\n    - default ignore\n')
    for path in (falco, capsule8):
        res = memwarden("rules", "check", str(path))
        assert res.returncode == 0, res.stderr
        lines = res.stdout.decode().splitlines()
        assert not any(line.startswith("active    forged") for line in lines), lines
        assert any("\\nactive    forged" in line for line in lines), lines


# -- class 10: every bad option or config value is one line, exit 2 ---------------------------

import signal  # noqa: E402

BAD_OPTIONS = [
    # metrics address
    ["replay", "--metrics-addr", "127.0.0.1:99999", "/dev/null"],
    ["replay", "--metrics-addr", "127.0.0.1:", "/dev/null"],
    ["replay", "--metrics-addr", "nocolon", "/dev/null"],
    ["replay", "--metrics-addr", "[::1:9464", "/dev/null"],
    ["replay", "--metrics-addr", "[zz]:9464", "/dev/null"],
    ["replay", "--metrics-addr", "::1:9464", "/dev/null"],
    ["replay", "--metrics-addr", "127.0.0.1:\u0661\u0662", "/dev/null"],  # Arabic digits
    ["replay", "--metrics-addr", "203.0.113.7:9464", "/dev/null"],  # not ours: cannot listen
    ["replay", "--metrics-addr", "127.0.0.1:-1", "/dev/null"],
    # outputs
    ["replay", "-o", "syslog:udp://127.0.0.1:99999", "/dev/null"],
    ["replay", "-o", "syslog:tcp://[zz]:514", "/dev/null"],
    ["replay", "-o", "syslog:tcp://127.0.0.1:", "/dev/null"],
    ["replay", "-o", "http://127.0.0.1:99999/", "/dev/null"],
    ["replay", "-o", "http://[::1/", "/dev/null"],
    ["replay", "-o", "https://", "/dev/null"],
    ["replay", "-o", "file:", "/dev/null"],
    ["replay", "-o", "table:", "/dev/null"],
    ["replay", "-o", "nosuch:x", "/dev/null"],
    ["replay", "-o", "file:/nonexistent/dir/x", "/dev/null"],
    ["replay", "-o", "{tmp}", "/dev/null"],  # a directory
    ["replay", "--format", "xml", "/dev/null"],
    # signatures and origins
    ["replay", "--origin", "nonsense", "/dev/null"],
    ["replay", "--origin", "TRC-1021=nowhere", "/dev/null"],
    ["replay", "--origin", "nosuch=host", "/dev/null"],
    ["replay", "--enable", "nosuch", "/dev/null"],
    ["replay", "--disable", "nosuch", "/dev/null"],
    # files
    ["replay", "--allowlist", "/nonexistent", "/dev/null"],
    ["replay", "--allowlist", "{tmp}", "/dev/null"],
    ["replay", "--rules", "/nonexistent", "/dev/null"],
    ["replay", "--rules", "{tmp}", "/dev/null"],
    ["replay", "--config", "/nonexistent", "/dev/null"],
    ["replay", "--config", "{tmp}", "/dev/null"],
    ["replay", "/nonexistent"],
    ["replay", "{tmp}"],
    ["replay", "--source", "pcap", "/dev/null"],
    ["replay", "--no-such-option", "/dev/null"],
    # the live sensor's options: refused before anything starts
    ["run", "--duration", "nan"], ["run", "--duration", "-1"], ["run", "--duration", "inf"],
    ["run", "--duration", "soon"], ["run", "--ring-buffer-mb", "0"],
    ["run", "--ring-buffer-mb", "4096"], ["run", "--ring-buffer-mb", "x"],
    ["run", "--hooks", "kprobe"], ["run", "--source", "pcap"],
    ["run", "--metrics-addr", "127.0.0.1:99999", "--duration", "0"],
    ["record", "{tmp}/r.jsonl", "--duration", "nan"],
    ["record", "{tmp}/r.jsonl", "--metrics-addr", "127.0.0.1:99999", "--duration", "0"],
    # other commands
    ["simulate", "--deadline", "nan", "--list"], ["simulate", "--deadline", "0", "--list"],
    ["simulate", "--ready-timeout", "-1", "--list"],
    ["bench", "--events", "0"], ["bench", "--hit-rate", "2"], ["bench", "--hit-rate", "nan"],
    ["rules", "bench", "--events", "0", "/dev/null"],
    ["export", "auditd", "--machine", "vax"], ["export", "auditd", "--signature", "nosuch"],
    ["export", "auditd", "-o", "/nonexistent/dir/x"],
    ["signatures", "show", "nosuch"],
    ["signatures", "show", "TRC-1021", "--allowlist", "/nonexistent"],
    ["service", "install", "--unit-dir", "/proc/no/such", "--config-dir", "{tmp}/c",
     "--no-start"],
    ["config", "show", "--config", "/nonexistent"],
]

BAD_CONFIG = [
    "format: xml", "format: 3", "outputs: 3", "outputs: [3]", "outputs: ['table:']",
    "outputs: ['syslog:udp://127.0.0.1:99999']", "outputs: [{output: stdout, nosuch: 1}]",
    "outputs: [{format: table}]", "rules: 5", "rules: [[a]]", "allowlists: [1]",
    "signatures: 3", "signatures: {enabled: [nosuch]}", "signatures: {disabled: nosuch}",
    "signatures: {origins: {TRC-1021: nowhere}}", "signatures: {origins: [a]}",
    "signatures: {nosuch: 1}", "metrics: {addr: '127.0.0.1:99999'}", "metrics: {addr: 5}",
    "metrics: {addr: '[zz]:1'}", "metrics: 3", "metrics: {port: 1}", "stats: 'yes'",
    "delivery: {queue_size: 0}", "delivery: {queue_size: .nan}", "delivery: {queue_size: 1.5}",
    "delivery: {queue_size: 100000000000000000000}", "delivery: {retries: -1}",
    "delivery: {retries: true}", "delivery: {retries: 100000000000000000000}",
    "delivery: {timeout: 0}", "delivery: {timeout: .nan}", "delivery: {timeout: .inf}",
    "delivery: {timeout: '5'}", "delivery: {flush_timeout: -1}",
    "delivery: {flush_timeout: .inf}", "delivery: {flush_timeout: .nan}",
    "delivery: {nosuch: 1}", "delivery: 3", "nosuch: 1", "[a, b]", "just a string",
]


@pytest.fixture
def signals_restored() -> object:
    saved = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _one_error_line(code: int, out: str, err: str) -> None:
    assert code == 2, (code, out, err)
    assert err.startswith("memwarden: ") and err.count("\n") == 1, err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(a) for a in BAD_OPTIONS])
def test_every_bad_option_is_one_line_and_exit_2(tmp_path: Path, argv: list[str],
                                                 signals_restored: object) -> None:
    code, out, err = cli(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    _one_error_line(code, out, err)


@pytest.mark.parametrize("text", BAD_CONFIG)
@pytest.mark.parametrize("command", ["config-show", "replay"])
def test_every_bad_config_value_is_one_line_naming_the_key_and_exit_2(
        tmp_path: Path, text: str, command: str, signals_restored: object) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text + "\n")
    argv = (["config", "show", "--config", str(cfg)] if command == "config-show"
            else ["replay", "--config", str(cfg), "/dev/null"])
    code, out, err = cli(*argv)
    _one_error_line(code, out, err)
    assert err.startswith(f"memwarden: {cfg}"), err


# -- class 8: every input is opened once; sniffing never loses or waits for data ---------------

import gzip as _gzip  # noqa: E402
import socket as _socket  # noqa: E402
import threading  # noqa: E402

from test_audit_cli import LOG as AUDIT_LOG  # noqa: E402

KCORE_LINE = (DATA / "tracee_legacy.jsonl").read_bytes().splitlines(keepends=True)[0]
AUDIT_IDS = ["MW-1003", "MW-1002", "MW-1004"]


def _ids(out: bytes) -> list[str]:
    return [orjson.loads(x)["metadata"]["Properties"]["signatureID"]
            for x in out.splitlines() if x.strip()]


def _writer(path: Path, chunks: list[bytes]) -> threading.Thread:
    """A writer that opens the FIFO (blocking until memwarden opens it for reading) and
    writes ``chunks`` one write each: the first write may end mid-line, or mid-magic."""

    def write() -> None:
        with open(path, "wb", buffering=0) as f:
            for chunk in chunks:
                f.write(chunk)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def _replay(*args: str, stdin: object = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", "replay", "--stats", *args],
                          stdin=stdin, capture_output=True, timeout=60,
                          env={**os.environ, "MEMWARDEN_CONFIG": ""})


def _split(data: bytes) -> list[bytes]:
    return [data[:1], data[1:7], data[7:]]  # a byte, then mid-line, then the rest


@pytest.mark.parametrize("source", ["auto", "tracee"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_fifo_of_tracee_json_is_read_whole(tmp_path: Path, source: str,
                                             compress: bool) -> None:
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    data = KCORE_LINE * 3
    writer = _writer(fifo, _split(_gzip.compress(data) if compress else data))
    r = _replay("--source", source, str(fifo))
    writer.join(10)
    assert r.returncode == 0, r.stderr
    assert _ids(r.stdout) == ["TRC-1021"] * 3, r.stderr
    assert not writer.is_alive()


@pytest.mark.parametrize("source", ["auto", "audit"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_fifo_of_audit_records_is_read_whole(tmp_path: Path, source: str,
                                               compress: bool) -> None:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    data = AUDIT_LOG.encode()
    writer = _writer(fifo, _split(_gzip.compress(data) if compress else data))
    r = _replay("--source", source, str(fifo))
    writer.join(10)
    assert r.returncode == 0, r.stderr
    assert _ids(r.stdout) == AUDIT_IDS, r.stderr
    assert b"audit_records: 9" in r.stderr


@pytest.mark.parametrize("path", ["-", "/dev/stdin"])
@pytest.mark.parametrize(("data", "expected"), [
    (KCORE_LINE * 2, ["TRC-1021"] * 2), (_gzip.compress(KCORE_LINE * 2), ["TRC-1021"] * 2),
    (AUDIT_LOG.encode(), AUDIT_IDS), (_gzip.compress(AUDIT_LOG.encode()), AUDIT_IDS),
], ids=["json", "json-gzip", "audit", "audit-gzip"])
def test_a_pipe_on_stdin_is_sniffed_and_read_whole(path: str, data: bytes,
                                                   expected: list[str]) -> None:
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "memwarden", "replay", path], stdin=r,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "MEMWARDEN_CONFIG": ""})
    os.close(r)
    for chunk in _split(data):
        os.write(w, chunk)
    os.close(w)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert _ids(out) == expected, err


def test_a_socket_on_stdin_is_sniffed_and_read_whole() -> None:
    ours, theirs = _socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-m", "memwarden", "replay", "-"],
                            stdin=theirs.fileno(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "MEMWARDEN_CONFIG": ""})
    theirs.close()
    data = AUDIT_LOG.encode()
    for chunk in _split(data):
        ours.sendall(chunk)
    ours.shutdown(_socket.SHUT_WR)
    out, err = proc.communicate(timeout=60)
    ours.close()
    assert proc.returncode == 0, err
    assert _ids(out) == AUDIT_IDS, err


def test_rotated_regular_audit_files_are_still_replayed_oldest_first(tmp_path: Path) -> None:
    records = AUDIT_LOG.encode().splitlines(keepends=True)
    new, old = tmp_path / "audit.log", tmp_path / "audit.log.1"
    old.write_bytes(b"".join(records[:4]))
    new.write_bytes(b"".join(records[4:]))
    r = _replay(str(new), str(old))
    assert r.returncode == 0, r.stderr
    assert b"oldest first" in r.stderr
    assert _ids(r.stdout) == AUDIT_IDS, r.stderr


# -- class 13: files memwarden creates are 0600 (or the mode the user chose) -------------------

import stat  # noqa: E402


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask_022(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *argv], input=stdin,
                          capture_output=True, timeout=60, preexec_fn=lambda: os.umask(0o022),
                          env={**os.environ, "MEMWARDEN_CONFIG": ""})


@pytest.mark.parametrize("fmt", ["tracee", "table"])
def test_a_file_output_is_created_0600_under_umask_022(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "findings.out"
    r = _umask_022(["replay", "--format", fmt, "-o", f"file:{out}", "-"], KCORE_LINE)
    assert r.returncode == 0, r.stderr
    assert _mode(out) == 0o600 and out.read_bytes()


def test_the_mode_is_the_users_choice_by_config_or_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    cfg.write_text(f"file_mode: '0640'\noutputs: ['file:{a}']\n")
    r = _umask_022(["replay", "--config", str(cfg), "-"], KCORE_LINE)
    assert r.returncode == 0, r.stderr
    assert _mode(a) == 0o640
    r = _umask_022(["replay", "--file-mode", "0640", "-o", f"file:{b}", "-"], KCORE_LINE)
    assert r.returncode == 0, r.stderr
    assert _mode(b) == 0o640
    shown = _umask_022(["config", "show", "--config", str(cfg)])
    assert b"file_mode: '0640'" in shown.stdout


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    out.write_bytes(b"")
    out.chmod(0o644)  # the user's choice, made before
    r = _umask_022(["replay", "-o", f"file:{out}", "-"], KCORE_LINE)
    assert r.returncode == 0, r.stderr
    assert _mode(out) == 0o644 and out.read_bytes()


def test_service_install_creates_the_config_0600(tmp_path: Path) -> None:
    r = _umask_022(["service", "install", "--unit-dir", str(tmp_path / "units"),
                    "--config-dir", str(tmp_path / "etc"), "--no-start"])
    assert r.returncode == 0, r.stderr
    assert _mode(tmp_path / "etc" / "config.yaml") == 0o600
    assert _mode(tmp_path / "units" / "memwarden.service") == 0o644  # a unit, no findings


@pytest.mark.parametrize("argv", [
    ["replay", "--file-mode", "999", "/dev/null"], ["replay", "--file-mode", "rw", "/dev/null"],
    ["replay", "--file-mode", "01777", "/dev/null"], ["replay", "--file-mode", "", "/dev/null"],
])
def test_a_bad_file_mode_is_one_line_and_exit_2(argv: list[str]) -> None:
    code, out, err = cli(*argv)
    _one_error_line(code, out, err)


@pytest.mark.parametrize("text", ["file_mode: '0999'", "file_mode: true", "file_mode: 4096",
                                  "file_mode: [1]"])
def test_a_bad_file_mode_in_the_config_names_the_key(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text + "\n")
    code, out, err = cli("config", "show", "--config", str(cfg))
    _one_error_line(code, out, err)
    assert f"{cfg}: file_mode: " in err
