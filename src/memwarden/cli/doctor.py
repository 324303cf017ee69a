"""``memwarden doctor``: what this host allows and what memwarden will use, on one screen
(the checks live in :mod:`memwarden.app.doctor`). Exit 0 when ``memwarden run`` would work."""

from __future__ import annotations

import sys

import click

from memwarden.cli.group import CONTEXT, EXIT_FINDINGS, UsageFailure, main


@main.command(context_settings=CONTEXT)
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file (default /etc/memwarden/config.yaml if present).")
@click.option("--ring-buffer-mb", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="The ring buffer size to try, as for run.")
def doctor(config_path: str | None, ring_buffer_mb: int) -> None:
    """Check this host: kernel and BTF, tracefs, lockdown, which hook modes load (lsm, fentry,
    tracepoints, io_uring, compat), bpf_send_signal, the ring buffer, audit, container runtime
    sockets, NATS; each missing piece with its fix. Run it as root (it loads and unloads BPF
    programs). Exit status 0 when 'memwarden run' would work, 1 when it would not."""
    from memwarden.app.doctor import doctor as run_doctor
    from memwarden.app.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    screen, works = run_doctor(ring_buffer_mb=ring_buffer_mb,
                               nats_config=getattr(settings, "nats", None))
    click.echo(screen, nl=False)
    if not works:
        sys.exit(EXIT_FINDINGS)
