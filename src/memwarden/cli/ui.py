"""``memwarden ui``: the findings console (argument parsing only; :mod:`memwarden.ui` serves).

Usage errors are the group's :class:`~memwarden.cli.group.UsageFailure` (``memwarden:
message``, exit status 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from memwarden.cli.group import CONTEXT, UsageFailure, main

ENV_TOKEN = "MEMWARDEN_UI_TOKEN"
DEFAULT_LISTEN = "127.0.0.1:8765"
NATS_MESSAGE = ("--from {src}: not supported yet: needs the NATS source (issue 19); "
                "use --from FILE or POST findings to /ingest")




def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageFailure(f"--listen {text!r}: expected HOST:PORT (e.g. {DEFAULT_LISTEN})")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def parse_duration(text: str, what: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return float(text)
    raise UsageFailure(f"{what} {text!r}: expected a duration like 90s, 30m, 12h or 7d")


def default_db() -> str:
    if os.geteuid() == 0:
        return "/var/lib/memwarden/ui.sqlite"
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, "memwarden", "ui.sqlite")


@main.command("ui", context_settings=CONTEXT)
@click.option("--listen", default=None, metavar="HOST:PORT",
              help=f"Address to serve on (default {DEFAULT_LISTEN}). Anything but loopback "
                   f"needs a token.")
@click.option("--from", "sources", multiple=True, metavar="FILE|nats://...",
              help="Also read findings from a findings file (JSON lines, followed across "
                   "appends and rotation). Repeatable. nats:// is not supported yet.")
@click.option("--db", default=None, metavar="PATH",
              help="SQLite file (default /var/lib/memwarden/ui.sqlite as root, else "
                   "~/.local/state/memwarden/ui.sqlite; ':memory:' keeps nothing).")
@click.option("--retention", default=None, metavar="DURATION",
              help="Remove findings received longer ago than this (default 7d).")
@click.option("--max-db-mb", type=float, default=None, metavar="MB",
              help="Remove the oldest findings beyond this much data (default 256).")
@click.option("--token-file", default=None, metavar="FILE",
              help=f"File holding the token that /ingest (Authorization: Bearer) and the page "
                   f"require; also {ENV_TOKEN} or config ui.token.")
@click.option("--max-body", type=click.IntRange(min=256), default=1024 * 1024,
              show_default=True, metavar="BYTES", help="Largest /ingest body.")
@click.option("--ingest-rate", type=click.FloatRange(min=0), default=200.0, show_default=True,
              metavar="N", help="/ingest requests per second, sustained (0: no limit).")
@click.option("--ingest-burst", type=click.IntRange(min=1), default=1000, show_default=True,
              metavar="N", help="/ingest requests accepted at once above the rate.")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Configuration file (its ui: section; default /etc/memwarden/config.yaml "
                   "if present).")
def ui(listen: str | None, sources: tuple[str, ...], db: str | None, retention: str | None,
       max_db_mb: float | None, token_file: str | None, max_body: int, ingest_rate: float,
       ingest_burst: int, config_path: str | None) -> None:
    """The findings console: a live web page of findings, fed by POST /ingest (memwarden's
    http output in tracee or falco format, Falco's http_output) or --from FILE.

    \b
    memwarden ui --listen 127.0.0.1:8765
    memwarden run --output falco:http://127.0.0.1:8765/ingest
    """
    from memwarden.app.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_path).ui
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    host, port = parse_listen(listen or settings.listen or DEFAULT_LISTEN)
    for src in sources:
        if src.startswith("nats://") or src.startswith("nats+tls://"):
            raise UsageFailure(NATS_MESSAGE.format(src=src))
    token = None
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageFailure(f"--token-file {token_file}: {exc.strerror or exc}") from None
    token = token or os.environ.get(ENV_TOKEN, "").strip() or settings.token.strip() or None
    if token is not None and (len(token) < 8 or any(c.isspace() for c in token)):
        raise UsageFailure("the token must be at least 8 characters with no spaces")

    from memwarden.ui.server import Console, ConsoleConfig, is_loopback, run

    if token is None and not is_loopback(host):
        raise UsageFailure(f"--listen {host}:{port} is not a loopback address: set a token "
                           f"first ({ENV_TOKEN}, --token-file or config ui.token), or listen "
                           f"on 127.0.0.1")
    db_path = db or settings.db or default_db()
    if db_path != ":memory:":
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageFailure(f"--db {db_path}: {exc.strerror or exc}") from None
    config = ConsoleConfig(
        host=host, port=port, token=token, db=db_path,
        max_age_s=parse_duration(retention or settings.retention or "7d", "--retention"),
        max_bytes=int((max_db_mb or settings.max_db_mb or 256) * 1024 * 1024),
        max_body=max_body, rate=ingest_rate, burst=ingest_burst, follow=list(sources))
    import sqlite3

    try:
        console = Console(config)
    except sqlite3.Error as exc:
        raise UsageFailure(f"--db {db_path}: {exc}") from None

    def ready(url: str) -> None:
        auth = "token required" if token else "no token (loopback only)"
        print(f"memwarden ui: listening on {url} ({auth}; store {db_path})", file=sys.stderr,
              flush=True)

    try:
        run(console, ready=ready)
    except OSError as exc:
        raise UsageFailure(f"--listen {host}:{port}: {exc.strerror or exc}") from None
