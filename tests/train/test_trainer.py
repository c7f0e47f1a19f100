"""Trainer mechanics: reproducibility, checkpoint-resume, progress, callbacks, early stopping, saving."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ebm_models import tagging_data
from factorgraph_ebm import Parameters, Trainer, compile_graph
from factorgraph_ebm.losses import NLLLoss
from factorgraph_ebm.train import LBFGS, SGD, Adam, accuracy, load_checkpoint

TESTS = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tagging():
    return tagging_data(np.random.default_rng(0), n_sentences=10, length=5)


def start():
    return Parameters(E=np.zeros((4, 3)), T=np.zeros((3, 3)))


def same_run(a, b):
    assert a.parameters_.keys() == b.parameters_.keys()
    for k in a.parameters_:
        assert a.parameters_[k].tobytes() == b.parameters_[k].tobytes()
    assert a.history_ == b.history_ and a.n_iter_ == b.n_iter_ and a.n_epochs_ == b.n_epochs_


def test_same_seed_same_run_other_seed_other_shuffles(tagging):
    graphs, targets = tagging
    runs = [Trainer("hinge", "adam", learning_rate=0.05, batch_size=3, max_epochs=2, random_state=seed,
                    progress=False).fit(graphs, targets, parameters=start()) for seed in (7, 7, 8)]
    same_run(runs[0], runs[1])
    assert runs[0].theta_.tobytes() != runs[2].theta_.tobytes()


@pytest.mark.parametrize("optimizer,options", [
    (Adam(learning_rate=0.05), {"batch_size": 3, "loss": "hinge", "l1": 1e-3}),
    (SGD(learning_rate=0.05, momentum=0.9), {"batch_size": 4, "loss": "perceptron", "l2": 1e-2}),
    (LBFGS(max_iter=3), {"batch_size": 5, "loss": NLLLoss(beta=2.0), "l2": 1e-2}),
])
def test_checkpoint_resume_equals_an_uninterrupted_run_bit_for_bit(tagging, tmp_path, optimizer, options):
    graphs, targets = tagging
    settings = dict(options, optimizer=optimizer, random_state=3, progress=False)
    full = Trainer(max_epochs=4, **settings).fit(graphs, targets, parameters=start())
    path = tmp_path / "run.ckpt"
    first = Trainer(max_epochs=2, checkpoint=path, **settings).fit(graphs, targets, parameters=start())
    assert first.n_epochs_ == 2 and load_checkpoint(path)[3]["epoch"] == 2
    resumed = Trainer(max_epochs=4, checkpoint=path, **settings).fit(graphs, targets, resume=path)
    same_run(full, resumed)
    assert load_checkpoint(path)[3]["epoch"] == 4


def test_progress_bar_shows_the_running_loss_and_can_be_turned_off(tagging, capsys):
    graphs, targets = tagging
    Trainer("perceptron", batch_size=5, max_epochs=1, random_state=0).fit(graphs, targets, parameters=start())
    err = capsys.readouterr().err
    assert "perceptron / sgd" in err and "loss=" in err
    Trainer("perceptron", batch_size=5, max_epochs=1, random_state=0, progress=False).fit(
        graphs, targets, parameters=start())
    assert capsys.readouterr().err == ""


def test_callbacks_and_validation_score_every_epoch(tagging):
    graphs, targets = tagging
    seen = []

    def record(trainer, info):
        seen.append((info["epoch"], info["val_score"], trainer.parameters_.copy()))
        return info["epoch"] == 3  # stop after three epochs

    trainer = Trainer("perceptron", SGD(learning_rate=1.0), batch_size=2, max_epochs=10, random_state=0,
                      callbacks=[record], progress=False)
    trainer.fit(graphs[:6], targets[:6], parameters=start(), validation=(graphs[6:], targets[6:]))
    assert [s[0] for s in seen] == [1, 2, 3] and trainer.stop_reason_ == "callback"
    assert [s[1] for s in seen] == [h["val_score"] for h in trainer.history_]
    for _, score, params in seen:  # the score is the accuracy of the parameters of that epoch
        assert score == accuracy(graphs[6:], targets[6:], params)
    assert seen[-1][2] == trainer.parameters_


def test_early_stopping_keeps_the_best_parameters(tagging):
    graphs, targets = tagging
    scores = []
    trainer = Trainer("hinge", SGD(learning_rate=0.5), batch_size=2, max_epochs=40, patience=2, random_state=0,
                      callbacks=[lambda t, info: scores.append((info["val_score"], t.parameters_.copy()))],
                      progress=False)
    trainer.fit(graphs[:6], targets[:6], parameters=start(), validation=(graphs[6:], targets[6:]))
    assert trainer.stop_reason_ == "early_stopping" and trainer.n_epochs_ < 40
    best = max(range(len(scores)), key=lambda i: (scores[i][0], -i))
    assert trainer.n_epochs_ == best + 1 + 2  # two epochs without improvement after the best one
    assert trainer.parameters_ == scores[best][1]


def test_l2_per_parameter_and_l1_shrink_weights(tagging):
    graphs, targets = tagging
    fits = {}
    for name, reg in {"none": {}, "l2": {"l2": {"E": 1.0}}, "l1": {"l1": 0.05}}.items():
        fits[name] = Trainer("nll", SGD(learning_rate=0.2), batch_size=None, max_epochs=20, progress=False,
                             **reg).fit(graphs, targets, parameters=start()).parameters_
    assert np.abs(fits["l2"]["E"]).sum() < 0.5 * np.abs(fits["none"]["E"]).sum()
    np.testing.assert_allclose(fits["l2"]["T"], fits["none"]["T"], rtol=0.5)  # T not penalized
    assert np.abs(fits["l1"]["E"]).sum() < np.abs(fits["none"]["E"]).sum()


SCRIPT = """
import json, sys
import numpy as np
from ebm_models import tagging_data
from factorgraph_ebm import Parameters, compile_graph, predict
graphs, _ = tagging_data(np.random.default_rng(1), n_sentences=6, length=5)
params = Parameters.load(sys.argv[1])
pred = predict(graphs, params)
energies = [compile_graph(g, parameters=params).energy({"y": p}) for g, p in zip(graphs, pred)]
print(json.dumps({"pred": [p.tolist() for p in pred], "energies": [e.hex() for e in energies]}))
"""


def test_saved_parameters_predict_identically_in_a_fresh_process(tagging, tmp_path):
    graphs, targets = tagging
    trainer = Trainer("nll", LBFGS(max_iter=20), batch_size=None, max_epochs=1, l2=1e-2, progress=False)
    trainer.fit(graphs, targets, parameters=start())
    trainer.parameters_.save(tmp_path / "model.npz")
    fresh, _ = tagging_data(np.random.default_rng(1), n_sentences=6, length=5)
    pred = trainer.predict(fresh)
    energies = [compile_graph(g, parameters=trainer.parameters_).energy({"y": p}) for g, p in zip(fresh, pred)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "model.npz")], env=env, check=True,
                         capture_output=True, text=True).stdout
    other = json.loads(out)
    assert other["pred"] == [p.tolist() for p in pred]
    assert other["energies"] == [e.hex() for e in energies]
