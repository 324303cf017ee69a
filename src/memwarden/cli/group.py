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
from memwarden.core.text import printable

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UsageFailure(click.ClickException):
    """A user-facing error: printed as ``memwarden: message``, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: ARG002 - click's signature
        # messages quote file names, values, YAML: one line, nothing for the terminal to act on
        click.echo(f"memwarden: {printable(self.format_message())}", err=True)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="memwarden")
def main() -> None:
    """memwarden: detect attacks on memory (/proc/kcore, core dumps, /proc/PID/mem, ptrace).

    Exit status: 0 ok, 1 findings with --fail-on-finding, 2 usage or input error.
    """
