"""The ``memwarden`` click group, its exit statuses and the one user-facing error type.

Exit status: 0 ok; 1 findings were raised and ``--fail-on-finding`` was given (or ``simulate``
had a FAIL); 2 usage or input error (bad option, unreadable file, malformed record with
``--strict``, sensor could not start).

The command modules (one per command group) add their commands to :func:`main` when
:mod:`memwarden.cli` imports them; this module imports none of them.
"""

from __future__ import annotations

import math
import sys
from typing import Any

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

    def show(self, file=None) -> None:
        # messages quote file names, values, YAML: one line, nothing for the terminal to act on
        click.echo(f"memwarden: {printable(self.format_message())}", err=True)


class MemwardenGroup(click.Group):
    """The group, with click's own usage errors (an unknown option, a value outside a choice or
    range) printed as every other error is: one line, ``memwarden: ...``, exit status 2, the
    help hint on the same line. Click's default is three lines with the usage first."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # the help itself, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = ""
            if exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}')"
            click.echo(f"memwarden: {printable(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def seconds(*, positive: bool = False) -> click.ParamType:
    """A duration option's type: a finite number of seconds, >= 0 (``positive``: > 0). Click's
    FloatRange lets nan through (it compares false with every bound) and inf."""
    return _Seconds(positive)


class FiniteRange(click.FloatRange):
    """FloatRange without nan (which passes every bound) and, unless a bound says so, inf."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _Seconds(click.ParamType):
    name = "seconds"

    def __init__(self, positive: bool) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number < 0 or (self.positive and number == 0):
            self.fail(f"{value!r} is not a {'positive' if self.positive else 'non-negative'} "
                      f"finite number of seconds", param, ctx)
        return number


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


@click.group(cls=MemwardenGroup, context_settings=CONTEXT)
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Print the version and the probe's hash, and exit.")
def main() -> None:
    """memwarden: detect attacks on memory (/proc/kcore, core dumps, /proc/PID/mem, ptrace).

    Exit status: 0 ok, 1 findings with --fail-on-finding, 2 usage or input error.
    """
