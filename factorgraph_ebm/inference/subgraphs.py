"""Sub-wirings: a set of factors of a compiled graph as a wiring of its own (TRW's forests, block moves).

The tree kernels (:mod:`factorgraph_ebm.kernels.trees`) run on any wiring, so
a forest taken out of a loopy graph (one forest of TRW's cover, the factors
inside one block of :func:`~factorgraph_ebm.inference.decoding.block_search`)
is solved exactly by giving it a wiring of its own: the same variables and
tables, only the listed factors and their edges.
"""

import numpy as np

from ..utils.lazy import lazy_module

__all__ = ["SubForest", "frozen"]

_trees = lazy_module("factorgraph_ebm.kernels.trees")


def frozen(a, dtype):
    """A read-only copy of ``a`` as ``dtype``."""
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)     # the wiring's arrays are read-only: one compiled signature for both
    return a


class SubForest:
    """The factors ``factors`` (sorted ids; they must form a forest) as a wiring of their own, and its tree order.

    Every variable of ``compiled`` stays (those no listed factor touches are
    isolated nodes); the tables are those of ``ws`` (shared, not copied);
    ``slots[i]`` is the message slot of ``ws`` that slot ``i`` of the sub-wiring
    stands for.
    """

    def __init__(self, compiled, ws, factors):
        n_vars = compiled.n_vars
        arity = np.diff(ws.factor_edge_ptr)[factors]
        fep = np.concatenate([[0], np.cumsum(arity)])
        edges = np.repeat(ws.factor_edge_ptr[factors] - fep[:-1], arity) + np.arange(fep[-1])
        edge_var = ws.edge_var[edges]
        states = ws.var_states[edge_var]
        esp = np.concatenate([[0], np.cumsum(states)])
        self.slots = np.repeat(ws.edge_state_ptr[edges] - esp[:-1], states) + np.arange(esp[-1])
        self.wiring = ws._replace(
            var_edge_ptr=frozen(np.concatenate([[0], np.cumsum(np.bincount(edge_var, minlength=n_vars))]), np.int64),
            var_edges=frozen(np.argsort(edge_var, kind="stable"), np.int64),
            factor_edge_ptr=frozen(fep, np.int64),
            edge_var=frozen(edge_var, np.int64),
            edge_factor=frozen(np.repeat(np.arange(len(factors)), arity), np.int64),
            edge_stride=frozen(ws.edge_stride[edges], np.int64),
            edge_state_ptr=frozen(esp, np.int64),
            factor_block=frozen(ws.factor_block[factors], np.int64),
        )
        self.graph_factor_ptr = frozen(np.searchsorted(factors, compiled.graph_factor_ptr), np.int64)
        self.order = _trees._tree_order(self.wiring)
