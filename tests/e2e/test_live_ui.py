"""Live, end to end: the eBPF sensor (``memwarden run --output falco:http://.../ingest``) feeds
``memwarden ui``; a read of another process's coredump_filter (MW-1001) shows up on the page in
headless Chromium within 2 s. Other activity on the host may raise other findings: the test
looks only for its own (signature, process name, and the target pid in the alert)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import orjson
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_live_outputs_run import RunSensor, run_sensor  # noqa: F401 - fixture
from ui_live import browser, console, wait_live  # noqa: F401 - fixtures

from conftest import require_root

pytestmark = pytest.mark.live


def late(ui, started: float) -> str:
    """After a miss: did the finding reach the console later (slow) or not at all (lost)?"""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(ui.url + "api/findings?signature=MW-1001&process=cat",
                                    timeout=5) as resp:
            if orjson.loads(resp.read())["total"]:
                return f"it reached the console after {time.monotonic() - started:.2f} s"
        time.sleep(0.05)
    return "it never reached the console (10 s)"


def test_a_coredump_filter_read_shows_up_on_the_page_within_2s(
        run_sensor, browser, console) -> None:  # noqa: F811
    require_root()
    sensor = RunSensor("--enable", "MW-1001", "--format", "tracee",
                       "--output", f"falco:{console.url}ingest")
    run_sensor.append(sensor)
    sensor.wait_stderr("memwarden: ready")
    browser.get(console.url + "?signature=MW-1001")
    wait_live(browser)
    target = subprocess.Popen(["sleep", "60"])
    try:
        started = time.monotonic()
        subprocess.run(["cat", f"/proc/{target.pid}/coredump_filter"], check=True,
                       stdout=subprocess.DEVNULL)

        def ours(d):
            for row in d.find_elements(By.CSS_SELECTOR, "#rows tr.finding"):
                if row.get_attribute("data-signature") == "MW-1001" and \
                        row.find_element(By.CSS_SELECTOR, "td.process .mono").text == "cat":
                    return row
            return False

        try:
            row = WebDriverWait(browser, 2.0, poll_frequency=0.02).until(ours)
        except TimeoutException:
            raise AssertionError(f"not on the page within 2 s; {late(console, started)}\n"
                                 f"{sensor.stderr}\n{''.join(console.lines)}") from None
        elapsed = time.monotonic() - started
    finally:
        target.kill()
        target.wait()
    assert elapsed < 2.0
    row.click()
    WebDriverWait(browser, 10).until(
        lambda d: f"/proc/{target.pid}/coredump_filter" in d.find_element(
            By.ID, "detail-raw").get_attribute("textContent"))
    assert sensor.stop() == 0, sensor.stderr
    print(f"coredump_filter read on the page after {elapsed:.3f}s", file=sys.stderr)
