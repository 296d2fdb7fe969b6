"""Figure 7's quadratic fit is drawn only where runs lie, never above 100% accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from figures.fig07_hparams import ACC_MAX, covered_ranges, fit_curve
from figures.registry import get_figure
from figures.style import figure_style
from figures.synthetic import write_synthetic_runs
from theory.rules.practice import quadratic_fit

# The shape of the default-scale run that showed the defect: a few runs at dying ratio ~0.31 (high weight
# decay), the rest at 0.55-0.69, accuracy falling with the dying ratio; the fit across the empty stretch
# between them peaks above 100%.
_LEFT = [(0.311, 0.967), (0.313, 0.964), (0.315, 0.958), (0.319, 0.956)]
_RIGHT = [(0.555 + 0.0045 * i, 0.975 - 0.09 * (0.0045 * i / 0.135) ** 2) for i in range(31)]
_POINTS = _LEFT + _RIGHT


def _fit(points):
    q = quadratic_fit([x for x, _ in points], [100 * y for _, y in points])
    return q["a"], q["b"], q["c"]


def test_the_points_reproduce_the_defect() -> None:
    """Precondition: drawn across the whole x-range, as before, this fit rises above 100%."""
    a, b, c = _fit(_POINTS)
    grid = np.linspace(min(x for x, _ in _POINTS), max(x for x, _ in _POINTS), 50)
    assert (a + b * grid + c * grid**2).max() > ACC_MAX


def test_covered_ranges_split_at_gaps_and_refuse_bad_input() -> None:
    assert covered_ranges([0.0, 0.1, 0.2, 1.0]) == [(0.0, 0.2), (1.0, 1.0)]
    assert covered_ranges([0.3, 0.1, 0.2, 0.4]) == [(0.1, 0.4)]  # four evenly spaced: one range
    assert covered_ranges([0.5, 0.5]) == [(0.5, 0.5)]
    assert covered_ranges([0.0, 0.3, 1.0], gap_share=0.5) == [(0.0, 0.3), (1.0, 1.0)]
    assert covered_ranges([0.0, 0.3, 1.0], gap_share=0.8) == [(0.0, 1.0)]
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="gap_share"):
            covered_ranges([0.0, 1.0], gap_share=bad)
    for bad in ([], [0.0, float("nan")]):
        with pytest.raises(ValueError, match="x must"):
            covered_ranges(bad)


def test_fit_curve_stays_in_the_data_ranges_and_below_the_cap() -> None:
    coef = _fit(_POINTS)
    ranges = covered_ranges([x for x, _ in _POINTS])
    assert ranges == [(0.311, 0.319), (0.555, pytest.approx(0.69))]
    x, y = fit_curve(coef, ranges, ACC_MAX)
    drawn = np.isfinite(x)
    assert all(any(lo <= xi <= hi for lo, hi in ranges) for xi in x[drawn])
    assert np.isnan(x).sum() == 1  # one break, between the two ranges
    for lo, hi in ranges:  # each range is drawn from end to end
        inside = x[drawn & (x >= lo) & (x <= hi)]
        assert inside.size >= 2 and (inside.min(), inside.max()) == (lo, pytest.approx(hi))
    finite = np.isfinite(y)
    assert (y[finite] <= ACC_MAX).all()
    a, b, c = coef
    np.testing.assert_allclose(y[finite], a + b * x[finite] + c * x[finite] ** 2, rtol=0, atol=1e-9)
    # Where the fit passes the cap inside a range, it is left undrawn there (NaN), not flattened.
    x2, y2 = fit_curve((0.0, 0.0, 400.0), [(0.0, 1.0)], ACC_MAX)
    assert np.isnan(y2[x2 > 0.5]).all() and np.isfinite(y2[x2 < 0.5]).all()
    # A range of one value is left out: a curve needs two points.
    x3, _ = fit_curve(coef, [(0.3, 0.3), (0.5, 0.6)], ACC_MAX)
    assert np.isfinite(x3).all() and x3.min() == 0.5


def _gapped_root(tmp_path: Path) -> Path:
    """The synthetic record set with its ``ep-hparams`` finals moved onto ``_POINTS``' shape."""
    root = write_synthetic_runs(tmp_path / "runs")
    finals = sorted((root / "ep-hparams").glob("*/runs/*/seed_*/final.json"))
    assert len(finals) >= 8
    picks = _LEFT[:2] + [_RIGHT[round(i * 30 / (len(finals) - 3))] for i in range(len(finals) - 2)]
    for path, (dr, acc) in zip(finals, picks, strict=True):
        final = json.loads(path.read_text())
        final.update(dying_ratio=dr, test_acc=acc)
        path.write_text(json.dumps(final))
    return root


def test_fig07_draws_its_fit_only_over_the_runs(tmp_path: Path) -> None:
    root = _gapped_root(tmp_path)
    with figure_style():
        result = get_figure("fig07_hparams").build(root)
    runs_x = np.array([r["x"] for r in result.rows if r["kind"] == "scatter"])
    fit = [r for r in result.rows if r["series"] == "quadratic fit"]
    ranges = covered_ranges(runs_x)
    assert len(ranges) == 2, ranges  # the gap is there
    fx = np.array([r["x"] for r in fit])
    fy = np.array([r["y"] for r in fit])
    assert np.isfinite(fy).any()
    assert all(any(lo <= xi <= hi for lo, hi in ranges) for xi in fx[np.isfinite(fx)])
    assert (fy[np.isfinite(fy)] <= ACC_MAX).all()
    # The CSV rows are the drawn line, NaN breaks included.
    (line,) = [ln for ln in result.figure.axes[0].get_lines() if ln.get_gid() == "runs/quadratic fit"]
    np.testing.assert_array_equal(np.asarray(line.get_xdata(), float), fx)
    np.testing.assert_array_equal(np.asarray(line.get_ydata(), float), fy)
    assert any("drawn over" in s for s in result.summary)
    result.figure.clear()
