"""The options every detecting command shares (``replay``, ``run``, ``record``) and how their
values become settings: the flags the user gave (not click's defaults) are handed to
:mod:`memwarden.app` as plain data, which lays them over the config file. Also the ``--stats``
printer and the runtime opener that turns assembly errors into ``memwarden: message``, exit 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from memwarden.app.errors import AssemblyError
from memwarden.app.runtime import Runtime, build_runtime, command_settings
from memwarden.app.settings import FLAG_OF, ConfigError, Settings, SettingsSource
from memwarden.cli.group import UsageFailure
from memwarden.core.event import ORIGIN_SYNTAX
from memwarden.core.text import printable
from memwarden.outputs.formats import FORMAT_NAMES

#: where a value counts as given by the user (click's default does not)
_GIVEN_SOURCES = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT,
                  click.core.ParameterSource.PROMPT)


def _param_for(ctx: click.Context, flag: str) -> click.Parameter | None:
    for p in ctx.command.params:
        if flag in getattr(p, "opts", ()):
            return p
    return None


def settings_source(ctx: click.Context, kwargs: dict[str, Any]) -> SettingsSource:
    """Pop ``--config`` and every option that holds a setting out of ``kwargs``; the settings
    source of the command: its config file and the flags given on the command line."""
    config_path = kwargs.pop("config_path", None)
    given: dict[str, Any] = {}
    supported: set[str] = set()
    for name, (flag, _) in FLAG_OF.items():
        param = _param_for(ctx, flag)
        if param is None or param.name not in kwargs:
            continue
        supported.add(name)
        value = kwargs.pop(param.name)  # type: ignore[arg-type]
        if ctx.get_parameter_source(param.name) in _GIVEN_SOURCES:  # type: ignore[arg-type]
            given[name] = value
    return SettingsSource(ctx.command.name or "", config_path, given, frozenset(supported))


def detection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command that detects shares (replay, run, record). The command gets
    ``settings`` (file and flags merged) and ``settings_source`` (to build its runtime, which
    re-reads it on SIGHUP) instead of the options that hold settings."""

    @click.option("--format", "fmt", type=click.Choice(list(FORMAT_NAMES)),
                  default="tracee", show_default=True,
                  help="How findings are written (outputs without their own FORMAT: prefix).")
    @click.option("--output", "-o", "output", multiple=True, metavar="OUTPUT",
                  help="Where findings go (repeatable; default stdout): stdout, file:PATH (or "
                       "PATH), syslog[:ADDR], http(s)://URL; 'FORMAT:' before it picks its "
                       "own format, e.g. falco:http://127.0.0.1:2801/.")
    @click.option("--config", "config_path", metavar="FILE", default=None,
                  help="Configuration file (default /etc/memwarden/config.yaml if present); "
                       "flags override it; SIGHUP reloads it.")
    @click.option("--metrics-addr", "metrics_addr", metavar="HOST:PORT", default=None,
                  help="Serve Prometheus metrics on http://HOST:PORT/metrics.")
    @click.option("--enable", "enabled", multiple=True, metavar="NAME",
                  help="Run only these signatures (ID or event name; repeatable).")
    @click.option("--disable", "disabled", multiple=True, metavar="NAME",
                  help="Do not run this signature (ID or event name; repeatable).")
    @click.option("--file-mode", "file_mode", metavar="MODE", default=None,
                  help="Mode of the files created (file: outputs, recordings), octal "
                       "(default 0600; an existing file keeps its own).")
    @click.option("--stats", "show_stats", is_flag=True,
                  help="Print counters (events, findings, errors) on stderr at the end.")
    @click.option("--fail-on-finding", is_flag=True, help="Exit with status 1 if anything fired.")
    @click.option("--origin", "origins", multiple=True, metavar="NAME=ORIGIN",
                  help=f"Per-signature origin: {ORIGIN_SYNTAX}.")
    @click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
                  help="Allowlist YAML merged over the built-in defaults (repeatable; "
                       "'memwarden signatures show NAME' prints what is in force).")
    @click.option("--rules", "rules_files", multiple=True, metavar="FILE",
                  help="Falco rules file, run beside the built-in signatures (repeatable; "
                       "loaded in order, later files modify earlier ones; 'memwarden rules "
                       "check FILE...' lists what runs).")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = settings_source(click.get_current_context(), kwargs)
        try:  # the config file under the flags given (before anything reads them)
            settings = command_settings(source)
        except ConfigError as exc:
            raise UsageFailure(str(exc)) from None
        return func(*args, settings=settings, settings_source=source, **kwargs)

    return wrapper


def open_runtime(settings: Settings, source: SettingsSource, *, live: bool = False) -> Runtime:
    """The command's outputs, engine and operations; what cannot be assembled exits 2."""
    try:
        return build_runtime(settings, source=source, live=live)
    except (AssemblyError, ConfigError) as exc:
        raise UsageFailure(str(exc)) from None


def print_stats(runtime: Runtime, extra: dict[str, Any] | None = None) -> None:
    """``--stats``: every counter on stderr, one per line, mappings indented."""
    err = click.get_text_stream("stderr")
    err.write("memwarden stats:\n")
    p = printable  # keys name events, detectors and outputs of the input: escaped
    for key, value in runtime.stats(extra).items():
        if isinstance(value, dict) and not value:
            err.write(f"  {p(key)}: none\n")
        elif isinstance(value, dict):
            err.write(f"  {p(key)}:\n")
            for k, v in value.items():
                err.write(f"    {p(k)}: {p(v)}\n")
        else:
            err.write(f"  {p(key)}: {p(value)}\n")


def stats_printer(runtime: Runtime) -> Callable[..., None]:
    """``print_stats(engine_stats, extra)`` as the live sources call it, for this runtime."""

    def printer(stats: Any = None, extra: dict[str, Any] | None = None) -> None:
        print_stats(runtime, extra)

    return printer
