"""The probe's build manifest and the staleness check by content: a source edit is noticed
whatever the mtimes say, a touched file or an installed package (mtimes set by the installer)
is not a warning, and a missing compiler is a build-time error that names what to install."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from memwarden.cli import main
from memwarden.sources.ebpf import libbpf as B
from memwarden.sources.ebpf import probe_build as P
from memwarden.sources.ebpf import sensor as S

needs_clang = pytest.mark.skipif(
    shutil.which("clang") is None or not P.HELPERS_HEADER.is_file(),
    reason="needs clang and libbpf-dev (scripts/setup.sh installs them)")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A probe source directory with a fake object and its manifest."""
    src = tmp_path / "ebpf"
    src.mkdir()
    (src / "a.bpf.c").write_text("int a;\n")
    (src / "a.h").write_text("#define A 1\n")
    obj = src / "a.bpf.o"
    obj.write_bytes(b"\x7fELF fake")
    P.manifest_path(obj).write_text(json.dumps({
        "source_sha256": P.source_hash(src), "object_sha256": P.file_hash(obj)}))
    return src


def test_hash_covers_names_and_contents(tree: Path) -> None:
    before = P.source_hash(tree)
    assert before is not None and re.fullmatch(r"[0-9a-f]{64}", before)
    (tree / "a.h").write_text("#define A 2\n")
    assert P.source_hash(tree) != before
    (tree / "a.h").write_text("#define A 1\n")
    assert P.source_hash(tree) == before
    (tree / "a.h").rename(tree / "b.h")
    assert P.source_hash(tree) != before
    assert P.source_hash(tree / "nothing") is None


def test_fresh_object_is_quiet_whatever_the_mtimes(tree: Path) -> None:
    future = (tree / "a.bpf.o").stat().st_mtime + 3600
    os.utime(tree / "a.h", (future, future))  # newer than the object: says nothing
    state = P.probe_state(tree / "a.bpf.o", tree, rebuild="make it")
    assert state.problem is None
    assert state.short_hash == P.source_hash(tree)[:12]


def test_edited_source_is_stale(tree: Path) -> None:
    (tree / "a.h").write_text("#define A 2\n")
    old = os.stat(tree / "a.bpf.o").st_mtime - 3600
    os.utime(tree / "a.h", (old, old))  # older than the object: still stale
    problem = P.probe_state(tree / "a.bpf.o", tree, rebuild="bash scripts/build-bpf.sh").problem
    assert problem is not None
    assert f"the probe sources in {tree} changed since {tree / 'a.bpf.o'} was built" in problem
    assert problem.endswith("; rebuild it with bash scripts/build-bpf.sh")


def test_installed_without_sources_trusts_the_manifest(tree: Path, tmp_path: Path) -> None:
    assert P.probe_state(tree / "a.bpf.o", tmp_path / "no-sources").problem is None


def test_missing_manifest_and_replaced_object(tree: Path) -> None:
    (tree / "a.bpf.o").write_bytes(b"\x7fELF other")
    assert "is not the object its manifest (a.bpf.o.json) describes" in \
        P.probe_state(tree / "a.bpf.o", tree).problem
    P.manifest_path(tree / "a.bpf.o").unlink()
    state = P.probe_state(tree / "a.bpf.o", tree)
    assert state.source_sha256 is None and state.short_hash == "unknown"
    assert "has no build manifest (a.bpf.o.json)" in state.problem


def test_no_clang_is_a_build_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(P.BuildError) as exc:
        P.build(tmp_path, clang="no-such-clang-anywhere")
    assert str(exc.value).startswith("no-such-clang-anywhere not found: compiling memwarden's "
                                     "BPF probe needs clang (apt-get install clang llvm "
                                     "libbpf-dev)")
    assert "the installed package needs only libbpf1" in str(exc.value)
    assert not list(tmp_path.iterdir())


@needs_clang
def test_build_writes_object_and_manifest(tmp_path: Path) -> None:
    [obj] = P.build(tmp_path, names=["empty.bpf.c"], log=lambda _m: None)
    assert obj == tmp_path / "empty.bpf.o" and obj.read_bytes()[:4] == b"\x7fELF"
    m = P.read_manifest(obj)
    assert m["source_sha256"] == P.source_hash(P.SOURCE_DIR)
    assert m["object_sha256"] == P.file_hash(obj)
    assert m["source"] == "empty.bpf.c" and m["compiler"].lower().find("clang") >= 0
    assert P.probe_state(obj, P.SOURCE_DIR).problem is None


def test_sensor_judges_the_object_against_the_package_sources(monkeypatch, tree: Path) -> None:
    monkeypatch.setattr(S, "PACKAGE_DIR", tree)
    assert S.probe_state(tree / "a.bpf.o").problem is None
    (tree / "a.bpf.c").write_text("int b;\n")
    assert S.probe_state(tree / "a.bpf.o").problem.endswith(
        f"rebuild it with {S.BUILD_COMMAND}")


def test_missing_object_outside_a_dev_tree(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(S.os, "geteuid", lambda: 0)
    (tmp_path / "vmlinux").write_bytes(b"")
    monkeypatch.setattr(S, "BTF_PATH", str(tmp_path / "vmlinux"))
    monkeypatch.setattr(S, "in_dev_tree", lambda: False)
    with pytest.raises(S.E.ObjectMissing, match="install memwarden from its wheel"):
        S.preflight(tmp_path / "memwarden.bpf.o")


def test_version_names_the_probe(monkeypatch, tree: Path) -> None:
    monkeypatch.setenv(S.OBJECT_ENV, str(tree / "a.bpf.o"))
    out = CliRunner().invoke(main, ["--version"]).output
    assert re.fullmatch(r"memwarden \d+\.\d+\.\d+ \(probe [0-9a-f]{12}\)\n", out), out
    assert P.source_hash(tree)[:12] in out
    monkeypatch.setenv(S.OBJECT_ENV, str(tree / "absent.bpf.o"))
    assert CliRunner().invoke(main, ["-V"]).output.endswith("(probe not built)\n")


def test_libbpf_missing_says_which_package(monkeypatch) -> None:
    def refuse(name, *a, **kw):
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(ctypes, "CDLL", refuse)
    with pytest.raises(B.LibbpfMissing) as exc:
        B._Lib()
    assert "install libbpf1 (Debian/Ubuntu: apt-get install libbpf1)" in str(exc.value)
