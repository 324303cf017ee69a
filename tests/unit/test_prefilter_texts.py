"""Falco rules without path filters still let replay skip lines: the strings their conditions
imply (``proc.name in (...)``, ``fd.name contains``, ``fd.directory = /`` ...) become needles,
and a needle found only in the process's executable path keeps no line; parsed records are
gated by the same strings and by the open's access mode (``open_read``, ``open_write``).
Replayed with the prefilter (both scanners) and without, and every event given to the rules
without any gate, generated streams give the same findings, escaped and v1beta1 spellings
included."""

from __future__ import annotations

import io
import random
from pathlib import Path

import orjson
import pytest

from memwarden.benchmarks.generate import generate_lines
from memwarden.core.requirements import TextFilter
from memwarden.engine.dispatch import Engine
from memwarden.engine.prefilter import HYPERSCAN, Prefilter
from memwarden.events.tracee_json import event_from_dict, legacy_to_v1beta1
from memwarden.rules.falco import load_rules
from memwarden.signatures import load_builtin
from memwarden.sources.tracee_json import JsonLinesReplay

SCANNERS = ["re", "hyperscan"] if HYPERSCAN else ["re"]

RULES = """
- macro: open_write
  condition: (evt.type in (open,openat) and evt.is_open_write=true and fd.typechar='f')
- macro: open_read
  condition: (evt.type in (open,openat) and evt.is_open_read=true and fd.typechar='f')
- rule: shell spawned
  desc: d
  condition: evt.type = execve and proc.name in (bash, sh) and not proc.pname = sshd
  output: "%proc.name"
  priority: WARNING
- rule: write below root
  desc: d
  condition: open_write and (fd.directory = / or fd.name startswith /root/)
  output: "%fd.name"
  priority: ERROR
- rule: key read
  desc: d
  condition: >
    open_read and (fd.name contains id_rsa or fd.nameraw glob '*../*/shadow')
    and not proc.name = sshd
  output: "%fd.name"
  priority: ERROR
- rule: write below bin
  desc: d
  condition: open_write and fd.directory in (/usr/bin, /bin)
  output: "%fd.name"
  priority: ERROR
- rule: truncate log
  desc: d
  condition: open_write and fd.name startswith /var/log/ and evt.arg.flags contains O_TRUNC
  output: "%fd.name"
  priority: ERROR
- rule: write below etc
  desc: d
  condition: open_write and fd.name startswith /etc/
  output: "%fd.name"
  priority: ERROR
- rule: gshadow read
  desc: d
  condition: open_read and fd.name = /etc/gshadow
  output: "%fd.name"
  priority: ERROR
- rule: binary removed
  desc: d
  condition: >
    evt.type in (unlink, unlinkat, rename, renameat) and (evt.arg.path startswith /bin/
    or evt.arg.name startswith /bin/ or evt.arg.oldpath startswith /bin/
    or evt.arg.newpath startswith /usr/bin/)
  output: "%evt.args"
  priority: ERROR
- rule: tar reads
  desc: d
  condition: open_read and proc.name = tar and fd.name pmatch (/var/lib/kubelet)
  output: "%fd.name"
  priority: NOTICE
"""


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "texts.yaml"
    path.write_text(RULES)
    return path


def test_conditions_without_paths_give_text_filters(rules_file: Path) -> None:
    req = {d.detector_id: d.requirements for d in load_rules([rules_file]).detectors}
    assert set(req["shell spawned"].texts_for("sched_process_exec")) == {
        TextFilter("sched_process_exec", "exact", "bash", ("processName",)),
        TextFilter("sched_process_exec", "exact", "sh", ("processName",))}
    assert set(req["write below root"].texts_for("security_file_open")) == {
        TextFilter("security_file_open", "directory", "/", ("args.pathname",)),
        TextFilter("security_file_open", "prefix", "/root/", ("args.pathname",))}
    assert {(f.kind, f.value) for f in req["key read"].texts_for("security_file_open")} == {
        ("contains", "id_rsa"), ("contains", "/shadow")}
    # evt.arg.<a path> on an event: the record's argument its profile names
    assert {(f.kind, f.value, f.sources) for f in
            req["binary removed"].texts_for("security_inode_unlink")} == {
        ("prefix", "/bin/", ("args.pathname",))}
    # a path filter where there is one (the kernel's and the engine's gate), no text filter
    assert req["write below bin"].paths_for("security_file_open")
    assert not req["write below bin"].texts_for("security_file_open")


def _hits(rng: random.Random) -> list[bytes]:
    """Events the rules fire on (and near misses), from the benchmark's background."""
    out = []
    for line in generate_lines(800, hit_rate=0.0, seed=rng.randrange(1 << 30)):
        d = orjson.loads(line)
        roll = rng.random()
        if d["eventName"] == "sched_process_exec" and roll < 0.5:
            d["processName"] = rng.choice(("bash", "sh", "bash2", "xsh"))
        elif d["eventName"] == "security_file_open" and roll < 0.6:
            path = rng.choice(("/x", "/", "/root/.profile", "/home/u/.ssh/id_rsa",
                               "/etc/../etc/shadow", "/usr/bin/ls", "/bin/sh", "/xy/z",
                               "/var/lib/kubelet/pods/a", "/var/lib/kubeletx", "/var/log/x",
                               "/etc/gshadow", "/etc/passwd"))
            for a in d["args"]:
                if a["name"] in ("pathname", "syscall_pathname"):
                    a["value"] = path
            d["args"][1]["value"] = rng.choice((1, 0o101, 0, 32768, 0o1101, 0o2101,
                                                "O_WRONLY|O_TRUNC", "O_WRONLY|O_APPEND"))
            if rng.random() < (0.7 if path.startswith("/var/lib/kubelet") else 0.2):
                d["processName"] = rng.choice(("tar", "tar", "sshd"))
        elif d["eventName"] == "security_inode_unlink" and roll < 0.9:
            d["args"][0]["value"] = rng.choice(("/bin/ls", "/bin/sh", "/usr/bin/ls", "/bin"))
        if rng.random() < 0.2:
            d = legacy_to_v1beta1(d)
        raw = orjson.dumps(d)
        op = rng.random()
        if op < 0.1:
            raw = raw.replace(b"/", b"\\/")
        elif op < 0.2:
            raw = raw.replace(b"h", b"\\u0068")  # no h in true, false, null
        elif op < 0.25:
            raw = raw.replace(b'":', b'": ')
        out.append(raw + b"\n")
    return out


def _replay(data: bytes, rules_file: Path, scanner: str | None) -> tuple[list, int]:
    found: list = []
    engine = Engine([*load_builtin(), *load_rules([rules_file]).detectors],
                    sink=lambda f: found.append((f.metadata.id, f.event.timestamp)))
    if scanner is not None:
        p = engine.prefilter
        engine.prefilter = Prefilter(p.wanted, p.gated, scanner=scanner,
                                      flag_conditions=p.flag_conditions,
                                      identities=p.identities,
                                      arg_conditions=p.arg_conditions)
    r = JsonLinesReplay("<t>", engine, err=io.StringIO(), prefilter=scanner is not None)
    stream = io.BytesIO(data)
    r._run(stream, stream, "<t>")
    return found, engine.stats.events_prefiltered


def _ungated(data: bytes, rules_file: Path) -> list:
    """Every event given to the detectors as a source gives it (no gate, no prefilter)."""
    found: list = []
    engine = Engine([*load_builtin(), *load_rules([rules_file]).detectors],
                    sink=lambda f: found.append((f.metadata.id, f.event.timestamp)))
    for line in data.splitlines():
        engine.process_event(event_from_dict(orjson.loads(line)))
    return found


@pytest.mark.parametrize("seed", range(6))
def test_the_prefilter_with_text_needles_finds_what_the_full_replay_finds(
        rules_file: Path, seed: int) -> None:
    data = b"".join(_hits(random.Random(seed)))
    full, _ = _replay(data, rules_file, None)
    assert {rule for rule, _ in full} >= {"shell spawned", "write below root", "key read",
                                          "write below bin", "tar reads", "truncate log",
                                          "write below etc", "binary removed"}
    assert full == _ungated(data, rules_file)  # the engine's gates drop no finding
    for scanner in SCANNERS:
        found, skipped = _replay(data, rules_file, scanner)
        assert found == full, scanner
        assert skipped > 0  # the opens of /etc, the execs of ls: never parsed


def test_a_needle_only_in_the_executable_path_keeps_no_line(rules_file: Path) -> None:
    engine = Engine(load_rules([rules_file]).detectors)
    line = (b'{"eventName":"security_file_open","processName":"cat",'
            b'"executable":{"path":"/usr/bin/cat"},"args":[{"name":"pathname",'
            b'"value":"/srv/hosts"}]}\n')
    assert engine.prefilter.kept(line) == []
    written = line.replace(b'"/srv/hosts"', b'"/usr/bin/cat"')
    assert engine.prefilter.kept(written) == [0]
    spaced = line.replace(b'"executable":{', b'"executable": {')  # another spelling: kept
    assert engine.prefilter.kept(spaced) == [0]


def test_rules_with_paths_and_an_access_mode_still_filter_by_path_in_the_kernel(
        tmp_path: Path) -> None:
    """The access-mode gate of a rule with path filters leaves its paths where they were: the
    sensor's kernel filters (Engine.path_filters_for) and replay's needles."""
    rules = tmp_path / "r.yaml"
    rules.write_text("""
- rule: shadow read
  desc: d
  condition: evt.type = openat and evt.is_open_read = true and fd.name = /etc/shadow
  output: "%fd.name"
  priority: ERROR
""")
    (det,) = load_rules([rules]).detectors
    assert det.requirements.args_for("security_file_open")  # the access mode
    engine = Engine([det])
    paths = engine.path_filters_for("security_file_open")
    assert paths is not None and paths.matches("/etc/shadow") and not paths.matches("/etc/x")
    assert "security_file_open" not in engine.prefilter.wanted
    line = (b'{"eventName":"security_file_open","args":[{"name":"pathname","value":"%s"},'
            b'{"name":"flags","value":%d}]}')
    assert engine.prefilter.kept(line % (b"/etc/hosts", 0) + b"\n") == []
    assert engine.process_dict(orjson.loads(line % (b"/etc/shadow", 1))) == ()  # written
    assert engine.stats.events_path_filtered == 1
    assert len(engine.process_dict(orjson.loads(line % (b"/etc/shadow", 0)))) == 1
