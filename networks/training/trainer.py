"""The shared training loop: data order, steps, evaluation, tidy metrics, atomic checkpoints, resume.

One :class:`Trainer` runs one :class:`~networks.training.config.TrainConfig` for one seed in
``runs/<experiment>/<hash>/seed_<s>/`` (the hash leaves the seed out, so seeds of one config share it):

* ``config.json`` (the resolved config), ``env.json`` (software, hardware, device, world size);
* ``metrics.csv``: tidy long rows ``step,epoch,cycle,name,value``; per step (every ``log_every``)
  ``train_loss``, ``lr``, ``dying_ratio``, ``turnover``; per epoch ``test_loss``, ``test_correct``,
  ``test_total`` (raw counts), ``test_acc``, ``density``, ``dying_ratio`` and ``dying_ratio/<layer>``;
  per cycle ``cycle_test_acc``, ``cycle_dying_ratio``, ``cycle_density``;
* ``checkpoint.pt``: model, optimizer, schedule position, step, every RNG state (the method's
  ``torch.Generator``, torch's global state), the Dying Ratio tracker, method state and the metrics so
  far, written atomically at every epoch end (every ``checkpoint_every`` epochs, and the last) and on a
  requested stop. It also holds the toolkit version, the model's parameter shapes and an ``integrity``
  stamp (schema id and :func:`tensor_tree_digest` of the rest). On resume (:meth:`Trainer.read_checkpoint`)
  a file with pickled code is refused by ``weights_only`` loading (nothing in it runs); one from another
  config, toolkit version or architecture is refused with the differences; one that is unreadable or does
  not match its digest is moved aside to ``checkpoint.pt.corrupt-<n>`` and the run starts over
  (``--strict``: refused);
* ``final.json`` and ``DONE`` at the end.

Re-running the same command resumes from the checkpoint (or returns at once when ``DONE`` exists). The data
order of epoch ``e`` is a pure function of ``(seed, e)``, so a resumed run, even from a mid-epoch checkpoint,
ends bit-identical to an uninterrupted one on CPU (``tests/networks/test_training_resume.py``). A config
that differs from the one stored in the run directory is refused with the list of differences.
A non-finite training loss stops the run with :class:`TrainingDiverged`, leaving the last good checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from networks.masks import masked_layers
from networks.training.base import Cycle, Method, StepContext, get_method
from networks.training.config import TrainConfig, validate_config
from networks.training.dying import DyingRatioTracker
from theory.plumbing import records
from theory.plumbing.configs import config_diff, config_from_dict, config_to_dict, run_dir
from theory.plumbing.progress import progress
from theory.plumbing.records import atomic_write_bytes, atomic_write_csv
from theory.plumbing.rundir import RunDir
from theory.validate import check_int

__all__ = [
    "DistInfo",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "derive_seed",
    "run_path",
    "state_digests",
    "state_parts",
    "tensor_tree_digest",
    "toolkit_version",
    "train",
]

METRIC_FIELDS = ("step", "epoch", "cycle", "name", "value")
_PURPOSES = {"init": 0, "data": 1, "method": 2}
CHECKPOINT_FORMAT = 1
CHECKPOINT_SCHEMA = "slth.checkpoint/1"


def toolkit_version() -> str:
    """The installed toolkit's version (``"source"`` when running from a tree that is not installed)."""
    return records.toolkit_version()


def tensor_tree_digest(obj: Any) -> str:
    """SHA-256 of a checkpoint-like tree: dicts (by sorted key), lists, tuples, tensors and scalars.

    Tensors contribute their dtype, shape and raw bytes, so equal digests mean bit-identical trees.

    Raises:
        TypeError: On a leaf that is none of these (a checkpoint never holds one).
    """
    h = hashlib.sha256()

    def feed(o: Any) -> None:
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"T|{t.dtype}|{tuple(t.shape)}|".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            h.update(f"D{len(o)}|".encode())
            for k in sorted(o, key=repr):
                h.update(f"{k!r}=".encode())
                feed(o[k])
        elif isinstance(o, list | tuple):
            h.update(f"L{len(o)}|".encode())
            for v in o:
                feed(v)
        elif o is None or isinstance(o, bool | int | float | str | bytes):
            h.update(f"{type(o).__name__}:{o!r}|".encode())
        else:
            raise TypeError(f"cannot digest a {type(o).__name__} in a checkpoint")

    feed(obj)
    return h.hexdigest()


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Position of this process in a data-parallel group (``world_size == 1``: no group)."""

    rank: int = 0
    world_size: int = 1


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: The run directory.
        status: "done" (finished now), "skipped" (was already done) or "stopped" (``stop_after_steps``).
        final: The contents of ``final.json`` (None when stopped).
    """

    run_dir: Path
    status: str
    final: dict[str, Any] | None


def derive_seed(seed: int, purpose: str, *extra: int) -> int:
    """An independent 63-bit seed for one purpose ("init", "data", "method") from the run seed.

    Uses ``numpy.random.SeedSequence`` so that the streams do not overlap, whatever the purpose order.
    """
    ss = np.random.SeedSequence([int(seed), _PURPOSES[purpose], *map(int, extra)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] & np.uint64(2**63 - 1))


def run_path(runs_root: str | Path, experiment: str, cfg: TrainConfig) -> Path:
    """``<runs_root>/<experiment>/<hash of cfg without seed>/seed_<seed>/``."""
    return run_dir(runs_root, experiment, dataclasses.replace(cfg, seed=0), seed=cfg.seed)


def _loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Module-level so that tests can substitute a diverging loss.
    return F.cross_entropy(out, y)


def _cpu_generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


class Trainer:
    """Runs one config; methods reach the model, layers, optimizer and generator through it.

    Attributes:
        cfg: The config.
        device: Where the model and data live.
        method: The :class:`~networks.training.base.Method` instance.
        model: The model.
        layers: Masked layers by module name (empty for the dense method).
        data: The dataset, on ``device``.
        model_options: Extra ``networks.models.build_model`` options that are not config fields (e.g. the
            Taylor experiments' ``activation``); empty for :func:`train`.
        generator: The method's CPU ``torch.Generator`` (IteRand draws, score re-draws, SET, Hutchinson);
            CPU so that a seed gives the same run on every device.
        optimizer: The current cycle's optimizer (None when nothing is trainable, e.g. PGD phases).
        tracker: The Dying Ratio tracker (None for unmasked models).
        step: Global step count (steps done so far).
        lr: The learning rate of the current step.
        plan: The cycle plan.
        steps_per_epoch: Optimizer steps per epoch.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        device: str | torch.device = "cpu",
        data_root: str | Path | None = None,
        quiet: bool = False,
        dist: DistInfo | None = None,
        model: torch.nn.Module | None = None,
        model_options: Mapping[str, Any] | None = None,
    ) -> None:
        from networks.data import load_dataset
        from networks.devices import resolve_device

        self.cfg = validate_config(cfg)
        self.device = resolve_device(device)
        self.quiet = quiet
        self.dist = dist or DistInfo()
        # Architecture options that are not TrainConfig fields (the Taylor experiments' smooth activation);
        # a caller passing them keys its own run directory on them (train() passes none).
        self.model_options = dict(model_options or {})
        self.method: Method = get_method(cfg.method)(cfg)
        self.plan: list[Cycle] = self.method.cycles()
        self.data = load_dataset(cfg.dataset, root=data_root, seed=0).to(self.device)
        # A prebuilt model (e.g. a planted ticket's source network) replaces the registry build.
        self.model = (self._build_model() if model is None else model).to(self.device)
        self.layers = masked_layers(self.model)
        self.generator = _cpu_generator(derive_seed(cfg.seed, "method"))
        n = len(self.data.y_train)
        self.steps_per_epoch = math.ceil(n / cfg.batch_size)
        self.total_steps = sum(c.epochs for c in self.plan) * self.steps_per_epoch
        self.optimizer: torch.optim.Optimizer | None = None
        self.tracker: DyingRatioTracker | None = None
        self.step = 0
        self.epoch = 0
        self.cycle = 0
        self.epoch_in_cycle = 0
        self.batch_in_epoch = 0
        self.cycle_entered = False
        self.lr = cfg.lr
        self.shard_weight = 1.0  # this rank's share of the current global batch, times world size
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None  # this step's (x, y) shard
        self.ctx = StepContext(self)  # all the methods see of the trainer
        if self.dist.world_size > 1:
            self._check_shards(n)
        self.rows: list[dict[str, Any]] = []
        self.cycle_summaries: list[dict[str, Any]] = []
        self._epoch_losses: list[float] = []

    def _check_shards(self, n: int) -> None:
        # Every rank needs at least one row of every global batch (an empty shard has no mean).
        world, bs = self.dist.world_size, self.cfg.batch_size
        sizes = {min(bs, n)} | ({n % bs} if n % bs else set())
        if min(sizes) < world:
            raise ValueError(
                f"batch_size must give every one of the {world} DDP ranks at least one row of every batch: "
                f"the smallest global batch of this dataset ({n} training rows, batch_size={bs}) has "
                f"{min(sizes)} rows; choose batch_size so that both batch_size and {n} mod batch_size "
                f"(when not 0) are >= {world}"
            )

    # ------------------------------------------------------------------------------------ building
    def _build_model(self) -> torch.nn.Module:
        from networks.models import build_model

        cfg = self.cfg
        kw: dict[str, Any] = {}
        if cfg.model == "mlp":
            kw["hidden"] = tuple(cfg.hidden)
        kw.update(self.model_options)
        gen = _cpu_generator(derive_seed(cfg.seed, "init"))
        if not self.method.masked:
            return build_model(
                cfg.model,
                in_shape=self.data.in_shape,
                num_classes=self.data.num_classes,
                masked=False,
                generator=gen,
                **kw,
            )
        return build_model(
            cfg.model,
            in_shape=self.data.in_shape,
            num_classes=self.data.num_classes,
            masked=True,
            density=self.method.initial_density(),
            mask_mode=self.method.mask_mode,
            weight_init=cfg.weight_init,
            score_init=cfg.score_init,
            generator=gen,
            **kw,
        )

    def new_optimizer(self) -> None:
        """A fresh optimizer (the method's, SGD by default) over its trainable parameters (None if none)."""
        params = self.method.trainable(self.ctx)
        if not params:
            self.optimizer = None
            return
        self.optimizer = self.method.make_optimizer(params)

    def current_masks(self) -> dict[str, torch.Tensor]:
        """The masks the next forward pass uses, by layer name."""
        return {k: layer.mask() for k, layer in self.layers.items()}

    def global_density(self) -> float:
        """Fraction of prunable weights kept by the current masks (1.0 for an unmasked model)."""
        if not self.layers:
            return 1.0
        masks = self.current_masks()
        return sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())

    def reset_tracker(self) -> None:
        """Start a Dying Ratio tracker from the current masks (the step-0 subnet counts as used)."""
        self.tracker = (
            DyingRatioTracker(self.current_masks()) if self.layers and self.method.tracks_dying else None
        )

    # --------------------------------------------------------------------------------- utilities
    def log(self, name: str, value: float) -> None:
        """Append one tidy metric row at the current step/epoch/cycle."""
        self.rows.append(
            {"step": self.step, "epoch": self.epoch, "cycle": self.cycle, "name": name, "value": float(value)}
        )

    def all_reduce_mean(self, tensors: Sequence[torch.Tensor]) -> None:
        """Average per-shard means in place across DDP ranks into global-batch means (no-op alone).

        Each rank's tensors are means over its shard of this step's global batch (a loss, its gradients,
        Hessian-vector products of it). Shards may differ by one row (the last batch of an epoch), so
        rank ``r`` contributes with weight ``R n_r / N`` (:attr:`shard_weight`; exactly 1 for equal
        shards): ``sum_r (n_r / N) mean_r`` is the mean over the global batch, as in one process.
        """
        if self.dist.world_size == 1 or not tensors:
            return
        import torch.distributed as tdist

        flat = torch.cat([t.reshape(-1) for t in tensors])
        if self.shard_weight != 1.0:
            flat *= self.shard_weight
        tdist.all_reduce(flat)
        flat /= self.dist.world_size
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def _sync_buffers(self) -> None:
        # BN running statistics only matter in eval mode; give every rank rank 0's before evaluating.
        if self.dist.world_size == 1:
            return
        import torch.distributed as tdist

        for b in self.model.buffers():
            if b.dtype.is_floating_point:
                tdist.broadcast(b, src=0)

    def evaluate(self, split: str = "test", batch_size: int = 1024) -> tuple[int, int, float]:
        """Correct count, total and mean cross-entropy on ``split`` ("test" or "train"), in eval mode."""
        from networks.evaluation import evaluate

        x, y = (
            (self.data.x_test, self.data.y_test)
            if split == "test"
            else (self.data.x_train, self.data.y_train)
        )
        self._sync_buffers()
        return evaluate(self.model, x, y, device=self.device, batch_size=batch_size)

    def lr_at(self, cycle: Cycle, step_in_cycle: int) -> float:
        """Learning rate at a step of a cycle (cosine restarts from the cycle's ``lr`` each cycle)."""
        if cycle.schedule == "constant":
            return cycle.lr
        total = cycle.epochs * self.steps_per_epoch
        return cycle.lr * 0.5 * (1.0 + math.cos(math.pi * step_in_cycle / total))

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        g = _cpu_generator(derive_seed(self.cfg.seed, "data", epoch))
        return torch.randperm(len(self.data.y_train), generator=g).to(self.device)

    # ------------------------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything a bit-identical resume needs (loadable with ``weights_only=True``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "toolkit": toolkit_version(),
            "architecture": self.architecture(),
            "config": config_to_dict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "scheduler": {"schedule": self.plan[min(self.cycle, len(self.plan) - 1)].schedule, "lr": self.lr},
            "method": self.method.state_dict(),
            "tracker": None if self.tracker is None else self.tracker.state_dict(),
            "position": {
                "step": self.step,
                "epoch": self.epoch,
                "cycle": self.cycle,
                "epoch_in_cycle": self.epoch_in_cycle,
                "batch_in_epoch": self.batch_in_epoch,
                "cycle_entered": self.cycle_entered,
            },
            "densities": {k: layer.density for k, layer in self.layers.items()},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "rows": self.rows,
            "cycle_summaries": self.cycle_summaries,
            "epoch_losses": self._epoch_losses,
        }

    def architecture(self) -> dict[str, list[int]]:
        """Shape of every tensor of the model's state_dict, by name (what a checkpoint must match)."""
        return {k: list(v.shape) for k, v in self.model.state_dict().items()}

    def refuse_foreign(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        """Refuse a checkpoint of another format, toolkit version, config or architecture.

        Args:
            state: What :meth:`state` returned when the checkpoint was written.
            source: How to name it in the message (its path).

        Raises:
            ValueError: Naming what differs, as ``field: checkpoint -> this run``.
        """
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{source}: checkpoint format {state.get('format')!r} is not {CHECKPOINT_FORMAT}; refusing "
                "to resume (move it away to start the run over)"
            )
        written = state.get("toolkit")
        if written is not None and written != toolkit_version():
            raise ValueError(
                f"{source} was written by another toolkit version; refusing to resume. Difference "
                f"(checkpoint -> this run): toolkit: {written!r} -> {toolkit_version()!r}"
            )
        saved = config_from_dict(TrainConfig, state["config"])
        if saved != self.cfg:
            raise ValueError(
                f"{source} was written by a different config; refusing to resume. Differences "
                "(checkpoint -> requested): " + "; ".join(config_diff(saved, self.cfg))
            )
        found = state.get("architecture")
        if found is None and isinstance(state.get("model"), dict):
            found = {k: list(v.shape) for k, v in state["model"].items() if isinstance(v, torch.Tensor)}
        if found is not None and found != self.architecture():
            here = self.architecture()
            diff = [
                f"{k}: {found.get(k)} -> {here.get(k)}"
                for k in sorted(set(found) | set(here))
                if found.get(k) != here.get(k)
            ]
            raise ValueError(
                f"{source} holds another architecture; refusing to resume. Differences (checkpoint -> "
                "this model): " + "; ".join(diff)
            )

    def read_checkpoint(self, path: Path) -> dict[str, Any] | None:
        """Read a checkpoint to resume from; None when there is none to trust (see the module docstring).

        Returns:
            The state for :meth:`load_state`, or None when the file is missing, or unreadable or not
            matching its digest (then moved aside with a one-line warning).

        Raises:
            ValueError: A file holding pickled code (refused by ``weights_only`` loading: nothing ran),
                or a checkpoint of another format, version, config or architecture (the differences).
            RecordError: Under ``--strict``, instead of moving a corrupt checkpoint aside.
        """
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            lines = [ln for ln in str(err).splitlines() if "Unpickler error:" in ln]
            detail = lines[0].split("error:", 1)[1].strip() if lines else " ".join(str(err).split())[:200]
            if "Unsupported global" in detail:
                raise ValueError(
                    f"{path} was refused: it holds pickled code, not only tensors and plain containers "
                    f"({detail.split('. ')[0]}); weights_only loading did not run it. The toolkit never "
                    "writes such a checkpoint: move the file away to start the run over"
                ) from None
            records.recover(records.RecordError(path, f"not a readable checkpoint ({detail})"))
            return None
        except (RuntimeError, EOFError, ValueError, OSError) as err:
            reason = " ".join(str(err).split())[:200]
            records.recover(records.RecordError(path, f"not a readable checkpoint ({reason})"))
            return None
        if not isinstance(state, dict) or "config" not in state or "model" not in state:
            records.recover(records.RecordError(path, "not a training checkpoint (no config/model)"))
            return None
        self.refuse_foreign(state, str(path))
        stamp = state.pop("integrity", None)
        if stamp is not None:
            digest = tensor_tree_digest(state)
            if not isinstance(stamp, dict) or stamp.get("schema") != CHECKPOINT_SCHEMA or (
                stamp.get("sha256") != digest
            ):
                reason = "content does not match its digest: changed after it was written"
                records.recover(records.RecordError(path, reason))
                return None
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` output (tensors are moved to this trainer's device).

        Raises:
            ValueError: For a checkpoint of another format, toolkit version, config or architecture.
        """
        self.refuse_foreign(state)
        self.model.load_state_dict(state["model"])
        pos = state["position"]
        self.step, self.epoch, self.cycle = pos["step"], pos["epoch"], pos["cycle"]
        self.epoch_in_cycle, self.batch_in_epoch = pos["epoch_in_cycle"], pos["batch_in_epoch"]
        self.cycle_entered = pos["cycle_entered"]
        self.method.load_state_dict(state["method"], self.device)
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.rows = list(state["rows"])
        self.cycle_summaries = list(state["cycle_summaries"])
        self._epoch_losses = list(state["epoch_losses"])
        self.lr = float(state["scheduler"]["lr"])
        if self.cycle < len(self.plan) and self.cycle_entered:
            self.method.configure_cycle(self.ctx, self.plan[self.cycle])
            self.new_optimizer()
            if self.optimizer is not None and state["optimizer"] is not None:
                self.optimizer.load_state_dict(state["optimizer"])
        for k, d in state["densities"].items():
            self.layers[k].density = d
        if state["tracker"] is not None:
            self.reset_tracker()
            if self.tracker is not None:
                self.tracker.load_state_dict(state["tracker"], self.device)

    def save_checkpoint(self, directory: Path) -> None:
        """Write ``checkpoint.pt`` and ``metrics.csv`` atomically (rank 0 only)."""
        if self.dist.rank != 0:
            return
        state = self.state()
        state["integrity"] = {"schema": CHECKPOINT_SCHEMA, "sha256": tensor_tree_digest(state)}
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(directory / "checkpoint.pt", buf.getvalue())
        atomic_write_csv(directory / "metrics.csv", self.rows, METRIC_FIELDS)

    # -------------------------------------------------------------------------------------- loop
    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        method, ctx = self.method, self.ctx
        self.batch = (x, y)
        method.before_step(ctx)
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        loss = _loss_fn(self.model(x), y)
        loss.backward()
        loss_t = loss.detach().reshape(1).clone()
        if self.dist.world_size > 1:
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            dense = [
                layer.dense_grad
                for layer in self.layers.values()
                if getattr(layer, "dense_grad", None) is not None
            ]
            self.all_reduce_mean([*grads, *dense, loss_t])
        loss_value = float(loss_t)
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"training loss is {loss_value} at step {self.step} (epoch {self.epoch}, "
                f"cycle {self.cycle}); "
                "stopped. The last good checkpoint is kept; lower --lr or check the data."
            )
        if self.tracker is not None:
            self.tracker.update({k: layer.weight_mask for k, layer in self.layers.items()})
        method.after_backward(ctx)
        if self.optimizer is not None and method.should_step_optimizer(ctx):
            self.optimizer.step()
        method.after_step(ctx)
        self.batch = None
        self._epoch_losses.append(loss_value)
        if self.step % self.cfg.log_every == 0:
            self.log("train_loss", loss_value)
            self.log("lr", self.lr)
            if self.tracker is not None:
                self.log("dying_ratio", self.tracker.dying_ratio())
                self.log("turnover", self.tracker.last_turnover)

    def _log_epoch(self) -> None:
        correct, total, loss = self.evaluate("test")
        self.log("test_loss", loss)
        self.log("test_correct", correct)
        self.log("test_total", total)
        self.log("test_acc", correct / total)
        self.log("density", self.global_density())
        if self._epoch_losses:
            self.log("train_loss_epoch", float(np.mean(self._epoch_losses)))
        self._epoch_losses = []
        if self.tracker is not None:
            self.log("dying_ratio", self.tracker.dying_ratio())
            for name, value in self.tracker.per_layer().items():
                self.log(f"dying_ratio/{name}", value)

    def _enter_cycle(self, cycle: Cycle) -> None:
        self.method.on_cycle_start(self.ctx, cycle)
        self.method.configure_cycle(self.ctx, cycle)
        self.new_optimizer()
        if self.tracker is None or self.method.reset_tracker_each_cycle:
            self.reset_tracker()
        self.cycle_entered = True

    def _finish_cycle(self, cycle: Cycle) -> None:
        correct, total, loss = self.evaluate("test")
        dying = None if self.tracker is None else self.tracker.dying_ratio()
        self.log("cycle_test_acc", correct / total)
        self.log("cycle_density", self.global_density())
        if dying is not None:
            self.log("cycle_dying_ratio", dying)
        self.cycle_summaries.append(
            {
                "cycle": cycle.index,
                "kind": cycle.kind,
                "density": self.global_density(),
                "target_density": cycle.density,
                "epochs": cycle.epochs,
                "lr": cycle.lr,
                "test_acc": correct / total,
                "test_correct": correct,
                "test_total": total,
                "test_loss": loss,
                "dying_ratio": dying,
                "end_step": self.step,
            }
        )
        self.method.on_cycle_end(self.ctx, cycle)

    def fit(self, directory: Path, *, stop_after_steps: int | None = None, checkpoint_every: int = 1) -> bool:
        """Train from the current position to the end; returns False if stopped by ``stop_after_steps``.

        A checkpoint is written every ``checkpoint_every`` epochs and after the last one (resuming replays
        the epochs since, bit-identically: each epoch's data order is a function of the seed and epoch).
        """
        cfg = self.cfg
        bar = progress(
            range(self.step, self.total_steps),
            total=self.total_steps - self.step,
            desc=f"{cfg.method} seed {cfg.seed}",
            quiet=self.quiet or self.dist.rank != 0,
        )
        for ci in range(self.cycle, len(self.plan)):
            cycle = self.plan[ci]
            self.cycle = ci
            if not self.cycle_entered:
                self._enter_cycle(cycle)
            for _ in range(self.epoch_in_cycle, cycle.epochs):
                order = self._epoch_order(self.epoch)
                for b in range(self.batch_in_epoch, self.steps_per_epoch):
                    idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                    if self.dist.world_size > 1:
                        full = len(idx)
                        idx = idx[self.dist.rank :: self.dist.world_size]
                        self.shard_weight = len(idx) * self.dist.world_size / full
                    step_in_cycle = (self.epoch_in_cycle * self.steps_per_epoch) + b
                    self.lr = self.lr_at(cycle, step_in_cycle)
                    if self.optimizer is not None:
                        for group in self.optimizer.param_groups:
                            group["lr"] = self.lr
                    self._train_step(self.data.x_train[idx], self.data.y_train[idx])
                    self.step += 1
                    self.batch_in_epoch = b + 1
                    next(bar, None)
                    if stop_after_steps is not None and self.step >= stop_after_steps:
                        self.save_checkpoint(directory)
                        return False
                self._log_epoch()
                self.epoch += 1
                self.epoch_in_cycle += 1
                self.batch_in_epoch = 0
                if self.epoch_in_cycle == cycle.epochs:
                    self._finish_cycle(cycle)
                    self.cycle = ci + 1
                    self.epoch_in_cycle = 0
                    self.cycle_entered = False
                if self.epoch % checkpoint_every == 0 or self.step >= self.total_steps:
                    self.save_checkpoint(directory)
        return True

    def final(self, wall_time: float) -> dict[str, Any]:
        """The ``final.json`` record of a finished run."""
        correct, total, loss = self.evaluate("test")
        out: dict[str, Any] = {
            "method": self.cfg.method,
            "model": self.cfg.model,
            "dataset": self.cfg.dataset,
            "seed": self.cfg.seed,
            "target_density": self.cfg.density,
            "test_acc": correct / total,
            "test_correct": correct,
            "test_total": total,
            "test_loss": loss,
            "density": self.global_density(),
            "dying_ratio": 0.0 if self.tracker is None else self.tracker.dying_ratio(),
            "dying_ratio_per_layer": {} if self.tracker is None else self.tracker.per_layer(),
            "steps": self.step,
            "epochs": self.epoch,
            "cycles": self.cycle_summaries,
            "world_size": self.dist.world_size,
            "device": str(self.device),
            "wall_time_s": wall_time,
        }
        out.update(self.method.summary(self.ctx))
        return out


def train(
    cfg: TrainConfig,
    runs_root: str | Path = "runs",
    *,
    experiment: str = "train",
    device: str | torch.device = "cpu",
    data_root: str | Path | None = None,
    quiet: bool = False,
    stop_after_steps: int | None = None,
    dist: DistInfo | None = None,
    checkpoint_every: int = 1,
    model: torch.nn.Module | None = None,
) -> TrainResult:
    """Train ``cfg`` in its run directory, resuming from a checkpoint there; skip if already done.

    Args:
        cfg: The config (validated here).
        runs_root: Root of the run tree.
        experiment: Experiment folder name (``runs/<experiment>/...``).
        device: "auto", "cpu", "cuda", "cuda:N" or a ``torch.device``.
        data_root: Dataset root (see ``networks.data.data_root``).
        quiet: No progress bar.
        stop_after_steps: Debug/preemption aid: stop once this many global steps are done, writing a
            checkpoint at that exact step (the same command later resumes there).
        dist: Data-parallel position (set by :mod:`networks.training.ddp`).
        checkpoint_every: Epochs between checkpoints (the last epoch always writes one); more saves
            less work to redo after an interruption, fewer save time on runs of many tiny epochs.
        model: A prebuilt model to train instead of ``build_model(cfg.model, ...)`` (its masked layers
            as built; ``cfg.model`` then only names it). The run directory is keyed by ``cfg`` alone, so
            the caller must keep one model per ``(runs_root, experiment, cfg)``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: Bad config values (naming the field), or a run directory / checkpoint holding a
            different config (listing the differences).
        TrainingDiverged: The loss became non-finite.
    """
    from networks.devices import resolve_device

    validate_config(cfg)
    resolve_device(device)  # a bad device fails now, even for a finished run
    dist = dist or DistInfo()
    check_int("checkpoint_every", checkpoint_every, 1)
    directory = run_path(runs_root, experiment, cfg)
    rundir = RunDir(directory, cfg)
    rundir.check_config()
    if rundir.done:
        return TrainResult(directory, "skipped", rundir.read_json("final.json"))
    if dist.rank == 0:
        # One writer per run: a second process gets RunInUse (or waits, --wait) before any work.
        rundir.lock()
    try:
        if rundir.done:  # finished by the process we waited for
            return TrainResult(directory, "skipped", rundir.read_json("final.json"))
        start = time.perf_counter()
        trainer = Trainer(cfg, device=device, data_root=data_root, quiet=quiet, dist=dist, model=model)
        state = trainer.read_checkpoint(directory / "checkpoint.pt")
        if state is not None:
            trainer.load_state(state)
        else:
            trainer.method.setup(trainer.ctx)
        rundir.open(write=dist.rank == 0, env={"device": str(trainer.device), "world_size": dist.world_size})
        resumed_at_end = trainer.step >= trainer.total_steps
        if not trainer.fit(directory, stop_after_steps=stop_after_steps, checkpoint_every=checkpoint_every):
            return TrainResult(directory, "stopped", None)
        if resumed_at_end and dist.rank == 0:
            # Killed between the last checkpoint and its metrics.csv: write the table from the checkpoint.
            atomic_write_csv(directory / "metrics.csv", trainer.rows, METRIC_FIELDS)
        final = trainer.final(time.perf_counter() - start)
        final["state_digests"] = state_digests(trainer)
        if dist.world_size > 1:
            final.update(_rank_agreement(trainer, final["state_digests"]))
        if dist.rank == 0:
            rundir.write_json("final.json", final)
            rundir.mark_done()
        return TrainResult(directory, "done", final)
    finally:
        rundir.release()


def state_parts(trainer: Trainer) -> dict[str, dict[str, torch.Tensor]]:
    """The end state of a run by part.

    ``scores``, ``weights`` (every other parameter), ``masks`` (the masks the next forward uses) and, with a
    tracker, ``dying`` (the Dying Ratio tracker's ever-selected masks).
    """
    params = dict(trainer.model.named_parameters())
    parts: dict[str, dict[str, torch.Tensor]] = {
        "scores": {k: v for k, v in params.items() if k.rsplit(".", 1)[-1] == "scores"},
        "weights": {k: v for k, v in params.items() if k.rsplit(".", 1)[-1] != "scores"},
        "masks": trainer.current_masks(),
    }
    if trainer.tracker is not None:
        parts["dying"] = dict(trainer.tracker.ever)
    return parts


def state_digests(trainer: Trainer) -> dict[str, str]:
    """SHA-256 of each part of :func:`state_parts` (names, dtypes, shapes and raw bytes).

    Equal digests mean bit-identical states, so runs (DDP ranks, resumed runs) compare from ``final.json``.
    """
    out = {}
    for part, tensors in state_parts(trainer).items():
        h = hashlib.sha256()
        for name in sorted(tensors):
            t = tensors[name].detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        out[part] = h.hexdigest()
    return out


def _rank_agreement(trainer: Trainer, digests: dict[str, str]) -> dict[str, Any]:
    """Gather every rank's :func:`state_digests` and compare them part by part (the DDP invariant)."""
    import torch.distributed as tdist

    gathered: list[Any] = [None] * trainer.dist.world_size
    tdist.all_gather_object(gathered, digests)
    same = {part: all(d.get(part) == gathered[0].get(part) for d in gathered) for part in digests}
    return {"ranks_identical": all(same.values()), "ranks_identical_parts": same, "rank_digests": gathered}
