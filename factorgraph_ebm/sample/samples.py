"""Samples: the result of every sampler (draws as arrays, marginals, energies, diagnostics)."""

import numpy as np

from ..exceptions import FactorGraphError
from ..graph.variables import VariableArray
from .diagnostics import effective_sample_size, r_hat

__all__ = ["Samples"]

#: Rows of draws gathered at once by :meth:`Samples.energies` (bounds its temporary arrays).
_ENERGY_ROWS_BYTES = 1 << 26


class Samples:
    """Draws of a sampler, in the compiled variable order.

    Attributes
    ----------
    states : ndarray (n_chains, n_draws, n_vars) int32
        The draws; clamped variables hold their evidence state.
    compiled : CompiledGraph
        The graph (with the evidence and tables) that was sampled.
    beta : float
        Inverse temperature.
    seed : int
        Seed of the counter-based draws; the same seed gives the same samples.
    method : str
        ``"gibbs-chromatic"``, ``"gibbs-sequential"``, ``"forest-ffbs"``...
    n_sweeps : int
        Sweeps run per chain, burn-in included.
    last : ndarray (n_chains, n_vars) int32
        Final state of each chain (pass it as ``init`` to continue the chains).

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, gibbs_sample
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=3, states=2)
    >>> _ = fg.add_factor_group([[0, 1], [1, 2]], [[0.0, 1.0], [1.0, 0.0]])
    >>> s = gibbs_sample(fg, n_chains=2, n_draws=50, seed=0)
    >>> s.of("x").shape, s.marginal("x").shape, s.energies().shape
    ((2, 50, 3), (3, 2), (2, 50))
    """

    def __init__(self, states, compiled, beta, seed, method, n_sweeps, last):
        self.states = states
        self.compiled = compiled
        self.beta = float(beta)
        self.seed = int(seed)
        self.method = method
        self.n_sweeps = int(n_sweeps)
        self.last = last

    def __repr__(self):
        n_chains, n_draws, n_vars = self.states.shape
        return (f"Samples(method={self.method!r}, n_chains={n_chains}, n_draws={n_draws}, n_vars={n_vars}, "
                f"beta={self.beta}, seed={self.seed})")

    @property
    def n_chains(self):
        """Number of chains."""
        return self.states.shape[0]

    @property
    def n_draws(self):
        """Draws kept per chain."""
        return self.states.shape[1]

    def _block(self, name, graph):
        """``(lo, hi, shape, states)``: flat variable range of a declared name, an element or a VariableArray."""
        c = self.compiled
        if isinstance(graph, bool) or not isinstance(graph, (int, np.integer)) or not 0 <= graph < c.n_graphs:
            raise FactorGraphError(f"graph must be an int in [0, {c.n_graphs}), got {graph!r}")
        if isinstance(name, VariableArray):
            name = name.name
        g = c.graphs[graph]
        base = int(c.graph_var_ptr[graph])
        block = g.variable_block(name) if not isinstance(name, tuple) else None
        if block is None:
            v = base + g.variable_id(name)
            return v, v + 1, (), int(c.wiring.var_states[v])
        return base + block.start, base + block.start + block.size, block.shape, block.states

    def of(self, name, graph=0):
        """Draws of one declared variable or array: ``(n_chains, n_draws, *shape)`` int32.

        ``name`` is a variable name, an element name ``("x", i, j)`` or a
        :class:`VariableArray`; ``graph`` picks the graph of a batch.
        """
        lo, hi, shape, _ = self._block(name, graph)
        return self.states[:, :, lo:hi].reshape(self.n_chains, self.n_draws, *shape)

    def marginal(self, name, graph=0):
        """Estimated marginal from every draw of every chain: ``(states,)``, or ``(*shape, states)`` for an array."""
        lo, hi, shape, k = self._block(name, graph)
        size = hi - lo
        draws = self.states[:, :, lo:hi].reshape(-1, size)
        if not len(draws):
            raise FactorGraphError("no draws to estimate a marginal from")
        counts = np.bincount((draws + np.arange(size) * k).ravel(), minlength=size * k)
        return (counts / len(draws)).reshape(*shape, k)

    def marginals(self, graph=0):
        """Dict of every declared variable (or array) name -> :meth:`marginal`."""
        return {b.name: self.marginal(b.name, graph) for b in self.compiled.graphs[graph].variable_blocks}

    def energies(self):
        """(n_chains, n_draws) float64 energy of every draw (per graph summed over the batch), by vectorised gathers.

        Evidence terms are not part of the energy (as in ``CompiledGraph.energy``).
        """
        c = self.compiled
        flat = self.states.reshape(-1, c.n_vars)
        out = np.empty(len(flat))
        rows = max(1, _ENERGY_ROWS_BYTES // max(1, 8 * c.n_edges))
        for r0 in range(0, len(flat), rows):
            out[r0:r0 + rows] = c.graph_energies(flat[r0:r0 + rows]).sum(axis=1)
        return out.reshape(self.n_chains, self.n_draws)

    def _per_state(self, func, name, graph):
        lo, hi, shape, k = self._block(name, graph)
        draws = self.of(name, graph).reshape(self.n_chains, self.n_draws, -1)
        out = np.empty((hi - lo, k))
        for i in range(hi - lo):
            for s in range(k):
                out[i, s] = func((draws[:, :, i] == s).astype(np.float64))
        return out.reshape(*shape, k)

    def effective_sample_size(self, name, graph=0):
        """Effective sample size of the indicator of every state: ``(states,)`` or ``(*shape, states)``.

        See :func:`~factorgraph_ebm.sample.effective_sample_size`; NaN for a
        state that no draw (or every draw) takes.
        """
        return self._per_state(effective_sample_size, name, graph)

    def r_hat(self, name, graph=0):
        """Split R-hat of the indicator of every state: ``(states,)`` or ``(*shape, states)``.

        See :func:`~factorgraph_ebm.sample.r_hat`; NaN for a state that no
        draw (or every draw) takes.
        """
        return self._per_state(r_hat, name, graph)
