"""The tutorial's linear machines on real data shipped with scikit-learn (the trusted oracle).

A single-factor EBM ``E(y) = -y (w . x)`` (x with a constant column) trained with

* NLL + L2 is logistic regression: same coefficients as scikit-learn's
  ``LogisticRegression`` with ``C = 1 / (l2 n)`` (our objective is the mean loss
  plus ``l2/2 ||w||^2``; scikit-learn's is ``C sum loss + 1/2 ||w||^2``);
* hinge + L2 is a linear SVM: same accuracy as ``LinearSVC(loss="hinge")``;
* the perceptron loss converges on separable data.
"""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (it is optional; these tests use it as the oracle)")
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from ebm_models import binary_classifier  # noqa: E402
from factorgraph_ebm import Trainer  # noqa: E402
from factorgraph_ebm.train import LBFGS, SGD  # noqa: E402


@pytest.fixture(scope="module")
def cancer():
    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scale = StandardScaler().fit(xtr)
    xtr, xte = (np.hstack([scale.transform(a), np.ones((len(a), 1))]) for a in (xtr, xte))
    return xtr, xte, ytr, yte


def accuracy(trainer, graphs, y):
    return float(np.mean(np.concatenate(trainer.predict(graphs)) == y))


def test_nll_with_l2_reaches_logistic_regression(cancer):
    xtr, xte, ytr, yte = cancer
    c = 0.5
    sk = LogisticRegression(C=c, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(xtr, ytr)
    graphs = [binary_classifier(row) for row in xtr]
    trainer = Trainer("nll", "lbfgs", l2=1.0 / (c * len(ytr)), batch_size=None, max_epochs=3, progress=False)
    trainer.fit(graphs, ytr, parameters={"w": np.zeros(xtr.shape[1])})
    assert trainer.stop_reason_ == "converged"
    w, w_sk = trainer.parameters_["w"], sk.coef_[0]
    rel = np.linalg.norm(w - w_sk) / np.linalg.norm(w_sk)
    assert rel < 1e-3
    test_graphs = [binary_classifier(row) for row in xte]
    assert accuracy(trainer, graphs, ytr) == sk.score(xtr, ytr)
    assert accuracy(trainer, test_graphs, yte) == sk.score(xte, yte)


def test_hinge_with_l2_matches_linear_svc_accuracy(cancer):
    xtr, xte, ytr, yte = cancer
    c = 1.0
    svc = LinearSVC(C=c, loss="hinge", fit_intercept=False, tol=1e-8, max_iter=100_000).fit(xtr, ytr)
    graphs = [binary_classifier(row) for row in xtr]
    trainer = Trainer("hinge", LBFGS(max_iter=150), l2=1.0 / (c * len(ytr)), batch_size=None, max_epochs=1,
                      progress=False)
    trainer.fit(graphs, ytr, parameters={"w": np.zeros(xtr.shape[1])})
    test_graphs = [binary_classifier(row) for row in xte]
    assert abs(accuracy(trainer, graphs, ytr) - svc.score(xtr, ytr)) <= 0.01
    assert abs(accuracy(trainer, test_graphs, yte) - svc.score(xte, yte)) <= 0.01


def test_perceptron_converges_on_separable_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    w_true = np.array([2.0, -1.0])
    keep = np.abs(x @ w_true + 0.5) > 0.3  # a margin
    x, y = x[keep], (x[keep] @ w_true + 0.5 > 0).astype(np.int64)
    x = np.hstack([x, np.ones((len(x), 1))])
    graphs = [binary_classifier(row) for row in x]
    def no_mistake(trainer, info):  # stop after an epoch without a single update
        return info["loss"] == 0.0

    trainer = Trainer("perceptron", SGD(learning_rate=1.0), batch_size=1, max_epochs=50, random_state=0,
                      callbacks=[no_mistake], progress=False)
    trainer.fit(graphs, y, parameters={"w": np.zeros(3)})
    losses = [h["loss"] for h in trainer.history_]
    assert trainer.stop_reason_ == "callback" and losses[-1] == 0.0 and losses[0] > 0.0
    assert accuracy(trainer, graphs, y) == 1.0
