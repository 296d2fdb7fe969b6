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

This is the standard argument behind Pensia et al. (NeurIPS 2020, arXiv:2006.07990, Thm 1: per-layer
errors propagated through ||W_l|| <= 1 and 1-Lipschitz ReLU); here the norms are the target's actual ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["LayerNorms", "compose_bound"]

_SAFETY = 1.0 + 1e-9


@dataclasses.dataclass(frozen=True)
class LayerNorms:
    """Norm bounds of one target layer and of its approximation error.

    Attributes:
        op: ``A_l``, upper bound on the target's linear part operator norm.
        bias: ``B_l``, norm of the target bias contribution (0 without bias).
        err_op: ``eps_l``, bound on the error operator norm.
        err_bias: ``b_l``, norm of the bias error contribution.
    """

    op: float
    bias: float
    err_op: float
    err_bias: float


def compose_bound(layers: Sequence[LayerNorms], radius: float = 1.0) -> float:
    """The certified sup error over ``||x||_2 <= radius`` (module docstring recursion).

    Args:
        layers: Per target layer, in order.
        radius: Input-norm radius ``rho >= 0``.

    Returns:
        ``delta_L`` (inflated by a relative 1e-9 against rounding).
    """
    delta, r = 0.0, float(radius)
    for ln in layers:
        delta = ln.op * delta + ln.err_op * (r + delta) + ln.err_bias
        r = ln.op * r + ln.bias
    return delta * _SAFETY
