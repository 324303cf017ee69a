"""Shared test setup.

Live tests (``@pytest.mark.live``) need root and real kernel facilities (eBPF, auditd). Outside
CI they skip with a reason when those are missing; under ``CI=true`` a skipped live test is a
failure, so that CI cannot go green without having run them.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("live") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"live test skipped under CI=true (a skip is a failure here): {reason}"


def require_root() -> None:
    """Skip (or, in CI, fail) a live test that needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
