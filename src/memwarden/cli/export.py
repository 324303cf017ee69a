"""``memwarden export``: other tools' configuration from what the detectors need."""

from __future__ import annotations

import click

from memwarden.cli.group import CONTEXT, UsageFailure, main
from memwarden.signatures import UnknownSignatureError, find_signature
from memwarden.signatures import load_builtin as load_builtin_signatures


@main.group(context_settings=CONTEXT)
def export() -> None:
    """Write other tools' configuration from what the detectors need."""


@export.command("auditd")
@click.option("--output", "-o", "output", metavar="FILE", default=None,
              help="Write the rules to FILE instead of stdout (e.g. "
                   "/etc/audit/rules.d/memwarden.rules).")
@click.option("--signature", "-s", "names", multiple=True, metavar="NAME",
              help="Only this signature (event name or ID; repeatable). Default: all.")
@click.option("--machine", default=None, metavar="ARCH",
              help="Machine the rules are for (x86_64, aarch64, …). Default: this one.")
@click.option("--broad", is_flag=True,
              help="Also load rules that record every call of a syscall (for basenames "
                   "auditd cannot match); costly on busy hosts.")
@click.option("--keep-missing", is_flag=True,
              help="Keep rules on paths missing here (for a file meant for another host).")
def export_auditd(output: str | None, names: tuple[str, ...], machine: str | None,
                  broad: bool, keep_missing: bool) -> None:
    """Audit rules (auditctl -R / augenrules) that make auditd record exactly what the
    signatures need, keyed by signature ID."""
    from memwarden.export.auditd import ExportError, build_rules

    try:
        classes = [find_signature(n) for n in names]
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    detectors = [c() for c in classes] if classes else load_builtin_signatures()
    try:
        ruleset = build_rules(detectors, machine=machine, broad=broad,
                              keep_missing=keep_missing)
    except ExportError as exc:
        raise UsageFailure(str(exc)) from None
    what = ", ".join(d.detector_id for d in detectors)
    text = ruleset.render(what)
    if output in (None, "-"):
        click.echo(text, nl=False)
    else:
        try:
            with open(output, "w") as f:
                f.write(text)
        except OSError as exc:
            raise UsageFailure(f"{output}: cannot write: {exc.strerror}") from None
    for det_id, notes in ruleset.uncovered.items():
        for note in notes:
            click.echo(f"memwarden: {det_id}: not recorded by auditd: {note}", err=True)
