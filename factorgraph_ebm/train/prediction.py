"""Predictions of a trained model: MAP outputs of a batch, and their accuracy."""

import numpy as np

from ..compile.lower import compile_graph
from ..exceptions import DeclarationTypeError
from ..graph.factor_graph import FactorGraph
from ..inference.api import infer
from ..losses.batch import Batch, Examples, _evidence_list, output_ids

__all__ = ["predict", "accuracy", "batch_accuracy"]


def _as_lists(graphs, evidence):
    if isinstance(graphs, FactorGraph):
        if evidence is None or isinstance(evidence, dict):
            return [graphs], [evidence]
        evidence = _evidence_list(evidence)
        return [graphs] * len(evidence), evidence
    if not hasattr(graphs, "__iter__") or isinstance(graphs, (str, bytes, dict)):
        raise DeclarationTypeError(f"graphs must be a FactorGraph or a sequence of FactorGraph, "
                                   f"got {type(graphs).__name__}")
    graphs = list(graphs)
    return graphs, [None] * len(graphs) if evidence is None else _evidence_list(evidence)


def predict(graphs, parameters=None, evidence=None, *, method="auto", **infer_options):
    """The minimum-energy outputs ``argmin_y min_z E(W, x, y, z)`` of each example.

    All examples are compiled as one batch (one kernel call).

    Parameters
    ----------
    graphs : FactorGraph or sequence of FactorGraph
        A single graph with a list of evidence is shared by every example.
    parameters : mapping, optional
    evidence : dict or sequence of them, optional
    method, infer_options
        As for :func:`~factorgraph_ebm.infer`.

    Returns
    -------
    list of ndarray
        Per example, the state of every output variable (flat id order).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("x", 2, role="observed"); _ = fg.add_variable("y", 2)
    >>> _ = fg.add_factor(["x", "y"], LinearEnergy("W"))
    >>> predict(fg, {"W": np.eye(2)}, evidence=[{"x": 0}, {"x": 1}])
    [array([0]), array([1])]
    """
    graphs, evidence = _as_lists(graphs, evidence)
    compiled = compile_graph(graphs, evidence=evidence, parameters=parameters)
    state = infer(compiled, beta=np.inf, method=method, **infer_options).map_state
    ptr = compiled.graph_var_ptr
    return [state[ptr[g] + output_ids(graph)] for g, graph in enumerate(graphs)]


def accuracy(graphs, targets, parameters=None, evidence=None, *, method="auto", **infer_options):
    """Fraction of output variables whose predicted state equals the target (all examples pooled).

    For one output variable per example this is the classification accuracy;
    for a chain it is the tag accuracy.

    Examples
    --------
    >>> from factorgraph_ebm.models import chain_graph
    >>> from factorgraph_ebm import LinearEnergy
    >>> chain = chain_graph(np.array([[0.0, 1.0], [0.0, 0.2], [0.3, 0.0]]), LinearEnergy("T"))
    >>> accuracy(chain, [np.array([0, 0, 1]), np.array([0, 0, 0])], {"T": np.zeros((2, 2))})
    0.8333333333333334
    """
    batch = Batch(Examples(graphs, targets, evidence), parameters)
    return batch_accuracy(batch, parameters, method=method, **infer_options)


def batch_accuracy(batch, parameters=None, *, method="auto", **infer_options):
    """:func:`accuracy` of a compiled :class:`~factorgraph_ebm.losses.Batch`."""
    compiled = batch.refreshed(parameters) if parameters is not None else batch.compiled
    state = infer(compiled, beta=np.inf, method=method, **infer_options).map_state
    out = batch.is_output
    return float(np.mean(state[out] == batch.target[out]))
