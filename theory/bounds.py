"""Closed-form bounds from the SLTH / random-SubsetSum literature, one function per stated version.

Conventions:

* Lueker, Pensia, da Cunha, Burkholz, Malach and the counting bound call the approximation accuracy
  ``eps`` (as in their papers). Xiong et al. call the accuracy η and the perturbation scale ε; here they
  are ``eta`` and ``perturbation`` (the solvers' name for ε), so the two never get mixed up.
* Every constant hidden inside an O(·) is an explicit keyword parameter with no default (``C``, ``c``,
  ...). Constants that an author's *code* fixes (Pensia's ``c = 3``, Burkholz's ``rho = 15``) are
  named module constants with their source.
* Logarithms are natural unless a ``base`` parameter says otherwise (the base only rescales ``C``).
* Sources are labelled as in ``reference/theory.md``: [PRIMARY] (authors' own material), [SECONDARY]
  (a later paper's restatement), [UNVERIFIED] (shape from memory/inference; do not trust constants).
* Inputs are validated; a bad value raises ``ValueError`` naming the argument and the allowed range.
  Functions take and return Python scalars.

All bounds are registered in :data:`BOUNDS` (``slth theory bound NAME --param value``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from theory import registry, validate

#: Pensia et al.'s code (``subset-sum/``, acnagle/optimal-lottery-tickets) uses
#: ``n = int(c * np.round(np.log2(1 / eps)))`` with ``c = 3`` [PRIMARY].
PENSIA_CODE_C = 3
#: Burkholz's LT-existence code default SubsetSum base-set size ``--ssa_size 15`` [PRIMARY].
BURKHOLZ_CODE_RHO = 15

BOUNDS: dict[str, Callable[..., Any]] = {}


def register_bound(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding a bound function to :data:`BOUNDS` under ``name`` (duplicates refused)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        return registry.register(BOUNDS, "bound", name, fn)

    return deco


def get_bound(name: str) -> Callable[..., Any]:
    """Look up a bound by name; the error lists the valid names."""
    return registry.lookup(BOUNDS, "bound", name)


def _log(x: float, base: float | None) -> float:
    return math.log(x) if base is None else math.log(x) / math.log(base)


def _base(base: float | None) -> float | None:
    if base is None:
        return None
    b = validate.check_range("base", base, 0.0, None, lo_open=True)
    if b == 1.0:
        raise ValueError("base must be in (0, inf) and != 1, got 1")
    return b


def _eps(name: str, value: float) -> float:
    return validate.check_range(name, value, 0.0, 1.0, lo_open=True, hi_open=True)


def _pos(name: str, value: float) -> float:
    return validate.check_range(name, value, 0.0, None, lo_open=True)


def _dim(name: str, value: int) -> int:
    return validate.check_int(name, value, 1)


# --------------------------------------------------------------------------------------------------
# Random SubsetSum: Lueker 1998 and the Pensia form
# --------------------------------------------------------------------------------------------------
@register_bound("lueker-success-probability")
def lueker_success_probability(n: int, eps: float, *, C: float) -> float:
    """Lueker's lower bound on the probability that n uniforms eps-approximate every target.

    Source: G. S. Lueker, "Exponentially small bounds on the expected optimum of the partition and
    subset sum problems", Random Structures & Algorithms 12(1):51-62, 1998, Corollary 2.5, as quoted
    on a CS-Theory Q&A page [SECONDARY]: X_1..X_n i.i.d. U[-1,1]; for every eps >= exp(-n/(2C)), with
    probability at least ``1 - exp(-(n/2 - C log(1/eps))^2 / (2n))`` every x in [-1/2, 1/2] has a
    subset S with ``|sum_S X_i - x| <= eps``. C is a universal constant never given numerically.

    Args:
        n: Number of candidates, >= 1.
        eps: Accuracy, in (0, 1).
        C: Lueker's universal constant (> 0), unknown: calibrate it with ``slth run rss-constant``.

    Returns:
        The probability bound (in [0, 1); it is 0 exactly at the edge ``n = 2 C log(1/eps)``).

    Raises:
        ValueError: If an argument is out of range, or eps < exp(-n/(2C)) (outside the corollary).
    """
    n = _dim("n", n)
    eps = _eps("eps", eps)
    C = _pos("C", C)
    edge = math.exp(-n / (2 * C))
    if eps < edge:
        raise ValueError(
            f"eps must be in [exp(-n/(2C)), 1) = [{edge:.6g}, 1) for Lueker's Corollary 2.5, got {eps!r}"
        )
    a = C * math.log(1 / eps)
    return -math.expm1(-((n / 2 - a) ** 2) / (2 * n))


@register_bound("lueker-min-n")
def lueker_min_n(eps: float, delta: float, *, C: float) -> float:
    """Smallest (real) n for which Lueker's Corollary 2.5 gives failure probability at most delta.

    Source: Lueker 1998, Corollary 2.5 (see :func:`lueker_success_probability`) solved for n
    (our derivation, checked by sympy in ``theory.symbolic``). With ``a = C log(1/eps)`` and
    ``l = log(1/delta)``, ``exp(-(n/2 - a)^2/(2n)) = delta`` is ``n^2 - 4(a + 2l) n + 4a^2 = 0``; the
    root on the corollary's branch (``n >= 2a``, i.e. eps >= exp(-n/(2C))) is
    ``n = 2a + 4l + 4 sqrt(l (a + l))``. The smallest integer is ``ceil`` of this.

    Args:
        eps: Accuracy, in (0, 1).
        delta: Allowed failure probability, in (0, 1).
        C: Lueker's universal constant (> 0).

    Returns:
        The real root n (take ``math.ceil`` for a candidate count).
    """
    eps = _eps("eps", eps)
    delta = _eps("delta", delta)
    C = _pos("C", C)
    a = C * math.log(1 / eps)
    ell = math.log(1 / delta)
    return 2 * a + 4 * ell + 4 * math.sqrt(ell * (a + ell))


@register_bound("pensia-rss-min-n")
def pensia_rss_min_n(eps: float, *, C: float, base: float = 2.0) -> float:
    """The SLTH-literature form of the RSS bound: ``n >= C log_base(1/eps)``.

    Source: Pensia et al., NeurIPS 2020, arXiv:2006.07990 ("Corollary 3.3", the Lueker form used for
    one weight) [SECONDARY restatement; exact Pensia wording UNVERIFIED]; the base-2 shape matches
    their code ``n = c * round(log2(1/eps))`` [PRIMARY] (see :func:`pensia_code_candidates`). The
    guarantee is "w.h.p., every z in [-1, 1] within eps" for i.i.d. U[-1,1] (or products of uniforms).

    Args:
        eps: Accuracy, in (0, 1).
        C: The constant (> 0); unknown in the paper.
        base: Logarithm base (> 0, != 1); 2 as in the code.

    Returns:
        ``C * log_base(1/eps)``.
    """
    eps = _eps("eps", eps)
    C = _pos("C", C)
    return C * _log(1 / eps, _base(base))


@register_bound("pensia-rss-min-n-restated")
def pensia_rss_min_n_restated(eps: float, *, C: float) -> float:
    """The restated Pensia/Lueker corollary: ``n >= C log(2/eps)`` gives failure probability <= eps.

    Source: Otsuka et al. 2025, arXiv:2511.04217, restating Pensia et al. 2020 "Corollary 3.3"
    [SECONDARY; exact Pensia wording UNVERIFIED]: X_1..X_n i.i.d. U[-1,1] (or containing a uniform),
    ``n >= C log(2/eps)`` => with probability >= 1 - eps every z in [-1, 1] is within eps of a subset
    sum. Natural log (the base only rescales C).

    Args:
        eps: Accuracy and failure probability, in (0, 1).
        C: The constant (> 0).

    Returns:
        ``C * log(2/eps)``.
    """
    eps = _eps("eps", eps)
    C = _pos("C", C)
    return C * math.log(2 / eps)


@register_bound("pensia-code-candidates")
def pensia_code_candidates(eps: float, *, c: int = PENSIA_CODE_C) -> int:
    """Candidates per weight exactly as Pensia et al.'s SubsetSum experiment computed them.

    Source: acnagle/optimal-lottery-tickets, ``subset-sum/``: ``n = int(c*np.round(np.log2(1/eps)))``
    with ``c = 3`` [PRIMARY]; eps = 0.01 gives 21. ``round`` is round-half-to-even, as numpy's.

    Args:
        eps: Accuracy, in (0, 1).
        c: Multiplier (>= 1), default :data:`PENSIA_CODE_C`.

    Returns:
        The integer candidate count.
    """
    eps = _eps("eps", eps)
    c = validate.check_int("c", c, 1)
    return int(c * round(math.log2(1 / eps)))


@register_bound("pensia-weight-tolerance")
def pensia_weight_tolerance(eps: float, d_in: int, d_out: int, *, depth: int, split: float) -> float:
    """Per-weight SubsetSum tolerance in the union-bound budget: ``eps / (split * d_in * d_out * depth)``.

    Source: Pensia et al. 2020 construction (reference §3.2(b)-(c), §5): each of the d_in*d_out
    weights of each of the L layers gets a share of eps; the split constant (1, 2, 4, ...) is
    [UNVERIFIED] and therefore a parameter. Otsuka's restatement (Thm 10) has ``4 L d_l d_{l+1}``.

    Args:
        eps: Network-level accuracy, in (0, 1).
        d_in: Layer input width (>= 1).
        d_out: Layer output width (>= 1).
        depth: Target depth L (>= 1).
        split: The split constant (> 0).

    Returns:
        The per-weight tolerance.
    """
    eps = _eps("eps", eps)
    d_in, d_out, depth = _dim("d_in", d_in), _dim("d_out", d_out), _dim("depth", depth)
    split = _pos("split", split)
    return eps / (split * d_in * d_out * depth)


@register_bound("pensia-candidates-per-weight")
def pensia_candidates_per_weight(
    eps: float, d_in: int, d_out: int, *, depth: int, C: float, split: float, base: float = 2.0
) -> float:
    """Per-weight candidate count for a layer: ``C log_base(split * d_in * d_out * depth / eps)``.

    Source: Pensia et al. 2020 per-layer construction with a union bound over the weights
    (reference §3.2(b), §5: ``n = C log2(d_{l-1} d_l L / eps)``) [SECONDARY/UNVERIFIED constants]. Equal
    to :func:`pensia_rss_min_n` at the tolerance :func:`pensia_weight_tolerance`.

    Args:
        eps: Network-level accuracy, in (0, 1).
        d_in: Layer input width (>= 1).
        d_out: Layer output width (>= 1).
        depth: Target depth L (>= 1).
        C: The RSS constant (> 0).
        split: The split constant (> 0), [UNVERIFIED].
        base: Logarithm base (default 2).

    Returns:
        The real candidate count (``ceil`` it).
    """
    tol = pensia_weight_tolerance(eps, d_in, d_out, depth=depth, split=split)
    C = _pos("C", C)
    return C * _log(1 / tol, _base(base))


@register_bound("pensia-thm1-width")
def pensia_thm1_width(
    eps: float, d_in: int, d_out: int, *, depth: int, C: float, split: float = 4.0
) -> float:
    """Hidden width of the random network for one target layer in Pensia et al.'s Theorem 1.

    Source: Pensia et al., NeurIPS 2020, Theorem 1, as restated by Otsuka et al. 2025 (Thm 10)
    [SECONDARY]: target layer W_l in R^{d_{l+1} x d_l}, ||W_l|| <= 1; the random layer pair has
    ``n_l >= d_l * C * log(4 L d_l d_{l+1} / eps)`` hidden units; then with probability >= 1 - eps
    some masks give sup_{||x||<=1} ||F_S(x) - F_T(x)|| <= eps. Here ``split`` is that 4.

    Args:
        eps: Accuracy and failure probability, in (0, 1).
        d_in: The layer's input width d_l (>= 1).
        d_out: The layer's output width d_{l+1} (>= 1).
        depth: Target depth L (>= 1).
        C: The universal constant (> 0), unknown.
        split: Constant inside the log (> 0); 4 in Otsuka's restatement.

    Returns:
        The hidden width (real; ``ceil`` it).
    """
    eps = _eps("eps", eps)
    d_in, d_out, depth = _dim("d_in", d_in), _dim("d_out", d_out), _dim("depth", depth)
    C, split = _pos("C", C), _pos("split", split)
    return d_in * C * math.log(split * depth * d_in * d_out / eps)


@register_bound("pensia-thm1-network")
def pensia_thm1_network(
    widths: tuple[int, ...], eps: float, *, C: float, split: float = 4.0
) -> dict[str, Any]:
    """Random-network shape for an MLP target in Pensia et al.'s Theorem 1: depth 2L, widths per layer.

    Source: Pensia et al., NeurIPS 2020, Theorem 1 (abstract [PRIMARY]: "a factor O(log(dl)) wider and
    twice as deep"; widths as restated by Otsuka et al. 2025 Thm 10 [SECONDARY]).

    Args:
        widths: Target layer widths ``(d_0, d_1, ..., d_L)`` (input first; each >= 1; at least 2).
        eps: Accuracy, in (0, 1).
        C: The universal constant (> 0).
        split: Constant inside the log (> 0).

    Returns:
        ``{"depth": 2L, "hidden_widths": [n_1, ..., n_L] (ceil'd), "layer_widths": [...]}`` where the
        random network's layer widths are ``d_0, n_1, d_1, n_2, d_2, ..., n_L, d_L``.
    """
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least input and output widths (length >= 2), got {widths!r}")
    dims = [_dim(f"widths[{i}]", w) for i, w in enumerate(widths)]
    depth = len(dims) - 1
    hidden = [
        math.ceil(pensia_thm1_width(eps, dims[i], dims[i + 1], depth=depth, C=C, split=split))
        for i in range(depth)
    ]
    layer_widths = [dims[0]]
    for h, d in zip(hidden, dims[1:], strict=True):
        layer_widths += [h, d]
    return {"depth": 2 * depth, "hidden_widths": hidden, "layer_widths": layer_widths}


@register_bound("pensia-thm1-depth")
def pensia_thm1_depth(depth: int) -> int:
    """Depth of the random network in Pensia et al.'s Theorem 1: ``2L``.

    Source: Pensia et al., NeurIPS 2020, arXiv:2006.07990, abstract [PRIMARY]: "twice as deep".

    Args:
        depth: Target depth L (>= 1).

    Returns:
        ``2 * depth``.
    """
    return 2 * _dim("depth", depth)


# --------------------------------------------------------------------------------------------------
# Xiong, Liao, Kyrillidis: epsilon-perturbed SubsetSum (three stated versions)
# --------------------------------------------------------------------------------------------------
def _perturbation(value: float) -> float:
    # The exponent has (3 - eps): the bound is only meaningful for eps < 3 [UNVERIFIED inference].
    return validate.check_range("perturbation", value, 0.0, 3.0, hi_open=True)


@register_bound("xiong-thm1-failure")
def xiong_thm1_failure_probability(n: float, perturbation: float, K: float) -> float:
    """Xiong et al.'s Theorem 1 failure probability ``exp(-(n-K)(1+eps)^2/(8(3-eps))) + exp(-K)``.

    Source: Xiong, Liao, Kyrillidis, AISTATS 2023 (PMLR 206:6879-6902; arXiv:2210.16589), Theorem 1,
    AISTATS poster wording [PRIMARY]: for all K >= 0, with probability at least
    ``1 - exp(-(n-K)(1+eps)^2 / (8(3-eps))) - exp(-K)`` every z in [-1/2, 1/2] has a 2-eta
    approximation, eps = perturbation. The restriction eps < 3 and the U[-1,1] candidates are
    [UNVERIFIED] inferences. The value may exceed 1 (vacuous bound); e.g. n=20, eps=0, K=2 gives 0.607.

    Args:
        n: Number of candidates (> 0).
        perturbation: The perturbation scale eps, in [0, 3).
        K: The free parameter, in [0, n].

    Returns:
        The failure-probability bound (not clipped to 1).
    """
    n = _pos("n", n)
    eps = _perturbation(perturbation)
    K = validate.check_range("K", K, 0.0, n)
    return math.exp(-(n - K) * (1 + eps) ** 2 / (8 * (3 - eps))) + math.exp(-K)


def _xiong_rate(eps: float) -> float:
    # A = 8(3 - eps)/(1 + eps)^2: candidates (beyond K) per unit of log(1/probability).
    return 8 * (3 - eps) / (1 + eps) ** 2


@register_bound("xiong-thm1-min-n")
def xiong_thm1_min_n(delta: float, perturbation: float, K: float | None = None) -> float:
    """Smallest n for which Xiong's Theorem 1 bound is at most delta (our solution of the formula).

    Source: Xiong et al. AISTATS 2023 Theorem 1 (see :func:`xiong_thm1_failure_probability`) solved
    for n (our derivation, checked by sympy in ``theory.symbolic``). With ``A = 8(3-eps)/(1+eps)^2``:
    for a given K (needs ``exp(-K) < delta``) ``n = K + A log(1/(delta - exp(-K)))``; minimising over K
    gives ``K* = log((1+A)/delta)`` and ``n* = K* + A log((1+A)/(A delta))``.

    Args:
        delta: Target failure probability, in (0, 1).
        perturbation: eps, in [0, 3).
        K: The free parameter (> log(1/delta)); ``None`` uses the minimising K*.

    Returns:
        The real n (``ceil`` it).
    """
    delta = _eps("delta", delta)
    A = _xiong_rate(_perturbation(perturbation))
    if K is None:
        K = math.log((1 + A) / delta)
        return K + A * math.log((1 + A) / (A * delta))
    K = validate.check_range("K", K, math.log(1 / delta), None, lo_open=True)
    return K + A * math.log(1 / (delta - math.exp(-K)))


@register_bound("xiong-candidates-aistats")
def xiong_candidates_aistats(eta: float, perturbation: float, K: float, *, C: float) -> float:
    """Candidate-count shape of Theorem 1, AISTATS version: ``C (log(1/eta)/(1+eps) + K)``.

    Source: Xiong et al. AISTATS 2023 poster and abstract [PRIMARY]: ``n = O(log(1/eta)/(1+eps) + K)``
    ("reduce the over-parameterization requirement ... by a factor of O(1/(1+eps))"). The O() constant
    is not given, hence ``C``. Compare shapes only (monotone decrease in eps, ratio to eps = 0).

    Args:
        eta: Accuracy, in (0, 1).
        perturbation: eps (>= 0).
        K: Theorem 1's K (>= 0).
        C: The O() constant (> 0).

    Returns:
        The shape value.
    """
    eta = _eps("eta", eta)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    K = validate.check_range("K", K, 0.0, None)
    return _pos("C", C) * (math.log(1 / eta) / (1 + eps) + K)


@register_bound("xiong-candidates-slides")
def xiong_candidates_slides(eta: float, perturbation: float, *, C: float) -> float:
    """Candidate-count shape, April-2023 slides version: ``C log(1/eta) / (log(1+eps) + 1)``.

    Source: Xiong et al., talk slides dated 28 Apr 2023 (akyrillidis.github.io,
    ``pubs/Presentations/SLTH_slides.pdf``) [PRIMARY]: "If n = O(log(1/eta)/(log(1+eps)+1)), then w.h.p.
    all z have an eta-approximation". Differs from the AISTATS version; kept separate on purpose.

    Args:
        eta: Accuracy, in (0, 1).
        perturbation: eps (>= 0).
        C: The O() constant (> 0).

    Returns:
        The shape value.
    """
    eta = _eps("eta", eta)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    return _pos("C", C) * math.log(1 / eta) / (math.log1p(eps) + 1)


@register_bound("xiong-candidates-opt22")
def xiong_candidates_opt22(eta: float, perturbation: float, *, c: float, C1: float, C2: float) -> float:
    """Candidate-count shape, OPT-2022 workshop version: ``K1 + K2``.

    Source: Liao, Xiong, Kyrillidis, NeurIPS 2022 workshop OPT 2022 poster (JasperLiao.github.io,
    ``posters/PerturbedSLTH_Poster.pdf``, commit 8b7e0da) [PRIMARY]: ``n = K1 + K2`` with
    ``K1 = O(log(1/eta)/log(c+eps))`` and ``K2 = O(1 + log(1/eta)/(1+eps))``; c is not defined on the
    poster. Here ``K1 = C1 log(1/eta)/log(c+eps)`` and ``K2 = C2 (1 + log(1/eta)/(1+eps))``.

    Args:
        eta: Accuracy, in (0, 1).
        perturbation: eps (>= 0).
        c: The poster's undefined constant; needs ``c + eps > 1``.
        C1: O() constant of K1 (> 0).
        C2: O() constant of K2 (> 0).

    Returns:
        The shape value.
    """
    eta = _eps("eta", eta)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    c = validate.check_range("c", c, 1.0 - eps, None, lo_open=True)
    L = math.log(1 / eta)
    return _pos("C1", C1) * L / math.log(c + eps) + _pos("C2", C2) * (1 + L / (1 + eps))


@register_bound("xiong-candidates-unperturbed")
def xiong_candidates_unperturbed(eta: float, *, C: float) -> float:
    """The plain Lueker baseline as stated on Xiong's slides: ``n = C log(1/eta)``.

    Source: Xiong et al. slides (28 Apr 2023) [PRIMARY]: "n = O(log(1/eta)) w.h.p." (Lueker 1998).

    Args:
        eta: Accuracy, in (0, 1).
        C: The O() constant (> 0).

    Returns:
        ``C log(1/eta)``.
    """
    return _pos("C", C) * math.log(1 / _eps("eta", eta))


def _xiong_width_log(eta: float, d_prev: int, d: int, depth: int) -> tuple[float, int]:
    eta = _eps("eta", eta)
    d_prev, d, depth = _dim("d_prev", d_prev), _dim("d", d), _dim("depth", depth)
    return math.log(d * d_prev * depth / eta), d_prev


@register_bound("xiong-thm2-width-aistats")
def xiong_thm2_width_aistats(
    eta: float, perturbation: float, d_prev: int, d: int, *, depth: int, C: float
) -> float:
    """Theorem 2 hidden width, AISTATS version: ``C d_{l-1} log(d_l d_{l-1} L / eta) / (1 + eps)``.

    Source: Xiong et al. AISTATS 2023, Theorem 2, poster wording [PRIMARY]: if
    ``d'_l = O(d_{l-1} log(eta^-1 d_l d_{l-1} L) / (1+eps))`` then w.h.p. eta_hat <= eta, with
    ||Delta W||_inf <= eps. The poster's remark "as eps -> inf the width goes to d_l" probably means
    d_{l-1} [UNVERIFIED].

    Args:
        eta: Target accuracy eta_hat, in (0, 1).
        perturbation: eps (>= 0).
        d_prev: Input width d_{l-1} (>= 1).
        d: Output width d_l (>= 1).
        depth: Target depth L (>= 1).
        C: The O() constant (> 0).

    Returns:
        The width shape.
    """
    log_term, d_prev = _xiong_width_log(eta, d_prev, d, depth)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    return _pos("C", C) * d_prev * log_term / (1 + eps)


@register_bound("xiong-thm2-width-slides")
def xiong_thm2_width_slides(
    eta: float, perturbation: float, d_prev: int, d: int, *, depth: int, C: float
) -> float:
    """Theorem 2 hidden width, slides/OPT version: ``C d_{l-1} log(d_l d_{l-1} L/eta) / (log(1+eps) + 1)``.

    Source: Xiong et al. slides (28 Apr 2023, p.11) and the OPT-2022 poster [PRIMARY]: denominator
    ``log(1+eps) + 1`` instead of the AISTATS ``1 + eps``.

    Args:
        eta: Target accuracy, in (0, 1).
        perturbation: eps (>= 0).
        d_prev: Input width d_{l-1} (>= 1).
        d: Output width d_l (>= 1).
        depth: Target depth L (>= 1).
        C: The O() constant (> 0).

    Returns:
        The width shape.
    """
    log_term, d_prev = _xiong_width_log(eta, d_prev, d, depth)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    return _pos("C", C) * d_prev * log_term / (math.log1p(eps) + 1)


@register_bound("xiong-thm2-params-slides")
def xiong_thm2_params_slides(
    n_params: int, depth: int, eta: float, perturbation: float, *, C: float
) -> float:
    """Parameter count of the random network, slides short form: ``C n log(n L / eta) / (log(1+eps)+1)``.

    Source: Xiong et al. slides (28 Apr 2023) [PRIMARY]: "if F has n parameters and L layers, G needs
    n log(eta^-1 n L)/(log(1+eps)+1) parameters and 2L layers" (unperturbed: n log(eta^-1 n L)).

    Args:
        n_params: Target parameter count (>= 1).
        depth: Target depth L (>= 1).
        eta: Accuracy, in (0, 1).
        perturbation: eps (>= 0).
        C: The O() constant (> 0).

    Returns:
        The parameter-count shape.
    """
    n_params, depth = _dim("n_params", n_params), _dim("depth", depth)
    eta = _eps("eta", eta)
    eps = validate.check_range("perturbation", perturbation, 0.0, None)
    return _pos("C", C) * n_params * math.log(n_params * depth / eta) / (math.log1p(eps) + 1)


# --------------------------------------------------------------------------------------------------
# Other SLTH results
# --------------------------------------------------------------------------------------------------
@register_bound("dacunha-cnn-channels")
def dacunha_cnn_channels(
    eps: float, delta: float, kernel: int, c_in: int, c_out: int, *, depth: int, C: float
) -> float:
    """Intermediate channels per target conv layer: ``C c_in log(k^2 c_in c_out L / min(eps, delta))``.

    Source: da Cunha, Natale, Viennot, "Proving the Lottery Ticket Hypothesis for Convolutional Neural
    Networks", ICLR 2022. The abstract (a logarithmic factor) is [PRIMARY]; this exact form (random CNN
    of depth 2L, entries U[-1,1], a k x k conv into about that many channels then a 1 x 1 conv,
    non-negative inputs) is [UNVERIFIED].

    Args:
        eps: Accuracy, in (0, 1).
        delta: Failure probability, in (0, 1).
        kernel: Kernel side k (>= 1).
        c_in: Input channels (>= 1).
        c_out: Output channels (>= 1).
        depth: Target depth L (>= 1).
        C: The constant (> 0), unknown.

    Returns:
        The channel count (real; ``ceil`` it).
    """
    eps, delta = _eps("eps", eps), _eps("delta", delta)
    kernel, c_in, c_out = _dim("kernel", kernel), _dim("c_in", c_in), _dim("c_out", c_out)
    depth = _dim("depth", depth)
    return _pos("C", C) * c_in * math.log(kernel**2 * c_in * c_out * depth / min(eps, delta))


@register_bound("burkholz-depth")
def burkholz_depth(depth: int) -> int:
    """Source depth ``L + 1`` for a depth-L target (instead of 2L).

    Source: Burkholz, "Most Activation Functions Can Win the Lottery Without Excessive Depth",
    NeurIPS 2022, arXiv:2205.02321, abstract [PRIMARY].

    Args:
        depth: Target depth L (>= 1).

    Returns:
        ``depth + 1``.
    """
    return _dim("depth", depth) + 1


@register_bound("burkholz-width")
def burkholz_width(eps: float, d: int, *, depth: int, C: float) -> float:
    """Width shape of Burkholz's depth-L+1 construction: ``C d log(d L / eps)`` [UNVERIFIED].

    Source: Burkholz NeurIPS 2022 abstract [PRIMARY]: "wider by a logarithmic factor"; the exact
    theorem constants and log argument are [UNVERIFIED]; only the shape is meant.

    Args:
        eps: Accuracy, in (0, 1).
        d: Target width (>= 1).
        depth: Target depth L (>= 1).
        C: The constant (> 0).

    Returns:
        The width shape.
    """
    eps = _eps("eps", eps)
    d, depth = _dim("d", d), _dim("depth", depth)
    return _pos("C", C) * d * math.log(d * depth / eps)


@register_bound("burkholz-code-units")
def burkholz_code_units(activation: str, *, rho: int = BURKHOLZ_CODE_RHO) -> int:
    """Random units per target neuron in Burkholz's code: ``2 rho`` for ReLU/LReLU, ``rho`` otherwise.

    Source: RelationalML/LT-existence code defaults [PRIMARY]: ``--ssa_size 15``; ReLU and LReLU use
    ``prune_conv(..., 2*rho, rho)`` (the +/- split), tanh and sigmoid ``(rho, rho)``.

    Args:
        activation: ``relu``, ``lrelu``, ``tanh`` or ``sigmoid``.
        rho: SubsetSum base-set size (>= 1).

    Returns:
        The unit count.
    """
    validate.check_choice("activation", activation, ("relu", "lrelu", "tanh", "sigmoid"))
    rho = validate.check_int("rho", rho, 1)
    return 2 * rho if activation in ("relu", "lrelu") else rho


@register_bound("counting-min-params")
def counting_min_params(d: int, eps: float, *, c: float) -> float:
    """Counting lower bound on parameters: ``2^P >= (c/eps)^(d^2)``, i.e. ``P >= d^2 log2(c/eps)``.

    Source: Pensia et al. 2020 lower bound (abstract [PRIMARY]: "essentially optimal for constant depth
    networks"; statement [UNVERIFIED]): a network with P parameters whose subnetworks eps-approximate
    every x -> Wx, W in R^{d x d}, ||W|| <= 1, on the unit ball has at most 2^P subnetworks, while an
    eps-packing of those maps has (c/eps)^(d^2) elements; so P = Omega(d^2 log(1/eps)).

    Args:
        d: Dimension (>= 1).
        eps: Accuracy, in (0, 1).
        c: The packing constant (> eps), unknown.

    Returns:
        ``d^2 log2(c/eps)``.
    """
    d = _dim("d", d)
    eps = _eps("eps", eps)
    c = validate.check_range("c", c, eps, None, lo_open=True)
    return d * d * math.log2(c / eps)


@register_bound("counting-min-width")
def counting_min_width(d: int, eps: float, *, c: float) -> float:
    """Hidden width a depth-2 source (d -> w -> d, P = 2 d w weights) needs by the counting bound.

    Source: :func:`counting_min_params` with ``P = 2 d w``: ``w >= d log2(c/eps) / 2`` (reference §3.3:
    "for constant depth, width Omega(d log(1/eps)) is necessary") [UNVERIFIED statement].

    Args:
        d: Dimension (>= 1).
        eps: Accuracy, in (0, 1).
        c: The packing constant (> eps).

    Returns:
        The width lower bound.
    """
    return counting_min_params(d, eps, c=c) / (2 * _dim("d", d))


@register_bound("malach-width")
def malach_width(
    d: int,
    depth: int,
    eps: float,
    delta: float,
    *,
    C: float,
    eps_power: float,
    d_power: float = 4.0,
    depth_power: float = 2.0,
) -> float:
    """Malach et al.'s polynomial width, for comparison: ``C d^a L^b eps^-p log(1/delta)``.

    Source: Malach, Yehudai, Shalev-Shwartz, Shamir, "Proving the Lottery Ticket Hypothesis: Pruning is
    All You Need", ICML 2020, arXiv:2002.00585. The factor O(d^4 l^2) is as quoted in Pensia et al.'s
    abstract [PRIMARY quote] (O(d^5 l^2) in a later paper [SECONDARY]); the poly(1/eps) degree and the
    constants are [UNVERIFIED], hence ``eps_power`` has no default.

    Args:
        d: Target width (>= 1).
        depth: Target depth l (>= 1).
        eps: Accuracy, in (0, 1).
        delta: Failure probability, in (0, 1).
        C: The constant (> 0).
        eps_power: Degree p of 1/eps (>= 0), unknown.
        d_power: Exponent of d (> 0), 4 as quoted by Pensia.
        depth_power: Exponent of l (> 0).

    Returns:
        The width shape.
    """
    d, depth = _dim("d", d), _dim("depth", depth)
    eps, delta = _eps("eps", eps), _eps("delta", delta)
    p = validate.check_range("eps_power", eps_power, 0.0, None)
    a, b = _pos("d_power", d_power), _pos("depth_power", depth_power)
    return _pos("C", C) * d**a * depth**b * eps**-p * math.log(1 / delta)


# --------------------------------------------------------------------------------------------------
# Sparse tickets: the Random Fixed-Size Subset Sum (RFSS)
# Natale, Ferré, Giambartolomei, Giroire, Mallmann-Trenn, "On the Sparsity of the Strong Lottery Ticket
# Hypothesis", NeurIPS 2024, arXiv:2410.14754 (reference theory.md §9).
# --------------------------------------------------------------------------------------------------
#: Theorem 5's range 1 <= k <= lambda n with lambda = 1 - 1/(2 pi) [PRIMARY].
RFSS_THM5_LAMBDA = 1.0 - 1.0 / (2.0 * math.pi)


def binary_entropy(q: float) -> float:
    """``H2(q) = -q log2 q - (1 - q) log2(1 - q)`` for ``q`` in ``[0, 1]`` (``H2(0) = H2(1) = 0``)."""
    q = validate.check_range("q", q, 0.0, 1.0)
    if q in (0.0, 1.0):
        return 0.0
    return -q * math.log2(q) - (1.0 - q) * math.log2(1.0 - q)


def _entropy_min_n(k: int, need: float, lam: float) -> int:
    """Smallest integer ``n >= k / lam`` with ``n H2(k/n) >= need``.

    ``n H2(k/n)`` is increasing in ``n`` for ``n >= 2k`` (its derivative is ``log2(n/(n-k)) > 0``), so the
    smallest admissible ``n`` is found by doubling and bisection; below ``k / lam`` the theorems say nothing.
    """
    n_lo = max(1, math.ceil(k / lam - 1e-12))

    def ok(n: int) -> bool:
        return n * binary_entropy(k / n) >= need

    if ok(n_lo):
        return n_lo
    hi = n_lo
    while not ok(hi):
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _rfss_k_eps(k: int, eps: float) -> tuple[int, float]:
    return _dim("k", k), _eps("eps", eps)


@register_bound("rfss-thm2-min-n")
def rfss_thm2_min_n(k: int, eps: float, *, c_hyp: float, lam: float = 0.5) -> int:
    """Smallest ``n`` with ``n >= c_hyp log2(k/eps) / H2(k/n)`` and ``k <= lam n`` (Theorem 2's hypothesis).

    Source: Natale et al. 2024, Theorem 2 [PRIMARY]: with 1 <= k <= n/2 (Remark 1: k <= lam n, lam in
    [1/n, 1)), c_hyp >= 1, and X_i iid with a sum-bounded density, for every fixed z in [-sqrt k, sqrt k],
    P(exists |S| = k with |Sum_S - z| < eps) >= c_thm. The n of the statement appears on both sides; since
    ``n H2(k/n)`` increases in ``n`` the condition holds exactly from the returned ``n`` on.

    Args:
        k: Subset size (>= 1).
        eps: Accuracy, in (0, 1).
        c_hyp: The hypothesis constant (>= 1 in the theorem; any > 0 is accepted, to find the smallest
            that works).
        lam: Largest admissible ``k / n``, in (0, 1) (the theorem's 1/2 by default).

    Returns:
        The smallest integer ``n`` satisfying the hypothesis.
    """
    k, eps = _rfss_k_eps(k, eps)
    lam = validate.check_range("lam", lam, 0.0, 1.0, lo_open=True, hi_open=True)
    return _entropy_min_n(k, _pos("c_hyp", c_hyp) * math.log2(k / eps), lam)


@register_bound("rfss-cor1-min-n")
def rfss_cor1_min_n(k: int, eps: float, *, c_amp: float) -> int:
    """Smallest ``n >= 2k`` with ``n >= c_amp log2^2(k/eps) / H2(k/n)`` (Corollary 1's hypothesis).

    Source: Natale et al. 2024, Corollary 1 [PRIMARY]: 0 < p <= 1, eps in (0, 1/2), 1 <= k <= n/2, X_i
    iid from a
    mixture that is U[-1, 1] with probability p; for c_amp > 0 depending only on p, the hypothesis gives
    P(every z in [-sqrt k, sqrt k] is within eps of a k-subset sum) >= 1 - eps. (The relation
    ``c_amp = 8 c_hyp / c_thm`` is read only second-hand [UNVERIFIED]; c_amp is a parameter.)

    Args:
        k: Subset size (>= 1).
        eps: Accuracy, in (0, 1/2).
        c_amp: The amplified constant (> 0).

    Returns:
        The smallest integer ``n`` satisfying the hypothesis.
    """
    k, eps = _rfss_k_eps(k, eps)
    eps = validate.check_range("eps", eps, 0.0, 0.5, lo_open=True, hi_open=True)
    return _entropy_min_n(k, _pos("c_amp", c_amp) * math.log2(k / eps) ** 2, 0.5)


@register_bound("rfss-cor2-min-k")
def rfss_cor2_min_k(eps: float, *, c_amp: float) -> int:
    """Smallest ``k`` with ``k >= 2 c_amp (log2^2 k + 2 log2 k log2(1/eps))`` (Corollary 2's condition).

    Source: Natale et al. 2024, Corollary 2 [PRIMARY]. The right side grows like ``log^2 k``, so the condition
    holds for every ``k`` beyond some point; this is the first ``k`` from which it holds for all larger ones.

    Args:
        eps: Accuracy, in (0, 1/2).
        c_amp: Corollary 1's constant (> 0).

    Returns:
        The threshold ``k``.
    """
    eps = validate.check_range("eps", eps, 0.0, 0.5, lo_open=True, hi_open=True)
    c = _pos("c_amp", c_amp)
    le = math.log2(1.0 / eps)

    def gap(k: float) -> float:
        return k - 2.0 * c * (math.log2(k) ** 2 + 2.0 * math.log2(k) * le)

    # gap is increasing once k > its critical point; scan down from a point where it is surely positive.
    hi = 2
    while gap(hi) < 0 or gap(2 * hi) < gap(hi):
        hi *= 2
    k = hi
    while k > 1 and gap(k - 1) >= 0 and gap(k - 1) <= gap(k):
        k -= 1
    return k


@register_bound("rfss-cor2-min-n")
def rfss_cor2_min_n(k: int, eps: float, *, c_amp: float) -> int:
    """Smallest ``n >= 2k`` with ``n >= 2 c_amp log2^2(1/eps) / H2(k/n)`` (Corollary 2).

    Source: Natale et al. 2024, Corollary 2 [PRIMARY]: if also ``k >= 2 c_amp (log2^2 k + 2 log2 k
    log2(1/eps))``
    (:func:`rfss_cor2_min_k`), this n suffices for Corollary 1's conclusion.

    Args:
        k: Subset size, at least :func:`rfss_cor2_min_k` ``(eps, c_amp=c_amp)``.
        eps: Accuracy, in (0, 1/2).
        c_amp: Corollary 1's constant (> 0).

    Returns:
        The smallest integer ``n`` satisfying the hypothesis.

    Raises:
        ValueError: If ``k`` is below Corollary 2's condition.
    """
    k, eps = _rfss_k_eps(k, eps)
    need_k = rfss_cor2_min_k(eps, c_amp=c_amp)
    if k < need_k:
        raise ValueError(
            f"k must be >= {need_k} (Corollary 2's condition at eps={eps}, c_amp={c_amp}), got {k}"
        )
    return _entropy_min_n(k, 2.0 * c_amp * math.log2(1.0 / eps) ** 2, 0.5)


@register_bound("rfss-thm3-block")
def rfss_thm3_block(d_prev: int, d: int, depth: int, eps: float, gamma: float, *, c_amp: float) -> float:
    """Theorem 3's ``n_i*``: ``n = c_amp log2^2(2 l d_prev d gamma n / eps) / H2(gamma)``.

    Source: Natale et al. 2024, Theorem 3 [PRIMARY, partly]: layer ``i`` of the 2l-layer source has
    ``M_{2i-1} in R^{2 d_prev n_i* x d_prev}`` and ``M_{2i} in R^{d x 2 d_prev n_i*}``, and the
    ticket has density ``gamma`` (sparsity ``1 - gamma``). The copy read writes ``gamma = rho gamma'`` with
    ``rho`` undefined [UNVERIFIED]; for equal widths ``gamma' = gamma``, which is what this function uses.

    The right side ``f(n)`` grows like ``log^2 n``; iterating ``n <- f(n)`` from a point with ``f(n) < n``
    decreases monotonically to the largest fixed point (the smallest ``n`` from which ``n >= f(n)`` holds
    for good), solved here to a relative ``1e-12``.

    Args:
        d_prev: Input width of the target layer, d_{i-1} (>= 1).
        d: Output width, d_i (>= 1).
        depth: Target depth l (>= 1).
        eps: Accuracy, in (0, 1).
        gamma: Ticket density, in (0, 1/2] (Corollary 1 needs k <= n/2).
        c_amp: Corollary 1's constant (> 0).

    Returns:
        ``n_i*`` (real; round up for a construction).
    """
    d_prev, d, depth = _dim("d_prev", d_prev), _dim("d", d), _dim("depth", depth)
    eps = _eps("eps", eps)
    gamma = validate.check_range("gamma", gamma, 0.0, 0.5, lo_open=True)
    a = _pos("c_amp", c_amp) / binary_entropy(gamma)
    b = 2.0 * depth * d_prev * d * gamma / eps

    def f(n: float) -> float:
        return a * math.log2(max(b * n, 2.0)) ** 2

    n = 1.0
    while f(n) >= n:
        n *= 2.0
    for _ in range(10_000):
        nxt = f(n)
        if abs(nxt - n) <= 1e-12 * n:
            return nxt
        n = nxt
    raise ValueError("rfss-thm3-block: the fixed point iteration did not converge (report this input)")


@register_bound("rfss-thm3-source-params")
def rfss_thm3_source_params(
    d_prev: int, d: int, depth: int, eps: float, gamma: float, *, c_amp: float
) -> float:
    """Parameters of Theorem 3's source for one target layer: ``2 d_prev n* (d_prev + d)``.

    Source: Natale et al. 2024, Theorem 3 [PRIMARY, partly]: the shapes of ``M_{2i-1}`` and ``M_{2i}`` with
    ``n* =`` :func:`rfss_thm3_block`. The ticket keeps ``gamma`` times this many.

    Args:
        d_prev: d_{i-1}.
        d: d_i.
        depth: l.
        eps: Accuracy, in (0, 1).
        gamma: Density, in (0, 1/2].
        c_amp: Corollary 1's constant (> 0).

    Returns:
        The source parameter count of the layer pair (real).
    """
    n = rfss_thm3_block(d_prev, d, depth, eps, gamma, c_amp=c_amp)
    return 2.0 * d_prev * n * (d_prev + d)


@register_bound("rfss-thm5-min-params")
def rfss_thm5_min_params(d: int, k: int, eps: float) -> int:
    """Theorem 5's lower bound: the fewest source parameters ``n``, ``n >= (d^2/2) log2(k/eps) / H2(k/n)``.

    Source: Natale et al. 2024, Theorem 5 [PRIMARY]: for 1 <= k <= lambda n, lambda = 1 - 1/(2 pi), eps <
    1/16, if
    pruning a network with n parameters down to k parameters eps-approximates every linear map
    ``W in R^{d x d}``, ``||W|| <= sqrt k``, with probability >= 1/2, then n satisfies the inequality.
    No hidden constant. ``n H2(k/n)`` increases in ``n`` (for ``n >= 2k``), so the smallest such ``n`` is
    returned, searched from ``k / lambda`` (in ``[k/lambda, 2k)`` the search is conservative: it never
    returns an ``n`` below the true bound by more than the factor 2).

    Args:
        d: Dimension of the linear maps (>= 1).
        k: Parameters kept (>= 1).
        eps: Accuracy, in (0, 1/16).

    Returns:
        The lower bound on the number of source parameters.
    """
    d, k = _dim("d", d), _dim("k", k)
    eps = validate.check_range("eps", eps, 0.0, 1.0 / 16.0, lo_open=True, hi_open=True)
    return _entropy_min_n(k, d * d / 2.0 * math.log2(k / eps), RFSS_THM5_LAMBDA)


def uniform_sum_density(k: int, x: float, *, digits: int = 40) -> float:
    """Density at ``x`` of the sum of ``k`` iid U[-1, 1] (a rescaled Irwin-Hall density), to ``digits``.

    ``X = 2 S - k`` with ``S`` Irwin-Hall(k), so
    ``f_k(x) = (1/2) (1/(k-1)!) sum_{j <= t} (-1)^j C(k, j) (t - j)^(k-1)``, ``t = (x + k)/2`` in ``[0, k]``
    (0 outside). The alternating sum cancels badly in float64, so it is evaluated in mpmath with
    ``digits + 2k`` significant digits.

    Args:
        k: Number of summands (>= 1).
        x: The point.
        digits: Significant digits wanted (>= 15).

    Returns:
        ``f_k(x)`` as a float.
    """
    import mpmath  # sympy's dependency; imported only here

    k = _dim("k", k)
    x = validate.check_range("x", x, None, None)
    with mpmath.workdps(validate.check_int("digits", digits, 15) + 2 * k):
        t = (mpmath.mpf(x) + k) / 2
        if t < 0 or t > k:
            return 0.0
        if k == 1:
            return 0.5
        total = mpmath.fsum((-1) ** j * mpmath.binomial(k, j) * (t - j) ** (k - 1) for j in range(int(t) + 1))
        return float(total / mpmath.factorial(k - 1) / 2)


@register_bound("rfss-lemma1-cl")
def rfss_lemma1_cl(k_max: int) -> float:
    """Lemma 1's lower constant over ``k <= k_max``: ``min_k sqrt(k) f_k(sqrt k)`` for U[-1, 1] summands.

    Source: Natale et al. 2024, Definition 1 and Lemma 1 [PRIMARY statement; the paper's constants are
    not stated
    as numbers, UNVERIFIED]: c_l / sqrt(k) <= f_k(x) on [-sqrt k, sqrt k] for every k. ``f_k`` is symmetric
    and unimodal (a convolution of symmetric unimodal densities), so its minimum on the window is at
    ``x = sqrt k``. As ``k -> inf`` the value tends to ``sqrt(3/(2 pi)) exp(-3/2) ~ 0.1543`` (CLT, variance
    1/3 per summand); the minimum over ``k <= k_max`` is an upper bound on the infimum over all ``k``.

    Args:
        k_max: Largest k considered (>= 1).

    Returns:
        ``min_{1 <= k <= k_max} sqrt(k) f_k(sqrt k)``.
    """
    k_max = _dim("k_max", k_max)
    return min(math.sqrt(k) * uniform_sum_density(k, math.sqrt(k)) for k in range(1, k_max + 1))


@register_bound("rfss-lemma1-cu")
def rfss_lemma1_cu(k_max: int) -> float:
    """Lemma 1's upper constant over ``k <= k_max``: ``max_k sqrt(k) f_k(0)`` for U[-1, 1] summands.

    Source: Natale et al. 2024, Definition 1 and Lemma 1 [PRIMARY statement, constants UNVERIFIED]:
    f_k(x) <= c_u / sqrt(k) for all x; the maximum of the symmetric unimodal ``f_k`` is ``f_k(0)``. The limit
    is ``sqrt(3/(2 pi)) ~ 0.6910``.

    Args:
        k_max: Largest k considered (>= 1).

    Returns:
        ``max_{1 <= k <= k_max} sqrt(k) f_k(0)``.
    """
    k_max = _dim("k_max", k_max)
    return max(math.sqrt(k) * uniform_sum_density(k, 0.0) for k in range(1, k_max + 1))


@register_bound("burkholz-rho")
def burkholz_rho(eps: float, *, C: float) -> float:
    """Copies per target neuron (and SubsetSum candidates per weight) of the depth-L+1 layout.

    Source: Burkholz NeurIPS 2022 (arXiv:2205.02321); the form ``rho = O(log(1/min(eps_l, delta/N)))`` is
    implied by the widths of the authors' code (reference note §10.6) [UNVERIFIED: the theorem was not
    read]. Here ``rho = C log2(1/eps)`` with ``eps`` the smallest per-parameter tolerance, the RSS form of
    :func:`pensia_rss_min_n` (one definition: this calls it).

    Args:
        eps: Smallest per-parameter tolerance, in (0, 1).
        C: The constant (> 0), unknown in the paper.

    Returns:
        ``C log2(1/eps)`` (real; ``ceil`` it).
    """
    return pensia_rss_min_n(eps, C=C, base=2.0)


@register_bound("burkholz-source-widths")
def burkholz_source_widths(widths: list[int], *, rho: int, activation: str = "relu") -> list[int]:
    """Unit counts of the L+1 source layers for a target of widths ``n_0, ..., n_L``.

    Source: the layout of Burkholz's code (RelationalML/LT-existence, ``prune_conv`` /
    ``prune_layer_first`` / ``prune_layer``; reference note §10.2) [PRIMARY as code, UNVERIFIED as the
    theorem's statement, §10.6]: ``r_1 (n_0 + 1)`` univariate and bias units (``r_1`` from
    :func:`burkholz_code_units`), then ``rho (n_l + 1)`` copies and constants for ``1 <= l < L``, and the
    ``n_L`` outputs. (The toolkit's construction drops constants and the bias block where no bias needs
    them, so its layers can be narrower than this.)

    Args:
        widths: ``[n_0, ..., n_L]`` (each >= 1, at least two entries).
        rho: Copies per neuron (>= 1).
        activation: As in :func:`burkholz_code_units`.

    Returns:
        ``L + 1`` unit counts, one per source layer.
    """
    if len(widths) < 2:
        raise ValueError(f"widths must list n_0, ..., n_L with L >= 1 (two or more entries), got {widths!r}")
    ws = [_dim(f"widths[{i}]", w) for i, w in enumerate(widths)]
    rho = validate.check_int("rho", rho, 1)
    r1 = burkholz_code_units(activation, rho=rho)
    return [r1 * (ws[0] + 1), *(rho * (w + 1) for w in ws[1:-1]), ws[-1]]


# --------------------------------------------------------------------------------------------------
# Integer random SubsetSum and exact quantized tickets (Kumar & Natale 2025; Borgs-Chayes-Pittel 2001)
# --------------------------------------------------------------------------------------------------
def _delta(name: str, delta: float) -> float:
    """A precision ``delta = 2^-k`` with integer ``k >= 1`` (the quantization grids S_delta)."""
    delta = validate.check_range(name, delta, 0.0, 0.5, lo_open=True)
    k = -math.log2(delta)
    if k != round(k):
        raise ValueError(f"{name} must be a power of two 2^-k with integer k >= 1, got {delta!r}")
    return delta


@register_bound("bcp-window-n")
def bcp_window_n(log2_m: float, *, lam: float = 0.0) -> float:
    """Number of integers at the Borgs-Chayes-Pittel phase transition, ``n - (1/2) log2 n = log2 M - lam``.

    Source: Borgs, Chayes, Pittel 2001 (abstract [PRIMARY], reference §11.5): for integers uniform on
    ``{1..2^m}`` with ``kappa_n = m/n = 1 - (2n)^-1 log2 n + lam_n / n``, a perfect partition exists with
    probability -> 1, 0 or ``p(lam)`` in (0, 1) as ``lam_n -> -inf``, ``+inf`` or ``lam``. Solved for
    ``n``: ``n - (1/2) log2 n = m - lam``. Kumar & Natale (arXiv 2508.11020, Lemmas 2-4, [PRIMARY]) carry
    the window to SubsetSum on ``{-M..-1, 1..M}`` with targets ``O(M)`` (``m = log2 M``) [our reading:
    the O(1) shift between the two settings is not stated].

    Args:
        log2_m: ``m = log2 M`` (>= 1).
        lam: The window parameter (finite); larger ``lam`` means fewer integers (a lower success rate).

    Returns:
        The real root ``n >= 1`` (``n - log2(n) / 2`` is increasing there).
    """
    m = validate.check_range("log2_m", log2_m, 1.0, None)
    lam = validate.check_range("lam", lam, None, None)
    rhs = m - lam
    if rhs <= 1.0:  # n = 1 gives 1 - 0 = 1: the window sits at (or below) one integer
        return 1.0
    lo, hi = 1.0, 2.0 * rhs + 2.0
    for _ in range(200):  # bisection to float64 resolution (f(hi) > rhs since log2 n < n for n >= 1)
        mid = 0.5 * (lo + hi)
        if mid - 0.5 * math.log2(mid) < rhs:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@register_bound("integer-rssp-necessary-n")
def integer_rssp_necessary_n(max_value: int) -> float:
    """Integers needed for every target in ``{-M..M}`` to be a subset sum: ``n >= log2(2M + 1)``.

    Source: counting (``2^n`` subsets, ``2M + 1`` targets), reference §11.6 [UNVERIFIED, our derivation].

    Args:
        max_value: ``M`` (>= 1).

    Returns:
        ``log2(2M + 1)``.
    """
    return math.log2(2 * _dim("max_value", max_value) + 1)


@register_bound("quantized-block-width")
def quantized_block_width(delta: float, *, C: float) -> float:
    """Hidden units per input neuron of the exact quantized 2-layer block: ``C log2(1/delta)``.

    Source: Kumar & Natale, arXiv 2508.11020, Lemma 5 (one weight, ``u, v`` in ``R^{2n}`` with
    ``n > C log2(1/delta)``) and Lemma 7 (``M_{2i-1}`` has ``C d_{i-1} log2(1/delta)`` rows) [PRIMARY in
    words; ``C`` is not given]. Here the count is the whole block of one input neuron (both ReLU halves).

    Args:
        delta: Source precision ``2^-k`` (k >= 1).
        C: The constant (> 0).

    Returns:
        ``C log2(1/delta)`` (real; ``ceil`` it).
    """
    delta = _delta("delta", delta)
    C = validate.check_range("C", C, 0.0, None, lo_open=True)
    return C * math.log2(1.0 / delta)


@register_bound("quantized-counting-min-params")
def quantized_counting_min_params(d: int, delta: float, *, p: float = 1.0) -> float:
    """Parameters a pruned 2-layer net needs to represent every ``W`` in ``S_delta^{d x d}`` exactly.

    Source: Kumar & Natale, arXiv 2508.11020, Theorem 3 / Corollary 1 [PRIMARY in words]: with
    probability ``p`` a source with ``alpha`` parameters has at most ``2^alpha`` subnetworks, so
    ``2^alpha >= p |S_delta|^(d^2)``, ``|S_delta| = 2/delta + 1``; i.e.
    ``alpha >= log2 p + d^2 log2(2/delta + 1)`` = Omega(d^2 log2(1/delta)).

    Args:
        d: Dimension (>= 1).
        delta: Precision ``2^-k`` (k >= 1).
        p: Success probability, in (0, 1].

    Returns:
        The lower bound on ``alpha``.
    """
    d = _dim("d", d)
    delta = _delta("delta", delta)
    p = validate.check_range("p", p, 0.0, 1.0, lo_open=True)
    return math.log2(p) + d * d * math.log2(2.0 / delta + 1.0)
