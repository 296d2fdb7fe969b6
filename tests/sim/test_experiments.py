import dataclasses

import pytest

from sim.experiments import Experiment


@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int = 3


def _run(cfg, rundir, ctx):
    calls.append(cfg.n)
    rundir.write_json("values.json", {"values": list(ctx.executor.map(abs, range(-cfg.n, 0)))})


calls: list[int] = []


def test_execute_runs_once_then_reuses(tmp_path):
    exp = Experiment("toy", "a toy", Cfg, {"quick": Cfg(2), "full": Cfg(5)}, _run)
    calls.clear()
    first = exp.execute(scale="quick", runs_root=tmp_path)
    assert not first.reused and calls == [2]
    assert first.rundir.read_json("values.json") == {"values": [2, 1]}
    again = exp.execute(scale="default", runs_root=tmp_path)  # default falls back to quick
    assert again.reused and calls == [2]
    assert exp.preset("full", n=7) == Cfg(7)


def test_bad_experiments_are_refused():
    with pytest.raises(ValueError, match="presets must include"):
        Experiment("x", "x", Cfg, {"quick": Cfg()}, _run)
    with pytest.raises(ValueError, match="must be a Cfg"):
        Experiment("x", "x", Cfg, {"quick": Cfg(), "full": 3}, _run)
    with pytest.raises(ValueError, match="scale"):
        Experiment("x", "x", Cfg, {"quick": Cfg(), "full": Cfg(), "huge": Cfg()}, _run)


# --------------------------------------------------------------------------------------------------
# The registry: every producer of records is an experiment, with one preset mechanism.
# --------------------------------------------------------------------------------------------------
BUILTIN = {
    "rss-success",
    "rss-constant",
    "pssp-min-n",
    "rss-per-target",
    "xiong-thm1",
    "xiong-n90",
    "ep-vs-dense",
    "ep-dying",
    "ep-hparams",
    "iep",
    "iep-rewind",
    "pgd-ep",
    "rigl",
    "construct-width",
    "construct-targets",
    "taylor",
}


def _registry():
    from sim.experiments import load_experiments

    return load_experiments()


def test_every_producer_is_a_registered_experiment():
    assert BUILTIN <= set(_registry())


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_experiment_contract(name):
    import theory.claims  # noqa: F401  (registers the built-in claims)
    from sim.experiments import SCALES, claim_covers
    from theory.ledger import CLAIMS

    exp = _registry()[name]
    assert set(exp.presets) == set(SCALES)  # quick, default, full: config instances of its config class
    assert all(isinstance(cfg, exp.config) for cfg in exp.presets.values())
    assert exp.rundir(exp.preset("quick"), "r").path.parts[:2] == ("r", name)
    for evidence_id in exp.claims:  # each evidence id bears on a registered claim
        assert any(claim_covers(evidence_id, c) for c in CLAIMS), evidence_id
    no_claim = {"rss-per-target"}
    assert (exp.evidence is None) == (name in no_claim)


def test_claims_map_to_the_experiments_that_decide_them():
    from sim.experiments import experiments_for_claims

    _registry()
    assert experiments_for_claims(["iep-soft-beats-ep"]) == ["iep"]  # a two-part claim, by its id
    assert set(experiments_for_claims(["xiong-thm1-aistats"])) == {"xiong-thm1", "xiong-n90"}
    assert experiments_for_claims(["construction-certificate.accuracy"]) == ["construct-targets"]
    assert experiments_for_claims(["nobody-measures-this"]) == []


def test_a_different_config_in_the_same_directory_is_refused(tmp_path):
    exp = Experiment("toy-refuse", "a toy", Cfg, {"quick": Cfg(2), "full": Cfg(5)}, _run)
    rd = exp.rundir(Cfg(2), tmp_path).open()
    rd.write_json("config.json", {"experiment": "toy-refuse", "n": 9})  # an edited or colliding record
    with pytest.raises(ValueError, match=r"n: 9 -> 2"):
        exp.execute(Cfg(2), runs_root=tmp_path)
