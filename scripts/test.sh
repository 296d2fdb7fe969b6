#!/usr/bin/env bash
# Install the toolkit with its test extra (torch pinned to the CPU wheel) and run the whole suite.
# The README's second quick-start command and .ci/run both call this one script, so they cannot drift.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt -e ".[test]"
python -m ruff check .
# pytest exits 5 when no test ran; that is a failure here too.
python -m pytest -m "slow or not slow" "$@"
