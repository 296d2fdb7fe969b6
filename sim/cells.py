"""Monte Carlo cells: keyed per-trial random streams, chunked work, resumable cells (the cell engine).

A *cell* is one random experiment repeated over trials: draw ``n`` candidates from a distribution and
measure one error statistic of the candidate set:

* ``coverage``: the coverage error ``sup_{z in [lo, hi]} min_S error(S, z)`` (``theory.coverage_error``),
  i.e. how well the subset sums approximate every target of the window at once (Lueker 1998);
* ``target``: the best error for one target ``z ~ U[lo, hi]`` drawn after the candidates
  (``theory.best_subsets``, the float64 optimum), as in Xiong et al.'s PSSP experiment (AISTATS 2023 poster).

Reproducibility. Trial ``t`` of a cell draws from
``SeedSequence(seed, spawn_key=(*cell_words, t))``, exactly the stream ``SeedSequence(seed).spawn``
hands out for that key path, where ``cell_words`` are four 32-bit words of a SHA-256 of the cell's
identity (statistic, n, distribution, window, perturbation, seed). A trial's numbers therefore depend
only on (seed, cell, t): not on the executor, the number of workers, the chunking or the order in which
chunks run, and growing ``trials`` later extends a cell without changing its first trials.

Certified decisions. Each trial stores an upper bound ``E`` on the true statistic and the width ``tol``
of its certificate (``E - tol <= E_true <= E``; ``tol = 0`` in exact mode). Against a threshold
``eta`` a trial is a success when ``E <= eta``, a failure when ``E - tol > eta``, and *ambiguous*
otherwise. Ambiguous trials are recomputed exactly (``n <= REFINE_EXACT_MAX_N``) or with a
:data:`REFINE_FACTOR` times smaller ``tol``, repeatedly, down to ``REFINE_FLOOR`` times the smallest
threshold; any left then are counted and reported, never guessed.

Cost. The certified solver's time grows quickly as ``tol`` shrinks, and deciding a trial against
thresholds spread over decades only needs ``tol`` below the distance from ``E_true`` to the nearest
threshold. Sweeps therefore start coarse (``tol = TOL_FRACTION * max(thresholds)``, see
:func:`default_tol`) and let refinement go only as fine as each trial needs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import theory
from sim.distributions import get_distribution
from sim.executors import open_executor
from theory.plumbing.progress import progress
from theory.validate import check_choice, check_int, check_range

STATISTICS = ("coverage", "target")
#: Exact enumeration of all ``2^n`` sums is used up to this ``n``; the certified solver beyond.
EXACT_MAX_N = 20
#: Ambiguous certified trials up to this ``n`` are re-decided exactly.
REFINE_EXACT_MAX_N = 22
#: Each refinement divides the certificate width by this factor.
REFINE_FACTOR = 10.0
#: Refinement stops below ``REFINE_FLOOR * min(thresholds)`` (then the trial is reported ambiguous):
#: trials whose true error lies within about 1% of a threshold cost the most and decide the least.
REFINE_FLOOR = 1e-2
#: Default certificate width as a fraction of the smallest threshold a cell is compared with.
TOL_FRACTION = 0.1


@dataclass(frozen=True)
class CellSpec:
    """One Monte Carlo cell (the identity of its random stream, plus the certificate width to use).

    Attributes:
        statistic: ``coverage`` or ``target``.
        n: Number of candidates (>= 1).
        distribution: A name in ``sim.distributions.DISTRIBUTIONS``.
        lo: Left end of the target window.
        hi: Right end (> lo).
        perturbation: PSSP perturbation bound p >= 0 (Xiong et al. 2023).
        seed: The root seed (>= 0).
        tol: Certificate width for ``n > EXACT_MAX_N`` coverage trials (> 0 there); not part of the
            identity: it changes how precisely a trial is measured, not its candidates.
    """

    statistic: str
    n: int
    distribution: str = "uniform"
    lo: float = -1.0
    hi: float = 1.0
    perturbation: float = 0.0
    seed: int = 0
    tol: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        check_choice("statistic", self.statistic, STATISTICS)
        # Canonical types, so that -1 and -1.0 name the same cell (the key hashes the JSON form).
        object.__setattr__(self, "n", check_int("n", self.n, 1, 64))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0))
        for name in ("lo", "hi", "perturbation", "tol"):
            object.__setattr__(self, name, check_range(name, getattr(self, name)))
        get_distribution(self.distribution)
        check_range("lo", self.lo)
        check_range("hi", self.hi)
        if not self.lo < self.hi:
            raise ValueError(f"the window needs lo < hi, got lo={self.lo!r}, hi={self.hi!r}")
        check_range("perturbation", self.perturbation, 0.0, None)
        check_int("seed", self.seed, 0)
        check_range("tol", self.tol, 0.0, None)
        if self.certified and self.tol <= 0:
            raise ValueError(
                f"tol must be > 0 for coverage cells with n > {EXACT_MAX_N} (certified mode), "
                f"got {self.tol!r}"
            )

    @property
    def certified(self) -> bool:
        """True when coverage trials use the certified solver (``n > EXACT_MAX_N``)."""
        return self.statistic == "coverage" and self.n > EXACT_MAX_N

    def identity(self) -> dict[str, Any]:
        """The fields that determine the random stream (everything but ``tol``)."""
        d = asdict(self)
        d.pop("tol")
        return d

    def key(self) -> str:
        """A file-name-safe key: readable prefix plus a hash of the identity."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()
        return f"{self.statistic}-{self.distribution}-n{self.n}-{digest[:12]}"

    def words(self) -> tuple[int, ...]:
        """Four 32-bit words of the identity's SHA-256, used as the cell's spawn key."""
        return _words(json.dumps(self.identity(), sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _words(identity_json: str) -> tuple[int, ...]:
    digest = hashlib.sha256(identity_json.encode()).digest()
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(4))


def trial_rng(spec: Any, trial: int) -> np.random.Generator:
    """The generator of one trial: ``SeedSequence(seed, spawn_key=(*cell words, trial))``.

    ``spec`` is any cell description with a ``seed`` and ``words()`` (a :class:`CellSpec`, or the paired
    sweeps' prefix spec).
    """
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(*spec.words(), int(trial))))


def keyed_rng(*key: int) -> np.random.Generator:
    """The generator of one keyed draw, ``default_rng(SeedSequence([*key]))`` (e.g. seed, tag, cell index)."""
    return np.random.default_rng(np.random.SeedSequence([int(v) for v in key]))


def trial_inputs(spec: CellSpec, trial: int) -> tuple[np.ndarray, float | None]:
    """The candidates (and, for ``target`` cells, the target) of one trial."""
    rng = trial_rng(spec, trial)
    x = get_distribution(spec.distribution).sample(rng, spec.n)
    z = float(rng.uniform(spec.lo, spec.hi)) if spec.statistic == "target" else None
    return x, z


# --------------------------------------------------------------------------------------------------
# The statistics
# --------------------------------------------------------------------------------------------------
def coverage_statistic(x: np.ndarray, lo: float, hi: float, p: float, tol: float) -> tuple[float, float]:
    """Certified coverage error of one candidate set: ``(E, width)`` with ``E - width <= E_true <= E``.

    ``tol = 0`` asks for the exact value (``theory.coverage_error``'s exact mode, ``n <= 24``);
    ``tol > 0`` for its certified interval-union mode (theory.md §8), whose contract
    ``E_true <= E <= E_true + tol`` is exactly the certificate used here.

    Args:
        x: Candidates.
        lo: Window left end.
        hi: Window right end.
        p: Perturbation.
        tol: Certificate width (0: exact).

    Returns:
        ``(E, width)``.
    """
    return float(theory.coverage_error(x, lo=lo, hi=hi, perturbation=p, tol=tol)), float(tol)


def _target_errors(xs: np.ndarray, zs: np.ndarray, p: float) -> list[float]:
    # The batched exact solver: rows are independent problems, so a trial's value does not depend on
    # which chunk it shares.
    res = theory.best_subsets(xs, zs, perturbation=p)
    if not np.all(res.exact):
        raise RuntimeError(f"target statistic: n = {xs.shape[1]} is beyond theory.best_subsets' exact limits")
    return np.asarray(res.errors, dtype=np.float64).tolist()


def _measure(spec: CellSpec, trial: int, tol: float) -> tuple[float, float]:
    x, z = trial_inputs(spec, trial)
    if spec.statistic == "target":
        return _target_errors(x[None, :], np.array([z]), spec.perturbation)[0], 0.0
    use_tol = tol if spec.certified else 0.0
    return coverage_statistic(x, spec.lo, spec.hi, spec.perturbation, use_tol)


def compute_chunk(task: tuple[dict[str, Any], int, int]) -> dict[str, Any]:
    """Worker entry point: measure trials ``[start, stop)`` of one cell.

    Args:
        task: ``(spec as a dict, start, stop)``.

    Returns:
        ``{"start", "stop", "errors", "tols"}`` (lists of floats).
    """
    spec_d, start, stop = task
    spec = CellSpec(**spec_d)
    if spec.statistic == "target":
        inputs = [trial_inputs(spec, t) for t in range(start, stop)]
        xs = np.stack([x for x, _ in inputs])
        zs = np.array([z for _, z in inputs])
        errs = _target_errors(xs, zs, spec.perturbation)
        return {"start": start, "stop": stop, "errors": errs, "tols": [0.0] * len(errs)}
    out = [_measure(spec, t, spec.tol) for t in range(start, stop)]
    return {
        "start": start,
        "stop": stop,
        "errors": [e for e, _ in out],
        "tols": [w for _, w in out],
    }


def classify(errors: np.ndarray, tols: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """Successes, failures and ambiguous trials against ``threshold`` (see the module docstring)."""
    errors = np.asarray(errors, dtype=np.float64)
    tols = np.asarray(tols, dtype=np.float64)
    success = errors <= threshold
    failure = (errors - tols) > threshold
    return int(success.sum()), int(failure.sum()), int((~success & ~failure).sum())


def _ambiguous_mask(errors: np.ndarray, tols: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    amb = np.zeros(errors.shape, dtype=bool)
    for thr in thresholds:
        amb |= (errors > thr) & (errors - tols <= thr)
    return amb


def refine_trials(task: tuple[dict[str, Any], list[int], list[float], list[float], list[float]]) -> dict:
    """Worker entry point: re-decide ambiguous trials with a smaller certificate (or exactly).

    Args:
        task: ``(spec dict, trial indices, their errors, their tols, thresholds)``.

    Returns:
        ``{"trials", "errors", "tols"}`` after refinement.
    """
    spec_d, trials, errors, tols, thresholds = task
    spec = CellSpec(**spec_d)
    new_e, new_w = [], []
    floor = REFINE_FLOOR * min(thresholds)
    for t, e, w in zip(trials, errors, tols, strict=True):
        while _ambiguous_mask(np.array([e]), np.array([w]), thresholds)[0]:
            if spec.n <= REFINE_EXACT_MAX_N:
                x, _ = trial_inputs(spec, t)
                e, w = coverage_statistic(x, spec.lo, spec.hi, spec.perturbation, 0.0)
                break
            if w / REFINE_FACTOR < floor:
                break
            e, w = _measure(spec, t, w / REFINE_FACTOR)
        new_e.append(e)
        new_w.append(w)
    return {"trials": list(trials), "errors": new_e, "tols": new_w}


# --------------------------------------------------------------------------------------------------
# Running many cells
# --------------------------------------------------------------------------------------------------
@dataclass
class CellSamples:
    """Per-trial results of one cell.

    Attributes:
        spec: The cell.
        errors: Upper bounds ``E`` on the statistic, one per trial.
        tols: Certificate widths (0 = exact).
        computed: Whether any trial was computed in this call (False: all reused from the store).
    """

    spec: CellSpec
    errors: np.ndarray
    tols: np.ndarray
    computed: bool = False

    def counts(self, threshold: float) -> tuple[int, int, int]:
        """``(successes, failures, ambiguous)`` against ``threshold``."""
        return classify(self.errors, self.tols, threshold)


def default_chunk_size(spec: CellSpec) -> int:
    """Trials per task: about 0.1 s of work, so tasks amortise their overhead and still balance."""
    if spec.statistic == "target":
        return 64 if spec.n <= 24 else 8
    if spec.certified:
        return 4
    return int(np.clip(2 ** (17 - spec.n), 4, 512))


def _missing_ranges(done: Sequence[tuple[int, int]], start: int, stop: int) -> list[tuple[int, int]]:
    out, cur = [], start
    for a, b in sorted(done):
        if a > cur:
            out.append((cur, min(a, stop)))
        cur = max(cur, b)
    if cur < stop:
        out.append((cur, stop))
    return [(a, b) for a, b in out if a < b]


def run_cells(
    specs: Sequence[CellSpec],
    trials: int,
    *,
    thresholds: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    executor: Any = "inprocess",
    workers: int | None = None,
    store: Any = None,
    chunk_size: int | None = None,
    quiet: bool = True,
    desc: str = "trials",
) -> dict[str, CellSamples]:
    """Measure ``trials`` trials of every cell, reusing and extending finished work in ``store``.

    Args:
        specs: The cells (duplicates by key are measured once).
        trials: Trials per cell (>= 1).
        thresholds: Thresholds the cells will be compared with (one list for all, or per cell key);
            ambiguous certified trials are refined against them.
        executor: An executor object (kept open) or a name for ``sim.executors.get_executor`` (default
            ``inprocess``: this process; ask for ``process`` explicitly, see ``sim.executors``).
        workers: Workers when ``executor`` is a name (more than 1 needs a parallel executor).
        store: A ``sim.store.RunStore`` (opened) for resumable cells, or None (nothing written).
        chunk_size: Trials per task; default :func:`default_chunk_size`.
        quiet: Hide the progress bar.
        desc: Progress-bar label.

    Returns:
        ``{cell key: CellSamples}``.
    """
    trials = check_int("trials", trials, 1)
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, 1)
    by_key: dict[str, CellSpec] = {}
    for s in specs:
        by_key.setdefault(s.key(), s)

    errors: dict[str, np.ndarray] = {}
    tols: dict[str, np.ndarray] = {}
    computed: set[str] = set()
    tasks: list[tuple[str, int, int]] = []
    parts: dict[str, dict[tuple[int, int], dict]] = {}
    for key, spec in by_key.items():
        rec = store.load_cell(key) if store is not None else None
        have = 0
        if rec is not None:
            have = min(int(rec["trials"]), trials)
            errors[key] = np.asarray(rec["errors"][:have], dtype=np.float64)
            tols[key] = np.asarray(rec["tols"][:have], dtype=np.float64)
        if have >= trials:
            continue
        parts[key] = store.load_parts(key) if store is not None else {}
        size = chunk_size or default_chunk_size(spec)
        for a, b in _missing_ranges(list(parts[key]), have, trials):
            tasks.extend((key, s, min(s + size, b)) for s in range(a, b, size))
        if have:
            parts[key][(0, have)] = {"errors": errors[key].tolist(), "tols": tols[key].tolist()}

    ex, own = open_executor(executor, workers)
    try:
        if tasks:
            wave = max(1, 4 * int(getattr(ex, "workers", 1)))
            waves = [tasks[i : i + wave] for i in range(0, len(tasks), wave)]
            for batch in progress(waves, desc=desc, quiet=quiet):
                results = ex.map(compute_chunk, [(asdict(by_key[k]), a, b) for k, a, b in batch])
                touched = set()
                for (k, a, b), res in zip(batch, results, strict=True):
                    rec = {"errors": res["errors"], "tols": res["tols"]}
                    parts[k][(a, b)] = rec
                    computed.add(k)
                    touched.add(k)
                    if store is not None:
                        store.save_part(k, a, b, rec)
                for k in touched:
                    if not _missing_ranges(list(parts[k]), 0, trials):
                        _finish(k, by_key[k], parts.pop(k), trials, errors, tols, store)
        for k in list(parts):  # cells whose only missing piece was already on disk
            if not _missing_ranges(list(parts[k]), 0, trials):
                _finish(k, by_key[k], parts.pop(k), trials, errors, tols, store)
        _refine(by_key, thresholds, errors, tols, ex, store, trials, computed)
    finally:
        if own:
            ex.close()
    return {k: CellSamples(by_key[k], errors[k][:trials], tols[k][:trials], k in computed) for k in by_key}


def _finish(key, spec, cell_parts, trials, errors, tols, store) -> None:
    e = np.full(trials, np.nan)
    w = np.full(trials, np.nan)
    for (a, b), rec in cell_parts.items():
        e[a:b] = np.asarray(rec["errors"], dtype=np.float64)[: b - a]
        w[a:b] = np.asarray(rec["tols"], dtype=np.float64)[: b - a]
    errors[key], tols[key] = e, w
    if store is not None:
        store.save_cell(key, _cell_record(spec, e, w))


def _cell_record(spec: CellSpec, e: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    return {"spec": spec.identity(), "trials": int(e.size), "errors": e.tolist(), "tols": w.tolist()}


def _refine(by_key, thresholds, errors, tols, ex, store, trials, computed) -> None:
    if thresholds is None:
        return
    jobs = []
    for key, spec in by_key.items():
        thr = thresholds.get(key, ()) if isinstance(thresholds, Mapping) else thresholds
        thr = [float(t) for t in thr]
        if not thr or not np.any(tols[key] > 0):
            continue
        amb = np.flatnonzero(_ambiguous_mask(errors[key][:trials], tols[key][:trials], thr))
        # Two trials per task: refinement is the expensive part of certified cells, so spread it.
        for part in np.array_split(amb, -(-amb.size // 2)) if amb.size else []:
            task = (asdict(spec), part.tolist(), errors[key][part].tolist(), tols[key][part].tolist(), thr)
            jobs.append((key, task))
    wave = max(1, 2 * int(getattr(ex, "workers", 1)))
    for start in range(0, len(jobs), wave):
        batch = jobs[start : start + wave]
        results = ex.map(refine_trials, [j for _, j in batch])
        for (key, _), res in zip(batch, results, strict=True):
            idx = np.asarray(res["trials"], dtype=np.int64)
            errors[key][idx] = res["errors"]
            tols[key][idx] = res["tols"]
            computed.add(key)
        if store is not None:  # persist each wave: a killed refinement resumes where it stopped
            for key in {k for k, _ in batch}:
                store.save_cell(key, _cell_record(by_key[key], errors[key], tols[key]))


def default_tol(thresholds: Sequence[float]) -> float:
    """Starting certificate width for a cell compared with ``thresholds``: a fraction of the largest.

    Refinement (see the module docstring) narrows it per trial only as far as that trial needs.
    """
    return TOL_FRACTION * max(float(t) for t in thresholds) if len(thresholds) else 0.0

