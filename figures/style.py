"""One shared look for every figure, and a recorder that keeps the plotted numbers.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), never ``pyplot``: no
global figure manager, no interactive backend, nothing that leaks between figures or needs a display.
Saving goes through the Agg canvas, so this works headless on clusters and in CI.

The palette is Okabe & Ito's eight colours ("Color Universal Design", 2008), which stay distinguishable
under the common colour-vision deficiencies; series also differ by marker so that greyscale prints work.

Every plotting call goes through :class:`PlotRecorder`, which draws the artist *and* appends the exact
numbers it drew to a tidy table. That table is the figure's CSV, so the CSV is the plot by construction
(the tests compare it with the artists' data).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Okabe-Ito, in the order that keeps the first few maximally distinct (black is kept for references).
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE: tuple[str, ...] = tuple(
    OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple")
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
REFERENCE_COLOR = OKABE_ITO["black"]

RC_PARAMS: dict[str, Any] = {
    "font.size": 10.0,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "legend.frameon": False,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.dpi": 100,
    # Keep text as text in PDFs (editable, searchable) and make the output reproducible.
    "pdf.fonttype": 42,
    "svg.hashsalt": "slth",
}

# Shared axis labels, with units, so the same quantity reads the same in every figure.
LABELS: dict[str, str] = {
    "n": "candidates n (count)",
    "p_success": "success probability (fraction of trials)",
    "eta": "target error η (absolute)",
    "log2_inv_eta": "log₂(1/η) (bits)",
    "ratio": "perturbation / η (ratio)",
    "test_acc": "test accuracy (%)",
    "density": "density (fraction of weights kept)",
    "sparsity": "sparsity (fraction of weights removed)",
    "dying_ratio": "dying ratio (fraction never selected)",
    "step": "training step (iterations)",
    "eps": "ε (absolute error per weight)",
    "perturbation": "perturbation ε (max-norm)",
}

SPREAD_NOTE = "bands/bars: ±1 s.d. over seeds"


def color(i: int) -> str:
    """The ``i``-th palette colour (cycles)."""
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    """The ``i``-th marker (cycles)."""
    return MARKERS[i % len(MARKERS)]


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Context manager applying the shared rcParams (restored on exit)."""
    import matplotlib

    with matplotlib.rc_context(RC_PARAMS):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.4, **kwargs: Any):
    """A ``Figure`` with a grid of axes, built without pyplot.

    Args:
        ncols: Panels per row.
        nrows: Rows of panels.
        width: Width of one panel (inches).
        height: Height of one panel (inches).
        **kwargs: Passed to ``Figure.subplots``.

    Returns:
        ``(fig, axes)`` with ``axes`` always a flat list.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, [ax for row in axes for ax in row]


def save_figure(
    fig: Any, out_dir: str | Path, name: str, formats: tuple[str, ...] = ("png", "pdf")
) -> tuple[Path | None, Path | None]:
    """Write ``<out_dir>/<name>.png`` and ``.pdf`` (Agg canvas; no display needed).

    Args:
        fig: The figure.
        out_dir: Output directory (created).
        name: File stem.
        formats: Which of ``png``/``pdf`` to write.

    Returns:
        The PNG and PDF paths (None for a format not written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{name}.png" if "png" in formats else None
    pdf = out / f"{name}.pdf" if "pdf" in formats else None
    with figure_style():
        # Metadata without dates or versions keeps the files byte-stable across re-runs.
        if png is not None:
            fig.savefig(png, metadata={"Software": None})
        if pdf is not None:
            fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return png, pdf


SYNTHETIC_MARK = "SYNTHETIC DATA"
SYNTHETIC_NOTE = "synthetic demo data, not results"


def mark_synthetic(fig: Any) -> Any:
    """Mark ``fig`` as drawn from synthetic records: a diagonal watermark and a title suffix.

    Used by ``slth figures --demo`` so that a demo figure can never pass for a real result, even when
    cropped (the watermark crosses the panels) or shown without its file name (the title says it).

    Args:
        fig: A ``matplotlib.figure.Figure``.

    Returns:
        The watermark ``Text`` artist (``gid="synthetic-watermark"``).
    """
    w, h = fig.get_size_inches()
    size = min(w * 72.0 / 12.0, h * 72.0 / 4.0)  # the rotated text stays inside the figure
    mark = fig.text(
        0.5,
        0.5,
        SYNTHETIC_MARK,
        fontsize=size,
        color=OKABE_ITO["vermillion"],
        alpha=0.3,
        rotation=math.degrees(math.atan2(h, w)),
        ha="center",
        va="center",
        fontweight="bold",
        zorder=1000,
        gid="synthetic-watermark",
    )
    title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    fig.suptitle(
        f"{title} [{SYNTHETIC_NOTE}]" if title else f"{SYNTHETIC_MARK}: demo records, not results",
        color=OKABE_ITO["vermillion"],
    )
    return mark


def panel_label(ax: Any, letter: str) -> None:
    """Put a bold panel letter (``a``, ``b``, ...) in the top-left corner outside the axes."""
    ax.text(-0.12, 1.04, letter, transform=ax.transAxes, fontweight="bold", fontsize=12, va="bottom")


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _yerr(y: np.ndarray, lo: Sequence[float] | None, hi: Sequence[float] | None) -> np.ndarray | None:
    """Matplotlib's ``(2, n)`` error-bar distances from interval ends ``lo``..``hi`` (NaN -> 0), or None."""
    if lo is None or hi is None:
        return None
    return np.vstack(
        [np.nan_to_num(y - np.asarray(lo, dtype=float)), np.nan_to_num(np.asarray(hi, dtype=float) - y)]
    )


class PlotRecorder:
    """Draws artists and records the exact numbers drawn as tidy rows.

    Each artist gets ``gid = "<panel>/<series>"``; each row holds ``panel, series, kind, x, y, y_low,
    y_high`` (heatmaps use ``x``/``y`` for the cell's column/row value and ``value`` for its colour). The
    rows are the figure's CSV.
    """

    COLUMNS = ("panel", "series", "kind", "x", "y", "y_low", "y_high", "label")

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def _add(self, panel: str, series: str, kind: str, x: Any, y: Any, lo: Any, hi: Any, label: str) -> None:
        lo_arr = [None] * len(x) if lo is None else list(lo)
        hi_arr = [None] * len(x) if hi is None else list(hi)
        for xi, yi, li, hi_ in zip(x, y, lo_arr, hi_arr, strict=True):
            self.rows.append(
                {
                    "panel": panel,
                    "series": series,
                    "kind": kind,
                    "x": _f(xi),
                    "y": _f(yi),
                    "y_low": _f(li),
                    "y_high": _f(hi_),
                    "label": label,
                }
            )

    def line(
        self,
        ax: Any,
        panel: str,
        series: str,
        x: Sequence[float],
        y: Sequence[float],
        *,
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
        label: str | None = None,
        band_alpha: float = 0.2,
        **kwargs: Any,
    ) -> Any:
        """A line (with markers by default) and, if ``lo``/``hi`` are given, a shaded band."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        (artist,) = ax.plot(x, y, label=label, gid=f"{panel}/{series}", **kwargs)
        if lo is not None and hi is not None:
            lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
            if np.isfinite(lo_a).any():
                ax.fill_between(x, lo_a, hi_a, color=artist.get_color(), alpha=band_alpha, linewidth=0)
        self._add(panel, series, "line", x, y, lo, hi, label or series)
        return artist

    def stats_line(
        self, ax: Any, panel: str, series: str, x: Sequence[float], stats: Sequence[Any], **kwargs: Any
    ) -> Any:
        """:meth:`line` of per-x seed statistics (``mean``, band ``lo``..``hi``: ``records.SeedStats``)."""
        return self.line(
            ax,
            panel,
            series,
            x,
            [s.mean for s in stats],
            lo=[s.lo for s in stats],
            hi=[s.hi for s in stats],
            **kwargs,
        )

    def points(
        self,
        ax: Any,
        panel: str,
        series: str,
        x: Sequence[float],
        y: Sequence[float],
        *,
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
        label: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Markers (no line) with optional vertical error bars from ``lo`` to ``hi``."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        kwargs.setdefault("linestyle", "none")
        kwargs.setdefault("marker", "o")
        yerr = _yerr(y, lo, hi)
        if yerr is not None:
            container = ax.errorbar(x, y, yerr=yerr, label=label, capsize=2.5, **kwargs)
            artist = container.lines[0]
            artist.set_gid(f"{panel}/{series}")
        else:
            (artist,) = ax.plot(x, y, label=label, gid=f"{panel}/{series}", **kwargs)
        self._add(panel, series, "points", x, y, lo, hi, label or series)
        return artist

    def scatter(
        self, ax: Any, panel: str, series: str, x: Sequence[float], y: Sequence[float], *, label=None, **kw
    ) -> Any:
        """A scatter plot (``PathCollection``) of individual observations."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        artist = ax.scatter(x, y, label=label, gid=f"{panel}/{series}", **kw)
        self._add(panel, series, "scatter", x, y, None, None, label or series)
        return artist

    def bars(
        self,
        ax: Any,
        panel: str,
        series: str,
        x: Sequence[float],
        heights: Sequence[float],
        *,
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
        width: float = 0.8,
        label: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Bars at positions ``x`` with optional error bars (``lo``..``hi``)."""
        x = np.asarray(x, dtype=float)
        h = np.asarray(heights, dtype=float)
        yerr = _yerr(h, lo, hi)
        container = ax.bar(x, h, width=width, yerr=yerr, capsize=2.5, label=label, **kwargs)
        for patch in container.patches:
            patch.set_gid(f"{panel}/{series}")
        self._add(panel, series, "bar", x, h, lo, hi, label or series)
        return container

    def hline(self, ax: Any, panel: str, series: str, y: float, *, label: str | None = None, **kwargs) -> Any:
        """A horizontal reference line spanning the axes (recorded with ``x = nan``)."""
        kwargs.setdefault("color", REFERENCE_COLOR)
        kwargs.setdefault("linestyle", ":")
        artist = ax.axhline(y, label=label, gid=f"{panel}/{series}", **kwargs)
        self._add(panel, series, "hline", [math.nan], [y], None, None, label or series)
        return artist

    def heatmap(
        self,
        ax: Any,
        panel: str,
        series: str,
        xs: Sequence[float],
        ys: Sequence[float],
        values: np.ndarray,
        *,
        fmt: str = "{:.1f}",
        cmap: str = "cividis",
        **kwargs: Any,
    ) -> Any:
        """An annotated heatmap: ``values[i, j]`` at row ``ys[i]``, column ``xs[j]``.

        ``cividis`` is the default colour map: perceptually uniform and readable with colour-vision
        deficiencies. Each cell is annotated with its value; NaN cells stay blank.
        """
        values = np.asarray(values, dtype=float)
        masked = np.ma.masked_invalid(values)
        image = ax.imshow(masked, cmap=cmap, aspect="auto", origin="lower", gid=f"{panel}/{series}", **kwargs)
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        finite = values[np.isfinite(values)]
        mid = float(np.mean([finite.min(), finite.max()])) if finite.size else 0.0
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    ax.text(
                        j,
                        i,
                        fmt.format(values[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if values[i, j] >= mid else "white",
                    )
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                self.rows.append(
                    {
                        "panel": panel,
                        "series": series,
                        "kind": "heatmap",
                        "x": float(xv),
                        "y": float(yv),
                        "y_low": math.nan,
                        "y_high": math.nan,
                        "label": series,
                        "value": float(values[i, j]),
                    }
                )
        return image
