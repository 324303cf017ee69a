"""``memwarden config show`` and ``memwarden service install``: the configuration file and
the systemd unit that runs the sensor with it."""

from __future__ import annotations

import click

from memwarden.cli.group import CONTEXT, UsageFailure, main


@main.group("config", context_settings=CONTEXT)
def config_group() -> None:
    """The configuration file (/etc/memwarden/config.yaml or --config)."""


@config_group.command("show")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file (default /etc/memwarden/config.yaml if present).")
def config_show(config_path: str | None) -> None:
    """Print the effective configuration (built-in defaults, then the file) as YAML; a bad
    value is an error naming the key."""
    from memwarden.app.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo(settings.to_yaml(), nl=False)


@main.group("service", context_settings=CONTEXT)
def service_group() -> None:
    """Run memwarden as a systemd service."""


@service_group.command("install")
@click.option("--unit-dir", default="/etc/systemd/system", show_default=True,
              type=click.Path(file_okay=False), help="Where the unit file goes.")
@click.option("--config-dir", default="/etc/memwarden", show_default=True,
              type=click.Path(file_okay=False),
              help="Where config.yaml is created if absent (an existing one is kept).")
@click.option("--no-start", is_flag=True, help="Install only; do not enable and start.")
def service_install(unit_dir: str, config_dir: str, no_start: bool) -> None:
    """Install memwarden.service (starts at boot, restarts on failure, logs to the journal,
    'systemctl reload memwarden' re-reads the configuration) and start it."""
    from pathlib import Path

    from memwarden.app.service import ServiceError, install

    try:
        report = install(unit_dir=Path(unit_dir), config_dir=Path(config_dir),
                         start=not no_start)
    except ServiceError as exc:
        raise UsageFailure(str(exc)) from None
    for path in report.written:
        click.echo(f"wrote {path}")
    for path in report.kept:
        click.echo(f"kept {path} (already there)")
    for cmd in report.commands:
        click.echo(f"ran {cmd}")
    if report.note:
        click.echo(f"memwarden: {report.note}", err=True)
