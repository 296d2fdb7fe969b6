"""The certified bound on sup_{||x|| <= rho} ||target(x) - ticket(x)||_2 by layer-wise Lipschitz composition.

Notation, for target layer ``l`` (an affine map ``T_l(y) = W_l y + beta_l`` followed by a ReLU or not):

* ``A_l``: an upper bound on the operator norm of ``y -> W_l y``. Linear: the spectral norm ``||W_l||_2``.
  Conv2d (weights reshaped to ``W_mat`` of shape ``(c_out, c_in kh kw)``): the output is
  ``W_mat @ unfold(y)``, and every input pixel appears in at most ``P = ceil(kh/sh) ceil(kw/sw)`` patches,
  so ``||unfold(y)||_F <= sqrt(P) ||y||`` and ``A_l = sqrt(P) ||W_mat||_2``.
* ``B_l``: ``||beta_l||_2`` times ``sqrt(positions)`` for a conv (the bias is added at every position).
* The ticket's layer computes ``T^_l(y) = W_l y + E+_l y+ - E-_l y- + beta_l + e_l`` where ``y+ = relu(y)``,
  ``y- = relu(-y)``, ``E+-`` are the error matrices of the two halves of each ReLU block and ``e_l`` the bias
  error (see :mod:`networks.construct.methods`). Since ``||y+||^2 + ||y-||^2 = ||y||^2``,
  ``||E+ y+ - E- y-|| <= ||[E+, -E-]||_2 ||y||``; call ``eps_l = ||[E+, -E-]||_2`` (times ``sqrt(P)`` for a
  conv). When the layer's input is non-negative (it follows a ReLU, or the user declares the network
  input non-negative) ``y- = 0`` and ``eps_l = ||E+||_2``. ``b_l = ||e_l||`` (times ``sqrt(positions)``).

Claim. With ``f_l``, ``g_l`` the target's and the ticket's outputs after layer ``l`` and ``||x|| <= rho``,
``||f_l(x) - g_l(x)|| <= delta_l`` where ``delta_0 = 0``, ``r_0 = rho`` and

    delta_l = A_l delta_{l-1} + eps_l (r_{l-1} + delta_{l-1}) + b_l,     r_l = A_l r_{l-1} + B_l.

Proof by induction. ``||f_l|| <= r_l`` because ReLU does not increase norms. ReLU is 1-Lipschitz (and
flattening is an isometry), so ``||g_l - f_l|| <= ||T^_l(g_{l-1}) - T_l(f_{l-1})||
= ||W_l (g_{l-1} - f_{l-1}) + (E+ g+ - E- g-) + e_l|| <= A_l delta_{l-1} + eps_l ||g_{l-1}|| + b_l`` and
``||g_{l-1}|| <= r_{l-1} + delta_{l-1}``. The bound at the last layer is the certificate. Every norm used
is computed exactly (SVD) or is an upper bound, so the certificate is a true upper bound, up to floating
point in the SVD (relative 1e-15; we inflate by 1e-9 relative to be safe).

Floating point. The recursion above is exact-arithmetic: with every per-weight error 0 it gives 0, while
the two forward passes that a measurement compares are rounded (a certificate of 0.0 against a measured
5e-16 was seen). :func:`compose_bound` therefore adds, when given unit roundoffs, an absolute rounding
term derived with the standard model ``fl(a op b) = (a op b)(1 + theta)``, ``|theta| <= u``, and
``|fl(sum_{i<=k} x_i y_i) - sum x_i y_i| <= gamma_k sum |x_i y_i|`` with ``gamma_k = k u / (1 - k u)``
(Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma 3.1 and eq. (3.5); it holds for
any summation order, hence for blocked BLAS and for FMA). No underflow is assumed. Per target layer:

* the target's rounded layer ``fl(W y^ + beta)`` differs from ``W y^ + beta`` by at most
  ``gamma_{K+1} (A|W|_l ||y^|| + B_l)``, ``K`` = products per output (``d_in`` columns, +1 for the bias)
  and ``A|W|_l = sqrt(P) || |W_mat| ||_2`` (entrywise absolute values);
* the ticket's rounded block (casts of ``a_i`` and of the second-layer weight to the run's dtype, one
  product ``a_i x_j`` and a dot product over the ``N`` hidden units) differs from the exact block on the
  same input by at most ``gamma_{N+3} (A_M ||y^|| + B_M)``,
  ``M_kj = sum_{kept i in block j} |a_i| |b_ki + p_ki|``, ``A_M = sqrt(P) ||M_reg||_2``,
  ``B_M = sqrt(positions) ||M_bias||``;
* the error matrices are computed from the realised weights ``fl(sum_S a_i (b_ki + p_ki))`` in float64
  (:mod:`networks.construct.methods`), which differ from the exact sums by at most ``gamma_{2n} M_kj``
  (float64 roundoff whatever dtype the forward runs in), so ``eps_l`` and ``b_l`` grow by
  ``gamma_{2n} A_M`` and ``gamma_{2n} B_M``.

With ``t_l`` the target's rounding deviation and ``delta_l`` the rounded ticket's deviation from the exact
target (``||y^|| <= r_{l-1} + t_{l-1}`` resp. ``r_{l-1} + delta_{l-1}``):

    t_l = A_l t_{l-1} + gamma_{K+1} (A|W|_l (r_{l-1} + t_{l-1}) + B_l)
    delta_l = A_l delta_{l-1} + (eps_l + gamma_{2n} A_M)(r_{l-1} + delta_{l-1}) + b_l + gamma_{2n} B_M
              + gamma_{N+3} (A_M (r_{l-1} + delta_{l-1}) + B_M)

and the certificate of the measured (rounded vs rounded) error is ``t_L + delta_L``. A GPU float32 run
must not use TF32 (``torch.backends.cuda.matmul.allow_tf32`` / ``cudnn.allow_tf32``), and a float32
target conv must be a summation (im2col/GEMM or direct), not Winograd/FFT: those are outside this model.

Input domain. The bound holds on ``||x||_2 <= rho``; when the network input is declared non-negative
(``nonnegative_input``) the first layer has only ``+`` halves and the bound holds on
``{||x||_2 <= rho, x >= 0}`` only (signed inputs there can be far off: 1.74 against 0.008 was measured).
``Ticket.measure`` refuses inputs outside the domain.

This is the standard argument behind Pensia et al. (NeurIPS 2020, arXiv:2006.07990, Thm 1: per-layer
errors propagated through ||W_l|| <= 1 and 1-Lipschitz ReLU); here the norms are the target's actual ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = [
    "FLOAT32_ROUNDOFF",
    "FLOAT64_ROUNDOFF",
    "LayerNorms",
    "check_bound_arguments",
    "compose_bound",
    "gamma",
    "target_rounding",
]

_SAFETY = 1.0 + 1e-9
#: Unit roundoffs ``u`` (round to nearest): 2^-53 and 2^-24.
FLOAT64_ROUNDOFF = 2.0**-53
FLOAT32_ROUNDOFF = 2.0**-24


def gamma(k: int, u: float) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)`` (0 when ``u = 0``).

    Raises:
        ValueError: If ``k u >= 1`` (the model gives no bound: too many terms for this precision).
    """
    ku = int(k) * float(u)
    if ku >= 1.0:
        raise ValueError(f"k * u must be < 1 for a rounding bound, got k={k}, u={u}")
    return ku / (1.0 - ku)


def check_bound_arguments(radius: float, **roundoffs: float) -> None:
    """Refuse a negative (or NaN) radius or unit roundoff of a certificate.

    Raises:
        ValueError: Naming the argument.
    """
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}")
    for name, u in roundoffs.items():
        if not u >= 0:
            raise ValueError(f"{name} must be >= 0, got {u!r}")


def target_rounding(ln, r_in: float, u: float) -> float:
    """The target layer's own rounding ``gamma_{K+1} (A|W|_l ||y^|| + B_l)`` (module docstring).

    ``ln`` is any per-layer norm record with ``terms``, ``abs_op`` and ``bias``; ``r_in`` bounds the
    layer's input norm and ``u`` is the forward pass's unit roundoff.
    """
    return gamma(ln.terms + 1, u) * (ln.abs_op * r_in + ln.bias)


@dataclasses.dataclass(frozen=True)
class LayerNorms:
    """Norm bounds of one target layer and of its approximation error.

    Attributes:
        op: ``A_l``, upper bound on the target's linear part operator norm.
        bias: ``B_l``, norm of the target bias contribution (0 without bias).
        err_op: ``eps_l``, bound on the error operator norm.
        err_bias: ``b_l``, norm of the bias error contribution.
        abs_op: ``A|W|_l``, operator norm of the entrywise absolute target weights (rounding term).
        terms: ``K``, products per target output entry without the bias (``d_in`` columns).
        ticket_abs_op: ``A_M``, operator norm of the ticket's absolute kept products per column.
        ticket_abs_bias: ``B_M``, norm of the bias column of those absolute products.
        ticket_terms: ``N``, hidden units summed per ticket output entry.
        realise_terms: ``2n``, products in one realised weight.
    """

    op: float
    bias: float
    err_op: float
    err_bias: float
    abs_op: float = 0.0
    terms: int = 0
    ticket_abs_op: float = 0.0
    ticket_abs_bias: float = 0.0
    ticket_terms: int = 0
    realise_terms: int = 0


def compose_bound(
    layers: Sequence[LayerNorms],
    radius: float = 1.0,
    *,
    forward_roundoff: float = 0.0,
    realise_roundoff: float = 0.0,
) -> float:
    """The certified sup error over ``||x||_2 <= radius`` (module docstring recursion).

    With both roundoffs 0 this is the exact-arithmetic bound (used to choose the tolerances); with the
    unit roundoff of the dtype both forward passes run in and ``FLOAT64_ROUNDOFF`` for the realised
    weights, it bounds the measured difference of the two rounded forward passes.

    Args:
        layers: Per target layer, in order.
        radius: Input-norm radius ``rho >= 0``.
        forward_roundoff: Unit roundoff of the forward passes (0: exact arithmetic).
        realise_roundoff: Unit roundoff of the realised-weight sums (0: exact arithmetic).

    Returns:
        ``t_L + delta_L`` (inflated by a relative 1e-9 against the rounding of the norms themselves).

    Raises:
        ValueError: If ``radius`` or a roundoff is negative, or a layer has too many terms for ``gamma``.
    """
    check_bound_arguments(radius, forward_roundoff=forward_roundoff, realise_roundoff=realise_roundoff)
    delta, t, r = 0.0, 0.0, float(radius)
    for ln in layers:
        r_t, r_g = r + t, r + delta
        g_real = gamma(ln.realise_terms, realise_roundoff)
        tau_target = target_rounding(ln, r_t, forward_roundoff)
        tau_ticket = gamma(ln.ticket_terms + 3, forward_roundoff) * (
            ln.ticket_abs_op * r_g + ln.ticket_abs_bias
        )
        delta = (
            ln.op * delta
            + (ln.err_op + g_real * ln.ticket_abs_op) * r_g
            + ln.err_bias
            + g_real * ln.ticket_abs_bias
            + tau_ticket
        )
        t = ln.op * t + tau_target
        r = ln.op * r + ln.bias
    return (delta + t) * _SAFETY
