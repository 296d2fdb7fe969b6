"""Configs of the SubsetSum sweeps (frozen dataclasses: CLI flags, config.json and the run hash).

Standard library only, so that ``slth --help`` never pays for numpy. ``workers``/``executor`` are not
config fields: results do not depend on them (keyed random streams), so they must not change the hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from theory.plumbing.configs import help_field

_ETAS_RSS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@dataclass(frozen=True)
class RssSuccessConfig:
    """rss-success: P(every target in [-r, r] is eta-approximated) vs n (Lueker 1998; Pensia et al. 2020)."""

    distribution: str = help_field("uniform", "candidate distribution (uniform, product, gaussian)")
    half_widths: tuple[float, ...] = help_field((1.0, 0.5), "target windows [-r, r] for each r")
    etas: tuple[float, ...] = help_field(_ETAS_RSS, "accuracies eta")
    ns: tuple[int, ...] = help_field(tuple(range(2, 41, 2)), "candidate counts n")
    perturbation: float = help_field(0.0, "PSSP perturbation bound p (0: plain SubsetSum)")
    trials: int = help_field(1000, "trials (candidate sets) per n")
    seed: int = help_field(0, "root seed (the test seed of the pensia-rss-log rule)")
    test_etas: tuple[float, ...] = help_field(
        (1e-1, 1e-2, 1e-3), "pensia-rss-log: accuracies tested at n = ceil(bound(eta, C))"
    )
    test_trials: int = help_field(1000, "pensia-rss-log: test trials per row")
    calibration_seed: int = help_field(1, "root seed of the calibration of C (must differ from seed)")
    calibration_trials: int = help_field(200, "calibration trials per scanned n")


@dataclass(frozen=True)
class RssConstantConfig:
    """rss-constant: the empirical C in n = C log2(1/eta), for success level 0.9 and failure <= eta."""

    distribution: str = help_field("uniform", "candidate distribution")
    lo: float = help_field(-0.5, "target window left end (Lueker: -1/2)")
    hi: float = help_field(0.5, "target window right end (Lueker: 1/2)")
    etas: tuple[float, ...] = help_field((1e-1, 1e-2, 1e-3, 1e-4, 1e-5), "accuracies eta")
    level: float = help_field(0.9, "success level of the first criterion")
    trials: int = help_field(1000, "trials per scanned n")
    n_max: int = help_field(48, "largest n scanned")
    resamples: int = help_field(1000, "bootstrap resamples for the intervals of C")
    seed: int = help_field(0, "root seed (the test seed of the lueker-cor2.5 rule)")
    lueker_etas: tuple[float, ...] = help_field(
        (1e-3, 1e-4), "lueker-cor2.5: accuracies calibrated and tested on [-1/2, 1/2]"
    )
    lueker_trials: int = help_field(400, "lueker-cor2.5: calibration trials per scanned n and test trials")
    calibration_seed: int = help_field(1, "root seed of the calibration of C (must differ from seed)")


@dataclass(frozen=True)
class PsspMinNConfig:
    """pssp-min-n: minimal n with 90% success vs perturbation/eta (Xiong et al. 2023, PSSP experiment).

    Panel a is the setup that reproduces the poster (product candidates, every z in [-1, 1]); the
    ``readings`` are the other readings of the poster's one-sentence setup, drawn side by side (panel b).
    """

    statistic: str = help_field("coverage", "coverage: every z of the window (the poster); target: one z")
    distribution: str = help_field("product", "candidate distribution (product: U[0,1] U[-1,1])")
    lo: float = help_field(-1.0, "target window left end")
    hi: float = help_field(1.0, "target window right end")
    etas: tuple[float, ...] = help_field((1e-2, 1e-3, 1e-4, 1e-5), "accuracies eta")
    ratios: tuple[float, ...] = help_field(
        (0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0), "perturbation / eta"
    )
    level: float = help_field(0.9, "success level")
    trials: int = help_field(1000, "paired trials (the same candidate sets for every ratio)")
    n_max: int = help_field(40, "largest n measured (candidate sequence length)")
    seed: int = help_field(0, "root seed")
    readings: tuple[str, ...] = help_field(
        ("uniform/coverage/1", "product/target/1", "product/coverage/0.5", "uniform/target/0.5"),
        "other readings of the setup, distribution/statistic/r for the window [-r, r] (panel b)",
    )
    reading_etas: tuple[float, ...] = help_field((1e-2, 1e-3, 1e-4, 1e-5), "accuracies of the readings")


@dataclass(frozen=True)
class RssPerTargetConfig:
    """rss-per-target: one fixed target: failure rate, mean error, smallest sufficient subset vs n."""

    distribution: str = help_field("uniform", "candidate distribution")
    target: float = help_field(0.3, "the target z")
    etas: tuple[float, ...] = help_field((1e-2, 1e-3), "accuracies eta")
    ns: tuple[int, ...] = help_field((4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24), "candidate counts n")
    perturbation: float = help_field(0.0, "PSSP perturbation bound p")
    trials: int = help_field(1000, "trials per n")
    seed: int = help_field(0, "root seed")


@dataclass(frozen=True)
class XiongThm1Config:
    """xiong-thm1: Theorem 1's failure-probability bound vs the measured failure rate (Xiong et al. 2023)."""

    distribution: str = help_field("uniform", "candidate distribution (the theorem: U[-1,1], UNVERIFIED)")
    ns: tuple[int, ...] = help_field((10, 12, 14, 16, 18, 20), "candidate counts n")
    ratios: tuple[float, ...] = help_field((0.0, 0.02, 0.1), "perturbation eps as a multiple of each n's eta")
    Ks: tuple[float, ...] = help_field((1.0, 2.0, 3.0), "the theorem's free parameter K")
    quantile: float = help_field(
        0.5, "eta per n: half this quantile of the calibration seed's unperturbed coverage error"
    )
    trials: int = help_field(1000, "test trials per (n, eps)")
    calibration_trials: int = help_field(400, "calibration trials per n")
    seed: int = help_field(0, "root seed of the test trials")
    calibration_seed: int = help_field(1, "root seed of the calibration of eta (must differ from seed)")


@dataclass(frozen=True)
class XiongN90Config:
    """xiong-n90: paired n90 vs the perturbation, against the three stated versions of Theorem 1."""

    distribution: str = help_field("uniform", "candidate distribution (the theorem: U[-1,1], UNVERIFIED)")
    lo: float = help_field(-0.5, "target window left end (Theorem 1: -1/2)")
    hi: float = help_field(0.5, "target window right end (Theorem 1: 1/2)")
    thresholds: tuple[float, ...] = help_field((1e-2, 1e-3, 1e-4), "success thresholds (coverage error <=)")
    perturbations: tuple[float, ...] = help_field(
        (0.0, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0),
        "absolute perturbations eps (paired: the same candidate sets for all)",
    )
    level: float = help_field(0.9, "success level of n90")
    trials: int = help_field(1000, "paired test trials")
    calibration_trials: int = help_field(1000, "calibration trials (eps = 0)")
    n_max: int = help_field(28, "largest n measured")
    seed: int = help_field(0, "root seed of the test trials")
    calibration_seed: int = help_field(1, "root seed of the calibration (must differ from seed)")
