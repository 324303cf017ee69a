"""Live, with Falco's own current rules files: "PTRACE attached to process" and "Read
environment variable from /proc files" fire on real actions inside a podman container, and
their alerts carry every field their output names, resolved.

Falco's rules files are not ours to commit, and CI has no network to fetch them: these tests
run when ``MEMWARDEN_FALCO_RULES_DIR`` names a directory holding falco_rules.yaml,
falco-incubating_rules.yaml and falco-sandbox_rules.yaml (falcosecurity/rules, ``rules/``), and
skip otherwise. They are marked ``falco_official``, not ``live``, for that reason alone: the
skip is the files' absence, never the kernel's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from ebpf_live import CSRC
from podman_live import (
    IMAGE,
    WAIT_S,
    Memwarden,
    PodmanService,
    ensure_image,
    json_lines,
    podman_run,
    require_podman,
    wait_for,
)

pytestmark = pytest.mark.falco_official

FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
FIELD = re.compile(r"%([a-z0-9_]+(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?)")
# fields a container process may rightly lack: no login session (loginuid -1 is a value),
# no controlling terminal (0 is a value), ancestors above the container's init
MAY_BE_NA = re.compile(r"proc\.aname\[\d\]")


def _rules_dir() -> Path:
    d = os.environ.get("MEMWARDEN_FALCO_RULES_DIR")
    if not d:
        pytest.skip("set MEMWARDEN_FALCO_RULES_DIR to a directory holding Falco's rules files "
                    f"({', '.join(FILES)}) from falcosecurity/rules")
    missing = [f for f in FILES if not (Path(d) / f).is_file()]
    if missing:
        pytest.skip(f"{d} lacks {', '.join(missing)}")
    return Path(d)


@pytest.fixture()
def service(tmp_path: Path):
    rules = _rules_dir()
    require_podman()
    ensure_image(tmp_path)
    svc = PodmanService(tmp_path / "podman.sock")
    try:
        yield svc, rules
    finally:
        svc.stop()


def _rule_output(rules: Path, name: str) -> str:
    """The ``output`` template of rule ``name`` as the official file writes it."""
    import yaml

    for f in FILES:
        for item in yaml.safe_load((rules / f).read_text()) or []:
            if isinstance(item, dict) and item.get("rule") == name:
                return str(item["output"])
    raise AssertionError(f"no rule {name!r} in {rules}")


def _start(tmp_path: Path, sock: str, rules: Path) -> tuple[Memwarden, Path]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"containers:\n  sockets: [{sock}]\n  wait: 10\n")
    falco = tmp_path / "falco.jsonl"
    args = ["--config", str(cfg)]
    for f in FILES:
        args += ["--rules", str(rules / f)]
    mw = Memwarden(*args, "--output", f"falco:file:{falco}")
    mw.wait_stderr("memwarden: ready")
    return mw, falco


def _alert(path: Path, rule: str, process: str) -> dict[str, Any] | None:
    """The alert of ``rule`` for the container's process named ``process`` (the rules'
    output fields name no container: the rule's own ``container`` test says where it was)."""
    for a in json_lines(path):
        if a.get("rule") == rule and a.get("output_fields", {}).get("proc.name") == process:
            return a
    return None


def _assert_complete(alert: dict[str, Any], template: str) -> None:
    fields = alert["output_fields"]
    for name in FIELD.findall(template):
        assert name in fields, (name, alert)
        if not MAY_BE_NA.fullmatch(name):
            assert fields[name] not in (None, "<NA>", ""), (name, alert)
    assert alert["source"] == "syscall" and alert["priority"] in ("Warning", "Notice")
    # the output line is Falco's: "TIME: Priority " and the template with each field's value
    rendered = FIELD.sub(lambda m: str(fields[m.group(1)]), template.strip())
    time_, _, rest = alert["output"].partition(": ")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{9}", time_), alert["output"]
    assert rest == f"{alert['priority']} {rendered}", (rest, rendered)


def _run(tmp_path: Path, svc: PodmanService, rules: Path, rule: str, process: str,
         *container: str) -> dict[str, Any]:
    mw, falco = _start(tmp_path, svc.path, rules)
    try:
        done = podman_run("--rm", *container)
        assert done.returncode == 0, done.stderr
        alert = wait_for(lambda: _alert(falco, rule, process), WAIT_S, f"the {rule!r} alert")
    finally:
        mw.stop()
    return alert


def test_read_environment_variable_from_proc_files_fires_in_a_container(service, tmp_path):
    svc, rules = service
    rule = "Read environment variable from /proc files"
    alert = _run(tmp_path, svc, rules, rule, "cat", f"--name=mwenv-{uuid.uuid4().hex[:8]}",
                 IMAGE, "sh", "-c", "sleep 30 & cat /proc/$!/environ > /dev/null; kill $!")
    _assert_complete(alert, _rule_output(rules, rule))
    fields = alert["output_fields"]
    assert re.fullmatch(r"/proc/\d+/environ", fields["fd.name"]), fields
    assert fields["proc.name"] == "cat" and fields["proc.pname"] == "sh"
    assert fields["evt.type"] in ("open", "openat", "openat2")
    assert fields["user.name"] == "root" and fields["user.uid"] == 0
    # busybox runs the applet through /proc/self/exe, which renames itself "cat" after the
    # exec: the command line starts with the name the process has now, as proc.name
    assert re.fullmatch(r"cat /proc/\d+/environ", fields["proc.cmdline"]), fields


def test_ptrace_attached_to_process_fires_in_a_container(service, tmp_path):
    svc, rules = service
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: bash scripts/setup.sh --dev")
    exe = tmp_path / "ptrace_attach"
    subprocess.run(["gcc", "-O2", "-Wall", "-static", "-o", str(exe),
                    str(CSRC / "ptrace_attach.c")], check=True, capture_output=True, timeout=120)
    rule = "PTRACE attached to process"
    alert = _run(tmp_path, svc, rules, rule, "ptrace_attach",
                 f"--name=mwptrace-{uuid.uuid4().hex[:8]}", "-v", f"{tmp_path}:/t:ro", IMAGE,
                 "/t/ptrace_attach")
    _assert_complete(alert, _rule_output(rules, rule))
    fields = alert["output_fields"]
    assert fields["proc.name"] == "ptrace_attach" and fields["evt.type"] == "ptrace"
    assert fields["proc.exepath"] == "/t/ptrace_attach"
    assert fields["proc.cmdline"].startswith("ptrace_attach")
