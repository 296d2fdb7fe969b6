"""Paired minimal-n measurements: common random numbers across perturbations, accuracies and n.

Trial ``t`` draws one sequence of ``n_max`` candidates (and, for ``statistic="target"``, one target
``z ~ U[lo, hi]``) from ``SeedSequence(seed, spawn_key=(*prefix words, t))``, where the words hash the
identity (statistic, distribution, window, n_max, seed) and *not* the perturbation or eta. The candidate
set with ``n`` candidates is the first ``n`` of the sequence. So for one trial:

* the error with the first ``n`` candidates is non-increasing in ``n`` (more subsets), and
* non-increasing in the perturbation (the feasible perturbed sums are nested),

and the trial's *needed n*, ``N_t(eta, p)`` = the smallest ``n`` whose error is ``<= eta``, is
non-increasing in ``p`` by construction. Every perturbation is measured on the same candidate sets: the
comparison of two perturbations is paired (Xiong et al. 2023, PSSP experiment; theory.md §1.5).

Decisions are exact at every ``n`` (:func:`theory.coverage.needed_candidates`: the coverage decision
read off prefix by prefix in one pass, borderline prefixes in integer arithmetic; one target ``z`` is
the window ``[z, z]``). The record keeps a range ``[N_low, N_high]`` per trial (first ``n`` not
certainly failed, first ``n`` certainly solved) for its format; with exact decisions the two are
equal. ``n_max + 1`` means "not solved by ``n_max``".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sim.cells import STATISTICS, trial_rng
from sim.distributions import get_distribution
from sim.monte_carlo import counting_start
from theory.plumbing.progress import progress
from theory.validate import check_choice, check_int, check_range

#: Trials per worker task (one vectorised batch of the decision).
CHUNK = 64


@dataclass(frozen=True)
class PrefixSpec:
    """The identity of a paired random stream (everything that decides the candidates).

    Attributes:
        statistic: ``coverage`` (every z of the window) or ``target`` (one random z per trial).
        distribution: Candidate distribution name.
        lo: Window left end.
        hi: Window right end.
        n_max: Length of each trial's candidate sequence (the largest n measured), in [1, 64].
        seed: Root seed.
    """

    statistic: str
    distribution: str
    lo: float
    hi: float
    n_max: int
    seed: int

    def __post_init__(self) -> None:
        check_choice("statistic", self.statistic, STATISTICS)
        get_distribution(self.distribution)
        object.__setattr__(self, "lo", check_range("lo", self.lo))
        object.__setattr__(self, "hi", check_range("hi", self.hi))
        if not self.lo < self.hi:
            raise ValueError(f"the window needs lo < hi, got lo={self.lo!r}, hi={self.hi!r}")
        object.__setattr__(self, "n_max", check_int("n_max", self.n_max, 1, 64))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0))

    def key(self) -> str:
        """File-name-safe key of the stream."""
        digest = hashlib.sha256(json.dumps({"paired": asdict(self)}, sort_keys=True).encode()).hexdigest()
        return f"paired-{self.statistic}-{self.distribution}-n{self.n_max}-{digest[:12]}"

    def words(self) -> tuple[int, ...]:
        """Four 32-bit words of the identity hash: the stream's spawn key prefix."""
        digest = hashlib.sha256(json.dumps({"paired": asdict(self)}, sort_keys=True).encode()).digest()
        return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(4))


def prefix_inputs(spec: PrefixSpec, trial: int) -> tuple[np.ndarray, float | None]:
    """Trial ``trial``'s candidate sequence (length ``n_max``) and target (``target`` statistic only)."""
    rng = trial_rng(spec, trial)
    x = get_distribution(spec.distribution).sample(rng, spec.n_max)
    z = float(rng.uniform(spec.lo, spec.hi)) if spec.statistic == "target" else None
    return x, z


def needed_chunk(task: tuple[dict[str, Any], int, int, list[float], list[float]]) -> dict[str, Any]:
    """Worker entry point: the needed n of trials ``[a, b)`` for every ``(eta, perturbation)``, exactly.

    All trials of the chunk go through :func:`theory.coverage.needed_candidates` as one batch (one
    target per trial is the window ``[z, z]``). Perturbations are scanned from the largest down: the
    needed n of a smaller perturbation is at least that of a larger one on the same sequence, so each
    answer is the next scan's start (with the counting bound :func:`sim.monte_carlo.counting_start`,
    below which covering the window is impossible).

    Returns:
        ``{"low": [...], "high": [...]}``: one flattened ``etas x perturbations`` list (row-major) per
        trial; the decisions are exact, so ``low == high`` (both kept: the record format of
        :class:`PairedResult`).
    """
    from theory.coverage import needed_candidates

    spec_d, a, b, etas, ps = task
    spec = PrefixSpec(**spec_d)
    inputs = [prefix_inputs(spec, t) for t in range(a, b)]
    xs = np.stack([x for x, _ in inputs])
    if spec.statistic == "target":
        lo = hi = np.array([z for _, z in inputs])
    else:
        lo, hi = spec.lo, spec.hi
    needed = np.empty((b - a, len(etas), len(ps)), dtype=np.int64)
    for i, eta in enumerate(etas):
        prev = np.ones(b - a, dtype=np.int64)
        for j in sorted(range(len(ps)), key=lambda j: -ps[j]):
            bound = counting_start(eta, spec.lo, spec.hi, ps[j]) if spec.statistic == "coverage" else 1
            start = np.minimum(np.maximum(prev, bound), spec.n_max + 1)
            prev = needed_candidates(xs, eta, lo=lo, hi=hi, perturbation=ps[j], start=start).needed
            needed[:, i, j] = prev
    flat = needed.reshape(b - a, -1).tolist()
    return {"low": flat, "high": [list(row) for row in flat]}


def trial_needed(
    spec: PrefixSpec, trial: int, etas: list[float], perturbations: list[float]
) -> tuple[list[int], list[int]]:
    """``(N_low, N_high)`` of one trial, flattened over ``etas x perturbations`` (row-major)."""
    out = needed_chunk((asdict(spec), trial, trial + 1, list(etas), list(perturbations)))
    return out["low"][0], out["high"][0]


@dataclass
class PairedResult:
    """Needed n of every trial, for every ``(eta, perturbation)``.

    Attributes:
        spec: The stream.
        etas: Accuracies.
        perturbations: Perturbations (absolute).
        low: ``(trials, len(etas), len(perturbations))`` first n not certainly failed.
        high: Same shape, first n certainly solved (``n_max + 1``: not solved).
        computed: Whether any trial was computed in this call.
    """

    spec: PrefixSpec
    etas: list[float]
    perturbations: list[float]
    low: np.ndarray
    high: np.ndarray
    computed: bool

    @property
    def trials(self) -> int:
        """Number of trials."""
        return int(self.low.shape[0])

    def curve(self, i: int, j: int) -> dict[str, list[int]]:
        """Certain / possible solved counts with ``n = 1..n_max`` candidates at ``(etas[i], p[j])``."""
        ns = np.arange(1, self.spec.n_max + 1)
        certain = (self.high[:, i, j][None, :] <= ns[:, None]).sum(axis=1)
        possible = (self.low[:, i, j][None, :] <= ns[:, None]).sum(axis=1)
        return {"certain": certain.astype(int).tolist(), "possible": possible.astype(int).tolist()}


def run_paired(
    spec: PrefixSpec,
    trials: int,
    etas: list[float],
    perturbations: list[float],
    *,
    executor: Any,
    store: Any = None,
    quiet: bool = True,
) -> PairedResult:
    """Measure the needed n of ``trials`` paired trials (resumable through ``store``, chunk by chunk).

    Results depend only on ``(spec, trial, eta, perturbation)``: not on the executor, the number of
    workers or the chunking.
    """
    trials = check_int("trials", trials, 1)
    etas = [check_range("etas", e, 0.0, None, lo_open=True) for e in etas]
    ps = [check_range("perturbations", p, 0.0, None) for p in perturbations]
    tag = hashlib.sha256(json.dumps([etas, ps]).encode()).hexdigest()[:8]
    key = f"{spec.key()}-{tag}"
    rec = store.load_cell(key) if store is not None else None
    computed = False
    if rec is None or int(rec["trials"]) < trials:
        parts = store.load_parts(key) if store is not None else {}
        have = {}
        for (a, b), r in parts.items():
            for t, lo, hi in zip(range(a, b), r["low"], r["high"], strict=True):
                have[t] = (lo, hi)
        if rec is not None:
            for t in range(int(rec["trials"])):
                have[t] = (rec["low"][t], rec["high"][t])
        todo = [(a, min(a + CHUNK, trials)) for a in range(0, trials, CHUNK)]
        todo = [(a, b) for a, b in todo if any(t not in have for t in range(a, b))]
        wave = max(1, 4 * int(getattr(executor, "workers", 1)))
        for s in progress(range(0, len(todo), wave), desc="paired trials", quiet=quiet):
            batch = todo[s : s + wave]
            results = executor.map(needed_chunk, [(asdict(spec), a, b, etas, ps) for a, b in batch])
            for (a, b), r in zip(batch, results, strict=True):
                computed = True
                for t, lo, hi in zip(range(a, b), r["low"], r["high"], strict=True):
                    have[t] = (lo, hi)
                if store is not None:
                    store.save_part(key, a, b, r)
        rec = {
            "spec": asdict(spec),
            "etas": etas,
            "perturbations": ps,
            "trials": trials,
            "low": [have[t][0] for t in range(trials)],
            "high": [have[t][1] for t in range(trials)],
        }
        if store is not None:
            store.save_cell(key, rec)
    shape = (trials, len(etas), len(ps))
    low = np.asarray(rec["low"][:trials], dtype=np.int64).reshape(shape)
    high = np.asarray(rec["high"][:trials], dtype=np.int64).reshape(shape)
    return PairedResult(spec, etas, ps, low, high, computed)
