"""``memwarden bench``: replay throughput (JSON parsing alone vs the full replay)."""

from __future__ import annotations

import click

from memwarden.cli.group import CONTEXT, FiniteRange, main


@main.command(context_settings=CONTEXT)
@click.option("--events", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Events to generate.")
@click.option("--hit-rate", type=FiniteRange(0, 1), default=0.01, show_default=True,
              help="Fraction of events that hit a signature.")
@click.option("--audit", "audit", is_flag=True,
              help="Audit-log replay instead (records/s), beside Tracee JSON replay.")
def bench(events: int, hit_rate: float, audit: bool) -> None:
    """Replay throughput: JSON parsing alone vs the full replay with all detectors, with and
    without the prefilter, plain and gzip, and the share of time per stage."""
    if audit:
        from memwarden.benchmarks.audit import run_audit_bench

        run_audit_bench(events, hit_rate)
        return
    from memwarden.benchmarks.replay import run_replay_bench

    run_replay_bench(events, hit_rate)
    from memwarden.benchmarks.proctable import run_proctable_bench

    run_proctable_bench(min(events, 100_000))
    from memwarden.benchmarks.containers import run_containers_bench

    n = min(events, 200_000)
    run_containers_bench(n, hit_rate, per_event=n)
