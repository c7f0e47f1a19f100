"""The Trainer on bad input: clear errors, nothing lost, no state changed."""

import numpy as np
import pytest

from ebm_models import binary_classifier, faulty_graph
from factorgraph_ebm import (
    DeclarationError,
    FactorGraph,
    FactorGraphError,
    LinearEnergy,
    TargetError,
    Trainer,
    TrainingError,
)
from factorgraph_ebm.losses import MarginLoss
from factorgraph_ebm.train import SGD, load_checkpoint


def sqrt_hinge(e_pos, e_neg, m):
    """A Q undefined for negative gaps: NaN once an example is separated by more than m."""
    z = m + e_pos - e_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(z), 0.5 / np.sqrt(z), -0.5 / np.sqrt(z)


@pytest.fixture
def line():
    x = np.array([[1.0, 1.0], [2.0, 1.0], [-1.0, 1.0], [-2.0, 1.0]])
    return [binary_classifier(row) for row in x], np.array([1, 1, 0, 0])


def test_nan_in_the_loss_stops_naming_the_step_and_parameter_and_keeps_the_last_good_values(line, tmp_path):
    graphs, y = line
    settings = dict(loss=MarginLoss(sqrt_hinge, margin=1.0), optimizer=SGD(learning_rate=0.3), batch_size=None,
                    max_epochs=50, progress=False)
    trainer = Trainer(checkpoint=tmp_path / "ckpt", **settings)
    with pytest.raises(TrainingError, match=r"non-finite loss nan at epoch (\d+), step \1 .*examples \[0, 1, 2, 3\]"
                                            r"\); gradient of parameter 'w' is not finite; stopped") as err:
        trainer.fit(graphs, y, parameters={"w": np.zeros(2)})
    failed = int(err.value.args[0].split("epoch ")[1].split(",")[0])
    assert failed > 1 and trainer.n_iter_ == failed - 1
    assert np.isfinite(trainer.parameters_["w"]).all()
    good = Trainer(**{**settings, "max_epochs": failed - 1}).fit(graphs, y, parameters={"w": np.zeros(2)})
    assert trainer.parameters_ == good.parameters_  # exactly the values before the failing step
    assert load_checkpoint(tmp_path / "ckpt")[3]["epoch"] == failed - 1  # the checkpoint was not spoiled


def test_a_nan_gradient_from_a_custom_energy_names_the_parameter():
    fg = faulty_graph(lambda sensitivity: np.array([np.nan * sensitivity[1]]))
    trainer = Trainer("nll", batch_size=1, max_epochs=1, progress=False)
    with pytest.raises(TrainingError, match=r"non-finite gradient at epoch 1, step 1 .*parameter 'J' is not finite"):
        trainer.fit(fg, [1], parameters={"J": [0.5]})
    assert trainer.parameters_ == {"J": np.array([0.5])} and trainer.n_iter_ == 0


def test_an_update_that_overflows_names_the_parameter():
    graphs = [binary_classifier(np.array([s * 100.0, 1.0])) for s in (1, 2, -1, -2)]
    y = np.array([1, 1, 0, 0])
    trainer = Trainer("nll", SGD(learning_rate=1e308), batch_size=None, max_epochs=3, progress=False)
    with pytest.raises(TrainingError, match=r"step at epoch 1, step 1 .* made parameter 'w' non-finite"):
        trainer.fit(graphs, y, parameters={"w": np.zeros(2)})
    np.testing.assert_array_equal(trainer.parameters_["w"], 0.0)


@pytest.fixture
def fitted(line):
    graphs, y = line
    return Trainer("hinge", SGD(learning_rate=0.1), batch_size=2, max_epochs=2, random_state=0,
                   progress=False).fit(graphs, y, parameters={"w": np.zeros(2)})


def state(trainer):
    return (trainer.parameters_.copy(), trainer.theta_.copy(), trainer.n_iter_, trainer.n_epochs_,
            list(trainer.history_), trainer.stop_reason_)


def test_bad_input_raises_and_leaves_a_fitted_trainer_unchanged(fitted, line, tmp_path):
    graphs, y = line
    before = state(fitted)
    params = {"w": np.zeros(2)}
    one_state = FactorGraph()
    one_state.add_variable("y", 1)
    one_state.add_factor(["y"], LinearEnergy("w", features=[[1.0, 0.0]]))
    cases = [
        (TrainingError, "empty dataset", dict(graphs=[], targets=[])),
        (TargetError, r"4 graphs for 3 targets", dict(targets=y[:3])),
        (TargetError, r"target of example 2: state 2 out of range \[0, 2\)", dict(targets=[1, 1, 2, 0])),
        (TargetError, r"example 0: expected an int array of shape \(1,\)", dict(targets=[[0, 1]] * 4)),
        (DeclarationError, r"factor 'score': parameter 'w' has no value", dict(parameters={"v": np.zeros(2)})),
        (DeclarationError, r"parameter 'w' has shape \(3,\), features expect \(2, ...\)",
         dict(parameters={"w": np.zeros(3)})),
        (DeclarationError, "parameter 'w' contains NaN", dict(parameters={"w": [np.nan, 0.0]})),
        (DeclarationError, "parameters= is required", dict(parameters=None)),
        (TrainingError, "needs an incorrect answer y-bar, but example 0 has a single possible output",
         dict(graphs=[one_state], targets=[0])),
        (FactorGraphError, "batch_size must be >= 1", dict(trainer=dict(batch_size=0))),
        (FactorGraphError, "max_epochs must be an integer", dict(trainer=dict(max_epochs=1.5))),
        (DeclarationError, "l1 needs a step optimizer", dict(trainer=dict(optimizer="lbfgs", l1=0.1))),
        (DeclarationError, "l2 names unknown parameter 'b'", dict(trainer=dict(l2={"b": 1.0}))),
        (DeclarationError, "l2 for parameter 'w' must be a finite number >= 0", dict(trainer=dict(l2=-1.0))),
        (TrainingError, "validation must be", dict(validation=(graphs,))),
    ]
    for exc, message, case in cases:
        trainer = Trainer(**{**fitted.get_params(), **case["trainer"]}) if "trainer" in case else fitted
        kwargs = {"parameters": case.get("parameters", params)}
        if "validation" in case:
            kwargs["validation"] = case["validation"]
        with pytest.raises(exc, match=message):
            trainer.fit(case.get("graphs", graphs), case.get("targets", y), **kwargs)
        if trainer is fitted:
            after = state(fitted)
            assert after[0] == before[0] and np.array_equal(after[1], before[1]) and after[2:] == before[2:]
        else:
            assert not hasattr(trainer, "parameters_")
    np.testing.assert_array_equal(params["w"], 0.0)  # the caller's parameters are never modified


def test_resume_refuses_another_configuration_or_parameters(line, tmp_path):
    graphs, y = line
    path = tmp_path / "ckpt"
    Trainer("hinge", SGD(learning_rate=0.1), max_epochs=1, checkpoint=path, progress=False).fit(
        graphs, y, parameters={"w": np.zeros(2)})
    other = Trainer("hinge", SGD(learning_rate=0.2), max_epochs=2, progress=False)
    with pytest.raises(TrainingError, match=r"was written with a different configuration: learning_rate 0.1 "
                                            r"\(checkpoint\) != 0.2 \(now\)"):
        other.fit(graphs, y, resume=path)
    with pytest.raises(TrainingError, match="pass either parameters= or resume="):
        other.fit(graphs, y, parameters={"w": np.zeros(2)}, resume=path)
    assert not hasattr(other, "parameters_")


def test_predict_before_fit():
    with pytest.raises(TrainingError, match="not fitted yet"):
        Trainer().predict(FactorGraph())
