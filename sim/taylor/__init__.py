"""Taylor loss-change experiments: how well g.v and g.v + 1/2 v.Hv predict the loss change of mask swaps.

The model (algorithms.md §5.1; standard Taylor expansion): a mask change ``dm`` moves the effective
weights ``w_eff = m * w`` by ``v = dm * w`` and changes the loss by
``dL = g.v + 1/2 v.H v + O(|v|^3)`` with ``g``, ``H`` the dense gradient and Hessian w.r.t. ``w_eff``
(computed by :mod:`networks.hvp`). Everything runs in float64 on Edge-Popup-style masked models
(``mask_mode="scores"``, frozen random weights, trained scores; Ramanujan et al., CVPR 2020) that were
first trained for a few hundred steps on REAL data (MNIST-1D for the MLP, scikit-learn's 8x8 digits for
the CNN) by the shared trainer (``networks.training.Trainer``, method ``ep``; models from
``networks.models``). The loss is the mean cross-entropy on a fixed batch of training examples, in eval
mode (so BatchNorm uses its running statistics and the loss is one fixed function of the weights).

Experiments (one *cell* per (model, seed): one trained model):

1. HVP checks: ``H v`` against central differences of the gradient on the trained model, and against
   the full Hessian (``torch.autograd.functional.hessian``) on tiny models (:mod:`sim.taylor.hvp_checks`).
2. Remainder scaling: along ``t v`` the first-order remainder ``L(w+tv) - L(w) - t g.v`` is O(t^2) and
   the second-order one O(t^3): log-log slopes fitted by least squares, with their standard error and
   a t-interval (:mod:`sim.taylor.remainders`).
3. Predicted vs actual ``dL`` of real swaps (k weights out, k in; per-layer counts, so density is kept)
   for k on a log grid up to 1000, ``selection`` "random" (uniformly random swaps) or "first-order" (the
   swaps the first-order rule picks) (:mod:`sim.taylor.swaps`).
4. Interdependency: k swaps chosen by the first-order rule against the interaction-aware second-order
   rule (``networks.loss_change.second_order_swaps``), actual loss decrease vs k
   (:mod:`sim.taylor.interdependency`).

Evidence for the ledger: the raw numbers go into ``details`` (every slope fit, the HVP check errors,
the per-seed loss decreases of both swap rules on the same model) and the verdicts come from the
pre-registered rules of :mod:`theory.rules.taylor` (stated there with their constants), applied by
``theory.ledger.write_evidence`` here and again by ``slth verify``.

Modules along the math: :mod:`~sim.taylor.config` (config, presets, the two models),
:mod:`~sim.taylor.hvp_checks`, :mod:`~sim.taylor.remainders`, :mod:`~sim.taylor.swaps`,
:mod:`~sim.taylor.interdependency`, :mod:`~sim.taylor.cells` (one model trained by the shared trainer,
every measurement), :mod:`~sim.taylor.evidence` (the raw evidence data) and :mod:`~sim.taylor.experiment`
(the registered ``sim.experiments.Experiment`` named ``taylor``: run directory ``runs/taylor/<hash>/``,
resume by finished cells, the three evidence ids). Importing ``sim.taylor`` registers it.
"""

from __future__ import annotations

from sim.taylor.cells import SLOPE_COLUMNS, run_cell, train_config, trained_model
from sim.taylor.config import MODELS, PRESETS, TaylorConfig
from sim.taylor.evidence import evidence_details, interdependency_pairs, prediction_stats
from sim.taylor.experiment import CLAIMS, TAYLOR, run_taylor, taylor_config
from sim.taylor.hvp_checks import hvp_checks, hvp_fd_error
from sim.taylor.interdependency import INTERDEP_COLUMNS, interdependency_rows
from sim.taylor.remainders import fit_loglog, remainder_slopes
from sim.taylor.swaps import SWAP_COLUMNS, swap_predictions

__all__ = [
    "CLAIMS",
    "INTERDEP_COLUMNS",
    "MODELS",
    "PRESETS",
    "SLOPE_COLUMNS",
    "SWAP_COLUMNS",
    "TAYLOR",
    "TaylorConfig",
    "evidence_details",
    "fit_loglog",
    "hvp_checks",
    "hvp_fd_error",
    "interdependency_pairs",
    "interdependency_rows",
    "prediction_stats",
    "remainder_slopes",
    "run_cell",
    "run_taylor",
    "swap_predictions",
    "taylor_config",
    "train_config",
    "trained_model",
]
