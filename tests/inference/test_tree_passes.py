"""The tree schedule's inward-only MAP path, its lazy outward pass and its vectorised exp / log."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorgraph_ebm import FactorGraph, ZeroPartitionError, compile_graph, infer
from factorgraph_ebm.inference.bp import belief_propagation
from factorgraph_ebm.kernels import bp as bp_kernels
from factorgraph_ebm.kernels import trees
from factorgraph_ebm.models import chain_graph
from random_models import random_evidence, random_forest


def _result(fg, ev, beta, **kw):
    try:
        return infer(fg, ev, beta=beta, **kw)
    except ZeroPartitionError:
        return None


def _full_pass_decode(cg):
    """MAP state decoded after both passes (the behaviour before the inward-only path)."""
    w = cg.wiring
    order = trees._tree_order(w)
    et, bm = bp_kernels._exp_tables(w, np.inf)
    m = cg.n_messages
    f2v, v2f, belief = np.zeros(m), np.zeros(m), np.zeros(int(w.var_state_ptr[-1]))
    trees._tree_pass(w, cg.unary, np.inf, et, bm, order[0], order[1], trees.BOTH, True, 1, f2v, v2f, belief,
                     np.zeros(cg.n_factors))
    return trees._decode(w, belief, v2f, order[0], order[1])


def _pair_forest(rng, n_vars, max_states, scale=3.0, integer=False, inf_prob=0.2):
    """Random pairwise forest (each variable joins an earlier one, or starts a tree) with unary factors.

    ``integer``: energies rounded to integers (many ties).
    """
    def table(shape):
        t = rng.uniform(-scale, scale, shape)
        t = np.round(t) if integer else t
        t[rng.random(shape) < inf_prob] = np.inf
        return t

    fg = FactorGraph()
    states = rng.integers(1, max_states + 1, size=n_vars)
    for v in range(n_vars):
        fg.add_variable(f"v{v}", int(states[v]))
        if rng.random() < 0.7:
            fg.add_factor([f"v{v}"], table((int(states[v]),)))
        if v and rng.random() < 0.85:
            u = int(rng.integers(v))
            fg.add_factor([f"v{u}", f"v{v}"], table((int(states[u]), int(states[v]))))
    return fg


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 6), max_states=st.sampled_from([2, 5, 7]),
       ev_prob=st.sampled_from([0.0, 0.3]), ties=st.booleans())
def test_map_only_matches_brute_force_and_the_full_pass(seed, n_vars, max_states, ev_prob, ties):
    rng = np.random.default_rng(seed)
    if ties:
        fg = _pair_forest(rng, n_vars, max_states, integer=True)
    else:
        fg = random_forest(rng, n_vars, max_states=max_states, max_arity=3, inf_prob=0.2)
    ev = random_evidence(rng, fg, ev_prob)
    ref = _result(fg, ev, np.inf, method="enumerate")
    res = _result(fg, ev, np.inf, method="bp", schedule="tree")
    assert (res is None) == (ref is None)
    if ref is None:
        return
    assert res.answers.msgs.outward_pending        # MAP and energy came from the inward pass alone
    assert res.map_energy == pytest.approx(ref.map_energy, abs=1e-9)
    assert res.free_energy == pytest.approx(res.map_energy, abs=1e-9)
    np.testing.assert_array_equal(res.map_state, _full_pass_decode(res.compiled))
    # marginals read afterwards run the outward pass: the min-marginal argmins of brute force
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-9)
    assert not res.answers.msgs.outward_pending
    for spec in ref.compiled.graphs[0].factor_specs:
        np.testing.assert_allclose(res.factor_marginal(spec.name), ref.factor_marginal(spec.name), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 5), max_states=st.sampled_from([4, 6, 9]),
       beta=st.sampled_from([0.3, 1.0, 2.5]), scale=st.sampled_from([1.0, 400.0]),
       ev_prob=st.sampled_from([0.0, 0.3]))
def test_sum_product_with_many_states_matches_brute_force(seed, n_vars, max_states, beta, scale, ev_prob):
    """Wide tables (the vectorised loops and their tails) and energies large enough to underflow."""
    rng = np.random.default_rng(seed)
    fg = _pair_forest(rng, n_vars, max_states, scale=scale, inf_prob=0.15)
    ev = random_evidence(rng, fg, ev_prob)
    ref = _result(fg, ev, beta, method="enumerate")
    res = _result(fg, ev, beta, method="bp", schedule="tree")
    assert (res is None) == (ref is None)
    if ref is None:
        return
    np.testing.assert_allclose(res.free_energy, ref.free_energy, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-9)
    for spec in ref.compiled.graphs[0].factor_specs:
        np.testing.assert_allclose(res.factor_marginal(spec.name), ref.factor_marginal(spec.name), atol=1e-9)


def test_a_single_variable_and_a_forest_of_chains():
    fg = FactorGraph()
    _ = fg.add_variable("a", 3)
    _ = fg.add_factor(["a"], [2.0, 0.5, np.inf])
    res = infer(fg, beta=np.inf)
    assert res.map_assignment() == {"a": 1} and res.map_energy == 0.5
    np.testing.assert_array_equal(res.marginal_array, [0.0, 1.0, 0.0])
    rng = np.random.default_rng(3)
    chains = [chain_graph(rng.uniform(0, 2, (t, 6)), rng.uniform(0, 1, (6, 6))) for t in (1, 4, 9)]
    batch = compile_graph(chains)
    for beta in (np.inf, 1.0):
        together = belief_propagation(batch, beta, schedule="tree")
        alone = [belief_propagation(compile_graph(c), beta, schedule="tree") for c in chains]
        np.testing.assert_allclose(together.free_energies, [r.free_energy for r in alone], rtol=1e-12)
        np.testing.assert_allclose(together.marginal_array, np.concatenate([r.marginal_array for r in alone]),
                                   atol=1e-12)
        np.testing.assert_array_equal(together.map_state, np.concatenate([r.map_state for r in alone]))


def test_lazy_outward_pass_survives_pickling_and_feeds_gradients():
    rng = np.random.default_rng(5)
    fg = chain_graph(rng.uniform(0, 2, (7, 5)), rng.uniform(0, 1, (5, 5)))
    for beta in (np.inf, 1.0):
        res = belief_propagation(compile_graph(fg), beta, schedule="tree")
        ref = infer(fg, beta=beta, method="enumerate")
        copy = pickle.loads(pickle.dumps(res))
        out = np.zeros(len(res.compiled.wiring.tables) // 2)
        copy.add_factor_marginals(out, np.ones(res.compiled.n_factors))
        np.testing.assert_allclose(copy.marginal_array, ref.marginal_array, atol=1e-10)
        np.testing.assert_allclose(res.factor_marginal_array(), ref.factor_marginal_array(), atol=1e-10)
        assert out.sum() == pytest.approx(res.compiled.n_factors)


def test_zero_partition_after_the_inward_pass_names_the_variable():
    fg = FactorGraph()
    for v in "abc":
        _ = fg.add_variable(v, 4)
    _ = fg.add_factor(["a", "b"], np.full((4, 4), np.inf))
    _ = fg.add_factor(["b", "c"], np.zeros((4, 4)))
    for beta in (np.inf, 1.0):
        with pytest.raises(ZeroPartitionError, match="'a'"):
            infer(fg, beta=beta)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_chunks=st.sampled_from([2, 3, 5]), beta=st.sampled_from([1.0, np.inf]),
       long_chain=st.booleans())
def test_trees_split_between_threads_agree_with_one_thread(seed, n_chunks, beta, long_chain):
    """Ranges cut at branch boundaries (one long tree shared by threads) give the one-range answer."""
    from factorgraph_ebm.kernels import _jit

    rng = np.random.default_rng(seed)
    if long_chain:
        graphs = [chain_graph(rng.uniform(0, 2, (int(rng.integers(1, 40)), 5)), rng.uniform(0, 1, (5, 5)))]
    else:
        graphs = [_pair_forest(rng, int(rng.integers(1, 12)), 6, inf_prob=0.05) for _ in range(2)]
    cg = compile_graph(graphs)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_jit, "num_threads", lambda: 1)
        one = _result(cg, None, beta, method="bp", schedule="tree")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_jit, "num_threads", lambda: n_chunks)
        split = _result(cg, None, beta, method="bp", schedule="tree")
        assert (one is None) == (split is None)
        if one is None:
            return
        np.testing.assert_allclose(split.free_energies, one.free_energies, rtol=1e-12, atol=1e-10)
        np.testing.assert_array_equal(split.map_state, one.map_state)
        np.testing.assert_allclose(split.marginal_array, one.marginal_array, atol=1e-12)
        if beta < np.inf:
            np.testing.assert_allclose(split.factor_marginal_array(), one.factor_marginal_array(), atol=1e-12)
    ref = infer(cg, beta=beta, method="exact")
    np.testing.assert_allclose(split.free_energies, ref.free_energies, rtol=1e-10, atol=1e-9)


def test_the_tree_order_roots_a_chain_at_its_middle():
    cg = compile_graph(chain_graph(np.zeros((9, 2)), np.zeros((2, 2))))
    order, parent_edge, is_forest = trees._tree_order(cg.wiring)
    assert is_forest and order[0] == 4 and parent_edge[4] == -1
    assert sorted(order) == list(range(len(order)))
