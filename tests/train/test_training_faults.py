"""Training faults (issue 14): parameters that overflow the energy tables, non-finite starting values.

Every optimizer stops with a TrainingError naming the epoch, the step, the
examples, the factor and the parameter, and ``parameters_`` keeps the last good
values: those before the update that broke a table (they still compile), the
finite values the failing step started from after a non-finite loss.
"""

import warnings

import numpy as np
import pytest

from ebm_models import binary_classifier
from factorgraph_ebm import ConvergenceWarning, DeclarationError, Energy, FactorGraph, Parameters, Trainer, TrainingError, compile_graph
from factorgraph_ebm.models import ChainTagger
from factorgraph_ebm.train import LBFGS, SGD, Adam, check_finite_parameters, load_checkpoint


class LogBarrier(Energy):
    """``E(y=1) = log(1 - w)``: finite for w < 1, -inf at 1 and NaN beyond (the NLL of y=1 pushes w up)."""

    parameter_names = ("w",)

    def table(self, parameters=None):
        w = float(np.asarray(parameters["w"]).ravel()[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.array([0.0, np.log(1.0 - w)])

    def backward(self, sensitivity, parameters=None):
        w = float(np.asarray(parameters["w"]).ravel()[0])
        return {"w": np.array([-sensitivity[1] / (1.0 - w)])}


def barrier_graph():
    fg = FactorGraph()
    fg.add_variable("y", 2)
    fg.add_factor(["y"], LogBarrier(), name="barrier")
    return fg


def overflow_data():
    """Four linear examples with huge features: a big step makes ``-(x . w)`` overflow to -inf."""
    graphs = [binary_classifier(np.array([s * 1e10, 1.0])) for s in (-2, -1, 1, 2)]
    return graphs, np.array([0, 0, 1, 1])


@pytest.mark.parametrize("optimizer", [SGD(learning_rate=1e298), Adam(learning_rate=1e298)],
                         ids=["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [None, 2])
def test_a_step_that_overflows_a_table_names_epoch_step_examples_factor_and_parameter(optimizer, batch_size,
                                                                                     tmp_path):
    graphs, y = overflow_data()
    settings = dict(loss="nll", optimizer=optimizer, batch_size=batch_size, shuffle=False, progress=False)
    trainer = Trainer(max_epochs=6, checkpoint=tmp_path / "ckpt", **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # no overflow RuntimeWarning escapes either
        with pytest.raises(TrainingError, match=r"training stopped at epoch (\d+), step (\d+) \(batch \d+, examples "
                           r"\[[\d, ]+\]\): parameter 'w' made the energy table of factor 'score' contain -inf; "
                           r"parameters_ keeps the last values whose energy tables are finite") as err:
            trainer.fit(graphs, y, parameters={"w": np.zeros(2)})
    assert isinstance(err.value.__cause__, DeclarationError)
    step = int(err.value.args[0].split("step ")[1].split(" ")[0])
    # step S evaluated the values of update S - 1, which broke the table: back to the values before that update
    assert step > 1 and trainer.n_iter_ == step - 2
    if trainer.n_epochs_:                            # the checkpoint is the last completed epoch's
        saved, _, _, meta = load_checkpoint(tmp_path / "ckpt")
        assert meta["epoch"] == trainer.n_epochs_
    assert np.isfinite(trainer.parameters_["w"]).all()
    steps_per_epoch = 1 if batch_size is None else 2
    if (step - 2) % steps_per_epoch == 0:            # those of a run stopped two steps earlier
        if step == 2:
            assert trainer.parameters_ == Parameters({"w": np.zeros(2)})
        else:
            earlier = Trainer(max_epochs=(step - 2) // steps_per_epoch, **settings)
            earlier.fit(graphs, y, parameters={"w": np.zeros(2)})
            assert trainer.parameters_ == earlier.parameters_
    compile_graph(graphs, parameters=trainer.parameters_)   # the last good values: their tables are finite


def test_lbfgs_steps_back_from_trial_points_that_break_a_table():
    """The line search treats a trial point whose table turns NaN / -inf as too far and backtracks."""
    graphs = [barrier_graph()] * 3
    trainer = Trainer("nll", LBFGS(max_iter=50), batch_size=None, max_epochs=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.fit(graphs, [1, 1, 1], parameters={"w": np.array([0.0])})
    w = float(trainer.parameters_["w"][0])
    assert np.isfinite(w) and 0.5 < w < 1.0          # pushed up towards the barrier, never past it
    assert trainer.history_[0]["loss"] < np.log(2.0)  # below the loss at w = 0
    compile_graph(graphs, parameters=trainer.parameters_)


def test_starting_values_that_break_a_table_are_refused_before_any_work():
    trainer = Trainer("nll", LBFGS(max_iter=5), batch_size=None, max_epochs=1, progress=False)
    with pytest.raises(DeclarationError, match=r"factor 'barrier': energy table contains NaN"):
        trainer.fit([barrier_graph()], [1], parameters={"w": np.array([2.0])})
    assert not hasattr(trainer, "parameters_")


def test_sgd_on_a_custom_energy_names_its_parameter():
    settings = dict(loss="nll", optimizer=SGD(learning_rate=10.0), batch_size=None, progress=False)
    trainer = Trainer(max_epochs=20, **settings)
    with pytest.raises(TrainingError, match=r"epoch 2, step 2 .*parameter 'w' made the energy table of "
                                            r"factor 'barrier' contain NaN"):
        trainer.fit(barrier_graph(), [1], parameters={"w": np.array([0.5])})
    # step 1's update broke the table (evaluated at step 2): back to the starting values, which still compile
    assert trainer.parameters_ == Parameters({"w": np.array([0.5])}) and trainer.n_iter_ == 0
    compile_graph(barrier_graph(), parameters=trainer.parameters_)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("bad, error, message", [
    (np.inf, TrainingError, r"initial value of parameter 'w' is not finite \(1 of its 2 entries is NaN or inf\)"),
    (-np.inf, TrainingError, r"initial value of parameter 'w' is not finite"),
    (np.nan, DeclarationError, r"parameter 'w' contains NaN"),       # refused by Parameters itself
])
def test_non_finite_initial_parameters_are_refused_before_any_work(optimizer, bad, error, message):
    graphs, y = overflow_data()
    trainer = Trainer("nll", optimizer, progress=False)
    with pytest.raises(error, match=message):
        trainer.fit(graphs, y, parameters={"w": np.array([bad, 0.0])})
    assert not hasattr(trainer, "n_iter_") or trainer.n_iter_ == 0


def test_check_finite_parameters_names_the_first_bad_parameter():
    check_finite_parameters({"a": np.zeros(3)})
    with pytest.raises(TrainingError, match="parameter 'b' is not finite \\(2 of its 3 entries are"):
        check_finite_parameters({"a": np.zeros(3), "b": [np.nan, 1.0, np.inf]})


def test_the_chain_tagger_fast_path_stops_on_overflowing_scores():
    X = [np.array([[1e200, 0.0], [0.0, 1e200]]), np.array([[0.0, 1e200]])]
    tagger = ChainTagger(optimizer="sgd", learning_rate=1e100, max_iter=5, progress=False)
    assert tagger._chain_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingError, match=r"non-finite loss nan at epoch \d+, step \d+ .*gradient of parameter "
                                                r"'emission' is not finite"):
            tagger.fit(X, [["a", "b"], ["b"]])
    assert not hasattr(tagger, "parameters_")       # a failed fit leaves the tagger unfitted
