"""The deployment files stay valid: the Dockerfile, the Kubernetes manifest and the systemd unit
parse, run a memwarden command that exists with options it accepts, and mount what the sensor
needs; the unit passes ``systemd-analyze verify`` and ``service install`` writes it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from memwarden.app.settings import parse_settings
from memwarden.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DAEMONSET = ROOT / "deploy" / "kubernetes" / "daemonset.yaml"
UNIT = ROOT / "src" / "memwarden" / "data" / "memwarden.service"


def check_memwarden_command(argv: list[str]) -> click.Command:
    """``argv`` (after the program name) names a memwarden subcommand and its options parse."""
    assert argv, "no subcommand"
    cmd = main.get_command(click.Context(main), argv[0])
    assert cmd is not None, f"'memwarden {argv[0]}' does not exist"
    cmd.make_context(argv[0], list(argv[1:]))  # raises on an unknown option or bad value
    return cmd


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_parses_and_runs_an_existing_command() -> None:
    ins = dockerfile_instructions()
    known = {"FROM", "ARG", "RUN", "WORKDIR", "COPY", "ENV", "STOPSIGNAL", "ENTRYPOINT", "CMD",
             "LABEL", "USER", "EXPOSE", "VOLUME"}
    assert {w for w, _ in ins} <= known
    assert ins[0][0] == "FROM"
    entry = json.loads(dict(ins)["ENTRYPOINT"])
    cmd = json.loads(dict(ins)["CMD"])
    assert entry == ["memwarden"]
    check_memwarden_command(cmd)
    for word, rest in ins:  # every COPY source exists in the repository
        if word == "COPY":
            *sources, _dest = rest.split()
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    # the image's starting config is the packaged one, which must itself be valid
    assert "src/memwarden/data/config.yaml" in DOCKERFILE.read_text()


def test_daemonset_is_privileged_host_pid_with_the_mounts_and_a_valid_config() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(DAEMONSET.read_text())}
    assert set(docs) == {"Namespace", "ConfigMap", "DaemonSet"}
    ds = docs["DaemonSet"]
    assert ds["apiVersion"] == "apps/v1"
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    assert spec["hostPID"] is True
    (container,) = spec["containers"]
    assert container["securityContext"]["privileged"] is True
    assert container["command"] == ["memwarden"]
    check_memwarden_command(container["args"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(mounts) == set(volumes)
    for needed in ("/sys/kernel/tracing", "/sys/fs/bpf", "/sys/kernel/btf", "/sys/fs/cgroup",
                   "/etc/memwarden"):
        assert needed in mounts.values(), f"{needed} is not mounted"
    # the config the pods read parses, and its metrics port is the one probed and exposed
    config = yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"])
    settings = parse_settings(config, "ConfigMap memwarden-config")
    # every runtime socket it names is inside a read-only mount of the host's runtime dir
    readonly = [m["mountPath"] for m in container["volumeMounts"] if m.get("readOnly")]
    sockets = config["containers"]["sockets"]
    for runtime in ("containerd.sock", "crio.sock", "podman.sock", "docker.sock"):
        assert any(s.endswith(runtime) for s in sockets), f"{runtime} is not configured"
    for sock in sockets:
        path = sock.removeprefix("cri:")
        if path.endswith("docker.sock"):  # opt-in: a hostPath file that is absent would be
            assert "#   mountPath: " + path in DAEMONSET.read_text()  # made a directory
            continue
        assert any(path.startswith(m + "/") for m in readonly), f"{sock}: not mounted read-only"
    port = int(settings.metrics_addr.rpartition(":")[2])
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert container["args"][-1] == mounts["config"] + "/config.yaml"
    assert spec["terminationGracePeriodSeconds"] > settings.delivery.flush_timeout


def test_packaged_config_is_valid() -> None:
    from importlib import resources

    text = resources.files("memwarden").joinpath("data", "config.yaml").read_text()
    parse_settings(yaml.safe_load(text), "data/config.yaml")


def test_unit_runs_an_existing_command_and_has_the_service_properties() -> None:
    text = UNIT.read_text()
    lines = dict(line.split("=", 1) for line in text.splitlines()
                 if "=" in line and not line.startswith("#"))
    argv = shlex.split(lines["ExecStart"])
    assert Path(argv[0]).name == "memwarden"
    check_memwarden_command(argv[1:])
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert lines["Restart"] == "on-failure"
    assert lines["StandardOutput"] == "journal" and lines["StandardError"] == "journal"
    assert lines["WantedBy"] == "multi-user.target"


def test_service_install_writes_a_unit_that_systemd_accepts(tmp_path: Path) -> None:
    exe = shutil.which("memwarden", path=str(Path(sys.executable).parent))
    assert exe, "the memwarden entry point is not installed next to this python"
    r = subprocess.run([exe, "service", "install", "--unit-dir", str(tmp_path / "units"),
                        "--config-dir", str(tmp_path / "etc"), "--no-start"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    unit = tmp_path / "units" / "memwarden.service"
    config = tmp_path / "etc" / "config.yaml"
    assert f"wrote {unit}" in r.stdout and f"wrote {config}" in r.stdout
    assert f"ExecStart={Path(exe).resolve()} run --config {config}" in unit.read_text()
    # a second install keeps the administrator's config
    config.write_text("format: table\n")
    r = subprocess.run([exe, "service", "install", "--unit-dir", str(tmp_path / "units"),
                        "--config-dir", str(tmp_path / "etc"), "--no-start"],
                       capture_output=True, text=True, timeout=60)
    assert f"kept {config}" in r.stdout and config.read_text() == "format: table\n"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install -y systemd")
    v = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert v.returncode == 0, v.stdout + v.stderr
