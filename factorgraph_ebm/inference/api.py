"""``infer``: one entry point for every question about a factor graph."""

import math

import numpy as np  # noqa: F401 - the doctests use the module globals

from ..compile.compiled import CompiledGraph
from ..compile.lower import compile_graph, resolve_evidence, with_evidence
from ..exceptions import DeclarationTypeError, InferenceError
from ..graph.factor_graph import FactorGraph
from ..utils.lazy import lazy_module
from ..utils.validation import check_type
from .bp import belief_propagation
from .elimination import _BYTES_PER_ENTRY, SECONDS_PER_ENTRY, _budget, _predict, _run, junction_tree
from .exact import enumerate_exact
from .reweighted import trw
from .variational import mean_field
from .memory import check_bp_memory, check_state_memory
from .options import METHODS, check_options

_trees = lazy_module("factorgraph_ebm.kernels.trees")

__all__ = ["infer", "free_energy", "energy", "METHODS", "AUTO_EXACT_MAX_SECONDS", "auto_runs_exact"]

#: ``auto`` runs exact inference on a loopy graph when it fits the memory budget and
#: its predicted process time (``exact_cost(...).seconds``) is at most this: an exact answer is
#: worth a few seconds more than loopy BP's approximation.
AUTO_EXACT_MAX_SECONDS = 10.0
_BYTES_FOR_SECONDS = _BYTES_PER_ENTRY / SECONDS_PER_ENTRY
_OPTION_NAMES = ("method", "schedule", "damping", "tol", "max_iter", "memory_budget")


def _compiled(graph, evidence, parameters, memory_budget=None):
    if isinstance(graph, CompiledGraph):
        if parameters is not None:
            raise InferenceError("parameters apply at compile time; use with_parameters(compiled, parameters)")
        return graph if evidence is None else with_evidence(graph, evidence)
    return compile_graph(graph, evidence=evidence, parameters=parameters, memory_budget=memory_budget)


def auto_runs_exact(cost):
    """Whether ``method="auto"`` runs exact inference on a loopy graph with this predicted cost.

    It must fit the memory budget it was predicted for and take at most
    :data:`AUTO_EXACT_MAX_SECONDS`.

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.inference.elimination import exact_cost
    >>> from factorgraph_ebm.models import potts_grid
    >>> auto_runs_exact(exact_cost(compile_graph(potts_grid(np.zeros((3, 3, 2)), 1.0))))
    True
    """
    return cost.feasible and cost.seconds <= AUTO_EXACT_MAX_SECONDS


def _auto(compiled, beta, memory_budget, bp_options):
    """Exact inference when :func:`auto_runs_exact`, else loopy BP.

    The order search stops at the smaller of the memory budget and the bytes
    :data:`AUTO_EXACT_MAX_SECONDS` allow, so a model too slow for exact
    inference is told apart fast.
    """
    budget = _budget(memory_budget)
    check_state_memory(compiled, budget, "inference")  # before the order search allocates per state
    red, order, cost = _predict(compiled, min(budget, _BYTES_FOR_SECONDS * AUTO_EXACT_MAX_SECONDS))
    if auto_runs_exact(cost):
        reason = (f"exact: {cost.heuristic} width {cost.width}, {cost.entries:.3g} entries "
                  f"({cost.bytes / 1e6:.3g} MB, about {cost.seconds:.2g} s) fit the budget")
        return _run(compiled, beta, red, order, cost, reason)
    check_bp_memory(compiled, memory_budget, "loopy belief propagation (exact inference did not fit)")
    result = belief_propagation(compiled, beta, **bp_options)
    over = "time" if cost.bytes <= budget else "memory"
    result.reason = (f"bp: exact would need {'more than ' if not cost.complete else ''}{cost.entries:.3g} entries "
                     f"({cost.heuristic} width {cost.width}), over the {over} limit")
    return result


def infer(graph, evidence=None, *, method="auto", beta=None, parameters=None, schedule="auto",
          damping="auto", tol=1e-9, max_iter=1000, memory_budget=None):
    """Answer MAP and distribution questions about a factor graph.

    Parameters
    ----------
    graph : FactorGraph, sequence of FactorGraph (a batch), or CompiledGraph
    evidence : dict or array, optional
        Clamped states of any subset of variables (see ``resolve_evidence``).
    method : {"auto", "bp", "exact", "enumerate", "mean-field", "trw", "trws"}
        ``auto``: tree BP on forests (exact); on loopy graphs the junction tree
        when its predicted memory fits ``memory_budget`` and its predicted time
        is at most ``AUTO_EXACT_MAX_SECONDS``, loopy BP otherwise.
        ``exact``: the junction tree of an elimination order (see
        :func:`~factorgraph_ebm.inference.elimination.exact_cost`); refused with
        an InferenceError when it does not fit ``memory_budget``.
        ``enumerate``: brute force (tiny models; the test oracle).
        ``mean-field``: naive mean field (finite beta only), a lower bound on
        log Z, ``result.log_partition_lower_bound``, proven whether or not it
        converged; marginals are the mean-field ones (see
        :func:`~factorgraph_ebm.inference.variational.mean_field`).
        ``trw``: tree-reweighted message passing, a proven upper bound on log Z
        (``result.log_partition_bound``) at finite beta; at beta = inf it is
        TRW-S (``"trws"`` names it too): a MAP state with a proven lower bound
        on the minimum energy (``result.energy_lower_bound``, ``result.gap``)
        (see :func:`~factorgraph_ebm.inference.reweighted.trw`).
        ``result.method`` says which ran, ``result.reason`` why (``auto`` on loopy graphs).
    beta : float > 0, optional
        Inverse temperature; ``np.inf`` = min-sum (MAP). Default 1.0, and
        ``np.inf`` for ``method="trws"`` (MAP only).
    parameters : mapping, optional
        Values of the parameters of parameterized energies.
    schedule, damping, tol, max_iter
        Belief-propagation options (see :func:`belief_propagation`); mean
        field and TRW use ``tol`` and ``max_iter``.
    memory_budget : float, optional
        Bytes exact inference may use; default
        :func:`~factorgraph_ebm.inference.elimination.default_memory_budget`
        (``FGEBM_MEMORY_BUDGET`` or a quarter of the RAM). Compiling and belief
        propagation check their predicted memory against it too
        (:mod:`factorgraph_ebm.inference.memory`).

    Returns
    -------
    InferenceResult

    Raises
    ------
    InferenceError
        A bad option, whichever method runs (checked first, by
        :func:`~factorgraph_ebm.inference.options.check_options`), or a model
        too large for the chosen exact method.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, infer
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=5, states=2)
    >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), [[0.0, 1.0], [1.0, 0.0]])
    >>> res = infer(fg, evidence={("x", 0): 1}, beta=np.inf)
    >>> res.map_assignment()["x"], res.map_energy, res.method
    (array([1, 1, 1, 1, 1]), 0.0, 'tree-bp')
    """
    if beta is None:
        beta = math.inf if method == "trws" else 1.0
    opts = check_options(method, beta, schedule, damping, tol, max_iter, memory_budget)
    beta = opts.beta
    compiled = _compiled(graph, evidence, parameters, memory_budget)
    if method == "enumerate":
        return enumerate_exact(compiled, beta)
    if method == "exact":
        return junction_tree(compiled, beta, memory_budget)
    if method == "mean-field":
        return mean_field(compiled, beta, tol=tol, max_iter=max_iter)
    if method in ("trw", "trws"):
        return trw(compiled, beta, tol=tol, max_iter=max_iter)
    bp_options = dict(schedule=schedule, damping=damping, tol=tol, max_iter=max_iter)
    if method == "auto" and schedule == "auto" and not _trees._bfs_order(compiled.wiring)[2]:
        return _auto(compiled, beta, memory_budget, bp_options)
    check_bp_memory(compiled, memory_budget)
    return belief_propagation(compiled, beta, **bp_options)


def free_energy(graph, clamp, *, beta=1.0, evidence=None, **options):
    """Free energy of a clamped subset: ``-(1/beta) log sum_rest exp(-beta E)``.

    With ``clamp = {x, y}`` and latent z free this is
    ``F(x, y) = -(1/beta) log sum_z exp(-beta E(x, y, z))``; at ``beta = inf``
    it is ``min_z E(x, y, z)``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("y", 2); _ = fg.add_variable("z", 2, role="latent")
    >>> _ = fg.add_factor(["y", "z"], [[0.0, 3.0], [1.0, 2.0]])
    >>> free_energy(fg, {"y": 1}, beta=np.inf)
    1.0
    """
    unknown = [k for k in options if k not in _OPTION_NAMES + ("parameters",)]
    if unknown:
        raise DeclarationTypeError(f"free_energy: {unknown[0]!r} is not an option of infer(); use one of "
                                   f"{_OPTION_NAMES + ('parameters',)}")
    check_options(beta=beta, **{k: v for k, v in options.items() if k in _OPTION_NAMES})
    check_type(graph, (FactorGraph, CompiledGraph), "free_energy: graph", "a FactorGraph or a CompiledGraph")
    if not isinstance(clamp, dict) or isinstance(graph, (list, tuple)) or (
            isinstance(graph, CompiledGraph) and graph.n_graphs != 1):
        raise InferenceError("free_energy takes one graph (not a batch) and a dict clamp")
    if isinstance(graph, CompiledGraph):
        base = graph.graphs[0]
        merged = graph.clamped.copy() if evidence is None else resolve_evidence(base, evidence)
    else:
        base = graph
        merged = resolve_evidence(base, evidence)
    extra = resolve_evidence(base, clamp)
    on = extra >= 0
    merged[on] = extra[on]
    return infer(graph, merged, beta=beta, **options).free_energy


def energy(graph, assignment, parameters=None):
    """Energy E of a full assignment (dict of names, or flat int array).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2)
    >>> _ = fg.add_factor(["a"], [0.5, np.inf])
    >>> energy(fg, {"a": 0}), energy(fg, {"a": 1})
    (0.5, inf)
    """
    compiled = graph if isinstance(graph, CompiledGraph) else compile_graph(graph, parameters=parameters)
    return compiled.energy(assignment)
