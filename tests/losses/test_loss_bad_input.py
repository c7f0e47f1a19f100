"""Bad training input gives clear errors and changes nothing."""

import re

import numpy as np
import pytest

from ebm_models import chain_graph, chain_parameters, faulty_graph
from factorgraph_ebm import (
    DeclarationError,
    EvidenceError,
    FactorGraph,
    LinearEnergy,
    Parameters,
    ParseError,
    TargetError,
    TrainingError,
)
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.losses import HingeLoss, MarginLoss, NLLLoss, PerceptronLoss, get_loss, make_batch


@pytest.fixture
def chain():
    rng = np.random.default_rng(0)
    return chain_graph(rng), chain_parameters(rng)


@pytest.mark.parametrize("target,message", [
    (np.array([0, 1, 2]), r"target of example 0: expected an int array of shape \(4,\).*got shape \(3,\)"),
    (np.array([0, 1, 2, 3]), r"state 3 out of range \[0, 3\) for output variable \('y', 3\)"),
    (np.array([0, -1, 2, 0]), r"state -1 out of range"),
    (np.array([0.0, 1.0, 2.0, 0.0]), r"expected an int array .* dtype float64"),
    (2, r"a single state 2 for 4 output variables"),
    ({"y": np.array([0, 1, 2, -1])}, r"output variable \('y', 3\) has no target state"),
    ({"q": 1}, r"target of example 0: evidence names unknown variable 'q'"),
])
def test_bad_targets_name_the_example_and_the_problem(chain, target, message):
    graph, params = chain
    with pytest.raises(TargetError, match=message):
        NLLLoss()(graph, [target], parameters=params)


def test_targets_assign_outputs_only_and_evidence_never_clamps_them():
    fg = FactorGraph()
    fg.add_variable("x", 2, role="observed")
    fg.add_variable("z", 2, role="latent")
    fg.add_variable("y", 2)
    fg.add_factor(["x", "y"], LinearEnergy("W"))
    fg.add_factor(["y", "z"], np.zeros((2, 2)))
    p = {"W": np.zeros((2, 2))}
    with pytest.raises(TargetError, match="variable 'z' has role 'latent'"):
        NLLLoss()(fg, [{"y": 1, "z": 0}], parameters=p)
    with pytest.raises(EvidenceError, match="evidence of example 1 clamps output variable 'y'"):
        NLLLoss()(fg, [1, 0], evidence=[{"x": 0}, {"x": 1, "y": 0}], parameters=p)
    with pytest.raises(EvidenceError, match="3 evidence entries for 2 examples"):
        NLLLoss()(fg, [1, 0], evidence=[{}, {}, {}], parameters=p)
    with pytest.raises(TargetError, match="3 graphs for 2 targets"):
        NLLLoss()([fg, fg, fg], [1, 0], parameters=p)
    no_output = FactorGraph()
    no_output.add_variable("x", 2, role="observed")
    with pytest.raises(TargetError, match="example 0: the graph has no output variable"):
        NLLLoss()(no_output, [0], parameters=p)


def test_empty_dataset():
    fg = FactorGraph()
    fg.add_variable("y", 2)
    with pytest.raises(TrainingError, match="empty dataset"):
        NLLLoss()(fg, [], parameters={})


def test_missing_or_wrong_shaped_parameters_name_them(chain):
    graph, params = chain
    with pytest.raises(DeclarationError, match="'T' has no value"):
        NLLLoss()(graph, [np.zeros(4, dtype=int)], parameters={"U": params["U"]})
    with pytest.raises(DeclarationError, match=r"parameter 'U' has shape \(3, 3\), features expect \(2, ...\)"):
        NLLLoss()(graph, [np.zeros(4, dtype=int)], parameters={**params, "U": np.zeros((3, 3))})
    batch = make_batch(graph, [np.zeros(4, dtype=int)], parameters=params)
    with pytest.raises(DeclarationError, match=r"factor group 'transition': table shape \(2, 2\)"):
        NLLLoss()(batch, parameters={**params, "T": np.zeros((2, 2))})


def test_a_loss_needing_ybar_refuses_a_model_with_one_possible_output():
    fg = FactorGraph()
    fg.add_variable("y", 1)
    fg.add_factor(["y"], LinearEnergy("b"))
    p = {"b": np.zeros(1)}
    for loss in (HingeLoss(), HingeLoss(offending="hamming"), get_loss("mce")):
        with pytest.raises(TrainingError, match=f"loss '{loss.name}' needs an incorrect answer y-bar, "
                                                "but example 0 has a single possible output"):
            loss(fg, [0], parameters=p)
    assert NLLLoss()(fg, [0], parameters=p).value == 0.0  # losses without y-bar are fine
    assert PerceptronLoss()(fg, [0], parameters=p).value == 0.0


def test_custom_backward_with_wrong_shape_is_reported():
    fg = faulty_graph(lambda sensitivity: np.zeros(3))
    with pytest.raises(DeclarationError, match=r"backward returned shape \(3,\) for parameter 'J' of shape \(1,\)"):
        NLLLoss()(fg, [0], parameters={"J": np.zeros(1)})


def test_bad_loss_options():
    with pytest.raises(DeclarationError, match="loss must be a Loss or one of"):
        get_loss("squared")
    with pytest.raises(DeclarationError, match="offending must be one of"):
        HingeLoss(offending="worst")
    with pytest.raises(DeclarationError, match="q must be a callable"):
        MarginLoss(None)
    with pytest.raises(DeclarationError, match="HingeLoss has a fixed Q"):
        HingeLoss(lambda a, b, m: (a, b, m))
    with pytest.raises(ValueError, match="beta must be > 0"):
        NLLLoss(beta=0.0)
    with pytest.raises(ValueError, match="margin must be >= 0.0"):
        HingeLoss(margin=-1.0)


def test_parameters_save_load_round_trip_and_bad_files(tmp_path):
    p = Parameters(W=np.arange(6.0).reshape(2, 3) / 7, b=[np.pi])
    p.save(tmp_path / "p.npz")
    q = Parameters.load(tmp_path / "p.npz")
    assert q == p and all(q[k].tobytes() == p[k].tobytes() for k in p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ParseError, match="not a readable .npz file"):
        Parameters.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", W=np.zeros(2))
    with pytest.raises(ParseError, match="not written by factorgraph_ebm"):
        Parameters.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "pickled.npz", W=np.array([{"a": 1}], dtype=object),
             __meta__=np.frombuffer(b'{"format": "factorgraph_ebm.parameters", "version": 1}', np.uint8))
    with pytest.raises(ParseError, match="not a readable .npz file"):
        Parameters.load(tmp_path / "pickled.npz")
    with pytest.raises(DeclarationError, match="parameter names must be str"):
        Parameters({1: [0.0]}).save(tmp_path / "int.npz")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: get_loss("hinge", marg=1.0),
         r"loss 'hinge' takes no option 'marg'; its options are \['q', 'margin', 'offending', 'latent_beta'"),
        (lambda: get_loss("nll", margin=1.0), r"loss 'nll' takes no option 'margin'; its options are \['beta'"),
        (lambda: get_loss(["nll"]), r"loss must be a Loss or one of \[.*\], got \['nll'\]"),
        (lambda: NLLLoss(infer_options="damping"), "infer_options must be a dict of options of infer.* got str"),
        (lambda: NLLLoss(infer_options={"dampin": 0.5}),
         r"infer_options: 'dampin' is not an option of infer\(\); use one of \('schedule', 'damping', 'tol', 'max_iter', 'memory_budget'\)"),
        (lambda: NLLLoss(infer_options={"beta": 2.0}), "infer_options: 'beta' is not an option"),
    ],
)
def test_unknown_loss_options_are_type_errors_naming_the_option(make, match):
    with pytest.raises(DeclarationTypeError, match=match) as info:
        make()
    assert isinstance(info.value, TypeError) and isinstance(info.value, DeclarationError)


def test_latent_beta_is_named():
    with pytest.raises(ValueError, match=r"^latent_beta must be > 0 \(np.inf for min-sum\), got -1.0$"):
        HingeLoss(latent_beta=-1)


@pytest.mark.parametrize("target, shown", [(1.5, "1.5 (float)"), (1.0, "1.0 (float)"), (True, "True (bool)"),
                                           ("1", "'1' (str)")])
def test_scalar_targets_must_be_integer_states(target, shown):
    fg = FactorGraph()
    fg.add_variable("y", 3)
    fg.add_factor(["y"], LinearEnergy("b"))
    with pytest.raises(TargetError, match=r"target of example 0: a target state must be an integer in \[0, 3\), "
                                          f"got {re.escape(shown)}"):
        NLLLoss()(fg, [target], parameters={"b": np.zeros(3)})
    with pytest.raises(TargetError, match=r"target of example 0: evidence for variable 'y' must be an integer state"):
        NLLLoss()(fg, [{"y": target}], parameters={"b": np.zeros(3)})


def test_examples_need_factor_graphs():
    with pytest.raises(TargetError, match="graphs must be a FactorGraph or a sequence of FactorGraph, got int"):
        NLLLoss()(3, [0], parameters={})
    fg = FactorGraph()
    fg.add_variable("y", 2)
    with pytest.raises(TargetError, match="got str at position 1"):
        NLLLoss()([fg, "g"], [0, 1], parameters={})
