"""The ``memwarden`` click group, its exit statuses and the one user-facing error type.

Exit status: 0 ok; 1 findings were raised and ``--fail-on-finding`` was given (or ``simulate``
had a FAIL); 2 usage or input error (bad option, unreadable file, malformed record with
``--strict``, sensor could not start).

The command modules (one per command group) add their commands to :func:`main` when
:mod:`memwarden.cli` imports them; this module imports none of them.
"""

from __future__ import annotations

import click

from memwarden import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UsageFailure(click.ClickException):
    """A user-facing error: printed as ``memwarden: message``, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ARG002 - click's signature
        click.echo(f"memwarden: {self.format_message()}", err=True)


def version_line() -> str:
    """``memwarden X.Y.Z (probe <first 12 hex of the probe's source hash>)``: which probe this
    installation runs, from the compiled object's manifest (``probe unknown`` without one)."""
    from memwarden.sources.ebpf.probe_build import probe_state
    from memwarden.sources.ebpf.sensor import object_path

    obj = object_path()
    probe = probe_state(obj).short_hash if obj.is_file() else "not built"
    return f"memwarden {__version__} (probe {probe})"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit()


@click.group(context_settings=CONTEXT)
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Print the version and the probe's hash, and exit.")
def main() -> None:
    """memwarden: detect attacks on memory (/proc/kcore, core dumps, /proc/PID/mem, ptrace).

    Exit status: 0 ok, 1 findings with --fail-on-finding, 2 usage or input error.
    """
