"""ChainTagger against brute force and scikit-learn's logistic regression, marginal layouts, bad input."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from factorgraph_ebm import NotFittedError
from factorgraph_ebm.models import ChainTagger, FeatureIndex, token_features


def _toy(rng, n_seq=30, n_feat=5, k=3, lengths=(1, 6)):
    """Sequences whose label follows the argmax of a hidden linear score, with sticky transitions."""
    W = rng.normal(size=(n_feat, k))
    X, y = [], []
    for _ in range(n_seq):
        t = rng.integers(*lengths, endpoint=True)
        x = rng.normal(size=(t, n_feat))
        X.append(x)
        y.append(np.argmax(x @ W, axis=1))
    return X, y


def _energy(tagger, x, labels):
    p = tagger.parameters_
    e = -np.sum((x @ p["emission"])[np.arange(len(labels)), labels])
    e -= sum(p["transition"][a, b] for a, b in zip(labels[:-1], labels[1:]))
    if tagger.order == 2:
        e -= sum(p["transition2"][a, b, c] for a, b, c in zip(labels[:-2], labels[1:-1], labels[2:]))
    return e


def _brute_force(tagger, x, beta):
    k = len(tagger.classes_)
    seqs = np.array(list(itertools.product(range(k), repeat=len(x))))
    energies = np.array([_energy(tagger, x, s) for s in seqs])
    w = np.exp(-beta * (energies - energies.min()))
    w /= w.sum()
    marg = np.stack([np.bincount(seqs[:, t], weights=w, minlength=k) for t in range(len(x))])
    return seqs[np.argmin(energies)], marg


@pytest.mark.parametrize("order", [1, 2])
def test_predictions_and_marginals_equal_brute_force(order):
    rng = np.random.default_rng(order)
    X, y = _toy(rng, lengths=(1, 5))
    tagger = ChainTagger(l2=0.05, max_iter=30, order=order, progress=False).fit(X, y)
    assert np.abs(tagger.parameters_["transition"]).max() > 1e-3      # the chain learned something
    tests = [rng.normal(size=(t, 5)) for t in (1, 2, 4, 5)]
    preds = tagger.predict(tests)
    for beta in (0.5, 1.0, 3.0):
        margs = tagger.predict_marginals(tests, beta=beta)
        for x, pred, marg in zip(tests, preds, margs):
            best, ref = _brute_force(tagger, x, beta)
            np.testing.assert_array_equal(pred, tagger.classes_[best])
            np.testing.assert_allclose(marg, ref, atol=1e-9)


def test_single_positions_are_multinomial_logistic_regression():
    """Length-1 sequences have no transition: NLL + L2 is sklearn's multinomial logistic regression."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (it is optional)")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = load_iris()
    x = np.hstack([StandardScaler().fit_transform(data.data), np.ones((150, 1))])
    c = 2.0
    tagger = ChainTagger(l2=1.0 / (c * len(x)), max_iter=500, tol=1e-10, progress=False)
    tagger.fit([row[None, :] for row in x], [[label] for label in data.target])
    ref = LogisticRegression(C=c, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(x, data.target)
    ours = tagger.parameters_["emission"]
    np.testing.assert_allclose(ours - ours.mean(axis=1, keepdims=True), ref.coef_.T, rtol=1e-4, atol=1e-5)
    proba = np.concatenate(tagger.predict_marginals([row[None, :] for row in x]))
    np.testing.assert_allclose(proba, ref.predict_proba(x), atol=5e-5)


@pytest.mark.parametrize("loss, options", [("perceptron", None), ("hinge", None),
                                           ("hinge", {"offending": "hamming"}), ("nll", None)])
def test_every_loss_fits_a_learnable_chain(loss, options):
    rng = np.random.default_rng(3)
    X, y = _toy(rng, n_seq=40)
    optimizer = "lbfgs" if loss == "nll" else "adam"
    tagger = ChainTagger(loss, optimizer, l2=1e-4, max_iter=40, learning_rate=0.05, batch_size=8,
                         loss_options=options, random_state=0, progress=False).fit(X, y)
    assert tagger.score(X, y) > 0.9


def test_transitions_carry_information_the_emissions_lack():
    """Label = previous label + 1 (mod 3) with uninformative features after the first position."""
    rng = np.random.default_rng(0)
    X, y = [], []
    for _ in range(40):
        start = rng.integers(3)
        labels = (start + np.arange(6)) % 3
        x = rng.normal(size=(6, 4)) * 0.01
        x[0, :3] = np.eye(3)[start] * 3
        X.append(x)
        y.append(labels)
    chain = ChainTagger(l2=1e-3, progress=False).fit(X, y)
    assert chain.score(X, y) == 1.0
    single = ChainTagger(l2=1e-3, progress=False).fit([x[t:t + 1] for x in X for t in range(6)],
                                                      [[lab] for labs in y for lab in labs])
    assert single.score([x[t:t + 1] for x in X for t in range(6)], [[lab] for labs in y for lab in labs]) < 0.6


def test_token_features_and_string_labels_on_real_sentences():
    from factorgraph_ebm.io import read_conllu
    from shared_data import shared_data
    words, tags = read_conllu(shared_data("ud_english_ewt", "en_ewt-ud-dev.conllu.gz"))
    X, tags = [token_features(s) for s in words[:300]], tags[:300]
    tagger = ChainTagger(l2=1e-2, max_iter=40, progress=False).fit(X[:250], tags[:250])
    assert set(tagger.classes_) <= {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
                                    "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"}
    held_out = tagger.score(X[250:], tags[250:])
    majority = max(np.mean(np.concatenate(tags[250:]) == c) for c in tagger.classes_)
    assert held_out > majority + 0.4
    assert isinstance(tagger.predict(X[250:251])[0][0], str)


def test_sparse_and_dense_features_give_the_same_model():
    rng = np.random.default_rng(5)
    X, y = _toy(rng, n_seq=15)
    dense = ChainTagger(l2=0.1, max_iter=20, progress=False).fit(X, y)
    sparse = ChainTagger(l2=0.1, max_iter=20, progress=False).fit([sp.csr_matrix(x) for x in X], y)
    for name in ("emission", "transition"):
        np.testing.assert_allclose(dense.parameters_[name], sparse.parameters_[name], atol=1e-8)


def test_long_and_length_one_sequences():
    rng = np.random.default_rng(1)
    X, y = _toy(rng, n_seq=10, lengths=(2, 8))
    tagger = ChainTagger(l2=0.1, max_iter=10, progress=False).fit(X + [rng.normal(size=(1, 5))], y + [[2]])
    long = rng.normal(size=(500, 5))
    pred, marg = tagger.predict([long])[0], tagger.predict_marginals([long])[0]
    assert pred.shape == (500,) and marg.shape == (500, 3)
    np.testing.assert_allclose(marg.sum(axis=1), 1.0)
    assert tagger.predict([long[:1]])[0].shape == (1,)


def test_params_round_trip_and_refit_resets_state():
    tagger = ChainTagger("hinge", "adam", l2=0.5, max_iter=3)
    assert tagger.get_params()["loss"] == "hinge"
    clone = ChainTagger(**tagger.get_params())
    assert clone.get_params() == tagger.get_params()
    assert tagger.set_params(l2=0.1) is tagger and tagger.l2 == 0.1
    with pytest.raises(ValueError, match="invalid parameter 'l3'"):
        tagger.set_params(l3=1)


def test_bad_input():
    rng = np.random.default_rng(2)
    X, y = _toy(rng, n_seq=8)
    tagger = ChainTagger(l2=0.1, max_iter=5, progress=False)
    with pytest.raises(NotFittedError, match="not fitted"):
        tagger.predict(X)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    with pytest.raises(ValueError, match="X has 8 sequences but y has 7"):
        tagger.fit(X, y[:-1])
    bad = [lab.copy() for lab in y]
    bad[3] = bad[3][:-1]
    with pytest.raises(ValueError, match=f"sequence 3: {len(X[3])} tokens in X but {len(X[3]) - 1} labels"):
        tagger.fit(X, bad)
    with pytest.raises(ValueError, match="sequence 1 of X is empty"):
        tagger.fit([X[0], np.zeros((0, 5))], [y[0], []])
    with pytest.raises(ValueError, match="loss must be one of"):
        ChainTagger(loss="nope").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        tagger.fit(X, [np.zeros(len(x), dtype=int) for x in X])
    tagger.fit(X, y)
    before = tagger.parameters_.copy()
    with pytest.raises(ValueError, match="sequence 0 of X has 4 features, but ChainTagger is expecting 5 features"):
        tagger.predict([np.zeros((3, 4))])
    assert tagger.score(X[:1], [np.full(len(X[0]), 7)]) == 0.0     # a label training never saw is wrong
    with pytest.raises(ValueError, match="pass matrices, not token lists"):
        tagger.predict([[["w=a"]]])
    with pytest.raises(ValueError, match="beta must be > 0"):
        tagger.predict_marginals(X, beta=0.0)
    with pytest.raises(ValueError, match="X has 8 sequences but y has 7"):
        tagger.fit(X, y[:-1])                                  # a failed refit keeps the fitted model
    assert tagger.parameters_ == before


def test_feature_index_ignores_unseen_and_rare_features():
    seqs = [[["a", "b"], ["a"]], [["a", "c"]]]
    index = FeatureIndex(min_count=2).fit(seqs)
    assert index.columns_ == {"a": 0}
    rows = index.transform([[["a", "b", "zzz"], {"a": 2.5}]])[0]
    np.testing.assert_array_equal(rows.toarray(), [[1.0], [2.5]])


def test_margin_losses_default_to_a_step_optimizer_and_lbfgs_warns_when_it_cannot_start():
    """From W = 0 every label ties; L-BFGS's line search fails on the hinge subgradient at once."""
    from factorgraph_ebm import ConvergenceWarning
    rng = np.random.default_rng(0)
    y = [rng.integers(0, 26, 6) for _ in range(30)]
    X = [np.hstack([np.eye(26)[t] + 0.1 * rng.normal(size=(6, 26)), np.ones((6, 1))]) for t in y]
    options = {"offending": "hamming"}
    auto = ChainTagger("hinge", l2=0.01, max_iter=30, loss_options=options, progress=False).fit(X, y)
    assert auto.score(X, y) == 1.0
    with pytest.warns(ConvergenceWarning, match="L-BFGS stopped after 0 iterations"):
        ChainTagger("hinge", "lbfgs", l2=0.01, loss_options=options, progress=False).fit(X, y)


def test_marginal_dicts_hold_the_array_layout_keyed_by_label():
    """``layout="dicts"`` is sklearn-crfsuite's: per sequence, per token, ``{label: probability}``."""
    rng = np.random.default_rng(4)
    X, y = _toy(rng, n_seq=12)
    labels = [np.array(["ADJ", "DET", "NOUN"])[labs] for labs in y]
    tagger = ChainTagger(l2=0.1, max_iter=20, progress=False).fit(X, labels)
    tests = [rng.normal(size=(t, 5)) for t in (1, 3, 7)]
    for beta in (None, 0.5, np.inf):
        arrays = tagger.predict_marginals(tests, beta=beta)
        dicts = tagger.predict_marginals(tests, beta=beta, layout="dicts")
        assert isinstance(dicts, list) and [len(d) for d in dicts] == [1, 3, 7]
        for array, seq in zip(arrays, dicts):
            assert all(isinstance(token, dict) and list(token) == ["ADJ", "DET", "NOUN"] for token in seq)
            assert all(type(k) is str and type(p) is float for token in seq for k, p in token.items())
            np.testing.assert_array_equal([[token[c] for c in tagger.classes_] for token in seq], array)
    assert tagger.predict_marginals(tests, layout="arrays")[2].shape == (7, 3)


def test_importing_the_models_does_not_import_sklearn():
    """scikit-learn is optional: only scikit-learn itself asks for the tags that import it."""
    code = ("import sys, factorgraph_ebm, factorgraph_ebm.models, factorgraph_ebm.train; "
            "tagger = factorgraph_ebm.models.ChainTagger(progress=False); tagger.get_params(); "
            "tagger.fit([[['a'], ['b']]], [['A', 'B']]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
