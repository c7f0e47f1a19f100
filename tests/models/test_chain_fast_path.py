"""The first-order chain fast path (models/_chain.py, kernels/chain.py) against the declared graphs and brute force."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from factorgraph_ebm.losses import NLLLoss
from factorgraph_ebm.models import ChainTagger
from factorgraph_ebm.models import _chain


def _declared(k, rows):
    """The graphs ChainTagger declares for ``rows`` (the generic path)."""
    tagger = ChainTagger(progress=False)
    tagger.classes_ = np.arange(k)
    return [tagger._graph(r) for r in rows]


def _brute_force(x, W, T, beta):
    """MAP labels (highest score) and marginals of one sequence by enumeration."""
    k = W.shape[1]
    seqs = np.array(list(itertools.product(range(k), repeat=len(x))))
    emit = x @ W
    scores = emit[np.arange(len(x)), seqs].sum(axis=1) + T[seqs[:, :-1], seqs[:, 1:]].sum(axis=1)
    w = np.exp(beta * (scores - scores.max()))
    w /= w.sum()
    marg = np.stack([np.bincount(seqs[:, t], weights=w, minlength=k) for t in range(len(x))])
    return seqs[np.argmax(scores)], marg


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.1, 1.0, 30.0, 500.0]),
       beta=st.sampled_from([0.5, 1.0, 2.0]), k=st.integers(2, 4))
def test_nll_value_and_gradient_equal_the_declared_chains(seed, scale, beta, k):
    """Large weights (scale 500) underflow the scaled recursions: the log-space fallback must agree too."""
    rng = np.random.default_rng(seed)
    n_feat = 5
    rows = [sp.random(int(n), n_feat, density=0.5, random_state=rng, format="csr") * 2.0
            for n in rng.integers(1, 6, size=4)]
    tags = [rng.integers(0, k, size=r.shape[0]) for r in rows]
    params = {"emission": scale * rng.normal(size=(n_feat, k)), "transition": scale * rng.normal(size=(k, k))}
    ref = NLLLoss(beta=beta)(_declared(k, rows), tags, parameters=params)
    stacked, ptr = _chain.stack_rows(rows)
    res = _chain.ChainNLL(beta=beta).evaluate(_chain.ChainData(stacked, ptr, np.concatenate(tags), k), params)
    assert np.isclose(res.value, ref.value, rtol=1e-9, atol=1e-9)
    for name in params:
        np.testing.assert_allclose(res.gradient[name], ref.gradient[name], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_viterbi_and_marginals_equal_brute_force(beta):
    rng = np.random.default_rng(3)
    k, n_feat = 3, 4
    rows = [rng.normal(size=(n, n_feat)) for n in (1, 2, 3, 5)]
    W, T = rng.normal(size=(n_feat, k)), rng.normal(size=(k, k))
    stacked, ptr = _chain.stack_rows(rows)
    states = _chain.viterbi(stacked, ptr, W, T)
    marg = _chain.marginals(stacked, ptr, W, T, beta)
    for s, x in enumerate(rows):
        best, ref = _brute_force(x, W, T, beta)
        np.testing.assert_array_equal(states[ptr[s]:ptr[s + 1]], best)
        np.testing.assert_allclose(marg[ptr[s]:ptr[s + 1]], ref, atol=1e-12)


def test_subset_keeps_the_chosen_sequences():
    rng = np.random.default_rng(0)
    rows = [sp.csr_matrix(rng.normal(size=(n, 3))) for n in (2, 1, 4)]
    tags = [rng.integers(0, 2, size=r.shape[0]) for r in rows]
    stacked, ptr = _chain.stack_rows(rows)
    data = _chain.ChainData(stacked, ptr, np.concatenate(tags), 2)
    sub = data.subset([0, 2])
    assert sub.seq_ptr.tolist() == [0, 2, 6]
    np.testing.assert_array_equal(sub.features.toarray(), np.concatenate([rows[0].toarray(), rows[2].toarray()]))
    np.testing.assert_array_equal(sub.target, np.concatenate([tags[0], tags[2]]))
    assert data.subset([0, 1, 2]) is data


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_fast_path_trains_the_same_tagger_as_the_declared_graphs(optimizer):
    """``loss_options={"method": "exact"}`` keeps the generic path: same loss, so the same fit."""
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 3))
    X = [rng.normal(size=(n, 4)) for n in rng.integers(1, 6, size=25)]
    y = [np.argmax(x @ W, axis=1) for x in X]
    kw = dict(l2=0.05, max_iter=15, optimizer=optimizer, random_state=0, progress=False)
    fast = ChainTagger(**kw).fit(X, y)
    slow = ChainTagger(loss_options={"method": "exact"}, **kw).fit(X, y)
    assert fast._chain_fit() and not slow._chain_fit()
    assert type(fast.trainer_.loss_) is _chain.ChainNLL
    for name in ("emission", "transition"):
        np.testing.assert_allclose(fast.parameters_[name], slow.parameters_[name], rtol=1e-6, atol=1e-8)
    assert np.isclose(fast.trainer_.history_[-1]["objective"], slow.trainer_.history_[-1]["objective"], rtol=1e-9)
    tests = [rng.normal(size=(n, 4)) for n in (1, 3, 6)]
    for a, b in zip(fast.predict_marginals(tests), slow.predict_marginals(tests)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_token_taggers_predict_as_the_declared_graphs():
    X = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"], ["w=runs"]], [["w=the"], ["w=cat"], ["w=sleeps"]]]
    y = [["DET", "NOUN"], ["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB"]]
    tagger = ChainTagger(l2=0.01, progress=False).fit(X, y)
    tests = [[["w=a"], ["w=dog"], ["w=unseen", "w=runs"]], [["w=zzz"]]]
    result, ptr = tagger._infer(tests, np.inf)             # the generic path (declared graphs, tree pass)
    state = result.map_state
    expect = [tagger.classes_[state[ptr[g]:ptr[g + 1]]] for g in range(len(ptr) - 1)]
    for a, b in zip(tagger.predict(tests), expect):
        np.testing.assert_array_equal(a, b)
    result, ptr = tagger._infer(tests, 1.0)
    np.testing.assert_allclose(np.concatenate(tagger.predict_marginals(tests)),
                               result.marginal_array.reshape(-1, 3), atol=1e-12)
