"""The Dying Ratio: the fraction of prunable weights never selected by any training-forward mask so far.

Definition (Iwasawa, Hirakawa, Matsuo, "Soft iEP: On the Exploration Inefficacy of Gradient Based Strong
Lottery Exploration", ICLR 2024 submission, openreview.net/forum?id=OXBsK3GsL6, Eq. 2; the JSAI 2023 paper
calls never-selected edges "dying edges"). With ``ever_l`` a boolean OR-accumulator over the masks used in
training forwards (initialised with the mask at step 0),

    dying_ratio(t) = 1 - sum_l |ever_l| / sum_l numel_l          (global, prunable tensors only)
    dying_ratio_l(t) = 1 - |ever_l| / numel_l                    (per layer)

so ``dying_ratio(0) = 1 - density`` and it never increases. The mask *turnover* at step t is the fraction of
the kept weights that were not kept at the previous step: ``|M_t & ~M_{t-1}| / |M_t|``.

Costs two bools per weight and, per step, one ``|=`` and one copy, on any device (on CPU through NumPy views);
the turnover is counted only when it is read.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["DyingRatioTracker"]


class DyingRatioTracker:
    """OR-accumulates training masks per layer and reports dying ratio and turnover.

    Args:
        masks: The masks used at step 0, ``{layer name: bool tensor}``.
    """

    #: Accumulate CPU masks through NumPy views (False: torch kernels everywhere, as on accelerators).
    numpy_on_cpu = True

    def __init__(self, masks: Mapping[str, torch.Tensor]):
        if not masks:
            raise ValueError("DyingRatioTracker needs at least one mask")
        self.ever: dict[str, torch.Tensor] = {k: m.detach().clone().bool() for k, m in masks.items()}
        self.last: dict[str, torch.Tensor] = {k: m.detach().clone().bool() for k, m in masks.items()}
        # The masks of the update before the latest (None before any update): the turnover is counted
        # from ``last`` and ``prev`` when it is read, so a step pays for no count.
        self.prev: dict[str, torch.Tensor] | None = None

    @property
    def last_turnover(self) -> float:
        """Turnover of the latest :meth:`update` (0 before any); reading it synchronises the device."""
        if self.prev is None:
            return 0.0
        new = kept = 0
        for k, last in self.last.items():
            prev = self.prev[k]
            if self._numpy(last, prev):
                last_np = last.numpy()
                new += int(np.count_nonzero(np.greater(last_np, prev.numpy())))
                kept += int(np.count_nonzero(last_np))
            else:
                new += int(torch.gt(last, prev).sum())
                kept += int(last.sum())
        return new / max(kept, 1)

    def _numpy(self, *tensors: torch.Tensor) -> bool:
        return self.numpy_on_cpu and all(t.device.type == "cpu" and t.dtype == torch.bool for t in tensors)

    def update(self, masks: Mapping[str, torch.Tensor]) -> None:
        """Accumulate the masks of one training forward (no host-device synchronisation, no count).

        Every step is accumulated (the metric is exact: "never selected so far" over all training
        forwards): an in-place OR into ``ever`` and a copy of the mask into ``last`` (the previous
        ``last`` becomes ``prev``, by swapping buffers, for :attr:`last_turnover`). On CPU both run on
        NumPy views of the bool tensors (zero-copy), cheaper than torch's CPU bool kernels; on other
        devices the same operations run in torch without reading anything back.

        Raises:
            ValueError: If the layer names differ from the tracked ones.
        """
        if masks.keys() != self.ever.keys():
            raise ValueError(f"mask names {sorted(masks)} differ from tracked names {sorted(self.ever)}")
        if self.prev is None:
            self.prev = {k: torch.empty_like(v) for k, v in self.last.items()}
        self.prev, self.last = self.last, self.prev
        for k, m in masks.items():
            m = m.detach()
            ever, last = self.ever[k], self.last[k]
            if self._numpy(m, ever):
                m_np = m.contiguous().numpy()
                np.bitwise_or(ever.numpy(), m_np, out=ever.numpy())
                np.copyto(last.numpy(), m_np)
            else:
                ever |= m
                last.copy_(m)

    def dying_ratio(self) -> float:
        """The global dying ratio over all tracked tensors."""
        used = sum(int(e.sum()) for e in self.ever.values())
        total = sum(e.numel() for e in self.ever.values())
        return 1.0 - used / total

    def per_layer(self) -> dict[str, float]:
        """The dying ratio of each tracked tensor."""
        return {k: 1.0 - float(e.sum()) / e.numel() for k, e in self.ever.items()}

    def state_dict(self) -> dict[str, object]:
        """Tensors to checkpoint (CPU copies)."""
        return {
            # Copies also on CPU (``.cpu()`` would alias the live accumulators, which update in place).
            "ever": {k: v.detach().cpu().clone() for k, v in self.ever.items()},
            "last": {k: v.detach().cpu().clone() for k, v in self.last.items()},
            "last_turnover": self.last_turnover,  # informational; not restored
        }

    def load_state_dict(self, state: Mapping[str, object], device: torch.device | str = "cpu") -> None:
        """Restore from :meth:`state_dict` output onto ``device``."""
        self.ever = {k: v.to(device).bool().clone() for k, v in state["ever"].items()}  # type: ignore[union-attr]
        self.last = {k: v.to(device).bool().clone() for k, v in state["last"].items()}  # type: ignore[union-attr]
        self.prev = None
