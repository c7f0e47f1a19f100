"""The most offending incorrect answer y-bar, found by inference.

Two ways to choose it, both by min-sum over the outputs y and latent z:

``"other"``
    ``y-bar = argmin_{y != y_i} min_z E(y, z)``: the best *full* output
    assignment that differs from the target anywhere. Found exactly by
    partitioning the incorrect answers (Lawler / Nilsson): copy k of an
    example clamps outputs ``1..k-1`` to the target and forbids the target
    state of output k; the best copy is the second-best answer when the
    target is the best one. All copies of all examples form one compiled
    batch (one kernel call). For a single output variable this is one copy:
    the target state forbidden.
``"hamming"``
    Loss-augmented inference: ``y-bar = argmin_y [E(y) - m H(y, y_i)]`` with
    H the Hamming distance over output variables and m the loss's margin; the
    loss then uses the margin ``m H(y-bar, y_i)`` (margin rescaling of
    structured SVMs). y-bar may equal the target (then H = 0).
"""

import numpy as np

from ..compile.compiled import sum_ranges
from ..compile.lower import compile_graph, with_clamped, with_parameters
from ..exceptions import TrainingError, ZeroPartitionError
from .base import Derivative, Term
from .batch import Batch

__all__ = ["OFFENDING", "check_alternatives", "most_offending"]

OFFENDING = ("other", "hamming")


def _ranges(starts, lengths):
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorized."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total, dtype=np.int64)


def check_alternatives(data, loss_name):
    """Raise :class:`TrainingError` when an example of ``data`` (Examples or Batch) has a single possible output."""
    if isinstance(data, Batch):
        multi = (data.is_output & (data.compiled.wiring.var_states > 1)).astype(np.float64)
        has_alt = sum_ranges(multi, data.compiled.graph_var_ptr) > 0
    else:
        has_alt = np.array([(g.var_states[t >= 0] > 1).any() for g, t in zip(data.graphs, data.targets)])
    if not has_alt.all():
        raise TrainingError(
            f"loss {loss_name!r} needs an incorrect answer y-bar, but example {int(np.argmin(has_alt))} has a "
            "single possible output (every output variable has one state)"
        )


class _Copies:
    """Partition copies of a batch for the ``"other"`` search (structure only)."""

    def __init__(self, batch, parameters):
        ex = batch.examples
        graphs, clamped, owner, forbid_var, forbid_state = [], [], [], [], []
        for g, (graph, evi, tgt) in enumerate(zip(ex.graphs, ex.evidence, ex.targets)):
            outs = np.flatnonzero(tgt >= 0)
            states = graph.var_states
            for k, v in enumerate(outs):
                if states[v] < 2:
                    continue
                c = evi.copy()
                c[outs[:k]] = tgt[outs[:k]]
                graphs.append(graph)
                clamped.append(c)
                owner.append(g)
                forbid_var.append(v)
                forbid_state.append(tgt[v])
        self.graphs = graphs
        self.owner = np.asarray(owner, dtype=np.int64)
        self.clamped = clamped
        compiled = compile_graph(graphs, parameters=parameters)
        w = compiled.wiring
        offset = np.zeros(int(w.var_state_ptr[-1]))
        var = compiled.graph_var_ptr[:-1] + np.asarray(forbid_var, dtype=np.int64)
        offset[w.var_state_ptr[var] + np.asarray(forbid_state, dtype=np.int64)] = np.inf
        self.offset = offset
        self.compiled = with_clamped(compiled, np.concatenate(clamped), offset)

    def solve(self, ev):
        """Per copy: min-sum state (copy layout) and its energy (+inf when infeasible)."""
        cc = with_parameters(self.compiled, ev.parameters)
        try:
            state = ev.infer(cc, np.inf).map_state
            return state, cc.graph_energies(state)
        except ZeroPartitionError:
            return self._solve_one_by_one(ev, cc)

    def _solve_one_by_one(self, ev, cc):
        w = cc.wiring
        state = np.zeros(cc.n_vars, dtype=np.int64)
        energies = np.full(len(self.graphs), np.inf)
        for c, graph in enumerate(self.graphs):
            lo, hi = cc.graph_var_ptr[c], cc.graph_var_ptr[c + 1]
            single = compile_graph(graph, parameters=ev.parameters)
            single = with_clamped(single, self.clamped[c], self.offset[w.var_state_ptr[lo]:w.var_state_ptr[hi]])
            try:
                s = ev.infer(single, np.inf).map_state
            except ZeroPartitionError:
                continue
            state[lo:hi] = s
            energies[c] = single.graph_energies(s)[0]
        return state, energies


def _other(ev):
    batch = ev.batch
    copies = batch.cache.get("offending-copies")
    if copies is None:
        copies = batch.cache["offending-copies"] = _Copies(batch, ev.parameters)
    state, energies = copies.solve(ev)
    order = np.lexsort((energies, copies.owner))
    first = np.concatenate([[True], copies.owner[order][1:] != copies.owner[order][:-1]])
    best = order[first]  # one copy per example, in example order
    cvp, bvp = copies.compiled.graph_var_ptr, batch.compiled.graph_var_ptr
    counts = np.diff(bvp)
    ybar = np.empty(batch.compiled.n_vars, dtype=np.int64)
    ybar[_ranges(bvp[:-1], counts)] = state[_ranges(cvp[best], counts)]
    feasible = np.isfinite(energies[best])
    return ybar, feasible


def _hamming_search(ev, margin):
    batch = ev.batch
    w = ev.compiled.wiring
    outs = np.flatnonzero(batch.is_output)
    offset = np.zeros(int(w.var_state_ptr[-1]))
    offset[_ranges(w.var_state_ptr[outs], w.var_states[outs])] = -margin
    offset[w.var_state_ptr[outs] + batch.target[outs]] = 0.0
    cg = with_clamped(ev.compiled, batch.evidence, offset)
    return ev.infer(cg, np.inf).map_state


def most_offending(ev, mode, margin, latent_beta=np.inf):
    """The most offending incorrect answer of every example of an evaluation.

    Parameters
    ----------
    ev : Evaluation
    mode : {"other", "hamming"}
    margin : float
        The loss's margin (used by ``"hamming"`` to augment the energy).
    latent_beta : float
        ``inf``: ``E(y-bar) = min_z E(y-bar, z)``; finite: the free energy over
        the latent variables at y-bar.

    Returns
    -------
    term : Term
        ``E(y-bar)`` per example (``+inf`` when every incorrect answer is
        forbidden), its sensitivity and the full state (y-bar with the
        minimising z).
    hamming : ndarray (n_examples,)
        Number of output variables where y-bar differs from the target.
    """
    batch = ev.batch
    if mode == "other":
        ybar, feasible = _other(ev)
    else:
        ybar, feasible = _hamming_search(ev, margin), np.ones(batch.n_examples, dtype=bool)
    cg = ev.compiled
    if latent_beta == np.inf:
        term = Term(cg.graph_energies(ybar), Derivative(cg, state=ybar), ybar)
    else:
        term = ev.clamped_term(np.where(batch.is_output, ybar, batch.evidence), latent_beta)
        term = Term(term.values, term.derivative, ybar)
    if not feasible.all():
        values = np.where(feasible, term.values, np.inf)
        term = Term(values, term.derivative.masked(feasible), ybar)
    differs = ((ybar != batch.target) & batch.is_output).astype(np.float64)
    hamming = sum_ranges(differs, cg.graph_var_ptr)
    return term, hamming
