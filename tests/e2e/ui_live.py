"""Helpers for the findings-console tests: ``memwarden ui`` as a child process (its URL read
from its ready line) and headless Chromium driven by selenium (Debian's chromium and
chromium-driver, installed by ``scripts/setup.sh --dev``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class ConsoleProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memwarden", "ui", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "MEMWARDEN_CONFIG": "", "MEMWARDEN_UI_TOKEN": "", **(env or {})})
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._err, daemon=True).start()
        if not self.ready.wait(60):
            self.stop()
            raise AssertionError(f"memwarden ui not ready:\n{''.join(self.lines)}")
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", "".join(self.lines))
        assert m, self.lines
        self.url = m.group(1)

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on" in line:
                self.ready.set()
        self.ready.set()

    def post(self, body: bytes, token: str | None = None) -> int:
        req = urllib.request.Request(self.url + "ingest", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(20)


def require_chromium() -> None:
    """Skip (a failure under CI=true: the tests are marked live) without the browser."""
    if not (Path(CHROMEDRIVER).is_file() and Path(CHROMIUM).is_file()):
        pytest.skip("needs chromium and chromium-driver (bash scripts/setup.sh --dev)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("needs selenium (pip install -e '.[test]')")


@pytest.fixture
def browser() -> Iterator[object]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,900", "--force-device-scale-factor=1",
                "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleProcess]:
    c = ConsoleProcess("--db", str(tmp_path / "ui.sqlite"))
    yield c
    assert c.stop() == 0, "".join(c.lines)


def wait_rows(driver: object, count: int, timeout: float = 10.0) -> list:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def enough(d):
        rows = d.find_elements(By.CSS_SELECTOR, "#rows tr.finding")
        return rows if len(rows) >= count else False

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(enough)


def wait_live(driver: object, timeout: float = 10.0) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class").split())


def now_ns() -> int:
    return time.time_ns()
