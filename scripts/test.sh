#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit, live eBPF, live auditd), as root.
# Under CI=true a skipped live test counts as a failure (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check src tests
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -ra "$@"
