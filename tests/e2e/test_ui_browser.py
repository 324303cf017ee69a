"""The findings console in a real headless Chromium: findings posted to /ingest appear in the
list without a reload; a filter by signature (URL and form) shows only those; the detail view
shows ancestry and container; a process name holding ``<script>`` renders as text and runs
nothing. The last test saves the screenshot linked from the README (docs/ui-console.png)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from ui_live import browser, console, wait_live, wait_rows  # noqa: F401 - fixtures

from ui_bodies import FALCO_OWN, V1BETA1, falco_body, tracee_body

pytestmark = pytest.mark.live


def listed(driver) -> list[str]:
    """The rows' signatures, read in one script call (rows re-rendered meanwhile never leave a
    stale element in the test's hands)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#rows tr.finding')].map(r => r.dataset.signature)")

DOCS = Path(__file__).parents[2] / "docs"


def test_posted_findings_appear_without_a_reload(browser, console) -> None:  # noqa: F811
    browser.get(console.url)
    wait_live(browser)
    marker = browser.execute_script("window.__same_page = 1; return 1")
    for n, body in enumerate((tracee_body(), orjson.dumps(FALCO_OWN), orjson.dumps(V1BETA1))):
        assert console.post(body) == 200
        wait_rows(browser, n + 1)
    assert listed(browser) == ["MW-1001", "Read sensitive file untrusted", "TRC-1021"]
    assert browser.execute_script("return window.__same_page") == marker  # no reload
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "total").text == "3 findings")


def test_a_filter_by_signature_shows_only_those(browser, console) -> None:  # noqa: F811
    for body in (tracee_body(), falco_body(), orjson.dumps(FALCO_OWN), orjson.dumps(V1BETA1)):
        assert console.post(body) == 200
    browser.get(console.url + "?signature=TRC-1021")
    wait_live(browser)
    wait_rows(browser, 2)
    assert listed(browser) == ["TRC-1021", "TRC-1021"]
    # a live finding of another signature does not join the filtered list; one of it does
    assert console.post(orjson.dumps(V1BETA1)) == 200
    assert console.post(tracee_body(processName="late")) == 200
    wait_rows(browser, 3)
    assert listed(browser) == ["TRC-1021"] * 3
    # the form: the filter goes into the URL
    field = browser.find_element(By.NAME, "signature")
    field.clear()
    field.send_keys("MW-1001")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 10).until(lambda d: "signature=MW-1001" in d.current_url)
    WebDriverWait(browser, 10).until(lambda d: listed(d) == ["MW-1001", "MW-1001"])


def test_the_detail_view_shows_ancestry_and_container(browser, console) -> None:  # noqa: F811
    assert console.post(orjson.dumps(V1BETA1)) == 200
    assert console.post(tracee_body(line=2)) == 200
    browser.get(console.url)
    rows = wait_rows(browser, 2)
    rows[1].click()  # the v1beta1 finding (older: second)
    WebDriverWait(browser, 10).until(
        lambda d: "MW-1001" in d.find_element(By.ID, "detail-title").text)
    ancestry = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#detail-ancestry li")]
    assert any("bash" in a and "host pid 5100" in a for a in ancestry), ancestry
    assert any("/sbin/init" in a for a in ancestry), ancestry
    container = browser.find_element(By.ID, "detail-container").text
    assert "debugger" in container and "docker.io/library/debian:12" in container
    assert "debug-pod" in container and "ops" in container
    link = browser.find_element(By.CSS_SELECTOR, "#detail-mitre a")
    assert link.get_attribute("href") == "https://attack.mitre.org/techniques/T1003/007/"
    assert "finding=" in browser.current_url
    rows[0].click()  # Tracee legacy: the parent's pids, the container
    WebDriverWait(browser, 10).until(
        lambda d: "TRC-1021" in d.find_element(By.ID, "detail-title").text)
    WebDriverWait(browser, 10).until(lambda d: "hostParentProcessId=" in d.find_element(
        By.ID, "detail-ancestry").text)
    assert "escape-test" in browser.find_element(By.ID, "detail-container").text
    browser.find_element(By.CSS_SELECTOR, "#detail-manual-box summary").click()
    WebDriverWait(browser, 10).until(
        lambda d: "proc_kcore_read" in d.find_element(By.ID, "detail-manual").text)


HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def test_a_script_in_a_process_name_renders_as_text(browser, console) -> None:  # noqa: F811
    browser.get(console.url)
    wait_live(browser)
    assert console.post(tracee_body(processName=HOSTILE, executable={"path": HOSTILE})) == 200
    [row] = wait_rows(browser, 1)
    assert row.find_element(By.CSS_SELECTOR, "td.process .mono").text == HOSTILE
    row.click()
    WebDriverWait(browser, 10).until(lambda d: HOSTILE in d.find_element(
        By.ID, "detail-process").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#rows img, #detail img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#rows script, #detail script") == []
    assert browser.execute_script("return window.__pwned === undefined")


def test_screenshot_for_the_readme(browser, console) -> None:  # noqa: F811
    hosts = ("node-1", "node-2", "build-7")
    for i in range(18):
        extra = {"hostName": hosts[i % 3], "timestamp": 1700000000123456789 + i * 20 * 10**9}
        body = (tracee_body(line=2, **extra) if i % 3 == 0 else
                tracee_body(signature="core_dump_read", processName="gdb", **extra)
                if i % 3 == 1 else tracee_body(signature="ptrace_memory_access",
                                               processName="strace", **extra))
        assert console.post(body) == 200
    assert console.post(orjson.dumps(FALCO_OWN)) == 200
    assert console.post(orjson.dumps(V1BETA1)) == 200
    browser.set_window_size(1440, 900)
    browser.get(console.url + "?since=2023-11-14T22:13:00Z")
    rows = wait_rows(browser, 20)
    rows[0].click()
    WebDriverWait(browser, 10).until(
        lambda d: "MW-1001" in d.find_element(By.ID, "detail-title").text)
    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chart rect"))
    out = DOCS / "ui-console.png"
    assert browser.save_screenshot(str(out))
    assert out.stat().st_size > 10_000
