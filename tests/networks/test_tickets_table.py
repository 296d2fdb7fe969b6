"""``scripts/tickets_table.py``: the closing-note table comes from the recorded construct runs."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import pytest
import torch

from networks.construct.cli import ConstructConfig
from networks.construct.targets import save_target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("tickets_table", ROOT / "scripts" / "tickets_table.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve their module's namespace through sys.modules
    spec.loader.exec_module(mod)
    return mod


def _target_file(tmp_path: Path) -> str:
    gen = torch.Generator().manual_seed(0)
    mods = []
    for i, (a, b) in enumerate(itertools.pairwise((3, 4, 2))):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.rand(b, a, generator=gen) - 0.5)
            lin.bias.copy_(torch.rand(b, generator=gen) - 0.5)
        mods += [lin, torch.nn.ReLU()] if i == 0 else [lin]
    path = tmp_path / "mlp.pt"
    save_target(torch.nn.Sequential(*mods), path)
    return str(path)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table_cells_are_the_recorded_reports(table, tmp_path):
    target = _target_file(tmp_path)
    common = {"target": target, "eps": 0.05, "budget": "per-weight"}
    rows = [
        table.Row("2L pensia", ConstructConfig(method="pensia", candidates_per_weight=8, **common)),
        table.Row("L+1 burkholz", ConstructConfig(method="burkholz", rho=4, **common)),
        table.Row("sparse", ConstructConfig(method="sparse", density=0.2, candidates_per_weight=8, **common)),
        table.Row("later", ConstructConfig(method="xiong", perturbation=0.01, **common), scale="full"),
    ]
    runs = tmp_path / "runs"
    records = table.build_rows(rows, runs_root=runs, run=rows[:3])
    assert [r["status"] for r in records] == ["run", "run", "run", "not run (full scale)"]
    assert all(r["cpu_seconds"] > 0 for r in records[:3])
    text = table.render(records)
    lines = text.splitlines()
    header = _cells(lines[0])
    assert len(lines) == 2 + len(rows)
    for rec, line in zip(records[:3], lines[2:5], strict=True):
        cells = dict(zip(header, _cells(line), strict=True))
        rep = json.loads((rec["path"] / "report.json").read_text())
        assert cells["source params"] == f"{rep['source_params']:,}"
        assert cells["kept params"] == f"{rep['kept_params']:,}"
        assert cells["certified error"] == f"{rep['certified_bound']:.4g}"
        assert cells["measured error"] == f"{rep['measured_error']:.4g}"
        assert float(cells["measured error"]) <= float(cells["certified error"]) * (1 + 1e-3)
        assert cells["failed weights"] == str(rep["num_failed_weights"])
    depths = [dict(zip(header, _cells(line), strict=True))["source depth"] for line in lines[2:5]]
    assert depths == ["4", "3", "4"]  # 2L, L + 1, 2L for a 2-layer target
    assert _cells(lines[-1])[-1] == "not run (full scale)"
    # Read back, not rebuilt: the same table, rows now "recorded".
    again = table.build_rows(rows, runs_root=runs, run=[])
    assert [r["status"] for r in again[:3]] == ["recorded"] * 3
    assert table.render(again).replace("recorded", "run") == text


def test_absent_pensia_network_is_skipped(table, tmp_path, monkeypatch):
    monkeypatch.setattr(table, "DEFAULT_PENSIA_NPZ", tmp_path / "absent.npz")
    fc2 = [r for r in table.ROWS if r.config.target == "pensia-fc2"]
    assert [r.scale for r in fc2 if r.config.method == "burkholz"] == ["full"]
    records = table.build_rows(fc2, runs_root=tmp_path / "runs")
    assert all(r["status"].startswith("skipped") and r["report"] is None for r in records)
    assert not (tmp_path / "runs").exists()


def test_scales(table):
    default = table.table_rows("default")
    assert default and all(r.scale == "default" for r in default)
    assert table.table_rows("full") == list(table.ROWS)
    assert {r.config.method for r in default} == {"pensia", "dacunha", "burkholz", "sparse"}
    with pytest.raises(ValueError, match="scale must be"):
        table.table_rows("huge")
