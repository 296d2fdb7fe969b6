"""Contract and invariant tests of the mask-training methods (tiny MLPs on the 8x8 digits, CPU)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from networks.loss_change import marginal_scores
from networks.masks import bottom_count_mask, kept_count, top_count_mask
from networks.training import (
    TRAINING_METHODS,
    TrainConfig,
    Trainer,
    erk_densities,
    iep_densities,
    train,
    uniform_densities,
)

TINY = dict(model="mlp", dataset="digits", hidden=(24, 16), batch_size=256, epochs=1, log_every=1)


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY, **kw})


def started(cfg: TrainConfig) -> Trainer:
    tr = Trainer(cfg, device="cpu", quiet=True)
    tr.method.setup(tr.ctx)
    tr._enter_cycle(tr.plan[0])
    return tr


def batch(tr: Trainer, i: int, n: int = 128):
    g = torch.Generator().manual_seed(1000 + i)
    idx = torch.randperm(len(tr.data.y_train), generator=g)[:n]
    return tr.data.x_train[idx], tr.data.y_train[idx]


def step(tr: Trainer, i: int) -> None:
    tr.lr = tr.lr_at(tr.plan[tr.cycle], tr.step)
    if tr.optimizer is not None:
        for group in tr.optimizer.param_groups:
            group["lr"] = tr.lr
    tr._train_step(*batch(tr, i))
    tr.step += 1


def masks(tr: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in tr.current_masks().items()}


# ------------------------------------------------------------------------------------- contracts
@pytest.mark.parametrize("name", sorted(TRAINING_METHODS))
def test_every_method_trains_keeps_density_and_logs_dying_ratio(name, tmp_run_root):
    cfg = tiny(
        method=name,
        density=0.3,
        rigl_interval=2,
        iterand_period=2,
        pgd_eps=0.01,
        pgd_densities=(0.3,),
        iep_cycles=2,
        iep_budget="per_cycle",
    )
    res = train(cfg, tmp_run_root, quiet=True)
    final = res.final
    assert res.status == "done" and (res.run_dir / "DONE").exists()
    for f in ("config.json", "env.json", "metrics.csv", "final.json", "checkpoint.pt"):
        assert (res.run_dir / f).exists(), f
    assert 0 <= final["test_correct"] <= final["test_total"] == 360
    assert final["test_acc"] == final["test_correct"] / final["test_total"]
    tr = Trainer(cfg, device="cpu", quiet=True)
    tr.load_state(torch.load(res.run_dir / "checkpoint.pt", weights_only=True))
    if not TRAINING_METHODS[name].masked:
        assert final["density"] == 1.0 and final["dying_ratio"] == 0.0
        return
    if name in ("rigl", "rigl2", "set"):
        # Global budget met up to per-layer rounding; every layer at its exact count.
        total = sum(layer.weight.numel() for layer in tr.layers.values())
        assert abs(final["density"] - 0.3) <= len(tr.layers) / total
        for k, layer in tr.layers.items():
            d = final["layer_densities"][k]
            assert int(layer.mask().sum()) == kept_count(layer.weight.numel(), d)
    else:
        for layer in tr.layers.values():
            assert int(layer.mask().sum()) == kept_count(layer.weight.numel(), 0.3)
    rows = [
        r for r in res.run_dir.joinpath("metrics.csv").read_text().splitlines()[1:] if ",dying_ratio," in r
    ]
    assert rows, "dying ratio not logged"
    assert 0.0 <= final["dying_ratio"] <= 0.7 + 1e-12


def test_unknown_names_and_bad_values_are_refused(tmp_run_root):
    with pytest.raises(ValueError, match=r"valid|one of"):
        train(tiny(method="nope"), tmp_run_root)
    with pytest.raises(ValueError, match=r"density must be in \(0.0, 1.0\]"):
        train(tiny(density=0.0), tmp_run_root)
    with pytest.raises(ValueError, match="unknown model 'nope'; valid models"):
        train(tiny(model="nope"), tmp_run_root)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        train(tiny(dataset="nope"), tmp_run_root)
    with pytest.raises(ValueError, match="divisible"):
        train(tiny(method="iep", epochs=2, iep_cycles=3, iep_budget="total"), tmp_run_root)


def test_top_count_mask_exact_and_ties_to_lowest_index():
    s = torch.tensor([1.0, 3.0, 3.0, 3.0, -math.inf, 0.5])
    assert top_count_mask(s, 2).tolist() == [False, True, True, False, False, False]
    assert top_count_mask(s, 0).sum() == 0 and top_count_mask(s, 6).all()
    g = torch.Generator().manual_seed(0)
    for k in (1, 7, 50, 99):
        x = torch.randint(0, 5, (10, 10), generator=g).float()
        m = top_count_mask(x, k)
        assert int(m.sum()) == k and x[m].min() >= x[~m].max()
    with pytest.raises(ValueError, match="k must be in"):
        top_count_mask(s, 7)


# ----------------------------------------------------------------------------------- dying ratio
def test_dying_ratio_starts_at_sparsity_and_never_increases():
    tr = started(tiny(method="ep", density=0.25, lr=0.5))
    assert tr.tracker.dying_ratio() == pytest.approx(
        1
        - sum(kept_count(m.numel(), 0.25) for m in tr.current_masks().values())
        / sum(m.numel() for m in tr.current_masks().values())
    )
    seen = [tr.tracker.dying_ratio()]
    union = masks(tr)
    for i in range(8):
        step(tr, i)
        seen.append(tr.tracker.dying_ratio())
        for k, layer in tr.layers.items():
            union[k] |= layer.weight_mask
    assert all(b <= a for a, b in itertools.pairwise(seen))
    assert seen[-1] < seen[0], "scores never moved any mask"
    # Equals the brute-force union of the training masks.
    used = sum(int(u.sum()) for u in union.values())
    assert seen[-1] == pytest.approx(1 - used / sum(u.numel() for u in union.values()))


# ----------------------------------------------------------------------------------------- RigL
@pytest.mark.parametrize("power", [1.0, 0.5])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.9, 1.0])
def test_erk_solves_the_budget_and_never_exceeds_one(density, power):
    shapes = [(32, 1, 3, 3), (64, 32, 3, 3), (256, 4096), (10, 256)]
    d = erk_densities(shapes, density, power=power)
    sizes = [math.prod(s) for s in shapes]
    assert sum(di * n for di, n in zip(d, sizes, strict=True)) == pytest.approx(
        density * sum(sizes), rel=1e-12
    )
    assert all(0 < di <= 1.0 for di in d)
    # Layers not made dense keep ERK's proportionality d_l ~ (sum(shape)/prod(shape))**power.
    free = [(di, (sum(s) / math.prod(s)) ** power) for di, s in zip(d, shapes, strict=True) if di < 1]
    assert all(a / ra == pytest.approx(free[0][0] / free[0][1]) for a, ra in free)
    assert uniform_densities(shapes, density) == [density] * 4
    with pytest.raises(ValueError, match="density"):
        erk_densities(shapes, 0.0)


@pytest.mark.parametrize("name", ["rigl", "set", "rigl2"])
def test_rigl_updates_keep_nnz_zero_new_weights_and_momentum_and_skip_the_optimizer(name):
    tr = started(tiny(method=name, density=0.2, rigl_interval=3, rigl_end_fraction=1.0, epochs=4, lr=0.2))
    nnz = {k: int(m.sum()) for k, m in tr.current_masks().items()}
    updates = 0
    for i in range(10):
        before_w = {k: layer.weight.detach().clone() for k, layer in tr.layers.items()}
        before_m = masks(tr)
        will_update = tr.method.is_update_step(tr.ctx)
        step(tr, i)
        after_m = masks(tr)
        for k, layer in tr.layers.items():
            assert int(after_m[k].sum()) == nnz[k]
            new = after_m[k] & ~before_m[k]
            if will_update:
                assert torch.equal(layer.weight[new], torch.zeros_like(layer.weight[new]))
                buf = tr.optimizer.state[layer.weight]["momentum_buffer"]
                assert torch.equal(buf[new], torch.zeros_like(buf[new]))
                kept = after_m[k] & before_m[k]
                assert torch.equal(layer.weight[kept], before_w[k][kept]), "optimizer stepped on an update"
            else:
                assert not new.any()
                assert not torch.equal(layer.weight, before_w[k])
        if will_update:
            updates += 1
            assert any(not torch.equal(after_m[k], before_m[k]) for k in after_m)
    assert updates == 3  # steps 3, 6, 9


def test_rigl_grows_by_dense_gradient_and_set_by_chance():
    tr = started(tiny(method="rigl", density=0.2, rigl_interval=1, rigl_end_fraction=1.0, epochs=4))
    step(tr, 0)  # step 0: no update, a normal step
    layer_name, layer = next(iter(tr.layers.items()))
    old = masks(tr)[layer_name]
    tr.step = 1
    x, y = batch(tr, 1)
    tr.model.zero_grad()
    torch.nn.functional.cross_entropy(tr.model(x), y).backward()
    g = layer.dense_grad.clone()
    w = layer.weight.detach().clone()
    tr.batch = (x, y)
    tr.method.after_backward(tr.ctx)
    new = layer.weight_mask
    n_prune = int(tr.method.update_fraction(tr.ctx) * int(old.sum()))
    survivors = top_count_mask(torch.where(old, w.abs(), torch.tensor(-math.inf)), int(old.sum()) - n_prune)
    grown = top_count_mask(torch.where(survivors, torch.tensor(-math.inf), g.abs()), n_prune)
    assert torch.equal(new, survivors | grown)
    assert g[grown].abs().min() >= g[~survivors & ~grown].abs().max()


# ------------------------------------------------------------------------------ second-order RigL
def test_marginal_scores_are_exact_marginals_of_a_quadratic():
    torch.manual_seed(0)
    n = 6
    a = torch.randn(n, n, dtype=torch.float64)
    h_full = a @ a.T
    g = torch.randn(n, dtype=torch.float64)
    v = torch.randn(n, dtype=torch.float64)
    s_set = torch.tensor([True, False, True, False, False, True])

    def dl(sel):
        vs = torch.where(sel, v, torch.zeros_like(v))
        return g @ vs + 0.5 * vs @ h_full @ vs

    u = h_full @ torch.where(s_set, v, torch.zeros_like(v))
    s = marginal_scores(g, v, u, s_set, torch.diagonal(h_full))
    for i in range(n):
        other = s_set.clone()
        other[i] = ~other[i]
        expect = dl(s_set) - dl(other) if s_set[i] else dl(other) - dl(s_set)
        assert float(s[i]) == pytest.approx(float(expect), abs=1e-10)


def test_second_order_rigl_uses_hvp_and_matches_an_explicit_hessian(monkeypatch):
    from networks import hvp as hvp_mod

    calls = []
    real = hvp_mod.loss_grad_hvp

    def counting(*a, **kw):
        calls.append(len(a[2]) if len(a) > 2 else len(kw.get("vectors", ())))
        return real(*a, **kw)

    monkeypatch.setattr(hvp_mod, "loss_grad_hvp", counting)
    cfg = tiny(
        method="rigl2",
        density=0.3,
        rigl_interval=1,
        rigl_end_fraction=1.0,
        hidden=(6,),
        rigl2_hvps=1,
        rigl2_pool=2.0,
        epochs=4,
    )
    tr = started(cfg)
    for layer in tr.layers.values():
        layer.to(torch.float64)
    tr.data = tr.data.__class__(**{**tr.data.__dict__, "x_train": tr.data.x_train.double()})
    step(tr, 0)
    tr.step = 1
    x, y = batch(tr, 1, 64)
    tr.model.zero_grad()
    torch.nn.functional.cross_entropy(tr.model(x), y).backward()
    old = masks(tr)
    ws = {k: layer.weight.detach().clone() for k, layer in tr.layers.items()}
    gs = {k: layer.dense_grad.clone() for k, layer in tr.layers.items()}
    eta = tr.lr
    tr.batch = (x, y)
    tr.method.after_backward(tr.ctx)
    assert calls == [1]
    # Explicit Hessian of the loss w.r.t. all effective weights jointly.
    names = list(tr.layers)
    shapes = [ws[k].shape for k in names]
    sizes = [ws[k].numel() for k in names]

    def loss_of(flat):
        parts = torch.split(flat, sizes)
        h = x.reshape(len(x), -1)
        for i, (p, shp) in enumerate(zip(parts, shapes, strict=True)):
            h = h @ p.reshape(shp).T
            if i < len(parts) - 1:
                h = torch.relu(h)
        return torch.nn.functional.cross_entropy(h, y)

    w_eff = torch.cat([(ws[k] * old[k]).reshape(-1) for k in names])
    hess = torch.autograd.functional.hessian(loss_of, w_eff)
    g = torch.cat([gs[k].reshape(-1) for k in names])
    w = torch.cat([ws[k].reshape(-1) for k in names])
    o = torch.cat([old[k].reshape(-1) for k in names])
    alpha = tr.method.update_fraction(tr.ctx)
    d0, g0, dpool, gpool, ns = [], [], [], [], []
    for k in names:
        n = min(int(alpha * int(old[k].sum())), old[k].numel() - int(old[k].sum()))
        ns.append(n)
        dk = torch.where(old[k], -ws[k].abs(), torch.tensor(-math.inf, dtype=torch.float64))
        gk = torch.where(old[k], torch.tensor(-math.inf, dtype=torch.float64), gs[k].abs())
        d0.append(top_count_mask(dk, n).reshape(-1))
        g0.append(top_count_mask(gk, n).reshape(-1))
        dpool.append(top_count_mask(dk, min(math.ceil(2.0 * n), int(old[k].sum()))).reshape(-1))
        gpool.append(
            top_count_mask(gk, min(math.ceil(2.0 * n), old[k].numel() - int(old[k].sum()))).reshape(-1)
        )
    d0, g0 = torch.cat(d0), torch.cat(g0)
    v = torch.where(d0, -w, 0.0) + torch.where(g0, -eta * g, 0.0)
    u = hess @ v
    s_drop = g * (-w) + (-w) * u
    s_grow = g * (-eta * g) + (-eta * g) * u
    offset = 0
    for k, n, dp, gp in zip(names, ns, dpool, gpool, strict=True):
        sl = slice(offset, offset + sizes[names.index(k)])
        offset = sl.stop
        drop = top_count_mask(torch.where(dp, -s_drop[sl], torch.tensor(-math.inf, dtype=torch.float64)), n)
        grow = top_count_mask(torch.where(gp, -s_grow[sl], torch.tensor(-math.inf, dtype=torch.float64)), n)
        expect = (o[sl] & ~drop) | grow
        assert torch.equal(tr.layers[k].weight_mask.reshape(-1), expect), k
        assert int(expect.sum()) == int(o[sl].sum())


# ------------------------------------------------------------------------------------------ iEP
def test_iep_cycle_densities_are_geometric():
    d = iep_densities(0.1, 4)
    assert d[-1] == 0.1
    ratios = [b / a for a, b in zip([1.0, *d], d, strict=False)]
    assert all(r == pytest.approx(0.1**0.25) for r in ratios)
    tr = Trainer(tiny(method="iep", density=0.1, iep_cycles=4), device="cpu", quiet=True)
    assert [c.density for c in tr.plan] == d
    assert [c.epochs for c in tr.plan] == [1] * 4
    tr2 = Trainer(tiny(method="iep", epochs=4, iep_cycles=2, iep_budget="total"), device="cpu", quiet=True)
    assert [c.epochs for c in tr2.plan] == [2, 2]


@pytest.mark.parametrize("rewind", ["lr_rewind", "finetune", "score_rewind", "score_reinit"])
def test_hard_iep_searches_only_inside_the_previous_mask(rewind, tmp_run_root):
    cfg = tiny(method="iep", iep_mode="hard", iep_cycles=3, density=0.2, lr=0.5, iep_rewind=rewind)
    tr = started(cfg)
    prev = None
    for c, cycle in enumerate(tr.plan):
        if c > 0:
            tr.method.on_cycle_end(tr.ctx, tr.plan[c - 1])
            tr.cycle = c
            tr._enter_cycle(cycle)
        for i in range(4):
            step(tr, 10 * c + i)
            m = masks(tr)
            if prev is not None:
                for k in m:
                    assert not (m[k] & ~prev[k]).any(), f"cycle {c} left the previous mask"
                    assert int(m[k].sum()) == kept_count(m[k].numel(), cycle.density)
        prev = m


def test_soft_iep_can_revive_pruned_edges_and_rewinds(tmp_run_root):
    res = train(tiny(method="iep", iep_cycles=2, density=0.2, lr=1.0, epochs=2), tmp_run_root, quiet=True)
    cyc = res.final["cycles"]
    assert [c["target_density"] for c in cyc] == pytest.approx([0.2**0.5, 0.2])
    # Learning rate rewound: the first logged lr of each cycle equals the base lr.
    from theory.plumbing.records import read_csv

    rows = read_csv(res.run_dir / "metrics.csv")
    first_lr = {}
    for r in rows:
        if r["name"] == "lr":
            first_lr.setdefault(r["cycle"], float(r["value"]))
    assert first_lr == {"0": 1.0, "1": 1.0}
    dying = [c["dying_ratio"] for c in cyc]
    assert dying[1] <= dying[0]


def test_score_rewind_and_reinit_change_scores_as_documented():
    for rewind in ("score_rewind", "score_reinit"):
        tr = started(tiny(method="iep", iep_cycles=2, iep_rewind=rewind, lr=0.5))
        init = {k: layer.scores.detach().clone() for k, layer in tr.layers.items()}
        for i in range(3):
            step(tr, i)
        tr.method.on_cycle_end(tr.ctx, tr.plan[0])
        tr.cycle = 1
        tr._enter_cycle(tr.plan[1])
        same = all(torch.equal(layer.scores, init[k]) for k, layer in tr.layers.items())
        assert same == (rewind == "score_rewind")


# -------------------------------------------------------------------------------------- IteRand
def test_iterand_redraws_only_pruned_weights():
    tr = started(
        tiny(
            method="iterand", iterand_period=2, iterand_lambda=0.5, density=0.3, weight_init="kaiming_normal"
        )
    )
    step(tr, 0)
    step(tr, 1)
    before = {k: layer.weight.detach().clone() for k, layer in tr.layers.items()}
    kept = masks(tr)
    tr.batch = batch(tr, 2)
    tr.method.before_step(tr.ctx)  # step 2: re-randomise
    changed_any = False
    for k, layer in tr.layers.items():
        assert torch.equal(layer.weight[kept[k]], before[k][kept[k]])
        changed = layer.weight != before[k]
        changed_any |= bool(changed.any())
        frac = float(changed[~kept[k]].double().mean())
        assert abs(frac - 0.5) < 0.1  # Bernoulli(0.5) over >= 448 pruned weights: 0.1 is > 4 sd
    assert changed_any


def test_iterand_lambda_zero_is_ep(tmp_run_root):
    ep = train(tiny(method="ep"), tmp_run_root, quiet=True).final
    it = train(tiny(method="iterand", iterand_lambda=0.0, iterand_period=1), tmp_run_root, quiet=True).final
    assert ep["test_correct"] == it["test_correct"] and ep["test_loss"] == it["test_loss"]


# ---------------------------------------------------------------------------------------- PGD+EP
def test_pgd_perturbation_stays_within_eps_and_grid_is_recorded(tmp_run_root):
    eps = 0.003
    cfg = tiny(method="pgd_ep", pgd_eps=eps, pgd_lr=0.5, pgd_epochs=2, pgd_densities=(0.5, 0.2))
    res = train(cfg, tmp_run_root, quiet=True)
    tr = Trainer(cfg, device="cpu", quiet=True)
    tr.load_state(torch.load(res.run_dir / "checkpoint.pt", weights_only=True))
    for k, layer in tr.layers.items():
        # The projection is exact in the weights' dtype (float32(eps) is the bound there).
        assert tr.method.state.delta[k].abs().max() <= torch.tensor(eps, dtype=torch.float32)
        assert torch.equal(layer.weight, tr.method.state.w0[k] + tr.method.state.delta[k])
        delta = tr.method.state.delta[k]
        assert float(delta.abs().max()) >= 0.5 * eps  # the steps did move the weights
    grid = res.final["grid"]
    assert [p["density"] for p in grid] == [0.5, 0.2]
    best = min(grid, key=lambda p: (p["train_loss"], -p["cycle"]))
    assert res.final["selected_density"] == best["density"]
    assert res.final["density"] == pytest.approx(best["density"], abs=0.01)


# --------------------------------------------------------------------------------- fast selection
@pytest.mark.parametrize("density", [0.01, 0.3, 0.5, 0.97])
def test_topk_mask_on_large_tied_tensors_equals_a_stable_sort(density):
    from networks.masks import topk_mask

    g = torch.Generator().manual_seed(3)
    cases = [
        torch.randn(300, 400, generator=g),
        torch.randint(0, 7, (70000,), generator=g).float(),  # heavy ties
        torch.sort(torch.randn(70000, generator=g)).values,  # sorted: strided sample still brackets
        torch.full((66000,), 2.0),  # all tied: ties to the lowest index
    ]
    for x in cases:
        k = kept_count(x.numel(), density)
        # Oracle: a stable descending sort puts ties in index order, so its first k are the lowest indices.
        order = np.argsort(-x.reshape(-1).numpy(), kind="stable")[:k]
        expected = np.zeros(x.numel(), dtype=bool)
        expected[order] = True
        assert np.array_equal(topk_mask(x, density).reshape(-1).numpy(), expected)


def test_bottom_count_mask_takes_the_smallest_eligible_with_ties_to_the_lowest_index():
    s = torch.tensor([3.0, 1.0, 1.0, 0.5, 1.0, -2.0])
    eligible = torch.tensor([True, True, True, True, True, False])
    assert bottom_count_mask(s, 2, eligible).tolist() == [False, True, False, True, False, False]
    assert bottom_count_mask(s, 2).tolist() == [False, False, False, True, False, True]
    assert bottom_count_mask(s, 0, eligible).sum() == 0


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["ep", "rigl2", "iterand"])
def test_cuda_run_matches_cpu_initialisation_and_trains(name, tmp_path):
    cfg = tiny(method=name, rigl_interval=2, iterand_period=2)
    cpu = Trainer(cfg, device="cpu", quiet=True)
    gpu = Trainer(cfg, device="cuda", quiet=True)
    for (k, a), b in zip(cpu.model.state_dict().items(), gpu.model.state_dict().values(), strict=True):
        assert torch.equal(a, b.cpu()), k  # same seed, same network on every device
    res = train(cfg, tmp_path, device="cuda", quiet=True)
    ref = train(cfg, tmp_path / "cpu", device="cpu", quiet=True)
    assert res.final["device"].startswith("cuda")
    assert abs(res.final["test_acc"] - ref.final["test_acc"]) <= 0.05


# ------------------------------------------------------------------------------- adding a method
TOY_METHOD = '''
"""A toy method: Edge-Popup whose scores shrink by a factor after every optimizer step."""

import dataclasses
from typing import ClassVar

from networks.training.base import Method, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_range


@dataclasses.dataclass(frozen=True)
class ToyParams:
    prefix: ClassVar[str] = "toy_"
    shrink: float = help_field(1.0, "toy: multiply the scores by this after every step")

    def __post_init__(self):
        check_range("toy_shrink", self.shrink, 0.0, 1.0, lo_open=True)


@dataclasses.dataclass
class ToyState:
    shrinks: int = 0


@register_method("toy")
class Toy(Method):
    Params = ToyParams
    State = ToyState

    def after_step(self, ctx):
        import torch

        with torch.no_grad():
            for layer in ctx.layers.values():
                layer.scores.mul_(self.params.shrink)
        self.state.shrinks += 1

    def summary(self, ctx):
        return {"toy_shrinks": self.state.shrinks}
'''

TOY_DRIVER = """
import argparse, json, sys
sys.path.insert(0, sys.argv[1])
import toy_method  # the registration: imported before networks.training.config generates TrainConfig

from networks.training import TRAINING_METHODS, TrainConfig, train
from theory.plumbing.configs import add_config_arguments

tiny = dict(model="mlp", dataset="digits", hidden=(24, 16), batch_size=256, epochs=2, log_every=1)
cfg = TrainConfig(method="toy", toy_shrink=0.5, **tiny)
parser = argparse.ArgumentParser()
add_config_arguments(parser, TrainConfig)
try:
    train(TrainConfig(method="toy", toy_shrink=0.0, **tiny), sys.argv[2], quiet=True)
    bad = None
except ValueError as err:
    bad = str(err)
stopped = train(cfg, sys.argv[2], quiet=True, stop_after_steps=3)
resumed = train(cfg, sys.argv[2], quiet=True)
straight = train(cfg, sys.argv[2] + "/straight", quiet=True)
print(json.dumps({
    "registered": "toy" in TRAINING_METHODS,
    "flag": "--toy-shrink" in parser.format_help(),
    "bad": bad,
    "stopped": stopped.status,
    "shrinks": resumed.final["toy_shrinks"],
    "steps": resumed.final["steps"],
    "same": resumed.final["state_digests"] == straight.final["state_digests"],
}))
"""


def test_adding_a_method_is_one_file_plus_its_registration(tmp_path):
    # One new file (params, state, hooks) and its registration (an import before TrainConfig is used)
    # give the flag, config validation, training and a bit-identical resume with the method's own state.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "toy_method.py").write_text(TOY_METHOD)
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", TOY_DRIVER, str(tmp_path), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["registered"] and res["flag"]
    assert res["bad"] is not None and "toy_shrink" in res["bad"]
    assert res["stopped"] == "stopped"
    assert res["shrinks"] == res["steps"] > 3  # the state counted every step across the resume
    assert res["same"]


def test_a_method_with_params_registered_after_trainconfig_exists_is_refused():
    import dataclasses
    from typing import ClassVar

    from networks.training.base import Method, register_method

    @dataclasses.dataclass(frozen=True)
    class LateParams:
        prefix: ClassVar[str] = "late_"
        knob: int = 1

    class Late(Method):
        Params = LateParams

    with pytest.raises(ValueError, match="after TrainConfig was generated"):
        register_method("late")(Late)
    assert "late" not in TRAINING_METHODS


def test_method_params_validate_themselves_and_map_to_the_flat_fields():
    from networks.training.base import flat_fields
    from networks.training.iterand import IteRandParams
    from networks.training.second_order_rigl import RigL2Params

    assert flat_fields(IteRandParams) == {"lambda_": "iterand_lambda", "period": "iterand_period"}
    flat = flat_fields(RigL2Params)
    assert flat["alpha"] == "rigl_alpha" and flat["pool"] == "rigl2_pool"  # inherited: parent prefix
    with pytest.raises(ValueError, match="rigl2_hvps"):
        RigL2Params(hvps=3)
    from networks.training import validate_config

    with pytest.raises(ValueError, match="iep_cycles"):
        validate_config(tiny(method="ep", iep_cycles=0))  # every method's params are checked
    m = TRAINING_METHODS["iep"](tiny(method="iep", iep_cycles=4, iep_mode="hard"))
    assert (m.params.cycles, m.params.mode) == (4, "hard")
