"""``memwarden service install``: the systemd unit shipped in the package, put in place.

Writes ``memwarden.service`` (ExecStart pointing at this memwarden), a starting
``/etc/memwarden/config.yaml`` when none exists, then ``systemctl daemon-reload`` and
``enable --now`` when systemd is running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from memwarden.outputs.created import DEFAULT_FILE_MODE, open_created

UNIT_NAME = "memwarden.service"
UNIT_DIR = Path("/etc/systemd/system")
CONFIG_DIR = Path("/etc/memwarden")
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(3)


class ServiceError(Exception):
    pass


def shipped(name: str) -> str:
    return resources.files("memwarden").joinpath("data", name).read_text(encoding="utf-8")


def memwarden_executable() -> str:
    """The absolute path of the memwarden command this process belongs to."""
    here = Path(sys.argv[0])
    if here.name == "memwarden" and here.exists():
        return str(here.resolve())
    found = shutil.which("memwarden") or str(Path(sys.executable).parent / "memwarden")
    if not Path(found).exists():
        raise ServiceError("cannot find the memwarden command (install the package so that "
                           "'memwarden' is on PATH)")
    return str(Path(found).resolve())


def render_unit(executable: str, config_path: Path) -> str:
    text = shipped(UNIT_NAME)
    exec_start = f"ExecStart={executable} run --config {config_path}"
    text, n = re.subn(r"(?m)^ExecStart=.*$", exec_start, text)
    if n != 1:
        raise ServiceError(f"the shipped {UNIT_NAME} has {n} ExecStart lines, expected 1")
    return text


@dataclass
class InstallReport:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    note: str = ""


def install(*, unit_dir: Path = UNIT_DIR, config_dir: Path = CONFIG_DIR, start: bool = True,
            executable: str | None = None) -> InstallReport:
    report = InstallReport()
    config_path = config_dir / "config.yaml"
    unit = render_unit(executable or memwarden_executable(), config_path)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        config_dir.mkdir(parents=True, exist_ok=True)
        unit_path = unit_dir / UNIT_NAME
        unit_path.write_text(unit, encoding="utf-8")
        os.chmod(unit_path, 0o644)
        report.written.append(unit_path)
        if config_path.exists():
            report.kept.append(config_path)
        else:
            # it names the outputs and allowlists in force: root's alone (0600), as every
            # file memwarden creates (memwarden.outputs.created)
            with open_created(str(config_path), append=False) as f:
                f.write(shipped("config.yaml").encode())
            os.chmod(config_path, DEFAULT_FILE_MODE)
            report.written.append(config_path)
    except OSError as exc:
        raise ServiceError(f"{exc.filename}: cannot write: {exc.strerror} "
                           f"(run as root)") from None
    if not start:
        report.note = "not started (--no-start)"
        return report
    if not SYSTEMD_RUNNING.is_dir() or shutil.which("systemctl") is None:
        report.note = ("systemd is not running here (no /run/systemd/system): the unit is "
                       "installed; start it on a systemd host with 'systemctl daemon-reload && "
                       "systemctl enable --now memwarden'")
        return report
    for cmd in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", UNIT_NAME]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        report.commands.append(" ".join(cmd))
        if r.returncode != 0:
            raise ServiceError(f"'{' '.join(cmd)}' failed: {r.stderr.strip() or r.returncode}")
    return report


def verify(unit_path: Path) -> tuple[bool, str]:
    """``systemd-analyze verify`` on a unit file: (ok, output). Raises ServiceError when the
    tool is missing (apt-get install systemd)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise ServiceError("systemd-analyze not found (apt-get install -y systemd)")
    r = subprocess.run([tool, "verify", str(unit_path)], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()
