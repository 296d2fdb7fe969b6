"""Every figure builds from a tiny synthetic record set, and its CSV is exactly what the artists draw."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from figures.records import MissingRecordsError, parse_rows
from figures.registry import FIGURES, all_figures, get_figure, register_figure, render, resolve_names
from figures.style import figure_style
from figures.synthetic import write_synthetic_runs
from theory.plumbing.records import read_csv

NAMES = list(all_figures())


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_runs(tmp_path_factory.mktemp("synthetic") / "runs")


def artist_data(fig) -> dict[str, dict[str, np.ndarray]]:
    """What the artists with a gid draw: lines/markers, scatter offsets, bar patches, heatmap arrays."""
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    out: dict[str, dict[str, list]] = {}
    for ax in fig.axes:
        for artist in ax.get_children():
            gid = artist.get_gid()
            if not gid:
                continue
            d = out.setdefault(gid, {"x": [], "y": [], "values": []})
            if isinstance(artist, Line2D):
                d["x"] += list(np.asarray(artist.get_xdata(), dtype=float))
                d["y"] += list(np.asarray(artist.get_ydata(), dtype=float))
            elif isinstance(artist, PathCollection):
                off = np.asarray(artist.get_offsets(), dtype=float)
                d["x"] += list(off[:, 0])
                d["y"] += list(off[:, 1])
            elif isinstance(artist, Rectangle):
                d["x"].append(artist.get_x() + artist.get_width() / 2)
                d["y"].append(artist.get_height())
            elif isinstance(artist, AxesImage):
                arr = np.ma.filled(np.ma.asarray(artist.get_array(), dtype=float), np.nan)
                d["values"] += list(arr.ravel())
    return {k: {kk: np.asarray(vv, dtype=float) for kk, vv in v.items()} for k, v in out.items()}


def assert_rows_match_artists(rows: list[dict], fig) -> None:
    drawn = artist_data(fig)
    by_gid: dict[str, list[dict]] = {}
    for r in rows:
        by_gid.setdefault(f"{r['panel']}/{r['series']}", []).append(r)
    assert set(by_gid) == set(drawn), "every recorded series is drawn and every drawn series recorded"
    for gid, rs in by_gid.items():
        kind = rs[0]["kind"]
        x = np.array([float(r["x"]) for r in rs])
        y = np.array([float(r["y"]) for r in rs])
        d = drawn[gid]
        if kind == "heatmap":
            np.testing.assert_allclose(np.array([float(r["value"]) for r in rs]), d["values"], equal_nan=True)
        elif kind == "hline":
            assert np.allclose(d["y"], y[0]), gid
        else:
            np.testing.assert_allclose(d["x"], x, equal_nan=True, err_msg=gid)
            np.testing.assert_allclose(d["y"], y, equal_nan=True, err_msg=gid)


@pytest.mark.parametrize("name", NAMES)
def test_figure_csv_matches_artists(name: str, synthetic_root: Path, tmp_path: Path) -> None:
    rendered, result = render(name, synthetic_root, tmp_path, formats=("png",))
    assert rendered.png.stat().st_size > 10_000
    assert result.rows, "a figure plots something"
    assert result.summary, "a figure reports numbers for the report"
    # The CSV written to disk is the recorded rows, and the rows are what the artists draw.
    csv_rows = parse_rows(read_csv(rendered.csv))
    assert len(csv_rows) == len(result.rows)
    assert_rows_match_artists(csv_rows, result.figure)
    # Every axis says what it shows.
    for ax in result.figure.axes:
        if ax.get_label() == "<colorbar>":
            continue
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axis"
    result.figure.clear()


def test_render_writes_png_pdf_csv(synthetic_root: Path, tmp_path: Path) -> None:
    rendered, result = render("fig06_dying", synthetic_root, tmp_path)
    assert rendered.pdf.read_bytes().startswith(b"%PDF")
    assert rendered.png.read_bytes().startswith(b"\x89PNG")
    assert rendered.csv.read_text().splitlines()[0].startswith("panel,series,kind,x,y,y_low,y_high")
    # The table of final dying ratio vs density holds the seed mean of the synthetic runs.
    table = rendered.tables["final dying ratio vs density"]
    assert [t["density"] for t in table] == [0.1, 0.3, 0.5, 0.7]
    assert all(t["seeds"] == 3 for t in table)
    result.figure.clear()


def test_fig06_aggregates_seeds_exactly(synthetic_root: Path) -> None:
    import json

    finals = sorted((synthetic_root / "ep-dying").glob("*/runs/d0.3/seed_*/final.json"))
    values = [json.loads(p.read_text())["dying_ratio"] for p in finals]
    with figure_style():
        result = get_figure("fig06_dying").build(synthetic_root)
    row = next(r for r in result.tables["final dying ratio vs density"] if r["density"] == 0.3)
    assert row["final_dying_ratio"] == pytest.approx(np.mean(values), abs=1e-15)
    assert row["final_sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-15)
    result.figure.clear()


def test_fig04_boxes_the_best_sparsity_per_column(synthetic_root: Path) -> None:
    with figure_style():
        result = get_figure("fig04_pgd_ep").build(synthetic_root)
    cells = [r for r in result.rows if r["kind"] == "heatmap"]
    best = {r["x"]: r for r in result.rows if r["series"] == "best sparsity"}
    for eps, b in best.items():
        column = [c for c in cells if c["x"] == eps]
        top = max(column, key=lambda c: c["value"])
        assert b["y"] == top["y"]
    result.figure.clear()


def test_missing_records_name_the_experiment(tmp_path: Path) -> None:
    with pytest.raises(MissingRecordsError, match="rss-success"):
        render("fig01_rss", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(MissingRecordsError, match="ep-dying"):
        render("fig06_dying", tmp_path / "empty", tmp_path / "out")


def test_unfinished_training_runs_are_ignored(tmp_path: Path) -> None:
    root = write_synthetic_runs(tmp_path / "runs")
    for done in (root / "rigl").glob("*/runs/*/seed_1/DONE"):
        done.unlink()
    with figure_style():
        result = get_figure("fig11_rigl").build(root)
    assert {t["seeds"] for t in result.tables["final accuracy"]} == {2}
    result.figure.clear()


def test_names_resolve_by_prefix_and_refuse_unknown() -> None:
    assert resolve_names(["fig01", "fig11_rigl"]) == ["fig01_rss", "fig11_rigl"]
    with pytest.raises(ValueError, match="valid figures: fig00_testbed, fig01_rss"):
        resolve_names(["fig99"])
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_names(["fig0"])
    with pytest.raises(ValueError, match="unknown figure 'nope'; valid figures"):
        get_figure("nope")


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_figure(FIGURES["fig01_rss"])


def test_fig01_lueker_solution_solves_the_corollary() -> None:
    from figures.fig01_rss import lueker_n_for_level

    for eta in (1e-1, 1e-3, 1e-6):
        for c in (0.5, 1.0, 3.0):
            n = lueker_n_for_level(eta, c, 0.9)
            p = 1.0 - math.exp(-((n / 2 - c * math.log(1 / eta)) ** 2) / (2 * n))
            assert p == pytest.approx(0.9, abs=1e-9)
            assert n / 2 > c * math.log(1 / eta)  # the root on the valid branch


def test_fig05_min_candidates_is_the_smallest_full_success() -> None:
    from figures.fig05_construct import min_candidates

    rows = [
        {"method": "pensia", "eps": 0.01, "candidates": c, "success_fraction": f}
        for c, f in ((4, 0.5), (8, 1.0), (12, 0.99), (16, 1.0))
    ]
    assert min_candidates(rows, "pensia", 0.01) == 8
    assert math.isnan(min_candidates(rows, "pensia", 0.1))


def test_fig07_groups_runs_by_the_changed_hyperparameter(synthetic_root: Path) -> None:
    from figures.fig07_hparams import varied_fields
    from figures.records import training_runs

    runs = training_runs(synthetic_root, "ep-hparams")
    labels = varied_fields(runs)
    assert labels.count("base") == 3
    assert "lr=0.01" in labels and "weight_init=kaiming_normal" in labels
    assert all("," not in lab for lab in labels)  # each synthetic variant changes one field


def test_pgd_cells_read_the_trainer_grid_format(tmp_path: Path) -> None:
    # networks.training's pgd_ep writes one run per eps with the EP density grid in final.json.
    from figures.fig04_pgd_ep import cells
    from figures.records import training_runs

    run = tmp_path / "pgd-ep" / "sweep" / "runs" / "h" / "seed_3"  # a training sweep holds its runs
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"method": "pgd_ep", "density": 0.5, "pgd_eps": 0.03, "seed": 3}')
    grid = [
        {"density": 1.0, "sparsity": 0.0, "test_correct": 50, "test_total": 200, "test_acc": 0.25},
        {"density": 0.3, "test_correct": 70, "test_total": 200},
    ]
    import json

    (run / "final.json").write_text(json.dumps({"test_acc": 0.35, "grid": grid}))
    (run / "DONE").write_text("")
    got = cells(training_runs(tmp_path, "pgd-ep"))
    assert got == [(0.0, 0.03, 3, 25.0), (0.7, 0.03, 3, 35.0)]


def test_parse_value_and_seed_stats() -> None:
    from figures.records import parse_value, seed_stats

    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5 and parse_value("1e-05") == 1e-5
    assert parse_value("True") is True and parse_value("") is None and parse_value("ep") == "ep"
    assert parse_value("np.float64(0.25)") == 0.25  # numpy >= 2 reprs written by a producer
    st = seed_stats([1.0, 2.0, 4.0, float("nan")])
    assert (st.n, st.mean) == (3, pytest.approx(7 / 3))
    assert st.std == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert seed_stats([5.0]).std == 0.0 and seed_stats([]).n == 0


# ------------------------------------------------------------------------------------------------ demo
DEMO_NAMES = ("fig02_pssp", "fig04_pgd_ep", "fig08_iep")


def test_demo_writes_its_own_folder_and_marks_every_file(tmp_path: Path) -> None:
    import csv

    from figures.cli import main
    from figures.style import SYNTHETIC_NOTE

    assert main(["figures", *DEMO_NAMES, "--demo", "--out", str(tmp_path), "--quiet"]) == 0
    demo = tmp_path / "demo"
    # Nothing under the real names in --out: only the demo folder.
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    assert (demo / "runs").is_dir()
    for name in DEMO_NAMES:
        assert (demo / f"{name}.png").stat().st_size > 0 and (demo / f"{name}.pdf").stat().st_size > 0
        with open(demo / f"{name}.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0][0] == "synthetic_data" and len(rows) > 1
        assert all(r[0] == SYNTHETIC_NOTE for r in rows[1:])


def test_demo_figures_carry_a_visible_watermark(synthetic_root: Path, tmp_path: Path) -> None:
    import matplotlib.image

    from figures.style import SYNTHETIC_MARK, save_figure
    from figures.synthetic import render_demo

    plain, _ = render(DEMO_NAMES[1], synthetic_root, tmp_path / "plain")
    marked, result = render_demo(DEMO_NAMES[1], synthetic_root, tmp_path / "demo")
    texts = [t for t in result.figure.texts if t.get_gid() == "synthetic-watermark"]
    assert len(texts) == 1 and texts[0].get_text() == SYNTHETIC_MARK and texts[0].get_visible()
    assert "not results" in result.figure._suptitle.get_text()
    # The watermark alone (same figure, same title, watermark hidden) changes a visible share of the
    # pixels: it crosses the panels, not a corner, and stays inside the figure (same image size).
    texts[0].set_visible(False)
    hidden, _ = save_figure(result.figure, tmp_path / "hidden", "fig", ("png",))
    a = matplotlib.image.imread(hidden)
    b = matplotlib.image.imread(marked.png)
    assert a.shape == b.shape
    changed = np.mean(np.any(np.abs(a - b) > 0.05, axis=-1))
    assert changed > 0.03, changed
    # The PDF is drawn from the same marked figure: it differs from the unmarked one.
    assert marked.pdf.read_bytes() != plain.pdf.read_bytes()
