"""``memwarden simulate``: each signature's real trigger under a live sensor, PASS or FAIL."""

from __future__ import annotations

import sys

import click
import orjson

from memwarden.cli.group import CONTEXT, EXIT_FINDINGS, UsageFailure, main, seconds
from memwarden.signatures import BUILTIN_SIGNATURES, UnknownSignatureError, find_signature


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--deadline", type=seconds(positive=True), default=5.0, show_default=True,
              metavar="SECONDS",
              help="How long each scenario waits for its findings.")
@click.option("--ready-timeout", type=seconds(positive=True), default=60.0,
              show_default=True, metavar="SECONDS",
              help="How long to wait for the sensor to attach.")
@click.option("--allowlist", "allowlist_files", multiple=True, metavar="FILE",
              help="Passed to the sensor (memwarden run --allowlist FILE).")
@click.option("--sensor-arg", "sensor_args", multiple=True, metavar="ARG",
              help="Extra argument for 'memwarden run' (repeatable), e.g. "
                   "--sensor-arg=--source --sensor-arg=audit.")
@click.option("--record", "record_file", metavar="FILE", default=None,
              help="Run the sensor as 'memwarden record FILE': keep the live event stream.")
@click.option("--report-json", "report_file", metavar="FILE", default=None,
              help="Also write the results and what each action did as JSON.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
def simulate(names: tuple[str, ...], deadline: float, ready_timeout: float,
             allowlist_files: tuple[str, ...], sensor_args: tuple[str, ...],
             record_file: str | None, report_file: str | None, list_only: bool) -> None:
    """Perform each signature's real trigger, safely, under a live sensor ('memwarden run'),
    and report whether its finding arrived: a PASS/FAIL table, exit status 1 on any FAIL.

    NAME is a signature event name or ID (default: all). Everything the actions create lives
    in private mount namespaces and dies with them; no setting is changed. Needs root.
    """
    import os

    from memwarden.simulate.harness import FAIL, SensorError
    from memwarden.simulate.harness import simulate as run_simulation
    from memwarden.simulate.scenarios import PLANS

    try:
        chosen = [find_signature(n).metadata.event_name for n in names] or [
            c.metadata.event_name for c in BUILTIN_SIGNATURES]
    except UnknownSignatureError as exc:
        raise UsageFailure(str(exc)) from None
    chosen = [n for n in dict.fromkeys(chosen) if n in PLANS]
    if list_only:
        from memwarden.simulate.actors import ACTIONS

        for name in chosen:
            doc = " ".join((ACTIONS[name].__doc__ or "").split())
            click.echo(f"{find_signature(name).metadata.id:<10} {name:<26} {doc}")
        return
    if os.geteuid() != 0:
        raise UsageFailure("simulate needs root: it runs the sensor and the real actions "
                           "(mount namespaces, ptrace, /proc/<pid>/mem)")
    sensor = ["record", record_file] if record_file else ["run"]
    cmd = [sys.executable, "-m", "memwarden", *sensor, "--format", "tracee"]
    for f in allowlist_files:
        cmd += ["--allowlist", f]
    cmd += list(sensor_args)
    err = click.get_text_stream("stderr")
    try:
        results = run_simulation(chosen, cmd, deadline, ready_timeout,
                                 click.get_text_stream("stdout"),
                                 progress=lambda line: err.write(
                                     line + "\n" if line.startswith("memwarden:")
                                     else f"memwarden: {line}\n"))
    except SensorError as exc:
        raise UsageFailure(f"simulate: {exc}") from None
    if report_file:
        from memwarden.outputs.created import open_created
        from memwarden.simulate.harness import results_json

        with open_created(report_file, append=False) as f:
            f.write(orjson.dumps(results_json(results), option=orjson.OPT_INDENT_2))
    if any(r.status == FAIL for r in results):
        sys.exit(EXIT_FINDINGS)
