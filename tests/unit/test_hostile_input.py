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
