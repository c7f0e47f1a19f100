"""Structured outputs and latent variables: a chain tagger and a motif at an unknown position."""

import numpy as np
import pytest

from ebm_models import motif_data, tagging_data
from factorgraph_ebm import Parameters, Trainer
from factorgraph_ebm.losses import HingeLoss
from factorgraph_ebm.train import LBFGS, SGD


@pytest.fixture(scope="module")
def tagging():
    return tagging_data(np.random.default_rng(0), n_sentences=12, length=6)


def chain_parameters():
    return Parameters(E=np.zeros((4, 3)), T=np.zeros((3, 3)))


@pytest.mark.parametrize("loss,optimizer,options", [
    ("nll", LBFGS(max_iter=100), {"batch_size": None, "max_epochs": 1, "l2": 1e-3}),
    ("perceptron", SGD(learning_rate=1.0), {"batch_size": 1, "max_epochs": 10}),
    ("hinge", SGD(learning_rate=0.1), {"batch_size": 4, "max_epochs": 30}),
    (HingeLoss(offending="hamming"), SGD(learning_rate=0.1), {"batch_size": 4, "max_epochs": 30}),
])
def test_chain_tagger_reaches_zero_training_error(tagging, loss, optimizer, options):
    graphs, targets = tagging
    trainer = Trainer(loss, optimizer, random_state=0, progress=False, **options)
    trainer.fit(graphs, targets, parameters=chain_parameters())
    assert trainer.score(graphs, targets) == 1.0
    pred = trainer.predict(graphs)
    assert all(np.array_equal(p, t) for p, t in zip(pred, targets))


def test_tagging_needs_the_transitions():
    graphs, targets = tagging_data(np.random.default_rng(0), n_sentences=12, length=6, transitions=False)
    trainer = Trainer("perceptron", SGD(learning_rate=1.0), batch_size=1, max_epochs=10, random_state=0,
                      progress=False).fit(graphs, targets, parameters={"E": np.zeros((4, 3))})
    assert trainer.score(graphs, targets) < 0.8


def test_latent_position_learns_what_a_whole_sequence_score_cannot():
    scores = {}
    for latent in (True, False):
        graphs, targets = motif_data(np.random.default_rng(0), n_examples=40, latent=latent)
        trainer = Trainer("perceptron", SGD(learning_rate=1.0), batch_size=1, max_epochs=20, random_state=0,
                          progress=False).fit(graphs, targets, parameters={"w": np.zeros(9)})
        scores[latent] = trainer.score(graphs, targets)
        if latent:  # the motif detector: token 0 then token 1 score high at the latent position
            w = trainer.parameters_["w"]
            assert w[0] == w[:4].max() and w[5] == w[4:8].max()
    assert scores[True] == 1.0
    assert scores[False] <= 0.8
