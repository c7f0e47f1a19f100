"""Exact inference by brute-force enumeration (the test oracle; independent of BP).

The junction tree lives in :mod:`.elimination`, elimination orders in :mod:`.ordering`.
"""

import functools

import numpy as np

from ..exceptions import InferenceError, ZeroPartitionError
from ..utils.lazy import lazy_module
from .result import InferenceResult

_kernels = lazy_module("factorgraph_ebm.kernels.exact")

__all__ = ["enumerate_exact", "MAX_ENUMERATION"]

#: Largest number of joint assignments brute force will walk.
MAX_ENUMERATION = 5_000_000


def _exact_result(compiled, method, beta, marg, free, map_state, factor_solver):
    return InferenceResult(compiled, method, beta, marg, free, 1, 0.0, True,
                           functools.partial(np.copy, map_state), factor_solver, map_state=map_state)


def enumerate_exact(compiled, beta):
    """Exact inference by walking every assignment (small models only).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 3)
    >>> res = enumerate_exact(compile_graph(fg), beta=1.0)
    >>> bool(abs(res.log_partition - np.log(3)) < 1e-12)
    True
    """
    if compiled.n_graphs != 1:
        raise InferenceError("method='enumerate' takes one graph, not a batch")
    w = compiled.wiring
    allowed_mask = np.isfinite(compiled.unary)
    n_allowed = np.add.reduceat(allowed_mask.astype(np.int64), w.var_state_ptr[:-1])
    total = float(np.prod(n_allowed.astype(np.float64)))
    if total > MAX_ENUMERATION:
        raise InferenceError(
            f"enumeration would walk {total:.3g} assignments (> {MAX_ENUMERATION}); use method='exact' or 'bp'"
        )
    allowed = (np.flatnonzero(allowed_mask) - np.repeat(w.var_state_ptr[:-1], n_allowed)).astype(np.int64)
    allowed_ptr = np.concatenate([[0], np.cumsum(n_allowed)]).astype(np.int64)
    sizes = np.diff(w.block_ptr)[w.factor_block]
    fptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    e_min, map_state, log_sum, marg, fmarg = _kernels._enumerate(w, compiled.unary, beta, allowed, allowed_ptr, fptr)
    if e_min == np.inf:
        raise ZeroPartitionError("zero partition: every assignment has infinite energy given the evidence")
    if beta == np.inf:
        marg = _uniform_support(marg, w.var_state_ptr)
        fmarg = _uniform_support(fmarg, fptr)
        free = e_min
    else:
        free = e_min - log_sum / beta

    factor_solver = _FactorSlices(fmarg, fptr).factor_probabilities
    return _exact_result(compiled, "enumerate", beta, marg, np.array([free]), map_state, factor_solver)


class _FactorSlices:
    """Factor marginals already computed, flat in the factor-entry layout (``ptr`` indexes them)."""

    def __init__(self, probabilities, ptr):
        self.probabilities = probabilities
        self.ptr = ptr

    def factor_probabilities(self, first, count):
        return self.probabilities[self.ptr[first]:self.ptr[first + count]]


def _uniform_support(weights, ptr):
    """Uniform distribution over the positive entries of each range."""
    p = (weights > 0).astype(np.float64)
    return p / np.repeat(np.add.reduceat(p, ptr[:-1]), np.diff(ptr))
