"""Issue 10's architecture counts (``scripts/architecture_counts.py``), each shown able to fail.

The real tree must hit every target; for each count a planted copy (a synthetic source added to the real
ones) must move it off target, so a count that cannot see a second copy would fail here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    path = ROOT / "scripts" / "architecture_counts.py"
    spec = importlib.util.spec_from_file_location("architecture_counts", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


AC = _load()


@pytest.fixture(scope="module")
def sources():
    return AC.read_sources(ROOT)


@pytest.fixture(scope="module")
def real(sources):
    return AC.counts(sources)


@pytest.mark.parametrize("name", sorted(AC.TARGETS))
def test_the_package_hits_the_target(real, name):
    n, sites = real[name]
    assert n == AC.TARGETS[name], f"{name}: {n} (target {AC.TARGETS[name]}): {sites}"


def test_the_sites_are_the_expected_homes(real):
    assert real["training loops"][1] == ["networks/training/trainer.py::Trainer._train_step"]
    assert real["SubsetSum engines"][1] == ["theory/subset_sum/"]
    assert real["coverage implementations"][1] == ["theory/coverage.py"]
    assert real["top-k implementations"][1] == ["networks/masks.py"]
    assert real["preset mechanisms"][1] == ["sim/experiments.py"]
    assert real["run-directory implementations"][1] == ["theory/plumbing/rundir.py"]


PLANTED = {
    "training loops": (
        "sim/extra_loop.py",
        "import torch\n\ndef fit(model, opt, batches):\n    for x, y in batches:\n"
        "        opt.zero_grad()\n        model(x).sum().backward()\n        opt.step()\n",
    ),
    "SubsetSum engines": (
        "sim/my_solver.py",
        "def best_subset_fast(x, z):\n    return min(range(2 ** len(x)), key=lambda m: abs(z))\n",
    ),
    "coverage implementations": (
        "sim/cover.py",
        "def my_coverage_error(x, lo, hi):\n    return 0.0\n",
    ),
    "run-directory implementations": (
        "sim/own_rundir.py",
        "import json\n\ndef finish(path, cfg):\n    (path / 'config.json').write_text(json.dumps(cfg))\n"
        "    (path / 'DONE').touch()\n",
    ),
    "preset mechanisms": (
        "sim/own_presets.py",
        "SCALES = {'quick': 1, 'default': 1, 'full': 2}\n\ndef config(scale):\n    return SCALES[scale]\n",
    ),
    "top-k implementations": (
        "networks/other_masks.py",
        "import torch\n\ndef keep(scores, k):\n    return torch.topk(scores.flatten(), k).indices\n",
    ),
    "import cycles": (
        "sim/cycle_a.py",
        "from sim import cycle_b\n",
    ),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_copy_is_counted(sources, real, name):
    path, src = PLANTED[name]
    planted = {**sources, path: src}
    if name == "import cycles":
        planted["sim/cycle_b.py"] = "import sim.cycle_a\n"
    n, sites = AC.counts(planted)[name]
    assert n == real[name][0] + 1, sites
    assert any(path in str(s) or "sim.cycle_a" in str(s) for s in sites)


def test_benign_look_alikes_are_not_counted(sources, real):
    """Reads of config.json, sorts outside networks/, a preset table fed to an Experiment: not copies."""
    benign = {
        "figures/read_cfg.py": (
            "def cfg(p):\n    return read_json(p / 'config.json') if (p / 'DONE').exists() else None\n"
        ),
        "sim/order.py": "import numpy as np\n\ndef order(x):\n    return np.argsort(x)\n",
        "sim/new_exp.py": (
            "from sim.experiments import Experiment\nPRESETS = {'quick': 1, 'full': 2}\n"
            "E = Experiment('x', 'd', int, PRESETS, None, None, ())\n"
        ),
        "sim/grad.py": "import torch\n\ndef g(f, x):\n    return torch.autograd.grad(f(x), x)\n",
    }
    after = AC.counts({**sources, **benign})
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in real.items()}


def test_the_command_prints_every_count_and_exits_zero(capsys):
    assert AC.main([str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in AC.TARGETS) and "OFF" not in out
