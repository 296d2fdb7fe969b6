"""The README's "Adding a training method" example: one file plus its registration is a working method.

The method file is read from README.md (the ```python block of that section), written to a temporary
folder and registered by importing it before ``networks.training.config``; a fresh interpreter then
trains it through its generated flag, interrupts and resumes it, and compares with a straight run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "### Adding a training method: one file plus its registration"

DRIVER = """
import argparse, json, sys
sys.path.insert(0, sys.argv[1])
import clip_method  # the registration: imported before networks.training.config generates TrainConfig

import torch
from networks.training import TRAINING_METHODS, TrainConfig, train
from networks.training.config import validate_config
from theory.plumbing.configs import add_config_arguments, config_from_namespace

parser = argparse.ArgumentParser()
add_config_arguments(parser, TrainConfig)
argv = ["--method", "clip", "--clip-bound", "0.05", "--model", "mlp", "--dataset", "digits",
        "--hidden", "24,16", "--batch-size", "256", "--epochs", "2"]
cfg = config_from_namespace(TrainConfig, parser.parse_args(argv))
try:
    validate_config(TrainConfig(method="clip", clip_bound=0.0))
    bad = None
except ValueError as err:
    bad = str(err)
stopped = train(cfg, sys.argv[2], quiet=True, stop_after_steps=3)
resumed = train(cfg, sys.argv[2], quiet=True)
straight = train(cfg, sys.argv[2] + "/straight", quiet=True)
state = torch.load(resumed.run_dir / "checkpoint.pt", weights_only=True)
scores = [v for k, v in state["model"].items() if k.endswith("scores")]
print(json.dumps({
    "registered": "clip" in TRAINING_METHODS,
    "bound": cfg.clip_bound,
    "bad": bad,
    "stopped": stopped.status,
    "clipped": resumed.final["clip_clipped"],
    "clipped_straight": straight.final["clip_clipped"],
    "max_score": max(float(s.abs().max()) for s in scores),
    "same": resumed.final["state_digests"] == straight.final["state_digests"],
}))
"""


def _method_file() -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADING)
    open_ = next(i for i in range(start, len(lines)) if lines[i].strip() == "```python")
    close = next(i for i in range(open_ + 1, len(lines)) if lines[i].strip() == "```")
    return "\n".join(lines[open_ + 1 : close]) + "\n"


def test_the_readme_method_is_one_file_plus_its_registration(tmp_path):
    source = _method_file()
    assert "@register_method(" in source  # the README block is the method file itself
    (tmp_path / "clip_method.py").write_text(source)
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["registered"] and res["bound"] == 0.05  # the generated flag --clip-bound reached the config
    assert res["bad"] is not None and "clip_bound" in res["bad"]
    assert res["stopped"] == "stopped"
    assert res["clipped"] > 0 and res["max_score"] <= 0.05 + 1e-7  # the hook ran: scores clipped
    assert res["clipped"] == res["clipped_straight"] and res["same"]  # state survives the resume
