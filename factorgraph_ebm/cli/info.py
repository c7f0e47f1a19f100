"""``fgebm info``: size and structure of a model file."""

import sys

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..inference.exact import elimination_cliques
from ..io.formats import model_format
from ..io.uai import NETWORK_KEY
from ._common import LOGGER, Timer, load_model

__all__ = ["run_info", "model_summary", "TREEWIDTH_MAX_VARS"]

#: ``info`` estimates the treewidth by default up to this many variables (the
#: greedy elimination is quadratic-ish in Python); ``--treewidth`` forces it.
TREEWIDTH_MAX_VARS = 2000


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


def model_summary(fg, treewidth=True):
    """Variables, factors, max arity, treewidth estimate and forest test of ``fg``.

    The treewidth estimate is the largest clique of the greedy elimination used
    by the junction tree, minus one (an upper bound on the true treewidth);
    None when ``treewidth`` is False.

    Examples
    --------
    >>> from factorgraph_ebm.models import potts_grid
    >>> s = model_summary(potts_grid(np.zeros((3, 3, 2)), 1.0))
    >>> s["variables"], s["factors"], s["max arity"], s["treewidth estimate"], s["forest"]
    (9, 21, 2, 3, False)
    """
    var, factor = _edges(fg)
    states = fg.var_states
    summary = {
        "variables": fg.n_vars,
        "states": (int(states.min()), int(states.max())) if len(states) else (0, 0),
        "factors": fg.n_factors,
        "max arity": max((spec.arity for spec in fg.factor_specs), default=0),
        "treewidth estimate": None,
        "forest": _is_forest(fg, var, factor),
    }
    if treewidth and fg.n_vars:
        scopes = [tuple(s) for spec in fg.factor_specs for s in spec.scopes.tolist()]
        cliques = elimination_cliques(states, scopes)[1]
        summary["treewidth estimate"] = max(len(c) for c in cliques) - 1
    return summary


def run_info(args):
    """Run ``fgebm info`` with parsed arguments; returns the exit code."""
    fg = load_model(args.model)
    want_tw = args.treewidth or fg.n_vars <= TREEWIDTH_MAX_VARS
    timer = Timer()
    summary = model_summary(fg, treewidth=want_tw)
    if want_tw:
        LOGGER.info("treewidth estimate took %.2f s", timer.seconds)
    kind = "UAI " + fg.graph.graph.get(NETWORK_KEY, "MARKOV") if model_format(args.model) == ".uai" else "libDAI"
    lo, hi = summary["states"]
    tw = summary["treewidth estimate"]
    lines = [
        f"model: {args.model} ({kind})",
        f"variables: {summary['variables']}",
        f"states: {lo}" if lo == hi else f"states: {lo} to {hi}",
        f"factors: {summary['factors']}",
        f"max arity: {summary['max arity']}",
        "treewidth estimate: " + (
            str(tw) if tw is not None
            else f"not computed ({fg.n_vars} variables > {TREEWIDTH_MAX_VARS}; pass --treewidth)"
        ),
        f"forest: {'yes' if summary['forest'] else 'no'}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
