"""``memwarden signatures``: list the built-in signatures, show one's manual page with the
allowlist in force, write the pages."""

from __future__ import annotations

import click
import orjson

from memwarden.app.settings import ConfigError, load_settings
from memwarden.cli.group import CONTEXT, UsageFailure, main
from memwarden.core.text import printable
from memwarden.engine.allowlist import Allowlist, AllowlistError
from memwarden.engine.allowlist import load_for as load_allowlist_for
from memwarden.signatures import BUILTIN_SIGNATURES, UnknownSignatureError, find_signature


@main.group(context_settings=CONTEXT)
def signatures() -> None:
    """List the built-in signatures and show their documentation."""


@signatures.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable metadata.")
def signatures_list(as_json: bool) -> None:
    """Every built-in signature with its metadata."""
    if as_json:
        rows = []
        for cls in BUILTIN_SIGNATURES:
            d = cls.metadata.as_dict()
            d["Events"] = list(cls.events)
            d["Origin"] = cls.default_origin
            rows.append(d)
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{'ID':<10} {'NAME':<28} {'SEV':<3} {'MITRE':<10} {'EVENTS':<28} DESCRIPTION")
    for cls in BUILTIN_SIGNATURES:
        md = cls.metadata
        click.echo(f"{md.id:<10} {md.event_name:<28} {md.properties.severity:<3} "
                   f"{md.properties.external_id:<10} {','.join(cls.events):<28} {md.name}")


@signatures.command("show")
@click.argument("name")
@click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
              help="Also apply this allowlist file (as run/replay --allowlist would).")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file whose allowlists apply when no --allowlist is given "
                   "(default /etc/memwarden/config.yaml if present).")
def signatures_show(name: str, allowlist_files: tuple[str, ...], config_path: str | None
                    ) -> None:
    """The manual page of one signature (by event name or ID), with the allowlist in force."""
    from memwarden.signatures.lib.docs import render

    try:
        cls = find_signature(name)
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    try:  # as for run: --allowlist flags replace the config file's allowlists
        files = allowlist_files or tuple(load_settings(config_path).allowlists)
        allowlist = load_allowlist_for((), files)
    except (AllowlistError, ConfigError) as exc:
        raise UsageFailure(str(exc)) from None
    # reasons, paths and names come from allowlist files: one line each, no escapes
    lines = tuple(printable(line) for line in
                  allowlist.describe(cls.metadata.id, cls.metadata.event_name))
    click.echo(render(cls, allowlist_lines=lines), nl=False)


@signatures.command("docs")
@click.option("--out", "out_dir", default="docs/signatures", show_default=True,
              type=click.Path(file_okay=False))
def signatures_docs(out_dir: str) -> None:
    """Write one markdown page per signature (and an index) into a directory."""
    from pathlib import Path

    from memwarden.signatures.lib.docs import write_all

    defaults = Allowlist.load()  # the pages document the built-in allowlist
    for path in write_all(Path(out_dir), BUILTIN_SIGNATURES, defaults):
        click.echo(str(path))
