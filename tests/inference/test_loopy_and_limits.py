"""Loopy BP accuracy, declaration-order invariance, beta limits and closed forms."""

import numpy as np
import pytest

from factorgraph_ebm import ConvergenceWarning, FactorGraph, compile_graph, free_energy, infer
from random_models import potts_grid, random_graph


@pytest.mark.parametrize("coupling, tol", [(0.1, 2e-3), (0.3, 2e-2)])
def test_loopy_bp_close_to_exact_for_weak_couplings(coupling, tol):
    """Documented tolerance: on a 3 x 3 Potts grid (K=3) with couplings 0.1 / 0.3,
    converged loopy BP marginals are within 2e-3 / 2e-2 of the exact ones."""
    rng = np.random.default_rng(0)
    fg = potts_grid(3, 3, coupling, rng)
    bp = infer(fg, method="bp", beta=1.0, tol=1e-12)
    exact = infer(fg, method="enumerate", beta=1.0)
    assert bp.method == "loopy-bp" and bp.converged
    err = np.abs(bp.marginal("x") - exact.marginal("x")).max()
    assert err < tol
    assert abs(bp.free_energy - exact.free_energy) < 10 * tol


def test_loopy_bp_independent_of_declaration_order():
    rng = np.random.default_rng(1)
    states = rng.integers(2, 4, size=6)
    factors = []
    for _ in range(10):
        scope = rng.choice(6, size=int(rng.integers(1, 4)), replace=False)
        factors.append((scope, rng.uniform(-0.4, 0.4, size=tuple(states[scope]))))

    def build(order):
        fg = FactorGraph()
        for v in rng.permutation(6):
            fg.add_variable(f"v{v}", int(states[v]))
        for i in order:
            scope, table = factors[i]
            fg.add_factor([f"v{u}" for u in scope], table)
        return fg

    results = [infer(build(rng.permutation(10)), method="bp", beta=1.0, tol=1e-13) for _ in range(3)]
    for res in results[1:]:
        for v in range(6):
            np.testing.assert_allclose(res.marginal(f"v{v}"), results[0].marginal(f"v{v}"), atol=1e-10)
        assert res.free_energy == pytest.approx(results[0].free_energy, abs=1e-10)


def test_damping_still_converges_to_same_fixed_point():
    rng = np.random.default_rng(2)
    fg = potts_grid(4, 2, 0.2, rng)
    plain = infer(fg, method="bp", beta=1.0, tol=1e-12)
    damped = infer(fg, method="bp", beta=1.0, tol=1e-12, damping=0.5)
    assert damped.n_iter > plain.n_iter
    np.testing.assert_allclose(damped.marginal("x"), plain.marginal("x"), atol=1e-9)


def test_iteration_cap_warns_and_reports():
    rng = np.random.default_rng(3)
    fg = potts_grid(5, 3, 2.0, rng)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = infer(fg, method="bp", beta=1.0, max_iter=3, tol=0.0)
    assert res.n_iter == 3 and not res.converged and res.delta > 0


def test_large_beta_approaches_min_sum():
    rng = np.random.default_rng(4)
    fg = random_graph(rng, 6, 9, inf_prob=0.1)
    e_min = infer(fg, method="enumerate", beta=np.inf).free_energy
    n_configs = np.prod([b.states for b in fg.variable_blocks])
    for beta in [1.0, 10.0, 1e3, 1e6]:
        f = infer(fg, method="exact", beta=beta).free_energy
        # e_min - log(#configs)/beta <= F_beta <= e_min
        assert e_min - np.log(n_configs) / beta - 1e-9 <= f <= e_min + 1e-9
    assert abs(infer(fg, method="exact", beta=1e6).free_energy - e_min) < 1e-5


def test_beta_inf_free_energy_is_the_minimum_over_the_rest():
    rng = np.random.default_rng(5)
    fg = random_graph(rng, 5, 7, inf_prob=0.0)
    ref = infer(fg, method="enumerate", beta=np.inf)
    assert free_energy(fg, {}, beta=np.inf, method="exact") == pytest.approx(ref.map_energy)
    # clamping v0 to its MAP state keeps the minimum; F(v0=s) = min over the rest
    s = int(ref.map_state[0])
    assert free_energy(fg, {"v0": s}, beta=np.inf, method="exact") == pytest.approx(ref.map_energy)
    for other in range(fg.var_states[0]):
        f = free_energy(fg, {"v0": other}, beta=np.inf, method="exact")
        restricted = infer(fg, {"v0": other}, method="enumerate", beta=np.inf)
        assert f == pytest.approx(restricted.map_energy, abs=1e-12)
        assert f >= ref.map_energy - 1e-12


def test_clamped_free_energy_matches_brute_force_sum():
    """F(y) = -(1/beta) log sum_z exp(-beta E(y, z)) checked by explicit summation."""
    fg = FactorGraph()
    fg.add_variable("y", 2)
    fg.add_variable("z1", 3, role="latent")
    fg.add_variable("z2", 2, role="latent")
    rng = np.random.default_rng(6)
    t1, t2 = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    fg.add_factor(["y", "z1"], t1)
    fg.add_factor(["z1", "z2"], t2)
    beta = 1.7
    for y in range(2):
        energies = t1[y][:, None] + t2
        brute = -np.log(np.exp(-beta * energies).sum()) / beta
        assert free_energy(fg, {"y": y}, beta=beta) == pytest.approx(brute, abs=1e-12)
        assert free_energy(fg, {"y": y}, beta=np.inf) == pytest.approx(energies.min(), abs=1e-12)


def test_zero_energies_give_log_of_state_count():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(4, 5), states=3)
    fg.add_variable("b", 7)
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], axis=1)
    fg.add_factor_group(h, np.zeros((3, 3)))
    res = infer(fg, beta=2.0)
    assert res.log_partition == pytest.approx(20 * np.log(3) + np.log(7), abs=1e-10)
    np.testing.assert_allclose(res.marginal("x"), 1 / 3)


def test_extreme_energies_use_the_exact_fallback_without_nan():
    """Energies spanning thousands of units underflow exp-space sums; results stay exact."""
    fg = FactorGraph()
    for v in "abc":
        fg.add_variable(v, 3)
    big = np.array([[0.0, 900.0, np.inf], [1500.0, 3000.0, 2200.0], [np.inf, 800.0, 5000.0]])
    fg.add_factor(["a", "b"], big)
    fg.add_factor(["b", "c"], big.T)
    fg.add_factor(["a"], [2000.0, 0.0, 1000.0])
    for beta in [0.5, 1.0, 4.0]:
        bp = infer(fg, method="bp", beta=beta)
        ref = infer(fg, method="enumerate", beta=beta)
        assert np.isfinite(bp.marginal_array).all()
        np.testing.assert_allclose(bp.marginal_array, ref.marginal_array, atol=1e-12)
        assert bp.free_energy == pytest.approx(ref.free_energy, rel=1e-12)


def test_energy_of_assignments():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=3, states=2)
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), [[0.0, 1.0], [2.0, np.inf]], name="t")
    cg = compile_graph(fg)
    assert cg.energy({"x": np.array([0, 1, 0])}) == 3.0
    assert cg.energy(np.array([1, 1, 0])) == np.inf
    res = infer(fg, beta=np.inf)
    assert res.map_energy == 0.0 and res.energy(res.map_state) == 0.0


def test_auto_picks_exact_only_when_the_junction_tree_is_cheap():
    from factorgraph_ebm.inference import exact_cost
    from factorgraph_ebm.inference.api import AUTO_EXACT_MAX_SECONDS

    rng = np.random.default_rng(3)
    small = potts_grid(4, 2, 0.3, rng)
    res = infer(small)
    assert res.method == "junction-tree" and res.reason.startswith("exact: ")
    np.testing.assert_allclose(res.log_partition, infer(small, method="enumerate").log_partition, atol=1e-9)
    wide = potts_grid(40, 3, 0.3, rng)
    cost = exact_cost(compile_graph(wide))
    # 40 x 40 ternary: cliques of >= 3^40 states
    assert cost.seconds > AUTO_EXACT_MAX_SECONDS
    res = infer(wide, tol=1e-8)
    assert res.method == "loopy-bp" and res.reason.startswith("bp: exact would need")
    # a memory budget below the junction tree's tables but above what compiling and BP allocate
    # (the same budget checks them, inference.memory) sends auto to BP too
    from factorgraph_ebm.inference.memory import bp_memory, compile_memory

    mid = potts_grid(8, 3, 0.3, rng)
    budget = 2 * max(bp_memory(compile_graph(mid)).bytes, compile_memory(mid).bytes)
    assert exact_cost(compile_graph(mid)).bytes > budget
    assert infer(mid, memory_budget=budget).method == "loopy-bp"