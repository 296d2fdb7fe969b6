"""torchrun entry of ``test_training_ddp.py``: one process group, every config of a JSON file trained in turn.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/networks/ddp_driver.py SPEC ROOT

SPEC maps an experiment name to a ``TrainConfig`` dict; each is trained with ``networks.training.train`` on
every rank (``DistInfo(rank, world)``) under ``ROOT/<experiment>/``. One launch for all methods keeps the
torch start-up cost of the parametrised test to one process group.
"""

from __future__ import annotations

import json
import os
import sys

import torch.distributed as tdist

from networks.training import DistInfo, TrainConfig, train
from theory.plumbing.configs import config_from_dict


def main(spec_path: str, runs_root: str) -> int:
    specs = json.loads(open(spec_path).read())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    tdist.init_process_group(backend="gloo")
    try:
        for experiment, cfg in specs.items():
            cfg = config_from_dict(TrainConfig, cfg)
            train(cfg, runs_root, experiment=experiment, quiet=True, dist=DistInfo(rank, world))
            tdist.barrier()
    finally:
        tdist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
