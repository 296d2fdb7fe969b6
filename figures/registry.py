"""The ``FIGURES`` registry and the code that renders one figure into PNG + PDF + CSV.

A figure is a :class:`FigureSpec`: a name, a title and caption, the experiments whose records it reads
(names in :data:`sim.experiments.EXPERIMENTS`, checked when it registers; ``slth reproduce`` runs them),
the ledger claims it bears on, and a ``build(runs_root) -> FigureResult`` function. Built-in figures live
one per module (``figures/fig<NN>_<name>.py``) and register themselves on import; :func:`all_figures`
imports every such module of the package (a new figure is one new file). Users add their own with
:func:`register_figure`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theory.plumbing.records import atomic_write_csv
from theory.registry import lookup, register

#: Modules of the ``figures`` package that hold one figure each (``fig01_rss``, ...).
FIGURE_MODULE = re.compile(r"^fig\d+_\w+$")


def builtin_modules() -> list[str]:
    """The figure modules of the package, in name order (``figures.fig01_rss``, ...)."""
    import figures

    names = [m.name for m in pkgutil.iter_modules(figures.__path__) if FIGURE_MODULE.match(m.name)]
    return [f"figures.{n}" for n in sorted(names)]


@dataclass
class FigureResult:
    """What a figure builder returns.

    Attributes:
        figure: The matplotlib ``Figure``.
        rows: The plotted numbers (from :class:`figures.style.PlotRecorder`), written as the CSV.
        summary: One-line findings with numbers, quoted in the report.
        tables: Named tables (lists of dicts) shown in the report.
    """

    figure: Any
    rows: list[dict[str, Any]]
    summary: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure.

    Attributes:
        name: Registry key and output file stem (``fig01_rss``).
        title: One-line title.
        caption: What is plotted, with the spread convention.
        experiments: Names of the experiments whose records it reads (``rss-success``, ...); each must
            be registered in :data:`sim.experiments.EXPERIMENTS`.
        claims: Ledger claim ids this figure bears on.
        build: ``build(runs_root) -> FigureResult``.
    """

    name: str
    title: str
    caption: str
    experiments: tuple[str, ...]
    claims: tuple[str, ...]
    build: Callable[[Path], FigureResult]


FIGURES: dict[str, FigureSpec] = {}


def register_figure(spec: FigureSpec) -> FigureSpec:
    """Add ``spec`` to :data:`FIGURES`.

    Raises:
        ValueError: On a duplicate name, or an experiment that is not registered (listing the valid ones).
    """
    from sim.experiments import get_experiment, load_experiments

    load_experiments()
    for name in spec.experiments:
        get_experiment(name)
    return register(FIGURES, "figure", spec.name, spec)


def all_figures() -> dict[str, FigureSpec]:
    """Import the built-in figure modules (idempotent) and return :data:`FIGURES`."""
    for module in builtin_modules():
        importlib.import_module(module)
    return FIGURES


def get_figure(name: str) -> FigureSpec:
    """The figure registered as ``name``.

    Raises:
        ValueError: If unknown; the message lists the valid names.
    """
    return lookup(all_figures(), "figure", name)


def resolve_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Full figure names for ``names``, each an exact name or a unique prefix (``fig01`` -> ``fig01_rss``).

    Raises:
        ValueError: For a name matching no figure or several; the message lists the valid names.
    """
    figures = all_figures()
    out = []
    for name in names:
        if name in figures:
            out.append(name)
            continue
        matches = [n for n in figures if n.startswith(name)]
        if len(matches) != 1:
            valid = ", ".join(sorted(figures))
            what = "is ambiguous" if matches else "is not a figure"
            raise ValueError(f"figure name {name!r} {what}; valid figures: {valid}")
        out.append(matches[0])
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class RenderedFigure:
    """Paths and numbers of a rendered figure."""

    name: str
    png: Path | None
    pdf: Path | None
    csv: Path
    summary: tuple[str, ...]
    tables: dict[str, list[dict[str, Any]]]


def render(
    name: str, runs_root: str | Path, out_dir: str | Path, *, formats: tuple[str, ...] = ("png", "pdf")
) -> tuple[RenderedFigure, FigureResult]:
    """Build figure ``name`` from the records under ``runs_root`` and write PNG, PDF and CSV.

    Args:
        name: A registered figure name.
        runs_root: Where the records are.
        out_dir: Where ``<name>.png``, ``.pdf`` and ``.csv`` go.
        formats: Image formats to write (the CSV is always written).

    Returns:
        The written paths and numbers, and the builder's result (its ``figure`` is kept so that
        callers and tests can inspect the artists).

    Raises:
        figures.records.MissingRecordsError: If the figure's records are absent.
        ValueError: If ``name`` is not registered.
    """
    from figures.style import PlotRecorder, figure_style, save_figure

    spec = get_figure(name)
    with figure_style():
        result = spec.build(Path(runs_root))
    png, pdf = save_figure(result.figure, out_dir, spec.name, formats)
    columns = list(PlotRecorder.COLUMNS)
    for row in result.rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    csv_path = atomic_write_csv(Path(out_dir) / f"{spec.name}.csv", result.rows, fieldnames=columns)
    rendered = RenderedFigure(spec.name, png, pdf, csv_path, tuple(result.summary), dict(result.tables))
    return rendered, result
