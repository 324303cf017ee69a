"""Hostile input end to end (issue 12): real ``memwarden`` processes given bad files, FIFOs,
pipes and signals. Every wait is on state (a stderr line, a metric, a file), never on time."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_live_outputs import KCORE, Sensor, metrics_port, scrape

pytestmark = pytest.mark.live


@pytest.fixture
def sensors() -> Iterator[list[Sensor]]:
    started: list[Sensor] = []
    yield started
    for s in started:
        s.kill()


# -- class 7: a failed SIGHUP reload must not end reloading -----------------------------------

def test_a_bad_allowlist_on_reload_is_reported_and_the_fixed_one_then_applies(
        sensors: list[Sensor], tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("signatures: {}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"allowlists: ['{allow}']\n")
    s = Sensor("--config", str(cfg), "--metrics-addr", "127.0.0.1:0")
    sensors.append(s)
    port = metrics_port(s)  # up: SIGHUP is handled from here on
    s.send(KCORE)
    assert s.finding()["eventName"] == "proc_kcore_read"  # nothing exempts dd yet

    # a control character: PyYAML's reader refuses the file (once a traceback in the thread)
    allow.write_bytes(b"signatures:\n  proc_kcore_read:\n    - executable: /usr/bin/dd\x07\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reload failed, keeping the previous configuration: .*allow\.yaml:3:\d+: ")
    s.consume_stderr(r"reload failed")
    s.send(KCORE)
    assert s.finding()["eventName"] == "proc_kcore_read"  # the old (empty) allowlist is kept

    allow.write_text("signatures:\n  proc_kcore_read:\n    - executable: /usr/bin/dd\n"
                     "      reason: test\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_stderr(r"reloaded configuration: \d+ detectors")
    s.send(KCORE)  # now exempt: nothing fires
    m = scrape(port)
    assert m[("memwarden_config_reload_failures_total", ())] == 1
    assert m[("memwarden_config_reloads_total", ())] == 1
    assert s.finish() == 0, s.stderr
    assert s.out.empty()
    assert "Traceback" not in s.stderr
