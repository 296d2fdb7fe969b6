"""Data-parallel training with ``torch.distributed`` (torchrun-compatible entry point).

Launch (CPU, gloo backend; NCCL is used when the device is CUDA)::

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m networks.training.ddp \
        --method ep --model mlp --dataset mnist1d --density 0.5 --runs-root runs

or ``slth train --ddp --nproc 2 ...``, which runs exactly that command. Every rank builds the same model
from the same seed and walks the same global batch order (a pure function of seed and epoch); rank ``r``
of ``R`` takes rows ``r::R`` of each global batch. After backward the gradients of the trainable tensors
(scores, RigL's weights, PGD+EP's weights before the projection), the captured dense gradients (RigL) and
any Hessian-vector products (second-order RigL) are combined with ``all_reduce``, each rank's shard mean
weighted by its share of the global batch (``Trainer.all_reduce_mean``), so the result is the global-batch
mean also when the last batch of an epoch splits unevenly. Every rank then applies the same update and
computes the same top-k masks from identical scores; method randomness (IteRand, SET, Hutchinson probes)
comes from identically seeded generators. BatchNorm running statistics (which only matter in eval mode)
are broadcast from rank 0 before every evaluation; in training mode each rank normalises with its own
shard's batch statistics, so models with BatchNorm (``resnet18``) do NOT reproduce a single process.

Rank 0 alone writes the run directory; ``final.json`` records ``world_size``, every rank's
``state_digests`` (SHA-256 of its scores, weights, masks and Dying Ratio tracker) and ``ranks_identical``
(all ranks bit-identical, per part in ``ranks_identical_parts``). Results match single-process training up
to floating-point summation order: ``tests/networks/test_training_ddp.py`` runs every registered method
on 2 gloo processes and finds masks and Dying Ratios bit-identical to one process, scores and weights
within 1e-6. Every batch must give every rank at least one row (checked at start).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``slth train`` flags, join the process group set up by torchrun, train, leave the group."""
    import torch
    import torch.distributed as tdist

    from networks.cli import add_train_arguments, train_config_from_args
    from networks.training.trainer import DistInfo, train

    parser = argparse.ArgumentParser(
        prog="python -m networks.training.ddp", description=__doc__.splitlines()[0]
    )
    add_train_arguments(parser, ddp=False)
    args = parser.parse_args(argv)
    cfg = train_config_from_args(args)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise SystemExit("networks.training.ddp must be launched by torchrun / torch.distributed.run")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = args.device
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
    try:
        result = train(
            cfg,
            args.runs_root,
            experiment=args.experiment,
            device=device if use_cuda else "cpu",
            data_root=args.data_root,
            quiet=bool(getattr(args, "quiet", False)),
            stop_after_steps=args.stop_after_steps,
            dist=DistInfo(rank, world),
        )
        tdist.barrier()
    finally:
        tdist.destroy_process_group()
    if rank == 0:
        final = result.final or {}
        print(
            f"{result.status}: {result.run_dir} test_acc={final.get('test_acc')} "
            f"ranks_identical={final.get('ranks_identical')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
