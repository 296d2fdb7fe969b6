"""Bounds in theory.bounds: hand-computed values, shapes (hypothesis), validation, the registry."""

from __future__ import annotations

import inspect
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from theory import bounds as B

eps_st = st.floats(1e-6, 0.5)
pert_st = st.floats(0.0, 2.9)


# --------------------------------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------------------------------
def test_xiong_thm1_reference_value():
    # reference theory.md §5: n=20, eps=0, K=2 -> exp(-18/24) + exp(-2) = 0.472 + 0.135 = 0.607
    value = B.xiong_thm1_failure_probability(20, 0.0, 2)
    assert value == pytest.approx(math.exp(-0.75) + math.exp(-2))
    # the reference rounds each term first (0.472 + 0.135); the exact value is 0.60770...
    assert value == pytest.approx(0.607, abs=1e-3)


def test_xiong_thm1_hand_value_with_perturbation():
    # n=10, eps=1, K=0: exp(-10*4/(8*2)) + 1 = exp(-2.5) + 1 (vacuous, > 1)
    assert B.xiong_thm1_failure_probability(10, 1.0, 0) == pytest.approx(math.exp(-2.5) + 1)


def test_pensia_code_candidates_anchor():
    # Pensia et al.'s code: n = int(3 * round(log2(1/0.01))) = 3 * 7 = 21
    assert B.pensia_code_candidates(0.01) == 21
    assert B.pensia_code_candidates(0.01, c=1) == 7
    assert B.pensia_code_candidates(0.25) == 6


def test_lueker_success_probability_hand_values():
    # C=1, eps=e^-5 gives a = 5; at n = 2a = 10 the bound is exactly 0 (edge of validity)
    assert B.lueker_success_probability(10, math.exp(-5), C=1.0) == pytest.approx(0.0, abs=1e-15)
    # n = 40: 1 - exp(-(20 - 5)^2 / 80)
    assert B.lueker_success_probability(40, math.exp(-5), C=1.0) == pytest.approx(1 - math.exp(-225 / 80))


def test_lueker_min_n_hand_value():
    # a = C log(1/eps) = 2, l = log(1/delta) = 1: n = 4 + 4 + 4 sqrt(3)
    n = B.lueker_min_n(math.exp(-2), math.exp(-1), C=1.0)
    assert n == pytest.approx(8 + 4 * math.sqrt(3))


def test_pensia_forms_hand_values():
    assert B.pensia_rss_min_n(0.25, C=3.0) == pytest.approx(6.0)
    assert B.pensia_rss_min_n(0.01, C=1.0, base=math.e) == pytest.approx(math.log(100))
    assert B.pensia_rss_min_n_restated(0.02, C=2.0) == pytest.approx(2 * math.log(100))


def test_pensia_layer_and_network_hand_values():
    assert B.pensia_weight_tolerance(0.1, 2, 5, depth=2, split=2.0) == pytest.approx(0.1 / 40)
    n = B.pensia_candidates_per_weight(0.1, 2, 5, depth=2, C=3.0, split=2.0)
    assert n == pytest.approx(3 * math.log2(400))
    # equals the RSS form at the per-weight tolerance
    assert n == pytest.approx(B.pensia_rss_min_n(0.1 / 40, C=3.0))
    assert B.pensia_thm1_width(0.5, 2, 3, depth=1, C=1.0) == pytest.approx(2 * math.log(48))
    net = B.pensia_thm1_network((4, 3, 2), 0.5, C=1.0)
    assert net["depth"] == 4
    assert net["hidden_widths"] == [
        math.ceil(4 * math.log(4 * 2 * 4 * 3 / 0.5)),
        math.ceil(3 * math.log(4 * 2 * 3 * 2 / 0.5)),
    ]
    assert net["layer_widths"] == [4, net["hidden_widths"][0], 3, net["hidden_widths"][1], 2]
    assert B.pensia_thm1_depth(3) == 6


def test_xiong_shapes_hand_values():
    L = math.log(100)
    assert B.xiong_candidates_aistats(0.01, 1.0, 2.0, C=1.0) == pytest.approx(L / 2 + 2)
    assert B.xiong_candidates_slides(0.01, 1.0, C=1.0) == pytest.approx(L / (math.log(2) + 1))
    assert B.xiong_candidates_opt22(0.01, 1.0, c=2.0, C1=1.0, C2=1.0) == pytest.approx(
        L / math.log(3) + 1 + L / 2
    )
    assert B.xiong_candidates_unperturbed(0.01, C=2.0) == pytest.approx(2 * L)
    w = math.log(3 * 2 * 4 / 0.1)
    assert B.xiong_thm2_width_aistats(0.1, 1.0, 2, 3, depth=4, C=1.0) == pytest.approx(2 * w / 2)
    assert B.xiong_thm2_width_slides(0.1, 1.0, 2, 3, depth=4, C=1.0) == pytest.approx(
        2 * w / (math.log(2) + 1)
    )
    assert B.xiong_thm2_params_slides(10, 2, 0.1, 0.0, C=1.0) == pytest.approx(10 * math.log(200))


def test_other_bounds_hand_values():
    assert B.counting_min_params(1, 0.25, c=1.0) == pytest.approx(2.0)
    assert B.counting_min_params(3, 0.125, c=1.0) == pytest.approx(27.0)
    assert B.counting_min_width(3, 0.125, c=1.0) == pytest.approx(27.0 / 6)
    assert B.dacunha_cnn_channels(0.1, 0.2, 3, 2, 4, depth=1, C=1.0) == pytest.approx(
        2 * math.log(9 * 8 / 0.1)
    )
    assert B.burkholz_depth(3) == 4
    assert B.burkholz_code_units("relu") == 30
    assert B.burkholz_code_units("tanh", rho=7) == 7
    assert B.burkholz_width(0.1, 10, depth=2, C=1.0) == pytest.approx(10 * math.log(200))
    assert B.malach_width(2, 3, 0.5, math.exp(-1), C=1.0, eps_power=2.0) == pytest.approx(16 * 9 * 4)


# --------------------------------------------------------------------------------------------------
# Round trips and shapes
# --------------------------------------------------------------------------------------------------
@given(eps=eps_st, delta=st.floats(1e-6, 0.9), C=st.floats(0.1, 5.0))
def test_lueker_min_n_round_trip(eps, delta, C):
    n = B.lueker_min_n(eps, delta, C=C)
    a = C * math.log(1 / eps)
    assert n >= 2 * a  # on the corollary's branch
    assert math.exp(-((n / 2 - a) ** 2) / (2 * n)) == pytest.approx(delta, rel=1e-9)
    # the integer ceil meets the target through the public function
    assert B.lueker_success_probability(math.ceil(n), eps, C=C) >= 1 - delta - 1e-12


@given(eps=eps_st, C=st.floats(0.1, 3.0), n=st.integers(1, 400), extra=st.integers(1, 50))
def test_lueker_success_increases_with_n(eps, C, n, extra):
    assume(eps >= math.exp(-n / (2 * C)))
    assert B.lueker_success_probability(n + extra, eps, C=C) >= B.lueker_success_probability(n, eps, C=C)


@given(delta=st.floats(1e-6, 0.9), pert=pert_st, dk=st.floats(0.01, 10.0))
def test_xiong_min_n_round_trip_and_optimal_k(delta, pert, dk):
    n_star = B.xiong_thm1_min_n(delta, pert)
    A = 8 * (3 - pert) / (1 + pert) ** 2
    k_star = math.log((1 + A) / delta)
    assert B.xiong_thm1_failure_probability(n_star, pert, k_star) == pytest.approx(delta, rel=1e-9)
    for k in (k_star + dk, max(math.log(1 / delta) + 1e-3, k_star - dk)):
        n_k = B.xiong_thm1_min_n(delta, pert, k)
        assert n_k >= n_star - 1e-9
        assert B.xiong_thm1_failure_probability(n_k, pert, k) == pytest.approx(delta, rel=1e-9)


@given(n=st.floats(1.0, 200.0), pert=pert_st, frac=st.floats(0.0, 1.0), extra=st.floats(0.1, 50.0))
def test_xiong_failure_decreases_in_n_and_perturbation(n, pert, frac, extra):
    K = frac * n
    p = B.xiong_thm1_failure_probability(n, pert, K)
    assert B.xiong_thm1_failure_probability(n + extra, pert, K) <= p
    assert B.xiong_thm1_failure_probability(n, min(2.99, pert + 0.05), K) <= p + 1e-15


@given(eta=eps_st, p1=st.floats(0.0, 10.0), p2=st.floats(0.0, 10.0))
def test_xiong_shapes_decrease_in_perturbation(eta, p1, p2):
    lo, hi = min(p1, p2), max(p1, p2)
    assert B.xiong_candidates_aistats(eta, hi, 0.0, C=1.0) <= B.xiong_candidates_aistats(eta, lo, 0.0, C=1.0)
    assert B.xiong_candidates_slides(eta, hi, C=1.0) <= B.xiong_candidates_slides(eta, lo, C=1.0)
    assert B.xiong_candidates_opt22(eta, hi, c=1.5, C1=1.0, C2=1.0) <= B.xiong_candidates_opt22(
        eta, lo, c=1.5, C1=1.0, C2=1.0
    )
    # AISTATS (1+eps) denominator is never smaller than the slides' log(1+eps)+1
    assert (
        B.xiong_candidates_aistats(eta, hi, 0.0, C=1.0) <= B.xiong_candidates_slides(eta, hi, C=1.0) + 1e-12
    )
    assert B.xiong_thm2_width_aistats(eta, hi, 3, 4, depth=2, C=1.0) <= B.xiong_thm2_width_aistats(
        eta, lo, 3, 4, depth=2, C=1.0
    )


@given(eta=eps_st)
def test_xiong_shapes_agree_at_zero_perturbation(eta):
    base = B.xiong_candidates_unperturbed(eta, C=1.0)
    assert B.xiong_candidates_aistats(eta, 0.0, 0.0, C=1.0) == pytest.approx(base)
    assert B.xiong_candidates_slides(eta, 0.0, C=1.0) == pytest.approx(base)
    a = B.xiong_thm2_width_aistats(eta, 0.0, 5, 7, depth=3, C=1.0)
    assert a == pytest.approx(B.xiong_thm2_width_slides(eta, 0.0, 5, 7, depth=3, C=1.0))


@given(e1=eps_st, e2=eps_st)
def test_widths_decrease_in_eps(e1, e2):
    lo, hi = min(e1, e2), max(e1, e2)
    assert B.pensia_thm1_width(hi, 3, 4, depth=2, C=1.0) <= B.pensia_thm1_width(lo, 3, 4, depth=2, C=1.0)
    assert B.pensia_rss_min_n(hi, C=1.0) <= B.pensia_rss_min_n(lo, C=1.0)
    assert B.counting_min_params(3, hi, c=1.0) <= B.counting_min_params(3, lo, c=1.0)
    assert B.dacunha_cnn_channels(hi, 0.5, 3, 2, 2, depth=1, C=1.0) <= B.dacunha_cnn_channels(
        lo, 0.5, 3, 2, 2, depth=1, C=1.0
    )


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "name"),
    [
        (B.xiong_thm1_failure_probability, (20, 3.0, 2), {}, "perturbation"),
        (B.xiong_thm1_failure_probability, (20, -0.1, 2), {}, "perturbation"),
        (B.xiong_thm1_failure_probability, (20, 0.0, 21), {}, "K"),
        (B.xiong_thm1_failure_probability, (20, 0.0, -1), {}, "K"),
        (B.xiong_thm1_failure_probability, (0, 0.0, 0), {}, "n"),
        (B.xiong_thm1_min_n, (0.1, 0.0, 1.0), {}, "K"),  # exp(-1) > 0.1: no solution
        (B.xiong_thm1_min_n, (1.5, 0.0), {}, "delta"),
        (B.lueker_success_probability, (10, 1e-6), {"C": 1.0}, "eps"),  # below exp(-n/(2C))
        (B.lueker_success_probability, (10, 0.1), {"C": 0.0}, "C"),
        (B.lueker_success_probability, (0, 0.1), {"C": 1.0}, "n"),
        (B.lueker_min_n, (0.0, 0.1), {"C": 1.0}, "eps"),
        (B.lueker_min_n, (0.1, 1.0), {"C": 1.0}, "delta"),
        (B.pensia_rss_min_n, (float("nan"),), {"C": 1.0}, "eps"),
        (B.pensia_rss_min_n, (0.1,), {"C": 1.0, "base": 1.0}, "base"),
        (B.pensia_code_candidates, (0.1,), {"c": 0}, "c"),
        (B.pensia_weight_tolerance, (0.1, 0, 2), {"depth": 1, "split": 1.0}, "d_in"),
        (B.pensia_thm1_width, (0.1, 2, 2), {"depth": 0, "C": 1.0}, "depth"),
        (B.pensia_thm1_network, ((3,), 0.1), {"C": 1.0}, "widths"),
        (B.xiong_candidates_opt22, (0.1, 0.0), {"c": 1.0, "C1": 1.0, "C2": 1.0}, "c"),
        (B.xiong_candidates_aistats, (0.1, -1.0, 0.0), {"C": 1.0}, "perturbation"),
        (B.xiong_thm2_width_slides, (2.0, 0.0, 2, 2), {"depth": 1, "C": 1.0}, "eta"),
        (B.counting_min_params, (2, 0.5), {"c": 0.4}, "c"),
        (B.burkholz_code_units, ("gelu",), {}, "activation"),
        (B.malach_width, (2, 2, 0.1, 0.1), {"C": 1.0, "eps_power": -1.0}, "eps_power"),
        (B.dacunha_cnn_channels, (0.1, 0.1, 0, 1, 1), {"depth": 1, "C": 1.0}, "kernel"),
    ],
)
def test_bad_input_names_the_argument(fn, args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        fn(*args, **kwargs)


def test_unknown_constants_have_no_defaults():
    # Constants hidden inside O() must be passed explicitly (never a silent literal).
    for fn in B.BOUNDS.values():
        for p in inspect.signature(fn).parameters.values():
            if p.name in ("C", "C1", "C2", "eps_power"):
                assert p.default is inspect.Parameter.empty, f"{fn.__name__}.{p.name} has a default"


# --------------------------------------------------------------------------------------------------
# Registry contract
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(B.BOUNDS))
def test_every_bound_documents_its_source(name):
    fn = B.get_bound(name)
    doc = inspect.getdoc(fn) or ""
    assert "Source" in doc, f"{name} lacks a Source in its docstring"
    assert "Args:" in doc and "Returns:" in doc


def test_bound_registry_refuses_duplicates_and_lists_names():
    with pytest.raises(ValueError, match="already registered"):
        B.register_bound("xiong-thm1-failure")(lambda: 0)
    with pytest.raises(ValueError, match="lueker-min-n"):
        B.get_bound("no-such-bound")
