"""Allowlists: the YAML format and its errors, matching, merging over the defaults, the engine
counting what it exempts, and the CLI (--allowlist, signatures show)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from memwarden.core.event import Event, Finding
from memwarden.core.metadata import Properties, SignatureMetadata
from memwarden.engine.allowlist import (
    AllowEntry,
    Allowlist,
    AllowlistError,
    load_for,
    parse_text,
)
from memwarden.engine.dispatch import Engine
from memwarden.signatures import load_builtin
from memwarden.signatures.base import Signature

SIGPACK = Path(__file__).parent.parent / "data" / "sigpack"
CID = "7d0f2b9c4e1a5f3b8c6d2e9a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a5b8c"


def memwarden(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], capture_output=True,
                          timeout=60)


def ev(path: str = "/proc/42/mem", exe: str = "/usr/bin/gdb", comm: str = "gdb", uid: int = 0,
       cid: str = "", image: str = "") -> Event:
    return Event.new("security_file_open", [("pathname", "const char*", path),
                                            ("flags", "int", 0)],
                     processId=7, threadId=7, hostProcessId=7, executable={"path": exe},
                     processName=comm, userId=uid, containerId=cid,
                     container={"id": cid, "image": image} if cid else {})


def entry(**kw) -> AllowEntry:
    return AllowEntry.build("test", **kw)


@pytest.mark.parametrize(("kw", "event", "matches"), [
    ({"executables": ["/usr/bin/gdb"]}, ev(), True),
    ({"executables": ["/usr/bin/gd"]}, ev(), False),
    ({"executables": ["/usr/*/gdb"]}, ev(), True),
    ({"executables": ["/opt/*"]}, ev(exe="/opt/tools/bin/dump"), True),  # * crosses /
    ({"process_names": ["systemd-coredump"]}, ev(comm="systemd-coredum"), True),  # 15 chars
    ({"process_names": ["gdb"]}, ev(comm="gdbx"), False),
    ({"users": [0]}, ev(uid=0), True),
    ({"users": ["root"]}, ev(uid=0), True),
    ({"users": ["root"]}, ev(uid=1000), False),
    ({"users": ["no-such-user-here"]}, ev(uid=0), False),
    ({"containers": ["7d0f2b9c"]}, ev(cid=CID), True),
    ({"containers": ["7d0f2b9c"]}, ev(), False),  # never a host process
    ({"images": ["nginx:*"]}, ev(cid=CID, image="nginx:1.25"), True),
    ({"images": ["nginx:*"]}, ev(cid=CID, image="redis:7"), False),
    ({"paths": ["/proc/*/mem"]}, ev(), True),
    ({"paths": ["/dev/mem"]}, ev(), False),
    ({"executables": ["/usr/bin/gdb"], "users": [1000]}, ev(uid=0), False),  # all must match
    ({"executables": ["/bin/x", "/usr/bin/gdb"], "users": [5, 0]}, ev(), True),  # any value
])
def test_entry_matching(kw, event, matches) -> None:
    assert entry(**kw).matches(event) is matches


def test_an_entry_needs_a_criterion() -> None:
    with pytest.raises(ValueError, match="at least one of"):
        AllowEntry.build("x", reason="because")


@pytest.mark.parametrize(("text", "message"), [
    ("global: [\n", "f.yaml:2:1: invalid YAML"),
    ("- a\n", "f.yaml:1: (top level): expected a mapping"),
    ("globals: []\n", "f.yaml:1: globals: unknown key"),
    ("use_defaults: maybe\n", "f.yaml:1: use_defaults: expected true or false"),
    ("global: {executable: /x}\n", "f.yaml:1: global: expected a list of entries"),
    ("global:\n  - exe: /x\n", "f.yaml:2: global[0].exe: unknown key"),
    ("global:\n  - reason: only a reason\n", "f.yaml:2: global[0]: an allowlist entry needs"),
    ("signatures:\n  core_dump_read:\n    - user: [root, 1.5]\n",
     "f.yaml:3: signatures.core_dump_read[0].user: expected a uid (integer) or a user name"),
    ("global:\n  - container: ABC\n", "global[0].container: expected a container id prefix"),
    ("global:\n  - executable: []\n", "global[0].executable: expected a value or a non-empty"),
    ("global:\n  - executable: gdb\n", "expected an absolute path or a glob, got 'gdb'"),
    ("global:\n  - path: 3\n", "global[0].path: expected a non-empty string, got 3"),
    ("global:\n  - user: 0\n    reason: [x]\n", "global[0].reason: expected a string"),
])
def test_bad_files_name_file_line_key_and_problem(text: str, message: str) -> None:
    with pytest.raises(AllowlistError) as exc:
        parse_text(text, "f.yaml")
    assert message in str(exc.value)


def test_user_files_merge_over_the_defaults_in_order(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("global:\n  - user: 4242\n    reason: the lab robot\n"
                 "signatures:\n  MW-1001:\n    - executable: /opt/crash/bin/crash\n")
    b = tmp_path / "b.yaml"
    b.write_text("signatures:\n  core_dump_read:\n    - process_name: gcore\n")
    al = Allowlist.load([a, b])
    lines = al.describe("MW-1001", "core_dump_read")
    assert lines[0].startswith("global: user 4242 — the lab robot [")
    assert any("systemd-coredump" in x for x in lines)  # defaults kept
    plain = [x.split(" [")[0] for x in lines]
    assert "executable /opt/crash/bin/crash" in plain and "process_name gcore" in plain
    b.write_text("use_defaults: false\n")
    al = Allowlist.load([a, b])
    assert not any("systemd" in x for x in al.describe("MW-1001", "core_dump_read"))
    assert al.sources == (str(a), str(b))


def test_an_empty_user_file_is_fine_and_unknown_signature_keys_are_errors(
        tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert Allowlist.load([empty])
    typo = tmp_path / "typo.yaml"
    typo.write_text("signatures:\n  core_dump_reed:\n    - user: 0\n")
    with pytest.raises(AllowlistError, match=r"typo.yaml:3: signatures.core_dump_reed: no "):
        load_for(load_builtin(), [typo])


class FalcoLike(Signature):
    """Stands in for a compiled Falco rule: a detector that is not a built-in signature."""

    metadata = SignatureMetadata("Read sensitive file", "1", "Read sensitive file",
                                 "Read sensitive file", "d", Properties(2, "c", "t"))
    events = ("security_file_open",)

    def match(self, event: Event):
        return {}


def test_engine_drops_and_counts_exempted_findings_for_every_detector(tmp_path: Path) -> None:
    f = tmp_path / "al.yaml"
    f.write_text("global:\n  - executable: /usr/bin/gdb\n"
                 "signatures:\n  Read sensitive file:\n    - user: 1000\n")
    detectors = [*load_builtin(), FalcoLike()]
    engine = Engine(detectors, allowlist=load_for(detectors, [f]))
    assert engine.process_event(ev()) == []  # gdb: global entry, for the rule too
    found = engine.process_event(ev(exe="/tmp/x", uid=1000))
    assert [x.metadata.id for x in found] == ["TRC-1023"]  # the rule's own entry applies
    assert engine.stats.findings_allowlisted == {"TRC-1023": 1, "Read sensitive file": 2}
    assert engine.stats.as_dict()["findings_allowlisted"] == {"Read sensitive file": 2,
                                                              "TRC-1023": 1}


def test_exempting_names_the_entry() -> None:
    al = Allowlist([entry(users=[0], reason="root is trusted here")])
    f = Finding(FalcoLike.metadata, ev())
    assert al.exempting(f).reason == "root is trusted here"
    assert Allowlist().exempting(f) is None and not Allowlist()


def test_cli_allowlist_option_and_bad_file_exit_2(tmp_path: Path) -> None:
    fires = str(SIGPACK / "core_dump_read.fires.jsonl")
    r = memwarden("replay", fires)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 5
    al = tmp_path / "al.yaml"
    al.write_text("signatures:\n  core_dump_read:\n    - executable: /usr/bin/zstd\n"
                  "      path: /var/lib/systemd/coredump/*\n")
    r = memwarden("replay", "--stats", "--allowlist", str(al), fires)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4
    assert "findings_allowlisted:\n    MW-1001: 1" in r.stderr.decode()
    al.write_text("signatures:\n  core_dump_read:\n    - executable: zstd\n")
    r = memwarden("replay", "--allowlist", str(al), fires)
    assert r.returncode == 2 and r.stdout == b""
    assert f"memwarden: {al}:3: signatures.core_dump_read[0].executable" in r.stderr.decode()
    r = memwarden("replay", "--allowlist", str(tmp_path / "nope.yaml"), fires)
    assert r.returncode == 2 and b"cannot read" in r.stderr


def test_signatures_show_prints_the_allowlist_in_force(tmp_path: Path) -> None:
    page = memwarden("signatures", "show", "core_dump_tampering").stdout.decode()
    section = page.split("## ALLOWLIST IN FORCE")[1].split("##")[0]
    assert "/usr/lib/systemd/systemd-coredump" in section and "systemd-tmpfiles" in section
    page = memwarden("signatures", "show", "proc_mem_access").stdout.decode()
    assert "## ALLOWLIST IN FORCE\n\n- none: every match is reported" in page
    al = tmp_path / "al.yaml"
    al.write_text("global:\n  - user: 0\n    reason: lab host\n"
                  "signatures:\n  TRC-1023:\n    - executable: /usr/bin/gdb\n")
    page = memwarden("signatures", "show", "--allowlist", str(al), "proc_mem_access").stdout
    section = page.decode().split("## ALLOWLIST IN FORCE")[1].split("##")[0]
    assert "- global: user 0 — lab host" in section and "- executable /usr/bin/gdb [" in section
    bad = memwarden("signatures", "show", "--allowlist", str(tmp_path / "x"), "TRC-1023")
    assert bad.returncode == 2


def test_default_allowlist_entries_exempt_their_programs_only_for_their_paths() -> None:
    al = Allowlist.load()
    coredumpctl = ev("/var/lib/systemd/coredump/core.x.zst", "/usr/bin/coredumpctl",
                     "coredumpctl")
    f = Finding(load_builtin()[5].metadata, coredumpctl)
    assert f.metadata.event_name == "core_dump_read"
    assert al.exempting(f) is not None
    filter_read = ev("/proc/42/coredump_filter", "/usr/bin/coredumpctl", "coredumpctl")
    assert al.exempting(Finding(f.metadata, filter_read)) is None
    spoofed = ev("/var/lib/systemd/coredump/core.x.zst", "/tmp/coredumpctl", "coredumpctl")
    assert al.exempting(Finding(f.metadata, spoofed)) is None


def test_findings_json_is_unchanged_by_an_allowlist_that_does_not_match(tmp_path: Path) -> None:
    fires = str(SIGPACK / "proc_mem_access.fires.jsonl")
    al = tmp_path / "al.yaml"
    al.write_text("global:\n  - executable: /nowhere\n")
    plain = [orjson.loads(x) for x in memwarden("replay", fires).stdout.splitlines()]
    with_al = [orjson.loads(x) for x in
               memwarden("replay", "--allowlist", str(al), fires).stdout.splitlines()]
    assert plain == with_al and len(plain) == 5  # 5 reads (an O_RDWR open writes nothing)


def test_signatures_show_uses_the_config_file_s_allowlists_unless_flags_replace_them(
        tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text("global:\n  - user: 4242\n    reason: lab robot\n")
    other = tmp_path / "other.yaml"
    other.write_text("global:\n  - user: 4343\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"allowlists: [{lab}]\n")
    page = memwarden("signatures", "show", "--config", str(cfg), "MW-1006").stdout.decode()
    assert "- global: user 4242 — lab robot" in page
    page = memwarden("signatures", "show", "--config", str(cfg), "--allowlist", str(other),
                     "MW-1006").stdout.decode()
    assert "user 4343" in page and "user 4242" not in page


def test_an_entry_by_kubernetes_namespace_matches_the_enriched_pod() -> None:
    e = entry(pod_namespaces=["kube-*", "monitoring"])
    in_pod = ev(cid=CID, image="agent:1")
    in_pod.data["kubernetes"] = {"podName": "agent-x", "podNamespace": "kube-system"}
    other = ev(cid=CID)
    other.data["kubernetes"] = {"podName": "web", "podNamespace": "shop"}
    assert e.matches(in_pod) and not e.matches(other) and not e.matches(ev())
    parsed = parse_text("global:\n  - pod_namespace: [monitoring]\n", "f.yaml")
    assert parsed.global_entries[0].pod_namespaces == ("monitoring",)
    assert parsed.global_entries[0].matches(other) is False
