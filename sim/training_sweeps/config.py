"""The config of the training sweeps: the shared base of every run and the scale-dependent schedule.

Standard library only (no torch): ``slth run`` builds its flags from it. One config class serves the
seven training sweeps; each sweep's variants (:mod:`sim.training_sweeps.variants`) derive their
:class:`networks.training.TrainConfig` from it. Defaults are the ``full`` preset; :data:`QUICK` is the
``quick`` (and ``default``) preset.
"""

from __future__ import annotations

import dataclasses

from theory.plumbing.configs import help_field
from theory.validate import check_int


@dataclasses.dataclass(frozen=True)
class TrainingSweepConfig:
    """Base training setup and schedule of a training sweep (every variant runs at every seed)."""

    model: str = help_field("mlp", "model of every run")
    dataset: str = help_field("mnist1d", "dataset of every run (ep-vs-dense adds digits)")
    hidden: tuple[int, ...] = help_field((256, 256), "hidden widths of the MLP")
    epochs: int = help_field(30, "epochs per run (ep-vs-dense, ep-dying, ep-hparams, rigl)")
    batch_size: int = help_field(128, "batch size")
    lr: float = help_field(0.5, "learning rate of the score (EP) runs")
    log_every: int = help_field(10, "log metrics every this many steps")
    seeds: tuple[int, ...] = help_field((0, 1, 2, 3, 4), "seeds (at least 3: the rules pair over seeds)")
    iep_epochs: int = help_field(30, "iep, iep-rewind: epochs in total, split over the 3 cycles")
    pgd_epochs: int = help_field(10, "pgd-ep: epochs of the EP phase and of the PGD phase")
    rigl_interval: int = help_field(50, "rigl: steps between mask updates")
    rigl_log_every: int = help_field(5, "rigl: log metrics every this many steps")

    def __post_init__(self) -> None:
        if len(self.seeds) < 3 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must hold at least 3 distinct seeds, got {self.seeds!r}")
        for name in ("epochs", "batch_size", "log_every", "iep_epochs", "pgd_epochs", "rigl_interval"):
            check_int(name, getattr(self, name), 1)
        check_int("rigl_log_every", self.rigl_log_every, 1)


#: MNIST-1D MLPs of 8-20 epochs at 3 seeds: every training sweep in a few minutes on 2 CPU cores.
QUICK = TrainingSweepConfig(
    hidden=(128, 128),
    epochs=20,
    log_every=4,
    seeds=(0, 1, 2),
    iep_epochs=18,
    pgd_epochs=8,
    rigl_interval=16,
    rigl_log_every=1,
)
