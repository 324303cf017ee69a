"""The Falco rules of one event evaluated together (one generated decision tree) match exactly
the rules that match one by one, on every event; a rule that raises costs only itself."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson

from memwarden.benchmarks.generate import write_lines
from memwarden.core.event import Event, EventFormatError
from memwarden.engine.dispatch import Engine
from memwarden.events.tracee_json import event_from_dict
from memwarden.rules.falco import load_rules

DATA = Path(__file__).parent.parent / "data" / "rules"

SHARED = """
- list: shells
  items: [bash, sh, zsh, dash]
- list: readers
  items: [cat, dd, gdb]
- macro: open_read
  condition: >
    (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f'
     and fd.num>=0)
- macro: open_write
  condition: >
    (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f'
     and fd.num>=0)
- macro: etc_dir
  condition: (fd.name startswith /etc/ or fd.directory = /etc)
- rule: read etc by shell
  desc: d
  condition: open_read and etc_dir and proc.name in (shells)
  output: "%proc.name %fd.name"
  priority: WARNING
- rule: read etc by reader
  desc: d
  condition: open_read and etc_dir and proc.name in (readers) and not fd.name endswith .conf
  output: "%proc.name %fd.name"
  priority: WARNING
- rule: write etc
  desc: d
  condition: open_write and etc_dir
  output: "%fd.name"
  priority: ERROR
- rule: write anything
  desc: d
  condition: open_write and not proc.name exists
  output: "%fd.name"
  priority: NOTICE
- rule: proc paths
  desc: d
  condition: open_read and (fd.name glob '/proc/*/stat' or fd.name pmatch (/proc/self, /sys/fs))
  output: "%fd.name"
  priority: NOTICE
- rule: log contains
  desc: d
  condition: open_read and fd.name contains log and fd.name != /var/log/syslog
  output: "%fd.name"
  priority: NOTICE
- rule: suffix any
  desc: d
  condition: evt.type in (open, openat) and fd.name endswith anyof (.so.6, .cache)
  output: "%fd.name"
  priority: NOTICE
- rule: same name
  desc: d
  condition: open_read and proc.name = val(proc.pname)
  output: "%fd.name"
  priority: NOTICE
- rule: build output
  desc: d
  condition: evt.type in (open, openat) and fd.name startswith /tmp/build and proc.name != sh
  output: "%fd.name"
  priority: NOTICE
- rule: shell spawned
  desc: d
  condition: evt.type = execve and proc.name in (shells, ls)
  output: "%proc.cmdline"
  priority: NOTICE
- rule: exec ls
  desc: d
  condition: evt.type = execve and proc.name = ls and not proc.name in (shells)
  output: "%proc.cmdline"
  priority: NOTICE
"""


def _events(tmp_path: Path) -> list[Event]:
    path = tmp_path / "events.json"
    write_lines(str(path), 6000, 0.05)
    events = [event_from_dict(orjson.loads(line)) for line in path.read_bytes().splitlines()]
    for name, flags in (("/etc/shadow", "O_RDONLY"), ("/etc/x.conf", "O_WRONLY|O_CREAT"),
                        ("/etc", "O_RDONLY"), ("/proc/77/stat", 0), ("/x/log/a", 0)):
        events.append(Event.new("security_file_open", [
            ("pathname", "const char*", name), ("flags", "int", flags),
            ("dev", "dev_t", 1), ("inode", "unsigned long", 2)],
            processName="cat", syscall="openat"))
    return events


def _rules_files(tmp_path: Path) -> list[list[str]]:
    mine = tmp_path / "shared.yaml"
    mine.write_text(SHARED)
    sets = [[str(mine)], [str(DATA / "constructs.yaml")], [str(DATA / "seed004.yaml")]]
    official = os.environ.get("MEMWARDEN_FALCO_RULES_DIR")
    if official:  # Falco's own files, when a copy is at hand (never committed)
        names = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
        sets.append([str(Path(official) / n) for n in names if (Path(official) / n).exists()])
    return sets


def test_the_tree_matches_exactly_the_rules_that_match_one_by_one(tmp_path: Path) -> None:
    events = _events(tmp_path)
    for files in _rules_files(tmp_path):
        dets = load_rules(files).detectors
        by_event: dict[str, list] = {}
        for d in dets:
            for sel in d.requirements.selectors:
                by_event.setdefault(sel.event_name, []).append(d)
        batches = {name: type(ds[0]).batch(name, ds, _fail) for name, ds in by_event.items()}
        fired = 0
        for ev in events:  # (constructs.yaml's rules fire on none of them: compared anyway)
            ds = by_event.get(ev.name)
            if not ds:
                continue
            one_by_one = [d.detector_id for d in ds if d.on_event(ev)]
            together = [f.metadata.id for f in batches[ev.name](ev)]
            assert together == one_by_one, (files, ev.name, ev.arg("pathname"))
            fired += len(together)
        assert fired > 0 or "shared.yaml" not in files[0], files  # the corpus exercises them


def _fail(detector_id: str, ev: Event, exc: Exception) -> None:
    raise AssertionError(f"{detector_id} raised {exc!r}")


def test_a_rule_that_raises_costs_only_itself(tmp_path: Path) -> None:
    mine = tmp_path / "shared.yaml"
    mine.write_text(SHARED)
    dets = [d for d in load_rules([str(mine)]).detectors
            if "security_file_open" in d.requirements.event_names]
    ev = Event.new("security_file_open", [
        ("pathname", "const char*", "/etc/shadow"), ("flags", "int", "O_RDONLY"),
        ("dev", "dev_t", 1), ("inode", "unsigned long", 2)], processName="sh", syscall="openat")
    broken = next(d for d in dets if d.detector_id == "read etc by reader")

    def boom(_ev: Event) -> bool:
        raise RuntimeError("boom")
    broken._predicates["security_file_open"] = boom
    broken.compiled.conjuncts["security_file_open"] = (("boom",), boom, None),
    errors: list[str] = []
    evaluate = type(dets[0]).batch("security_file_open", dets,
                                   lambda i, e, x: errors.append(i))
    assert [f.metadata.id for f in evaluate(ev)] == ["read etc by shell"]
    assert errors == ["read etc by reader"]

    def malformed(_ev: Event) -> bool:
        raise EventFormatError("args.flags must be an integer")
    broken._predicates["security_file_open"] = malformed
    broken.compiled.conjuncts["security_file_open"] = (("bad",), malformed, None),
    err = io.StringIO()
    engine = Engine(dets, err=err)
    engine.process_event(ev)
    assert engine.stats.parse_errors == 1 and "malformed" in err.getvalue()
    assert engine.stats.findings_by_detector["read etc by shell"] == 1  # kept
