"""The configuration file: every bad value names its key, flags override the file, ``config
show`` prints the effective configuration, and the file drives a real replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from memwarden.app.settings import ConfigError, Settings, load_settings, merge_flags, parse_settings

DATA = Path(__file__).parent.parent / "data"
LEGACY = DATA / "tracee_legacy.jsonl"


def memwarden(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "memwarden", *args], capture_output=True,
                          timeout=60, env={**os.environ, "MEMWARDEN_CONFIG": "", **(env or {})})


def test_a_full_file_is_read() -> None:
    s = parse_settings({
        "format": "table",
        "outputs": ["stdout", {"output": "http://127.0.0.1:2801/", "format": "falco"},
                    "syslog:udp://127.0.0.1:514"],
        "rules": ["/etc/memwarden/rules.yaml"],
        "allowlists": "/etc/memwarden/allow.yaml",
        "signatures": {"enabled": [], "disabled": ["TRC-1021"],
                       "origins": {"proc_mem_access": "container"}},
        "metrics": {"addr": "127.0.0.1:9464"},
        "stats": True,
        "delivery": {"queue_size": 10, "retries": 0, "timeout": 1, "flush_timeout": 0.5},
    }, "c.yaml")
    assert s.format == "table"
    assert s.outputs == ["stdout", "falco:http://127.0.0.1:2801/", "syslog:udp://127.0.0.1:514"]
    assert s.allowlists == ["/etc/memwarden/allow.yaml"]
    assert s.disabled == ["TRC-1021"] and s.origins == {"proc_mem_access": "container"}
    assert s.metrics_addr == "127.0.0.1:9464" and s.stats is True
    assert (s.delivery.queue_size, s.delivery.retries, s.delivery.timeout,
            s.delivery.flush_timeout) == (10, 0, 1.0, 0.5)


@pytest.mark.parametrize(("doc", "message"), [
    ({"fromat": "tracee"}, "c.yaml: fromat: unknown key"),
    ({"format": "json"},
     "c.yaml: format: 'json' is not one of tracee, tracee-v1beta1, falco, table"),
    ({"outputs": ["stdout", "htp:/x"]}, "c.yaml: outputs[1]: output 'htp:/x': unknown output"),
    ({"outputs": [{"format": "table"}]}, "c.yaml: outputs[0]: a mapping needs 'output: SPEC'"),
    ({"outputs": [{"output": "stdout", "format": "xml"}]}, "c.yaml: outputs[0].format: 'xml'"),
    ({"outputs": 3}, "c.yaml: outputs: expected a list, got an integer (3)"),
    ({"rules": [1]}, "c.yaml: rules[0]: expected a string, got an integer (1)"),
    ({"signatures": {"disabled": ["nope"]}}, "c.yaml: signatures.disabled: unknown signature"),
    ({"signatures": {"origins": {"TRC-1021": "pod"}}},
     "c.yaml: signatures.origins.TRC-1021: 'pod' is not one of"),
    ({"signatures": {"enable": []}}, "c.yaml: signatures.enable: unknown key"),
    ({"metrics": {"addr": "9464"}}, "c.yaml: metrics.addr: metrics address '9464'"),
    ({"stats": "yes"}, "c.yaml: stats: expected true or false, got a string ('yes')"),
    ({"delivery": {"queue_size": 0}}, "c.yaml: delivery.queue_size: must be at least 1"),
    ({"delivery": {"timeout": True}}, "c.yaml: delivery.timeout: expected a number"),
    ([1, 2], "c.yaml: (top level): expected a mapping, got a list"),
])
def test_every_bad_value_names_its_key(doc: object, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings(doc, "c.yaml")
    assert str(exc.value).startswith(message), str(exc.value)


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such file"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: tracee\noutputs: [stdout\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3:1: not valid YAML"):
        load_settings(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing set\n")
    assert load_settings(empty).as_yaml_dict() == Settings().as_yaml_dict()


def test_flags_given_win_over_the_file() -> None:
    file = parse_settings({"format": "table", "outputs": ["stdout"], "stats": True,
                           "signatures": {"origins": {"TRC-1021": "host"}}}, "c.yaml")
    s = merge_flags(file, {"format": "tracee", "outputs": ("file:/x",),
                           "origins": ("TRC-1021=container",)})
    assert (s.format, s.outputs, s.stats, s.origins) == ("tracee", ["file:/x"], True,
                                                          {"TRC-1021": "container"})
    assert file.format == "table"  # the file's settings are kept apart (for reloads)


def test_config_show_prints_the_effective_configuration(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("format: falco\nmetrics: {addr: '127.0.0.1:9464'}\n")
    r = memwarden("config", "show", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    import yaml

    shown = yaml.safe_load(r.stdout)
    assert shown["format"] == "falco" and shown["metrics"] == {"addr": "127.0.0.1:9464"}
    assert shown["outputs"] == ["stdout"] and shown["delivery"]["queue_size"] == 1000
    cfg.write_text("delivery: {retries: many}\n")
    r = memwarden("config", "show", "--config", str(cfg))
    assert r.returncode == 2
    assert b"config.yaml: delivery.retries: expected an integer, got a string ('many')" \
        in r.stderr


def test_the_file_drives_replay_and_flags_override_it(tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"format: table\noutputs: ['file:{out}']\n")
    r = memwarden("replay", "--config", str(cfg), str(LEGACY))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    lines = out.read_text().splitlines()
    assert lines[0].startswith("TIME") and len(lines) == 5  # table header + 4 findings
    r = memwarden("replay", "--config", str(cfg), "--format", "tracee", "-o", "stdout",
                  str(LEGACY))
    assert [orjson.loads(x)["eventName"] for x in r.stdout.splitlines()] == \
        ["proc_kcore_read"] * 4


def test_the_file_turns_signatures_off_and_the_env_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("signatures: {disabled: [proc_kcore_read]}\n")
    r = memwarden("replay", str(LEGACY), env={"MEMWARDEN_CONFIG": str(cfg)})
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    r = memwarden("replay", "--disable", "proc_mem_access", str(LEGACY),
                  env={"MEMWARDEN_CONFIG": str(cfg)})
    assert len(r.stdout.splitlines()) == 4  # --disable on the command line replaces the file's
    r = memwarden("replay", "--enable", "proc_mem_access", "--disable", "proc_mem_access",
                  str(LEGACY))
    assert r.stdout == b""  # --enable: only the ones named (and that one disabled)
    r = memwarden("replay", str(LEGACY), env={"MEMWARDEN_CONFIG": str(tmp_path / "gone.yaml")})
    assert r.returncode == 2 and b"gone.yaml: no such file" in r.stderr


def test_a_bad_file_stops_the_command_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("outputs:\n  - stdout\n  - syslog:udp://host:x\n")
    r = memwarden("replay", "--config", str(cfg), str(LEGACY))
    assert r.returncode == 2
    assert b"config.yaml: outputs[1]: output 'syslog:udp://host:x'" in r.stderr


def test_the_ui_and_containers_sections_take_their_numbers() -> None:
    s = parse_settings({"ui": {"max_db_mb": 10}, "containers": {"wait": 1.5}}, "c.yaml")
    assert s.ui.max_db_mb == 10 and s.containers.wait == 1.5
    for doc in ({"ui": {"max_db_mb": 1e9}}, {"containers": {"wait": -1}}):
        with pytest.raises(ConfigError):
            parse_settings(doc, "c.yaml")
