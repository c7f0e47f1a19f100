"""Inference options are checked in one place (inference.options.check_options), whatever method runs.

Issue 14: ``method="exact"`` with ``max_iter=0`` or ``damping=5`` was accepted, and
``method="auto"`` with ``max_iter=0`` was accepted or refused depending on the
graph it picked. Now every entry point refuses a bad option before compiling.
"""

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, InferenceError, compile_graph, free_energy, infer
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.inference import belief_propagation
from factorgraph_ebm.inference.options import METHODS, InferenceOptions, check_options
from factorgraph_ebm.losses import HingeLoss, NLLLoss, get_loss
from factorgraph_ebm.models import potts_grid

BAD = [
    ({"max_iter": 0}, r"max_iter must be >= 1, got 0"),
    ({"max_iter": 2.5}, r"max_iter must be an integer"),
    ({"max_iter": "10"}, r"max_iter must be an integer >= 1, got '10' \(str\)"),
    ({"max_iter": None}, r"max_iter must be an integer >= 1, got None"),
    ({"max_iter": np.inf}, r"max_iter must be an integer"),
    ({"damping": 5}, r"damping must be < 1.0, got 5.0"),
    ({"damping": -0.1}, r"damping must be >= 0.0, got -0.1"),
    ({"damping": "none"}, r"damping must be a number in \[0, 1\) or 'auto', got 'none'"),
    ({"damping": np.nan}, r"damping must be a number in \[0, 1\) or 'auto', got nan"),
    ({"damping": True}, r"damping must be .* got True \(bool\)"),
    ({"tol": -1.0}, r"tol must be >= 0, got -1.0"),
    ({"tol": None}, r"tol must be a number >= 0, got None"),
    ({"schedule": "spiral"}, r"schedule must be one of \('auto', 'tree'"),
    ({"schedule": None}, r"schedule must be one of"),
    ({"beta": 0}, r"beta must be > 0"),
    ({"beta": "1"}, r"beta must be a positive real number or inf, got .1."),
    ({"memory_budget": -1}, r"memory_budget must be a positive, finite number of bytes, got -1"),
    ({"memory_budget": "lots"}, r"memory_budget='lots' is not a number of bytes"),
    ({"memory_budget": [1]}, r"memory_budget must be a number of bytes or a text such as '2G', got \[1\] \(list\)"),
]


def tree():
    fg = FactorGraph()
    for v in "ab":
        fg.add_variable(v, 2)
    fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    return fg


GRAPHS = {
    "tree": tree,                                                   # auto: tree BP
    "small-loopy": lambda: potts_grid(np.zeros((3, 3, 2)), 0.5),    # auto: junction tree
    "large-loopy": lambda: potts_grid(np.zeros((40, 40, 2)), 0.5),  # auto: loopy BP (memory_budget below)
}


@pytest.mark.parametrize("kwargs, match", BAD, ids=[f"{next(iter(k))}={v!r}" for k, _ in BAD for v in k.values()])
@pytest.mark.parametrize("method", METHODS)
def test_a_bad_option_is_refused_by_every_method_before_compiling(method, kwargs, match):
    with pytest.raises(InferenceError, match=match):
        check_options(method=method, **kwargs)
    # None is no graph: the option is refused before the graph is even looked at
    with pytest.raises(InferenceError, match=match):
        infer(None, method=method, **kwargs)


@pytest.mark.parametrize("name", GRAPHS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kwargs", [{"max_iter": 0}, {"damping": 5}, {"tol": -1.0}])
def test_the_answer_does_not_depend_on_the_graph_auto_picks(name, method, kwargs):
    fg = GRAPHS[name]()
    with pytest.raises(InferenceError, match=next(iter(kwargs))):
        infer(fg, method=method, memory_budget=1e5, **kwargs)


def test_good_options_are_normalised():
    opts = check_options(method="exact", beta=2, damping=0, tol=0, max_iter=np.int64(3), memory_budget="1K")
    assert opts == InferenceOptions("exact", 2.0, "auto", 0.0, 0.0, 3, 1024.0)
    assert type(opts.max_iter) is int and check_options(max_iter=5.0).max_iter == 5
    assert check_options(beta=np.inf, damping="auto").beta == np.inf
    # and infer runs with them
    assert infer(tree(), method="exact", damping=0.0, max_iter=1).method == "junction-tree"


def test_belief_propagation_and_free_energy_use_the_same_check():
    cg = compile_graph(tree())
    with pytest.raises(InferenceError, match=r"damping must be < 1.0, got 1.0"):
        belief_propagation(cg, 1.0, damping=1.0)
    with pytest.raises(InferenceError, match=r"beta must be > 0"):
        belief_propagation(cg, -1.0)
    with pytest.raises(InferenceError, match=r"max_iter must be >= 1"):
        free_energy(tree(), {"a": 0}, method="exact", max_iter=0)
    with pytest.raises(DeclarationTypeError, match=r"free_energy: 'dampin' is not an option of infer\(\)"):
        free_energy(tree(), {"a": 0}, dampin=0.5)


@pytest.mark.parametrize("make, match", [
    (lambda: NLLLoss(infer_options={"max_iter": 0}), r"max_iter must be >= 1, got 0"),
    (lambda: NLLLoss(method="exact", infer_options={"damping": 5}), r"damping must be < 1.0"),
    (lambda: HingeLoss(method="bp", infer_options={"memory_budget": "lots"}), r"memory_budget='lots'"),
    (lambda: get_loss("perceptron", method="gibbs"), r"method must be one of \('auto', 'bp', 'exact'"),
])
def test_losses_check_their_inference_options_when_built(make, match):
    with pytest.raises(InferenceError, match=match):
        make()


def test_mean_field_refuses_min_sum_and_bp_schedules():
    with pytest.raises(InferenceError, match=r"method='mean-field' needs a finite beta, got beta=inf"):
        infer(tree(), method="mean-field", beta=np.inf)
    with pytest.raises(InferenceError, match=r"schedule='flood' is an option of method='bp'"):
        infer(tree(), method="mean-field", schedule="flood")
    assert infer(tree(), method="mean-field", beta=2.0).method == "mean-field"
