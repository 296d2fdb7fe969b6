"""Experiments: one abstraction for every producer of records (sweeps, training, Taylor, constructions).

An :class:`Experiment` is a frozen dataclass that says everything the toolkit needs to run it, resume it,
draw from it and judge the claims it bears on:

* ``name``: the registry key, the run directory's name (``runs/<name>/<config hash>/``) and the CLI name
  (``slth run NAME``);
* ``config``: its frozen dataclass config class (CLI flags, ``config.json`` and the hash derive from it);
* ``presets``: named scales, each a config instance (``quick``, ``default``, ``full``);
* ``run(config, rundir, context)``: writes the experiment's records into ``rundir`` and resumes from
  whatever an interrupted call left there (finished cells, checkpoints);
* ``evidence(rundir)``: reads the records back and returns, per evidence id, the pre-registered rule
  (:mod:`theory.rules`) and the raw data it decides on; :meth:`Experiment.execute` writes them with
  :func:`theory.ledger.write_evidence`, so the verdict always comes from the current rule;
* ``claims``: the evidence ids it writes (a claim id, or ``<claim>.<part>``).

Experiments are registered in :data:`EXPERIMENTS` with :func:`register_experiment`, by the module that
defines them, on import. :func:`load_experiments` imports every module of the ``sim`` package once, so a
new experiment is found wherever in ``sim`` it is defined (one file, no list to edit);
:func:`experiments_for_claims` maps claim ids to the experiments whose evidence decides them.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.plumbing.records import read_json
from theory.plumbing.rundir import RunDir
from theory.registry import lookup, register
from theory.validate import check_choice

#: Scale names, smallest first. ``default`` is what ``slth reproduce`` runs without ``--scale``.
SCALES = ("quick", "default", "full")


@dataclasses.dataclass(frozen=True)
class Context:
    """What an experiment's ``run`` may use besides its config and run directory.

    Attributes:
        runs_root: The run root (evidence goes to ``<runs_root>/evidence``).
        executor: An open executor (:func:`sim.executors.get_executor`) for independent work items.
        quiet: No progress output when True.
        device: The torch device for experiments that train or evaluate networks.
    """

    runs_root: Path
    executor: Any
    quiet: bool = True
    device: str = "cpu"


@dataclasses.dataclass(frozen=True)
class ExperimentResult:
    """What :meth:`Experiment.execute` did.

    Attributes:
        name: The experiment.
        rundir: Its run directory.
        reused: True when the run was already done (nothing recomputed).
        verdicts: ``{evidence_id: verdict}`` written to the ledger.
        output: Whatever ``run`` returned (None when reused).
    """

    name: str
    rundir: RunDir
    reused: bool
    verdicts: Mapping[str, str]
    output: Any = None


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment (see the module docstring).

    Attributes:
        name: Registry key and run directory name.
        description: One line for ``--help`` and ``slth reproduce``.
        config: The frozen dataclass config class.
        presets: ``{scale: config instance}``; ``quick`` and ``full`` are required, ``default`` falls
            back to ``quick``.
        run: ``run(config, rundir, context) -> Any``; must resume.
        evidence: ``evidence(rundir) -> {evidence_id: (rule_id, details)}``, or None for an experiment
            that bears on no claim.
        claims: The evidence ids ``evidence`` returns.
    """

    name: str
    description: str
    config: type
    presets: Mapping[str, Any]
    run: Callable[[Any, RunDir, Context], Any]
    evidence: Callable[[RunDir], Mapping[str, tuple[str, Mapping[str, Any]]]] | None = None
    claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config) or not self.config.__dataclass_params__.frozen:
            raise ValueError(f"experiment {self.name!r}: config must be a frozen dataclass class")
        missing = [s for s in ("quick", "full") if s not in self.presets]
        if missing:
            raise ValueError(f"experiment {self.name!r}: presets must include {missing}")
        for scale, cfg in self.presets.items():
            check_choice("scale", scale, SCALES)
            if not isinstance(cfg, self.config):
                raise ValueError(
                    f"experiment {self.name!r}: preset {scale!r} must be a {self.config.__name__}, "
                    f"got {type(cfg).__name__}"
                )
        object.__setattr__(self, "presets", dict(self.presets))
        object.__setattr__(self, "claims", tuple(self.claims))

    def preset(self, scale: str = "default", **overrides: Any) -> Any:
        """The config at ``scale`` (``default`` falls back to ``quick``) with ``overrides`` applied."""
        check_choice("scale", scale, SCALES)
        base = self.presets.get(scale) or self.presets["quick"]
        return dataclasses.replace(base, **overrides) if overrides else base

    def rundir(self, config: Any, runs_root: str | Path = "runs") -> RunDir:
        """The run directory of ``config``: ``<runs_root>/<name>/<config hash>/``."""
        if not isinstance(config, self.config):
            raise ValueError(f"config must be a {self.config.__name__}, got {type(config).__name__}")
        return RunDir.for_config(runs_root, self.name, config, extra={"experiment": self.name})

    def execute(
        self,
        config: Any = None,
        *,
        scale: str = "default",
        runs_root: str | Path = "runs",
        executor: Any = "inprocess",
        workers: int | None = None,
        quiet: bool = True,
        device: str = "cpu",
    ) -> ExperimentResult:
        """Run (or reuse) the experiment, then write its evidence.

        Args:
            config: A config instance; None takes the preset of ``scale``.
            scale: Preset name when ``config`` is None.
            runs_root: The run root.
            executor: An executor name (``inprocess`` by default: safe from plain scripts, standard input
                and notebooks) or an open executor object.
            workers: Workers for a named executor.
            quiet: No progress output.
            device: Torch device for experiments that use one.

        Returns:
            An :class:`ExperimentResult`.
        """
        from sim.executors import get_executor
        from theory.ledger import write_evidence

        cfg = self.preset(scale) if config is None else config
        rundir = self.rundir(cfg, runs_root)
        output = None
        rundir.open()  # takes the run's lock: a second process gets RunInUse (or waits, --wait)
        reused = rundir.done  # read under the lock: the process we waited for may have finished it
        if not reused:
            own = isinstance(executor, str)
            ex = get_executor(executor, workers) if own else executor
            try:
                ctx = Context(Path(runs_root), ex, quiet=quiet, device=device)
                output = self.run(cfg, rundir, ctx)
            finally:
                if own:
                    ex.close()
            rundir.mark_done()
        verdicts: dict[str, str] = {}
        if self.evidence is not None:
            for evidence_id, (rule_id, details) in self.evidence(rundir).items():
                path = write_evidence(
                    runs_root, evidence_id, run=str(rundir.path), details=details, rule_id=rule_id
                )
                verdicts[evidence_id] = read_json(path)["verdict"]
        return ExperimentResult(self.name, rundir, reused, verdicts, output)


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to :data:`EXPERIMENTS` (refuses a duplicate name)."""
    if not isinstance(experiment, Experiment):
        raise ValueError(f"experiment must be a sim.experiments.Experiment, got {type(experiment).__name__}")
    return register(EXPERIMENTS, "experiment", experiment.name, experiment)


def get_experiment(name: str) -> Experiment:
    """Look up an experiment (loading the built-in ones first if needed); the error lists the valid names."""
    if name not in EXPERIMENTS:
        load_experiments()
    return lookup(EXPERIMENTS, "experiment", name)


def load_experiments() -> dict[str, Experiment]:
    """Import every module of the ``sim`` package (registering its experiments) and return the registry.

    Idempotent: a module already imported is not re-executed. An import error propagates: a broken
    experiment module is an interface break, never a silently missing experiment.
    """
    import sim

    for info in pkgutil.walk_packages(sim.__path__, prefix="sim."):
        importlib.import_module(info.name)
    return EXPERIMENTS


def claim_covers(evidence_id: str, claim: str) -> bool:
    """Whether ``evidence_id`` (a claim id or ``<claim>.<part>``) bears on ``claim`` (either form)."""
    return evidence_id == claim or evidence_id.startswith(claim + ".") or claim.startswith(evidence_id + ".")


def experiments_for_claims(claims: Iterable[str]) -> list[str]:
    """Names of the registered experiments whose evidence bears on any of ``claims`` (registry order)."""
    wanted = list(claims)
    return [
        name
        for name, exp in EXPERIMENTS.items()
        if any(claim_covers(e, c) for e in exp.claims for c in wanted)
    ]
