"""Graphs of a batch that use the same energy object share its table block."""

import numpy as np

from factorgraph_ebm import FactorGraph, LinearEnergy, compile_graph
from factorgraph_ebm.losses import NLLLoss


def _chain(rng, length, transition):
    fg = FactorGraph()
    y = fg.add_variables("y", shape=length, states=3)
    fg.add_factor_group(y.ids[:, None], LinearEnergy("E", features=rng.normal(size=(length, 4))), name="emission")
    if length > 1:
        fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), transition, name="transition")
    return fg


def test_one_transition_block_for_the_batch_and_the_same_gradient_as_separate_graphs():
    rng = np.random.default_rng(0)
    transition = LinearEnergy("T")
    graphs = [_chain(rng, n, transition) for n in (4, 1, 3, 5)]
    targets = [rng.integers(0, 3, g.n_vars) for g in graphs]
    params = {"E": rng.normal(size=(4, 3)), "T": rng.normal(size=(3, 3))}
    cg = compile_graph(graphs, parameters=params)
    pair = np.flatnonzero(np.diff(cg.wiring.factor_edge_ptr) == 2)
    assert len(np.unique(cg.wiring.factor_block[pair])) == 1            # 9 transition factors, one table
    assert len(cg.wiring.tables) == 2 * (13 * 3 + 9)                    # 13 emission tables + one 3 x 3
    batch = NLLLoss()(graphs, targets, parameters=params)
    alone = [NLLLoss()([g], [t], parameters=params) for g, t in zip(graphs, targets)]
    for name in ("E", "T"):
        np.testing.assert_allclose(batch.gradient[name], np.mean([r.gradient[name] for r in alone], axis=0),
                                   atol=1e-12)
    np.testing.assert_allclose(batch.values, [r.value for r in alone], atol=1e-12)
    h = 1e-6                                                             # and against finite differences
    for i, j in [(0, 1), (2, 0)]:
        up, down = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
        up["T"][i, j] += h
        down["T"][i, j] -= h
        fd = (NLLLoss()(graphs, targets, parameters=up).value - NLLLoss()(graphs, targets, parameters=down).value)
        assert abs(fd / (2 * h) - batch.gradient["T"][i, j]) < 1e-6
