"""``memwarden rules``: check Falco rules files, list the fields, measure them."""

from __future__ import annotations

import click

from memwarden.cli.group import CONTEXT, UsageFailure, main


@main.group("rules", context_settings=CONTEXT)
def rules_group() -> None:
    """Rules files (Falco rules, Capsule8 policies): check them, list the fields, measure them."""


@rules_group.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--quiet-warnings", is_flag=True, help="Do not print the load warnings.")
def rules_check(files: tuple[str, ...], quiet_warnings: bool) -> None:
    """Load Falco rules files in order (as 'run --rules' would) and Capsule8 policy files (told
    apart by shape), and list every rule and policy: active (with the events it runs on) or
    inactive with the exact reason. Exit status 0 when the
    files load (inactive rules are fine), 2 on a load error ('file:line:col: rule ...')."""
    from memwarden.core.text import printable, printable_lines
    from memwarden.rules.formats import RulesError, load_rule_files

    try:
        loaded = load_rule_files(files)
    except RulesError as exc:
        raise UsageFailure(str(exc)) from None
    # names, conditions and outputs come from the files: nothing for the terminal to act on
    click.echo(printable_lines(loaded.render_check()), nl=False)
    if not quiet_warnings:
        for w in loaded.warnings:
            click.echo(printable(w), err=True)


@rules_group.command("fields")
def rules_fields() -> None:
    """The Falco fields memwarden fills (from which event data) and those it cannot (why)."""
    from memwarden.rules.falco.fields import field_table

    click.echo(field_table(), nl=False)


@rules_group.command("bench")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--events", type=click.IntRange(min=1), default=300_000, show_default=True,
              help="Events to generate.")
def rules_bench(files: tuple[str, ...], events: int) -> None:
    """Replay throughput with these Falco rules loaded vs the built-in signatures only."""
    from memwarden.benchmarks.rules import run_rules_bench
    from memwarden.rules.falco import RulesError

    try:
        run_rules_bench(list(files), events)
    except RulesError as exc:
        raise UsageFailure(str(exc)) from None
