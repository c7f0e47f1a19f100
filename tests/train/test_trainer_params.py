"""Trainer parameters: get_params / set_params, sklearn.base.clone, and loss / optimizer names checked at once."""

import numpy as np
import pytest

from ebm_models import binary_classifier
from factorgraph_ebm import DeclarationError, FactorGraphError, Trainer
from factorgraph_ebm.losses import HingeLoss
from factorgraph_ebm.train import SGD


def test_get_params_lists_every_constructor_argument_and_rebuilds_an_equal_trainer():
    trainer = Trainer("hinge", "adam", learning_rate=0.05, batch_size=4, l2={"w": 0.1}, progress=False)
    params = trainer.get_params()
    assert list(params) == ["loss", "optimizer", "learning_rate", "batch_size", "max_epochs", "l2", "l1",
                            "shuffle", "random_state", "progress", "callbacks", "patience", "min_delta",
                            "checkpoint", "cluster", "n_workers"]
    assert params == trainer.get_params(deep=False)            # no argument has parameters of its own
    assert Trainer(**params).get_params() == params
    assert repr(trainer) == ("Trainer(loss='hinge', optimizer='adam', learning_rate=0.05, batch_size=4, "
                             "l2={'w': 0.1}, progress=False)")


def test_set_params_changes_the_arguments_and_rejects_unknown_names_with_the_valid_list():
    trainer = Trainer(progress=False)
    assert trainer.set_params(l2=0.5, max_epochs=3) is trainer
    assert (trainer.l2, trainer.max_epochs) == (0.5, 3)
    with pytest.raises(DeclarationError, match=r"invalid parameter 'max_epoch' for Trainer; valid: \['loss', "
                                               r".*'checkpoint', 'cluster', 'n_workers'\]; did you mean 'max_epochs'\?"):
        trainer.set_params(max_epoch=4)
    with pytest.raises(DeclarationError, match="invalid parameter 'optimizer__momentum' for Trainer: 'optimizer' "
                                               "is 'sgd', which has no parameters of its own"):
        trainer.set_params(optimizer__momentum=0.9)
    assert trainer.max_epochs == 3


def test_sklearn_clone_gives_an_unfitted_trainer_with_equal_arguments():
    clone = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed").clone
    graphs = [binary_classifier(np.array([s, 1.0])) for s in (1.0, 2.0, -1.0, -2.0)]
    loss, optimizer = HingeLoss(margin=2.0), SGD(learning_rate=0.1, momentum=0.5)
    trainer = Trainer(loss, optimizer, batch_size=2, max_epochs=2, random_state=0, progress=False,
                      callbacks=[lambda t, info: False])
    trainer.fit(graphs, [1, 1, 0, 0], parameters={"w": np.zeros(2)})
    copy = clone(trainer)
    assert type(copy) is Trainer and not hasattr(copy, "parameters_")
    assert repr(copy.loss) == repr(loss) and copy.loss is not loss                     # deep copies
    assert copy.optimizer.config() == optimizer.config() and copy.optimizer is not optimizer
    assert copy.callbacks[0] is trainer.callbacks[0]
    same = {k: v for k, v in trainer.get_params().items() if k not in ("loss", "optimizer", "callbacks")}
    assert {k: copy.get_params()[k] for k in same} == same
    copy.fit(graphs, [1, 1, 0, 0], parameters={"w": np.zeros(2)})
    assert copy.parameters_ == trainer.parameters_                                     # the same run


@pytest.mark.parametrize("settings, message", [
    (dict(loss="crossentropy", optimizer="sgd"),
     r"loss must be a Loss or one of \['cd', 'energy', .*'square-square'\], got 'crossentropy'; did you mean 'nll'\?"),
    (dict(loss="perceptorn"), r"got 'perceptorn'; did you mean 'perceptron'\?"),
    (dict(loss="NLL"), r"got 'NLL'; did you mean 'nll'\?"),
    (dict(loss="l2"), r"loss must be a Loss or one of \[.*\], got 'l2'$"),        # nothing close: no guess
    (dict(loss=3), r"loss must be a Loss or one of \[.*\], got 3$"),
    (dict(optimizer="L-BFGS"), r"optimizer must be an Optimizer or one of \['adam', 'lbfgs', 'sgd'\], "
                               r"got 'L-BFGS'; did you mean 'lbfgs'\?"),
    (dict(optimizer="newton"), r"optimizer must be an Optimizer or one of \['adam', 'lbfgs', 'sgd'\], got 'newton'$"),
])
def test_bad_loss_or_optimizer_names_fail_at_construction_with_the_valid_names(settings, message):
    with pytest.raises(DeclarationError, match=message) as err:
        Trainer(**settings)
    assert isinstance(err.value, FactorGraphError) and isinstance(err.value, ValueError)


def test_set_params_checks_the_names_too_and_changes_nothing_on_error():
    trainer = Trainer("hinge", "adam", progress=False)
    with pytest.raises(DeclarationError, match=r"got 'hindge'; did you mean 'hinge'\?"):
        trainer.set_params(loss="hindge", l2=1.0)
    with pytest.raises(DeclarationError, match=r"got 'adamw'; did you mean 'adam'\?"):
        trainer.set_params(optimizer="adamw")
    assert (trainer.loss, trainer.optimizer, trainer.l2) == ("hinge", "adam", 0.0)
