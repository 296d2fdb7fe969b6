#!/usr/bin/env bash
# Install the toolkit (torch pinned to the CPU wheel) and run the main job, `slth reproduce`, at its default scale.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt -e .
# `python -m figures.cli` is the `slth` console script itself; called this way it works even where pip's
# script directory is not on PATH (a user install without a virtual environment).
python -m figures.cli reproduce "$@"
