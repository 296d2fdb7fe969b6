"""sympy derivations behind the ledger's symbolic checks (imported only when a check runs).

Each public function returns a list of items for :class:`theory.ledger.SymbolicCheck`: sympy
expressions that must simplify to 0 (``kind="zero"``) or statements that must reduce to ``True``
(``kind="true"``). Symbols carry the assumptions of the bound's valid domain (positive, nonnegative,
...), so sympy's sign reasoning uses exactly that domain and nothing more. A few items are Python
booleans tying a derivation to the code in :mod:`theory.bounds` (the closed form evaluated there must
reproduce the defining equation numerically); those can fail too.
"""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

from theory import bounds


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
    exponent = (n / 2 - a) ** 2 / (2 * n)
    closed = 2 * a + 4 * ell + 4 * sp.sqrt(ell * (a + ell))
    roots = sp.solve(sp.Eq(exponent, ell), n)
    derivative = sp.diff(exponent, n)
    items: list[Any] = [
        exponent.subs(n, closed) - ell,
        any(sp.simplify(r - closed) == 0 for r in roots),
        sp.simplify(closed - 2 * a) > 0,
        derivative - (n**2 - 4 * a**2) / (8 * n**2),
        sp.simplify(derivative.subs(n, 2 * a + u)) > 0,
    ]
    ok = True
    for eps, delta, C in ((1e-2, 0.1, 1.0), (1e-4, 1e-3, 0.5), (0.3, 0.5, 2.0)):
        n_real = bounds.lueker_min_n(eps, delta, C=C)
        # n is real here; evaluate the corollary's expression at the real root directly.
        value = 1 - math.exp(-((n_real / 2 - C * math.log(1 / eps)) ** 2) / (2 * n_real))
        ok &= math.isclose(value, 1 - delta, rel_tol=1e-12)
        ok &= bounds.lueker_success_probability(math.ceil(n_real), eps, C=C) >= 1 - delta
    items.append(ok)
    return items


def pensia_form_shape() -> list[Any]:
    """The Pensia form ``C log2(1/eps)`` and the restated ``C log(2/eps)``: decreasing in eps, same order.

    Items: both derivatives in eps are negative on (0, 1); their ratio tends to ``1/log 2`` as
    eps -> 0 (same Theta(log 1/eps) order, the base only rescales C); and the code anchor
    ``3 * round(log2(100)) = 21`` reproduced by :func:`theory.bounds.pensia_code_candidates`.
    """
    eps, C = sp.symbols("epsilon C", positive=True)
    u = sp.Symbol("u", positive=True)
    form = C * sp.log(1 / eps, 2)
    restated = C * sp.log(2 / eps)
    return [
        sp.simplify(sp.diff(form, eps).subs(eps, sp.exp(-u))) < 0,
        sp.simplify(sp.diff(restated, eps).subs(eps, sp.exp(-u))) < 0,
        sp.limit(form / restated, eps, 0, "+") - 1 / sp.log(2),
        bounds.pensia_code_candidates(0.01) == 21 and bounds.pensia_code_candidates(0.01, c=1) == 7,
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
    rate = 8 * (3 - eps) / (1 + eps) ** 2

    def n_of(k: Any, d: Any, a: Any) -> Any:
        return k + a * sp.log(1 / (d - sp.exp(-k)))

    def bound(n: Any, k: Any, a: Any) -> Any:
        return sp.exp(-(n - k) / a) + sp.exp(-k)

    d_r = sp.exp(-K) + r
    k_star = sp.log((1 + A) / delta)
    n_general = n_of(K, delta, A)
    items: list[Any] = [
        bound(n_of(K, d_r, rate), K, rate) - d_r,
        bound(n_of(K, d_r, A), K, A) - d_r,
        sp.diff(n_general, K).subs(K, k_star),
        n_general.subs(K, k_star) - (k_star + A * sp.log((1 + A) / (A * delta))),
        sp.simplify(sp.diff(n_general, K, 2).subs(delta, d_r)) > 0,
        sp.simplify(rate.subs(eps, 3 * s / (1 + s))) > 0,
    ]
    ok = True
    for dl, pert in ((0.05, 0.0), (1e-3, 0.5), (0.2, 2.5)):
        a_num = 8 * (3 - pert) / (1 + pert) ** 2
        k_opt = math.log((1 + a_num) / dl)
        n_opt = bounds.xiong_thm1_min_n(dl, pert)
        ok &= math.isclose(bounds.xiong_thm1_failure_probability(n_opt, pert, k_opt), dl, rel_tol=1e-9)
        k_fixed = k_opt + 1.0
        n_fixed = bounds.xiong_thm1_min_n(dl, pert, k_fixed)
        ok &= math.isclose(bounds.xiong_thm1_failure_probability(n_fixed, pert, k_fixed), dl, rel_tol=1e-9)
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
    aistats = C * (t / (1 + eps) + K)
    slides = C * t / (sp.log(1 + eps) + 1)
    opt22 = C1 * t / sp.log(c + eps) + C2 * (1 + t / (1 + eps))
    g = eps - sp.log(1 + eps)
    return [
        sp.diff(aistats, eps) < 0,
        sp.diff(slides, eps) < 0,
        sp.simplify(sp.diff(opt22, eps).subs(c, 1 + s - eps)) < 0,
        g.subs(eps, 0),
        sp.simplify(sp.diff(g, eps)) >= 0,
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
    for name, denom in (("aistats", 1 + eps), ("slides", sp.log(1 + eps) + 1)):
        width = C * dp * sp.log(d * dp * L / eta) / denom
        widths[name] = width
        on_domain = sp.simplify(sp.diff(width, eta).subs(eta, d * dp * L * sp.exp(-m)))
        items += [on_domain < 0, sp.simplify(sp.diff(width, eps).subs(eta, d * dp * L * sp.exp(-m))) < 0]
    ratio = sp.simplify(widths["aistats"] / widths["slides"])
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
    width = d * C * sp.log(split * L * d * dn / eps)
    channels = C * ci * sp.log(k**2 * ci * co * L / eps)
    return [
        sp.simplify(sp.diff(width, eps).subs(eps, split * L * d * dn * sp.exp(-m))) < 0,
        sp.simplify(sp.diff(channels, eps).subs(eps, k**2 * ci * co * L * sp.exp(-m))) < 0,
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
      ``h'' < 0`` and ``h'(1) = 1 - sqrt(e)/2 > 0``, so ``h' > 0`` and ``h >= 0`` on [0, 1].
    """
    e_l, P = sp.symbols("e_l P", positive=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    L, ell = sp.symbols("L l", positive=True, integer=True)
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
    ]


# --------------------------------------------------------------------------------------------------
# Counting lower bound
# --------------------------------------------------------------------------------------------------
def counting_bound_algebra() -> list[Any]:
    """``2^P >= (c/eps)^(d^2)`` solved for P, and its order ``Theta(d^2 log(1/eps))``.

    Items: sympy's solution of ``2^P = (c/eps)^(d^2)`` equals ``d^2 log(c/eps)/log 2`` (the formula of
    :func:`theory.bounds.counting_min_params`); substituting it back gives equality; the ratio to
    ``d^2 log(1/eps)`` tends to ``1/log 2`` as eps -> 0; and the code matches at sample points.
    """
    P, d, c, eps = sp.symbols("P d c epsilon", positive=True)
    closed = d**2 * sp.log(c / eps) / sp.log(2)
    sols = sp.solve(sp.Eq(2**P, (c / eps) ** (d**2)), P)
    ok = all(
        math.isclose(bounds.counting_min_params(dd, ee, c=cc), dd * dd * math.log(cc / ee) / math.log(2))
        for dd, ee, cc in ((3, 0.01, 1.0), (10, 1e-4, 2.0))
    )
    return [
        len(sols) == 1 and sp.simplify(sp.expand_log(sols[0] - closed, force=True)) == 0,
        sp.simplify(sp.expand_log(sp.log(2**closed) - sp.log((c / eps) ** (d**2)), force=True)),
        sp.limit(closed / (d**2 * sp.log(1 / eps)), eps, 0, "+") - 1 / sp.log(2),
        ok,
    ]
