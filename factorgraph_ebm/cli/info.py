"""``fgebm info``: size and structure of a model file."""

import sys

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..io.formats import model_format
from ..io.uai import NETWORK_KEY
from ..utils.validation import format_bytes
from ._common import LOGGER, Timer, load_model, read_limits

__all__ = ["run_info", "model_summary"]


def _edges(fg):
    """(variable, factor) pairs of the expanded bipartite graph, as two int arrays."""
    var_parts, factor_parts, first = [], [], 0
    for spec in fg.factor_specs:
        n, arity = spec.scopes.shape
        var_parts.append(spec.scopes.ravel())
        factor_parts.append(np.repeat(np.arange(first, first + n), arity))
        first += n
    if not var_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(var_parts), np.concatenate(factor_parts)


def _is_forest(fg, var, factor):
    n_nodes = fg.n_vars + fg.n_factors
    if n_nodes == 0:
        return True
    adj = coo_matrix((np.ones(len(var)), (var, fg.n_vars + factor)), shape=(n_nodes, n_nodes))
    n_components = connected_components(adj, directed=False)[0]
    return len(var) == n_nodes - n_components


def model_summary(fg, evidence=None, memory_budget=None):
    """Size and structure of ``fg``, and what exact inference on it would cost.

    ``exact`` is the :class:`~factorgraph_ebm.inference.elimination.ExactCost`
    of the elimination order exact inference would use (given ``evidence``:
    clamped variables leave the scopes); its width is an upper bound on the
    treewidth.

    Examples
    --------
    >>> from factorgraph_ebm.models import potts_grid
    >>> s = model_summary(potts_grid(np.zeros((3, 3, 2)), 1.0))
    >>> s["variables"], s["factors"], s["max arity"], s["exact"].width, s["forest"]
    (9, 21, 2, 3, False)
    """
    from ..compile.lower import compile_graph
    from ..inference.elimination import exact_cost

    var, factor = _edges(fg)
    states = fg.var_states
    return {
        "variables": fg.n_vars,
        "states": (int(states.min()), int(states.max())) if len(states) else (0, 0),
        "factors": fg.n_factors,
        "max arity": max((spec.arity for spec in fg.factor_specs), default=0),
        "forest": _is_forest(fg, var, factor),
        "exact": exact_cost(compile_graph(fg, evidence=evidence), memory_budget),
    }


def _auto_choice(summary):
    """What ``infer(method="auto")`` runs on the model, and why."""
    from ..inference.api import AUTO_EXACT_MAX_SECONDS, auto_runs_exact

    cost = summary["exact"]
    if summary["forest"]:
        return "tree BP (exact: the model is a forest)"
    if auto_runs_exact(cost):
        return "exact (junction tree)"
    why = "memory budget" if not cost.feasible else f"{AUTO_EXACT_MAX_SECONDS:g} s time limit"
    return f"loopy BP (exact inference is over the {why})"


def run_info(args):
    """Run ``fgebm info`` with parsed arguments; returns the exit code."""
    from ..io.evidence import read_evidence

    limits = read_limits(args)
    fg = load_model(args.model, limits)
    evidence = read_evidence(args.evidence, fg, limits=limits) if args.evidence else None
    timer = Timer()
    summary = model_summary(fg, evidence, args.memory_budget)
    cost = summary["exact"]
    LOGGER.info("elimination order search took %.2f s", timer.seconds)
    kind = "UAI " + fg.graph.graph.get(NETWORK_KEY, "MARKOV") if model_format(args.model) == ".uai" else "libDAI"
    lo, hi = summary["states"]
    at_least = "" if cost.complete else ">= "
    lines = [
        f"model: {args.model} ({kind})",
        f"variables: {summary['variables']}",
        f"states: {lo}" if lo == hi else f"states: {lo} to {hi}",
        f"factors: {summary['factors']}",
        f"max arity: {summary['max arity']}",
        f"forest: {'yes' if summary['forest'] else 'no'}",
        f"elimination order: {cost.heuristic}, width {at_least}{cost.width}",
        f"exact inference: {at_least}{cost.entries:.3g} table entries, {at_least}{format_bytes(cost.bytes)}, about "
        f"{cost.seconds:.2g} s; {'fits' if cost.feasible else 'over'} the memory budget of {format_bytes(cost.budget)}",
        f"method auto: {_auto_choice(summary)}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
