"""sympy derivations behind the ledger's symbolic checks (imported only when a check runs).

Each public function returns a list of items for :class:`theory.ledger.SymbolicCheck`: sympy
expressions that must simplify to 0 (``kind="zero"``) or statements that must reduce to ``True``
(``kind="true"``), plus :class:`BoundAgreement` items.

One definition per bound: each bound of :mod:`theory.bounds` that a derivation is about has its sympy
form here (the ``_form_*`` functions, in the bound's own parameters), the derivation's algebra is done on
that form, and a :class:`BoundAgreement` item evaluates the function *registered* in
:data:`theory.bounds.BOUNDS` (looked up when the check runs) against the same form at sample points of
its domain. So a symbolic check is about the implemented bound: if the registered function drifts from
the derivation, or returns NaN, the check fails. Symbols carry the assumptions of the bound's valid
domain (positive, nonnegative, ...), so sympy's sign reasoning uses exactly that domain.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from theory import bounds


@dataclasses.dataclass(frozen=True)
class BoundAgreement:
    """A numeric item of a :class:`SymbolicCheck`: a registered bound evaluated against its sympy form.

    Built here (:func:`agrees`), which evaluates the function registered in
    :data:`theory.bounds.BOUNDS` (looked up when the check runs) at sample points and compares it with
    the sympy expression the derivation is about. So the symbolic check is about the implemented bound:
    if that function is wrong (or returns NaN) the check fails.

    Attributes:
        description: What was compared, with the worst point (shown when it fails).
        holds: Whether every sample point agreed.
    """

    description: str
    holds: bool


# Agreement between a float64 bound and its sympy form evaluated at 30 digits: a few ulps of the
# logarithms and exponentials involved, far below any change of a constant or of the formula.
_AGREE_REL = 1e-12


def _exact(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"sample points must be int or float, got {value!r}")
    return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))


def agrees(name: str, form: Callable[..., Any], points: Sequence[dict[str, Any]]) -> BoundAgreement:
    """Evaluate the registered bound ``name`` against its sympy ``form`` at ``points``.

    Args:
        name: A name in :data:`theory.bounds.BOUNDS` (looked up now, so a replaced bound is the one used).
        form: ``form(**point)`` builds the sympy expression of the bound in its own parameters.
        points: Keyword arguments of the bound (Python numbers inside its domain).

    Returns:
        A :class:`BoundAgreement` that holds when every point agrees to a relative
        ``1e-12``; otherwise it names the first disagreeing point and both values.
    """
    fn = bounds.get_bound(name)
    for point in points:
        exact = {k: _exact(v) for k, v in point.items()}
        got = fn(**point)
        want = float(sp.N(form(**exact), 30))
        ok = (
            isinstance(got, int | float)
            and not isinstance(got, bool)
            and math.isfinite(got)
            and math.isclose(got, want, rel_tol=_AGREE_REL, abs_tol=0.0)
        )
        if not ok:
            return BoundAgreement(
                f"registered bound {name!r} at {point} returned {got!r}; its sympy form gives {want!r}", False
            )
    return BoundAgreement(f"registered bound {name!r} equals its sympy form at {len(points)} points", True)


# --------------------------------------------------------------------------------------------------
# The sympy forms of the bounds (parameters named as in theory.bounds)
# --------------------------------------------------------------------------------------------------
def _form_lueker_success(n: Any, eps: Any, C: Any) -> Any:
    """Lueker 1998 Cor. 2.5: ``1 - exp(-(n/2 - C log(1/eps))^2 / (2n))``."""
    return 1 - sp.exp(-_lueker_exponent(n, C * sp.log(1 / eps)))


def _lueker_exponent(n: Any, a: Any) -> Any:
    return (n / 2 - a) ** 2 / (2 * n)


def _lueker_root(a: Any, ell: Any) -> Any:
    return 2 * a + 4 * ell + 4 * sp.sqrt(ell * (a + ell))


def _form_lueker_min_n(eps: Any, delta: Any, C: Any) -> Any:
    """Lueker's bound solved for n: ``2a + 4l + 4 sqrt(l(a + l))``, a = C log(1/eps), l = log(1/delta)."""
    return _lueker_root(C * sp.log(1 / eps), sp.log(1 / delta))


def _form_pensia_rss(eps: Any, C: Any, base: Any = 2) -> Any:
    """Pensia form ``C log_base(1/eps)``."""
    return C * sp.log(1 / eps) / sp.log(base)


def _form_pensia_rss_restated(eps: Any, C: Any) -> Any:
    """Restated corollary ``C log(2/eps)``."""
    return C * sp.log(2 / eps)


def _xiong_rate(eps: Any) -> Any:
    return 8 * (3 - eps) / (1 + eps) ** 2


def _xiong_failure(n: Any, K: Any, A: Any) -> Any:
    return sp.exp(-(n - K) / A) + sp.exp(-K)


def _form_xiong_failure(n: Any, perturbation: Any, K: Any) -> Any:
    """Xiong Thm 1: ``exp(-(n-K)(1+eps)^2/(8(3-eps))) + exp(-K)``."""
    return _xiong_failure(n, K, _xiong_rate(perturbation))


def _form_xiong_aistats(eta: Any, perturbation: Any, K: Any, C: Any) -> Any:
    return C * (sp.log(1 / eta) / (1 + perturbation) + K)


def _form_xiong_slides(eta: Any, perturbation: Any, C: Any) -> Any:
    return C * sp.log(1 / eta) / (sp.log(1 + perturbation) + 1)


def _form_xiong_opt22(eta: Any, perturbation: Any, c: Any, C1: Any, C2: Any) -> Any:
    t = sp.log(1 / eta)
    return C1 * t / sp.log(c + perturbation) + C2 * (1 + t / (1 + perturbation))


def _form_xiong_width(denominator: Callable[[Any], Any]) -> Callable[..., Any]:
    def form(eta: Any, perturbation: Any, d_prev: Any, d: Any, depth: Any, C: Any) -> Any:
        return C * d_prev * sp.log(d * d_prev * depth / eta) / denominator(perturbation)

    return form


_form_xiong_width_aistats = _form_xiong_width(lambda e: 1 + e)
_form_xiong_width_slides = _form_xiong_width(lambda e: sp.log(1 + e) + 1)


def _form_pensia_width(eps: Any, d_in: Any, d_out: Any, depth: Any, C: Any, split: Any) -> Any:
    """Pensia Thm 1 (Otsuka Thm 10): ``d_in C log(split L d_in d_out / eps)``."""
    return d_in * C * sp.log(split * depth * d_in * d_out / eps)


def _form_dacunha(eps: Any, delta: Any, kernel: Any, c_in: Any, c_out: Any, depth: Any, C: Any) -> Any:
    return C * c_in * sp.log(kernel**2 * c_in * c_out * depth / sp.Min(eps, delta))


def _form_weight_tolerance(eps: Any, d_in: Any, d_out: Any, depth: Any, split: Any) -> Any:
    return eps / (split * d_in * d_out * depth)


def _form_counting(d: Any, eps: Any, c: Any) -> Any:
    return d**2 * sp.log(c / eps) / sp.log(2)


def _relu(z: Any) -> Any:
    return sp.Piecewise((z, z >= 0), (0, True))


# --------------------------------------------------------------------------------------------------
# ReLU split
# --------------------------------------------------------------------------------------------------
def relu_split_identity() -> list[Any]:
    """``w x = relu(w x) - relu(-w x)`` for all real w, x, and Xiong's ``w x = w relu(x) - w relu(-x)``.

    Items (each must simplify to 0):

    * the Piecewise form, for a real ``t = w x``: folding the pieces leaves 0 on every branch;
    * the three-way case split ``t > 0``, ``t < 0``, ``t = 0`` (these cover the real line), with
      ``Max`` so sympy evaluates each case from the sign assumptions alone;
    * the same two forms for ``w relu(x) - w relu(-x) - w x`` with ``w`` real (the u = +/-1 first layer of
      Xiong et al.'s block, reference §1.4).
    """
    t, w, x = sp.symbols("t w x", real=True)
    p = sp.Symbol("p", positive=True)
    items: list[Any] = [sp.piecewise_fold(_relu(t) - _relu(-t) - t)]
    for value in (p, -p, sp.Integer(0)):
        items.append(sp.Max(0, value) - sp.Max(0, -value) - value)
    items.append(sp.piecewise_fold(w * _relu(x) - w * _relu(-x) - w * x))
    for value in (p, -p, sp.Integer(0)):
        items.append(w * sp.Max(0, value) - w * sp.Max(0, -value) - w * value)
    return items


# --------------------------------------------------------------------------------------------------
# Lueker Corollary 2.5
# --------------------------------------------------------------------------------------------------
def lueker_solved_for_n() -> list[Any]:
    """Lueker's failure probability solved for n, checked back, and its monotonicity in n.

    With ``a = C log(1/eps) > 0`` and ``l = log(1/delta) > 0`` the defining equation is
    ``(n/2 - a)^2 / (2n) = l``. Items:

    * the closed form ``N = 2a + 4l + 4 sqrt(l(a+l))`` (used by :func:`theory.bounds.lueker_min_n`)
      satisfies the equation (zero residual);
    * ``N`` is one of sympy's own roots of the equation;
    * ``N >= 2a``, i.e. ``N`` lies on the corollary's branch (eps >= exp(-N/(2C)));
    * the exponent's derivative is ``(n^2 - 4a^2)/(8 n^2)``, positive for ``n > 2a`` (so the success
      probability grows with n where the corollary applies);
    * the code agrees: ``lueker_success_probability(N)`` equals ``1 - delta`` at sample points.
    """
    a, ell, n, u = sp.symbols("a l n u", positive=True)
    exponent = _lueker_exponent(n, a)
    closed = _lueker_root(a, ell)
    roots = sp.solve(sp.Eq(exponent, ell), n)
    derivative = sp.diff(exponent, n)
    items: list[Any] = [
        exponent.subs(n, closed) - ell,
        any(sp.simplify(r - closed) == 0 for r in roots),
        sp.simplify(closed - 2 * a) > 0,
        derivative - (n**2 - 4 * a**2) / (8 * n**2),
        sp.simplify(derivative.subs(n, 2 * a + u)) > 0,
        agrees(
            "lueker-min-n",
            _form_lueker_min_n,
            [{"eps": 1e-2, "delta": 0.1, "C": 1.0}, {"eps": 1e-4, "delta": 1e-3, "C": 0.5}],
        ),
        agrees(
            "lueker-success-probability",
            _form_lueker_success,
            [
                {"n": 20, "eps": 0.1, "C": 1.0},
                {"n": 50, "eps": 0.01, "C": 2.0},
                {"n": 7, "eps": 0.3, "C": 0.5},
            ],
        ),
    ]
    # The two registered functions are consistent with each other: at the ceil of the solved n the
    # registered success probability reaches 1 - delta (the real root itself is checked by the algebra).
    min_n, success = bounds.get_bound("lueker-min-n"), bounds.get_bound("lueker-success-probability")
    ok = True
    for eps, delta, C in ((1e-2, 0.1, 1.0), (1e-4, 1e-3, 0.5), (0.3, 0.5, 2.0)):
        n_real = min_n(eps, delta, C=C)
        ok &= math.isfinite(n_real) and success(math.ceil(n_real), eps, C=C) >= 1 - delta
    items.append(ok)
    return items


def pensia_form_shape() -> list[Any]:
    """The Pensia form ``C log2(1/eps)`` and the restated ``C log(2/eps)``: decreasing in eps, same order.

    Items: both derivatives in eps are negative on (0, 1); their ratio tends to ``1/log 2`` as
    eps -> 0 (same Theta(log 1/eps) order, the base only rescales C); the registered
    ``pensia-rss-min-n`` (bases 2 and 10) and ``pensia-rss-min-n-restated`` equal these forms; and the
    code anchor ``3 * round(log2(100)) = 21`` reproduced by the registered ``pensia-code-candidates``.
    """
    eps, C = sp.symbols("epsilon C", positive=True)
    u = sp.Symbol("u", positive=True)
    form = _form_pensia_rss(eps, C)
    restated = _form_pensia_rss_restated(eps, C)
    code = bounds.get_bound("pensia-code-candidates")
    return [
        sp.simplify(sp.diff(form, eps).subs(eps, sp.exp(-u))) < 0,
        sp.simplify(sp.diff(restated, eps).subs(eps, sp.exp(-u))) < 0,
        sp.limit(form / restated, eps, 0, "+") - 1 / sp.log(2),
        agrees(
            "pensia-rss-min-n",
            _form_pensia_rss,
            [{"eps": 0.01, "C": 3.0}, {"eps": 1e-5, "C": 0.7}, {"eps": 0.2, "C": 1.5, "base": 10.0}],
        ),
        agrees("pensia-rss-min-n-restated", _form_pensia_rss_restated, [{"eps": 0.01, "C": 3.0}]),
        code(0.01) == 21 and code(0.01, c=1) == 7,
    ]


# --------------------------------------------------------------------------------------------------
# Xiong Theorem 1
# --------------------------------------------------------------------------------------------------
def xiong_thm1_solved_for_n() -> list[Any]:
    """Xiong Theorem 1's bound solved for n, with the optimal K, checked back.

    With ``A = 8(3-eps)/(1+eps)^2`` the bound is ``P(n, K) = exp(-(n-K)/A) + exp(-K)``. Writing the
    target as ``delta = exp(-K) + r`` with ``r > 0`` (a solution needs delta > exp(-K)). Items:

    * ``n(K) = K + A log(1/(delta - exp(-K)))`` gives ``P(n(K), K) = delta`` exactly;
    * with ``A > 0``: ``dn/dK = 0`` at ``K* = log((1+A)/delta)``, ``n(K*) = K* + A log((1+A)/(A delta))``,
      and ``d^2n/dK^2 > 0`` (so K* is the minimum);
    * ``A > 0`` on the guarded domain ``0 <= eps < 3`` (substituting ``eps = 3 s/(1+s)``, ``s >= 0``,
      which maps [0, inf) onto [0, 3));
    * the code agrees: :func:`theory.bounds.xiong_thm1_min_n` reproduces delta through
      :func:`theory.bounds.xiong_thm1_failure_probability`, for K* and for a fixed K.
    """
    K, r, A, delta = sp.symbols("K r A delta", positive=True)
    eps, s = sp.symbols("epsilon s", nonnegative=True)
    rate = _xiong_rate(eps)

    def n_of(k: Any, d: Any, a: Any) -> Any:
        return k + a * sp.log(1 / (d - sp.exp(-k)))

    d_r = sp.exp(-K) + r
    k_star = sp.log((1 + A) / delta)
    n_general = n_of(K, delta, A)
    items: list[Any] = [
        _form_xiong_failure(n_of(K, d_r, rate), eps, K) - d_r,
        _xiong_failure(n_of(K, d_r, A), K, A) - d_r,
        sp.diff(n_general, K).subs(K, k_star),
        n_general.subs(K, k_star) - (k_star + A * sp.log((1 + A) / (A * delta))),
        sp.simplify(sp.diff(n_general, K, 2).subs(delta, d_r)) > 0,
        sp.simplify(rate.subs(eps, 3 * s / (1 + s))) > 0,
        agrees(
            "xiong-thm1-failure",
            _form_xiong_failure,
            [
                {"n": 20.0, "perturbation": 0.0, "K": 2.0},
                {"n": 35.0, "perturbation": 0.5, "K": 4.0},
                {"n": 60.0, "perturbation": 2.5, "K": 0.0},
            ],
        ),
    ]
    # The registered solver inverts the registered bound: n(K*) and n(K) give back delta, and K* is
    # the better K.
    min_n, failure = bounds.get_bound("xiong-thm1-min-n"), bounds.get_bound("xiong-thm1-failure")
    ok = True
    for dl, pert in ((0.05, 0.0), (1e-3, 0.5), (0.2, 2.5)):
        a_num = float(_xiong_rate(_exact(pert)))
        k_opt = math.log((1 + a_num) / dl)
        n_opt = min_n(dl, pert)
        ok &= math.isclose(failure(n_opt, pert, k_opt), dl, rel_tol=1e-9)
        k_fixed = k_opt + 1.0
        n_fixed = min_n(dl, pert, k_fixed)
        ok &= math.isclose(failure(n_fixed, pert, k_fixed), dl, rel_tol=1e-9)
        ok &= n_fixed >= n_opt
    items.append(ok)
    return items


def xiong_candidate_shapes() -> list[Any]:
    """The three stated candidate-count shapes all decrease in the perturbation eps (and in eta).

    With ``t = log(1/eta) > 0``, ``eps >= 0``, constants positive; for OPT-2022 the poster's ``c`` is
    taken with ``c + eps = 1 + s``, ``s > 0`` (the shape needs ``log(c + eps) > 0``), substituted after
    differentiating. Items are ``derivative < 0`` statements for AISTATS, slides, and OPT-2022, plus
    the AISTATS denominator dominating the slides one, ``1 + eps >= log(1+eps) + 1`` (so the AISTATS
    shape is the smaller), via ``g(eps) = eps - log(1+eps)``, ``g(0) = 0``, ``g' >= 0``.
    """
    t, C, C1, C2, K, s = sp.symbols("t C C1 C2 K s", positive=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    c = sp.Symbol("c", real=True)
    eta = sp.exp(-t)  # log(1/eta) = t
    aistats = _form_xiong_aistats(eta, eps, K, C)
    slides = _form_xiong_slides(eta, eps, C)
    opt22 = _form_xiong_opt22(eta, eps, c, C1, C2)
    g = eps - sp.log(1 + eps)
    return [
        sp.diff(aistats, eps) < 0,
        sp.diff(slides, eps) < 0,
        sp.simplify(sp.diff(opt22, eps).subs(c, 1 + s - eps)) < 0,
        g.subs(eps, 0),
        sp.simplify(sp.diff(g, eps)) >= 0,
        agrees(
            "xiong-candidates-aistats",
            _form_xiong_aistats,
            [
                {"eta": 0.01, "perturbation": 0.0, "K": 2.0, "C": 1.0},
                {"eta": 1e-4, "perturbation": 1.5, "K": 0.5, "C": 3.0},
            ],
        ),
        agrees(
            "xiong-candidates-slides",
            _form_xiong_slides,
            [{"eta": 0.01, "perturbation": 0.0, "C": 1.0}, {"eta": 1e-4, "perturbation": 1.5, "C": 3.0}],
        ),
        agrees(
            "xiong-candidates-opt22",
            _form_xiong_opt22,
            [
                {"eta": 0.01, "perturbation": 0.0, "c": 2.0, "C1": 1.0, "C2": 1.0},
                {"eta": 1e-4, "perturbation": 1.5, "c": 0.5, "C1": 0.3, "C2": 2.0},
            ],
        ),
    ]


def xiong_thm2_width_shapes() -> list[Any]:
    """Theorem 2 widths (AISTATS and slides) decrease in eps and in eta; AISTATS is the smaller.

    Width ``W = C d' log(d d' L/eta) / D(eps)`` with ``D = 1 + eps`` (AISTATS) or ``log(1+eps) + 1``
    (slides). The log is positive on the domain (``d d' L >= 1 > eta``): we write
    ``log(d d' L / eta) = m`` with ``eta = d d' L exp(-m)``, ``m > 0``, after differentiating in eta.
    """
    C, dp, d, L, m = sp.symbols("C d_prev d L m", positive=True)
    eta = sp.Symbol("eta", positive=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    items: list[Any] = []
    widths = {}
    points = [
        {"eta": 0.01, "perturbation": 0.0, "d_prev": 3, "d": 4, "depth": 2, "C": 1.0},
        {"eta": 1e-3, "perturbation": 0.7, "d_prev": 784, "d": 500, "depth": 3, "C": 2.5},
    ]
    for name, form in (
        ("xiong-thm2-width-aistats", _form_xiong_width_aistats),
        ("xiong-thm2-width-slides", _form_xiong_width_slides),
    ):
        width = form(eta, eps, dp, d, L, C)
        widths[name] = width
        on_domain = sp.simplify(sp.diff(width, eta).subs(eta, d * dp * L * sp.exp(-m)))
        items += [on_domain < 0, sp.simplify(sp.diff(width, eps).subs(eta, d * dp * L * sp.exp(-m))) < 0]
        items.append(agrees(name, form, points))
    ratio = sp.simplify(widths["xiong-thm2-width-aistats"] / widths["xiong-thm2-width-slides"])
    items.append(sp.simplify(ratio - (sp.log(1 + eps) + 1) / (1 + eps)))
    return items


# --------------------------------------------------------------------------------------------------
# Pensia network widths and the error budget
# --------------------------------------------------------------------------------------------------
def pensia_width_shapes() -> list[Any]:
    """Pensia Theorem 1 width ``d C log(split L d d'/eps)`` and da Cunha's channels decrease in eps.

    On the domain the logs are positive; derivatives are taken first, then eps written as
    ``split L d d' exp(-m)`` (resp. ``k^2 c c' L exp(-m)``) with ``m > 0``.
    """
    C, d, dn, L, split, m, k, ci, co = sp.symbols("C d d_next L split m k c_in c_out", positive=True)
    eps = sp.Symbol("epsilon", positive=True)
    width = _form_pensia_width(eps, d, dn, L, C, split)
    # In the regime eps <= delta the channel count depends on eps alone (min(eps, delta) = eps).
    channels = _form_dacunha(eps, eps, k, ci, co, L, C)
    return [
        sp.simplify(sp.diff(width, eps).subs(eps, split * L * d * dn * sp.exp(-m))) < 0,
        sp.simplify(sp.diff(channels, eps).subs(eps, k**2 * ci * co * L * sp.exp(-m))) < 0,
        agrees(
            "pensia-thm1-width",
            _form_pensia_width,
            [
                {"eps": 0.01, "d_in": 784, "d_out": 500, "depth": 2, "C": 1.0, "split": 4.0},
                {"eps": 0.3, "d_in": 1, "d_out": 1, "depth": 1, "C": 0.5, "split": 1.0},
            ],
        ),
        agrees(
            "dacunha-cnn-channels",
            _form_dacunha,
            [
                {"eps": 0.01, "delta": 0.1, "kernel": 3, "c_in": 16, "c_out": 32, "depth": 4, "C": 1.0},
                {"eps": 0.2, "delta": 0.05, "kernel": 1, "c_in": 1, "c_out": 2, "depth": 1, "C": 2.0},
            ],
        ),
    ]


def error_budget_composition() -> list[Any]:
    """Per-layer budget eps/(2L) composes to at most eps through L 1-Lipschitz layers with ||W|| <= 1.

    The argument (Pensia et al. 2020 style; the exact split is [UNVERIFIED] in the paper, so this is our
    derivation). With target activations ``a_l = relu(W_l a_{l-1})``, ``||a_0|| <= 1``, ``||W_l|| <= 1``
    (so ``||a_l|| <= 1``), and an approximation with ``||W_l - W~_l|| <= e_l``, the errors
    ``E_l = ||a_l - a~_l||`` obey ``E_l <= e_l + (1 + e_l) E_{l-1}``, ``E_0 = 0``. Items:

    * induction step: if ``E_{l-1} = P - 1`` with ``P = prod_{k<l} (1 + e_k)`` then
      ``e_l + (1 + e_l)(P - 1) = (1 + e_l) P - 1``, so ``E_L <= prod_l (1 + e_l) - 1``;
    * uniform budget, general L: ``prod_{l=1}^L (1 + eps/(2L)) = (1 + eps/(2L))^L`` and the first-order
      sum identity ``sum_{l=1}^L eps/(2L) = eps/2``;
    * ``L log(1 + eps/(2L)) <= eps/2``: ``g(x) = x - log(1+x)`` has ``g(0) = 0`` and ``g' >= 0`` on x >= 0,
      so ``(1 + eps/(2L))^L - 1 <= exp(eps/2) - 1``;
    * ``exp(eps/2) - 1 <= eps`` on [0, 1]: ``h(eps) = eps + 1 - exp(eps/2)`` has ``h(0) = 0``,
      ``h'' < 0`` and ``h'(1) = 1 - sqrt(e)/2 > 0``, so ``h' > 0`` and ``h >= 0`` on [0, 1];
    * the per-weight share: with every entry of the d_out x d_in layer within the tolerance
      ``tol = eps/(split d_in d_out L)`` of :func:`theory.bounds.pensia_weight_tolerance`, the layer error
      is ``||W - W~||_2 <= ||W - W~||_F <= sum_ij |W - W~|_ij <= d_in d_out tol`` (standard norm
      inequalities), which is ``eps/(2L)`` at ``split = 2``; and the registered ``pensia-weight-tolerance``
      equals that form.
    """
    e_l, P = sp.symbols("e_l P", positive=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    L, ell = sp.symbols("L l", positive=True, integer=True)
    d_in, d_out = sp.symbols("d_in d_out", positive=True)
    tol = _form_weight_tolerance(eps, d_in, d_out, L, 2)
    x = sp.Symbol("x", nonnegative=True)
    g = x - sp.log(1 + x)
    h = eps + 1 - sp.exp(eps / 2)
    return [
        e_l + (1 + e_l) * (P - 1) - ((1 + e_l) * P - 1),
        sp.Product(1 + eps / (2 * L), (ell, 1, L)).doit() - (1 + eps / (2 * L)) ** L,
        sp.summation(eps / (2 * L), (ell, 1, L)) - eps / 2,
        g.subs(x, 0),
        sp.simplify(sp.diff(g, x)) >= 0,
        h.subs(eps, 0),
        sp.diff(h, eps, 2) < 0,
        sp.diff(h, eps).subs(eps, 1) > 0,
        d_in * d_out * tol - eps / (2 * L),
        agrees(
            "pensia-weight-tolerance",
            _form_weight_tolerance,
            [
                {"eps": 0.01, "d_in": 784, "d_out": 500, "depth": 2, "split": 2.0},
                {"eps": 0.5, "d_in": 3, "d_out": 1, "depth": 5, "split": 4.0},
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Counting lower bound
# --------------------------------------------------------------------------------------------------
def counting_bound_algebra() -> list[Any]:
    """``2^P >= (c/eps)^(d^2)`` solved for P, and its order ``Theta(d^2 log(1/eps))``.

    Items: sympy's solution of ``2^P = (c/eps)^(d^2)`` equals ``d^2 log(c/eps)/log 2`` (the form of
    :func:`theory.bounds.counting_min_params`); substituting it back gives equality; the ratio to
    ``d^2 log(1/eps)`` tends to ``1/log 2`` as eps -> 0; and the registered bound equals that form.
    """
    P, d, c, eps = sp.symbols("P d c epsilon", positive=True)
    closed = _form_counting(d, eps, c)
    sols = sp.solve(sp.Eq(2**P, (c / eps) ** (d**2)), P)
    return [
        len(sols) == 1 and sp.simplify(sp.expand_log(sols[0] - closed, force=True)) == 0,
        sp.simplify(sp.expand_log(sp.log(2**closed) - sp.log((c / eps) ** (d**2)), force=True)),
        sp.limit(closed / (d**2 * sp.log(1 / eps)), eps, 0, "+") - 1 / sp.log(2),
        agrees(
            "counting-min-params",
            _form_counting,
            [
                {"d": 3, "eps": 0.01, "c": 1.0},
                {"d": 10, "eps": 1e-4, "c": 2.0},
                {"d": 1, "eps": 0.5, "c": 0.75},
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Random Fixed-Size Subset Sum (Natale et al., NeurIPS 2024, arXiv:2410.14754)
# --------------------------------------------------------------------------------------------------
def _h2(q: Any) -> Any:
    """Binary entropy in sympy, ``-q log2 q - (1 - q) log2(1 - q)``."""
    return -(q * sp.log(q) + (1 - q) * sp.log(1 - q)) / sp.log(2)


def _smallest_n_item(name: str, n: int, need: Any, k: int, n_floor: int) -> BoundAgreement:
    """The registered ``n`` is the smallest ``n >= n_floor`` with ``n H2(k/n) >= need`` (30 digits)."""

    def value(m: int) -> float:
        return float(sp.N(m * _h2(sp.Rational(k, m)), 30))

    need_f = float(sp.N(need, 30))
    ok = isinstance(n, int) and n >= n_floor and value(n) >= need_f * (1 - 1e-15)
    ok = ok and (n == n_floor or value(n - 1) < need_f)
    text = f"registered bound {name!r} gave n = {n!r} (need n H2(k/n) >= {need_f:.6g}, k={k})"
    return BoundAgreement(text, ok)


def rfss_entropy_monotone() -> list[Any]:
    """Theorem 2's ``n >= c log2(k/eps)/H2(k/n)`` solved for the smallest ``n``.

    Items: ``d/dn [n H2(k/n)] = log2(n/(n - k))``, which is positive for ``n > k``, so the hypothesis
    holds exactly from its smallest solution on; and the registered ``rfss-thm2-min-n`` returns that
    smallest solution at sample points (evaluated in 30 digits). The same search backs
    ``rfss-thm5-min-params``, checked the same way.
    """
    n, k = sp.symbols("n k", positive=True)
    derivative = sp.diff(n * _h2(k / n), n) - sp.log(n / (n - k)) / sp.log(2)
    items: list[Any] = [sp.simplify(sp.expand_log(derivative, force=True))]
    thm2 = bounds.get_bound("rfss-thm2-min-n")
    for kk, eps, c in ((1, 0.1, 1.0), (4, 0.01, 2.0), (16, 1e-3, 3.0)):
        need = sp.Float(c, 30) * sp.log(sp.Integer(kk) / _exact(eps)) / sp.log(2)
        items.append(_smallest_n_item("rfss-thm2-min-n", thm2(kk, eps, c_hyp=c), need, kk, 2 * kk))
    thm5 = bounds.get_bound("rfss-thm5-min-params")
    lam = 1 - 1 / (2 * sp.pi)
    for d, kk, eps in ((4, 16, 0.01), (10, 100, 0.001)):
        need = sp.Rational(d * d, 2) * sp.log(sp.Integer(kk) / _exact(eps)) / sp.log(2)
        floor = int(sp.ceiling(kk / lam))
        items.append(_smallest_n_item("rfss-thm5-min-params", thm5(d, kk, eps), need, kk, floor))
    return items


def rfss_cor2_derivation() -> list[Any]:
    """Corollary 2 from Corollary 1: under its condition on ``k``, Corollary 2's ``n`` is enough.

    The condition is ``k >= 2 c (log2^2 k + 2 log2 k log2(1/eps))``.

    Derivation: ``log2^2(k/eps) = log2^2 k + 2 log2 k log2(1/eps) + log2^2(1/eps)``; the first two terms are
    ``<= k/(2c)``, and ``H2(q) >= 2q`` on ``[0, 1/2]`` (``H2`` is concave, ``H2(0) = 0``, ``H2(1/2) = 1``), so
    ``c log2^2(k/eps)/H2(k/n) <= n/4 + c log2^2(1/eps)/H2(k/n) <= n`` when ``n >= 2 c log2^2(1/eps)/H2(k/n)``
    and ``n >= 2k``. Items: the expansion, ``H2'' = -1/(q (1-q) ln 2) < 0``, ``H2(1/2) = 1``, and the
    registered bounds agree with the conclusion: ``rfss-cor2-min-n >= rfss-cor1-min-n`` at sample points.
    """
    k, eps, q = sp.symbols("k epsilon q", positive=True)
    lk, le = sp.log(k) / sp.log(2), sp.log(1 / eps) / sp.log(2)
    items: list[Any] = [
        sp.expand(
            sp.expand_log((sp.log(k / eps) / sp.log(2)) ** 2, force=True) - (lk**2 + 2 * lk * le + le**2)
        ),
        sp.simplify(sp.diff(_h2(q), q, 2) + 1 / (q * (1 - q) * sp.log(2))),
        sp.simplify(_h2(sp.Rational(1, 2)) - 1),
    ]
    names = ("rfss-cor1-min-n", "rfss-cor2-min-n", "rfss-cor2-min-k")
    cor1, cor2, min_k = (bounds.get_bound(n) for n in names)
    # (1e-100, 0.5): log2(1/eps) >> log2 k, so the bound is above its floor n = 2k.
    for eps_v, c in ((0.1, 0.5), (0.01, 1.0), (0.2, 2.0), (1e-100, 0.5)):
        kk = min_k(eps_v, c_amp=c)
        for k_v in (kk, 2 * kk):
            n2, n1 = cor2(k_v, eps_v, c_amp=c), cor1(k_v, eps_v, c_amp=c)
            ok = isinstance(n2, int) and isinstance(n1, int) and n2 >= n1
            text = f"rfss-cor2-min-n = {n2!r} >= rfss-cor1-min-n = {n1!r} at k={k_v}, eps={eps_v}, c_amp={c}"
            items.append(BoundAgreement(text, ok))
    return items


def _irwin_hall_sympy(k: int, x: Any) -> Any:
    """Density of the sum of ``k`` iid U[-1, 1] at ``x`` (sympy, exact), from the Irwin-Hall sum."""
    t = (x + k) / 2
    if t < 0 or t > k:
        return sp.Integer(0)
    terms = [(-1) ** j * sp.binomial(k, j) * (t - j) ** (k - 1) for j in range(int(sp.floor(t)) + 1)]
    return sp.Add(*terms) / sp.factorial(k - 1) / 2


def rfss_irwin_hall() -> list[Any]:
    """Lemma 1's constants from the exact density of a sum of k U[-1, 1].

    Items: the closed form for ``k = 2`` and ``k = 3`` equals the convolution of the ``k - 1`` density with
    U[-1, 1] (sympy integrals, at rational points); it integrates to 1 for ``k = 3``; the registered
    ``uniform_sum_density`` equals the closed form; and the registered ``rfss-lemma1-cl`` at ``k_max = 2``
    and ``rfss-lemma1-cu`` at ``k_max = 3`` equal the exact values ``(sqrt 2 - 1)/2`` (``k = 2`` at
    ``x = sqrt 2``) and ``1/sqrt 2`` (``k = 2`` at 0).
    """
    x, s = sp.symbols("x s", real=True)
    items: list[Any] = []
    f1 = sp.Piecewise((sp.Rational(1, 2), (s >= -1) & (s <= 1)), (0, True))
    for k in (2, 3):
        for point in (sp.Rational(-3, 2), sp.Rational(1, 3), sp.Rational(7, 5)):
            if k == 2:
                conv = sp.integrate(f1.subs(s, point - s) * sp.Rational(1, 2), (s, -1, 1))
            else:
                f2 = sp.Piecewise(((2 - sp.Abs(s)) / 4, sp.Abs(s) <= 2), (0, True))
                conv = sp.integrate(f2.subs(s, point - s) * sp.Rational(1, 2), (s, -1, 1))
            items.append(sp.simplify(conv - _irwin_hall_sympy(k, point)))
    pieces = [sp.integrate(_ih3_piece(j, x), (x, -3 + 2 * j, -1 + 2 * j)) for j in range(3)]
    items.append(sp.simplify(sp.Add(*pieces) - 1))
    for k, point in ((3, 0.25), (5, 1.5), (7, -2.0)):
        got = bounds.uniform_sum_density(k, point)
        want = float(sp.N(_irwin_hall_sympy(k, _exact(point)), 30))
        text = f"uniform_sum_density({k}, {point}) = {got!r}, closed form {want!r}"
        items.append(BoundAgreement(text, math.isclose(got, want, rel_tol=_AGREE_REL)))
    items.append(agrees("rfss-lemma1-cl", lambda k_max: (sp.sqrt(2) - 1) / 2, [{"k_max": 2}]))
    items.append(agrees("rfss-lemma1-cu", lambda k_max: 1 / sp.sqrt(2), [{"k_max": 3}]))
    return items


def _ih3_piece(j: int, x: Any) -> Any:
    """The polynomial piece of the k = 3 density on ``[-3 + 2j, -1 + 2j]`` (closed form, symbolic x)."""
    t = (x + 3) / 2
    return sp.Add(*[(-1) ** i * sp.binomial(3, i) * (t - i) ** 2 for i in range(j + 1)]) / 2 / 2


def rfss_thm3_fixed_point() -> list[Any]:
    """Theorem 3's ``n* = c log2^2(B n*) / H2(gamma)``, ``B = 2 l d_prev d gamma / eps``, solved numerically.

    Items: at sample points the registered ``rfss-thm3-block`` is a root of ``n - f(n)`` (30 digits, relative
    ``1e-9``) and the largest one (``f'(n*) = 2 A log2(B n*) / (n* ln 2) < 1``, so ``n > f(n)`` beyond it);
    ``rfss-thm3-source-params`` is ``2 d_prev n* (d_prev + d)``; and the registered ``rfss-thm5-min-params``
    is the smallest ``n`` with ``n H2(k/n) >= (d^2/2) log2(k/eps)``.
    """
    items: list[Any] = []
    block = bounds.get_bound("rfss-thm3-block")
    params = bounds.get_bound("rfss-thm3-source-params")
    for d_prev, d, depth, eps, gamma, c in ((4, 2, 2, 0.06, 0.5, 1.16), (64, 32, 3, 0.01, 0.1, 1.0)):
        n = block(d_prev, d, depth, eps, gamma, c_amp=c)
        a = sp.Float(c, 30) / _h2(_exact(gamma))
        b = 2 * depth * d_prev * d * _exact(gamma) / _exact(eps)
        ok = isinstance(n, float) and math.isfinite(n) and n > 0
        if ok:
            nn = _exact(n)
            f = a * (sp.log(b * nn) / sp.log(2)) ** 2
            slope = 2 * a * sp.log(b * nn) / sp.log(2) / (nn * sp.log(2))
            ok = abs(float(sp.N((nn - f) / nn, 30))) < 1e-9 and float(sp.N(slope, 30)) < 1
        where = f"({d_prev}, {d}, {depth}, {eps}, {gamma}, c_amp={c})"
        items.append(BoundAgreement(f"rfss-thm3-block = {n!r} is the largest fixed point at {where}", ok))
        p = params(d_prev, d, depth, eps, gamma, c_amp=c)
        want = 2.0 * d_prev * n * (d_prev + d) if ok else math.nan
        text = f"rfss-thm3-source-params = {p!r}, 2 d_prev n* (d_prev + d) = {want!r}"
        items.append(BoundAgreement(text, ok and math.isclose(p, want, rel_tol=1e-12)))
    thm5 = bounds.get_bound("rfss-thm5-min-params")
    lam = 1 - 1 / (2 * sp.pi)
    for d, kk, eps in ((4, 215, 0.06), (8, 1000, 0.01)):
        need = sp.Rational(d * d, 2) * sp.log(sp.Integer(kk) / _exact(eps)) / sp.log(2)
        floor = int(sp.ceiling(kk / lam))
        items.append(_smallest_n_item("rfss-thm5-min-params", thm5(d, kk, eps), need, kk, floor))
    return items
