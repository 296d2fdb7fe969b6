#!/usr/bin/env bash
# Install the toolkit (torch pinned to the CPU wheel) and run the main job at the small embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt -e .
slth reproduce "$@"
