"""Memory that compiling a graph and belief propagation will allocate, predicted before allocating.

A graph declared in Python (or read within raised limits) can ask for more
memory than the machine has: one variable of ``10**12`` states makes belief
propagation allocate terabytes of beliefs. :func:`check_compile_memory` (called
by :func:`~factorgraph_ebm.compile_graph`) and :func:`check_bp_memory` (called by
:func:`~factorgraph_ebm.infer` before belief propagation or a tree pass) compare
a prediction with the memory budget and raise
:class:`~factorgraph_ebm.exceptions.MemoryBudgetError` before anything that
large is allocated.

The budget is the one exact inference uses
(:func:`~factorgraph_ebm.inference.elimination.default_memory_budget`:
``memory_budget=``, ``FGEBM_MEMORY_BUDGET``, ``fgebm --memory-budget``).
The predictions are upper bounds of the arrays' sizes up to small constants;
they ignore Python objects and Numba's compiled code.
"""

import math
from typing import NamedTuple

import numpy as np

from ..exceptions import MemoryBudgetError
from ..utils.validation import format_bytes
from .elimination import MEMORY_BUDGET_ENV, _budget

__all__ = ["MemoryEstimate", "compile_memory", "bp_memory", "check_compile_memory", "check_bp_memory",
           "check_state_memory"]

_F8 = 8  # bytes of a float64 or int64
#: float64 arrays per table entry that compiling holds: the declared table, its copy and the transposed copy.
TABLE_COPIES = 3
#: int64 arrays per edge that compiling builds (edge variable, stride, factor, variable's edges, state pointer,
#: block of the factor, and the messages' offsets).
EDGE_ARRAYS = 8
#: float64 arrays per (edge, state) that belief propagation holds: both message directions, their previous
#: values (damping, residuals), the incoming sums and residual scores.
MESSAGE_ARRAYS = 6
#: float64 arrays per variable state: beliefs, marginals, unary energies and evidence masks.
STATE_ARRAYS = 4


class MemoryEstimate(NamedTuple):
    """Predicted bytes and what they count.

    Attributes
    ----------
    bytes : float
        Predicted bytes.
    states : int
        Variable states (sum of the cardinalities).
    edge_states : int
        Sum over the edges (factor, variable) of the variable's states: one message each way.
    entries : int
        Table entries.
    """

    bytes: float
    states: int
    edge_states: int
    entries: int


def _entries_of(spec):
    """Table entries a declaration compiles to: one shared table or one per factor."""
    size = math.prod(int(k) for k in spec.states)
    shape = getattr(spec.energy, "shape", None)
    per_factor = shape is not None and tuple(shape) != tuple(spec.states)
    return size * (spec.n_factors if per_factor else 1)


def compile_memory(graphs):
    """Predicted bytes of :func:`~factorgraph_ebm.compile_graph` for a FactorGraph or a list of them.

    Counted from the declarations (no table is evaluated); parameterized
    energies count as one shared table per declaration.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("x", 10**12)
    >>> compile_memory(fg).states
    1000000000000
    """
    graphs = graphs if isinstance(graphs, (list, tuple)) else [graphs]
    states = edge_states = entries = edges = n_vars = 0
    for g in graphs:
        var_states = g.var_states
        n_vars += len(var_states)
        states += int(var_states.sum(dtype=np.float64))
        for spec in g.factor_specs:
            edges += int(spec.scopes.size)
            edge_states += int(var_states[spec.scopes].sum(dtype=np.float64))
            entries += _entries_of(spec)
    nbytes = _F8 * (TABLE_COPIES * entries + EDGE_ARRAYS * edges + 4 * n_vars + states)  # unary energies
    return MemoryEstimate(float(nbytes), states, edge_states, entries)


def bp_memory(compiled):
    """Predicted bytes belief propagation (loopy or on a forest) allocates for a compiled graph.

    Messages both ways for every (edge, state), beliefs and marginals of every
    state; the compiled arrays themselves are already allocated.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 3); _ = fg.add_variable("b", 3)
    >>> _ = fg.add_factor(["a", "b"], [[0.0] * 3] * 3)
    >>> bp_memory(compile_graph(fg)).edge_states
    6
    """
    w = compiled.wiring
    states = int(w.var_state_ptr[-1])
    edge_states = int(w.edge_state_ptr[-1])
    entries = int(len(w.tables))
    nbytes = _F8 * (MESSAGE_ARRAYS * edge_states + STATE_ARRAYS * states + 2 * len(w.edge_var))
    return MemoryEstimate(float(nbytes), states, edge_states, entries)


def _check(estimate, memory_budget, what):
    budget = _budget(memory_budget)
    if estimate.bytes > budget:
        raise MemoryBudgetError(
            f"{what} would allocate about {format_bytes(estimate.bytes)} ({estimate.states} variable states, "
            f"{estimate.edge_states} message entries, {estimate.entries} table entries), over the memory budget "
            f"of {format_bytes(budget)}; raise memory_budget= (or {MEMORY_BUDGET_ENV}, fgebm --memory-budget) "
            f"or shrink the model", estimate.bytes, budget)
    return estimate


def check_compile_memory(graphs, memory_budget=None):
    """:func:`compile_memory`, raising :class:`MemoryBudgetError` over the budget (default: the default budget).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("x", 10**12)
    >>> check_compile_memory(fg, "1G")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.MemoryBudgetError: compiling the graph would allocate about 8 TB (1000000000000 variable states, ...
    """
    return _check(compile_memory(graphs), memory_budget, "compiling the graph")


def check_bp_memory(compiled, memory_budget=None, what="belief propagation"):
    """:func:`bp_memory`, raising :class:`MemoryBudgetError` over the budget (default: the default budget)."""
    return _check(bp_memory(compiled), memory_budget, what)


def check_state_memory(compiled, memory_budget=None, what="exact inference"):
    """Raise :class:`MemoryBudgetError` when the per-state arrays of any result (beliefs, marginals) exceed the budget.

    Exact inference predicts its clique tables itself
    (:func:`~factorgraph_ebm.inference.elimination.exact_cost`); this adds
    the arrays every result holds, checked first.
    """
    states = int(compiled.wiring.var_state_ptr[-1])
    estimate = MemoryEstimate(float(_F8 * STATE_ARRAYS * states), states, 0, 0)
    return _check(estimate, memory_budget, what)
