"""CompiledGraph: a factor graph (or a batch) lowered to frozen flat arrays."""

from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from ..exceptions import EvidenceError, FactorGraphError

__all__ = ["Wiring", "CompiledGraph"]


class Wiring(NamedTuple):
    """Structure and tables as flat arrays: the only thing kernels see.

    Shapes use ``V = n_vars``, ``F = n_factors``, ``E = n_edges`` (one edge per
    (factor, scope position)), ``M = sum of edge states`` (message length),
    ``S = sum of variable states``, ``B = n_blocks`` (distinct tables).
    Table entries of block b are ``tables[block_ptr[b]:block_ptr[b + 1]]``.
    """

    var_states: np.ndarray      #: (V,) int64 number of states
    var_state_ptr: np.ndarray   #: (V+1,) int64 offsets into unary / belief arrays (length S)
    var_edge_ptr: np.ndarray    #: (V+1,) int64 CSR pointer into var_edges
    var_edges: np.ndarray       #: (E,) int64 edges of each variable, factor order
    factor_edge_ptr: np.ndarray  #: (F+1,) int64 edges of factor f, in scope order
    edge_var: np.ndarray        #: (E,) int64 variable of each edge
    edge_factor: np.ndarray     #: (E,) int64 factor of each edge
    edge_stride: np.ndarray     #: (E,) int64 C-order stride of the edge's variable in the table
    edge_state_ptr: np.ndarray  #: (E+1,) int64 offsets into message arrays (length M)
    factor_block: np.ndarray    #: (F,) int64 table block of each factor
    block_ptr: np.ndarray       #: (B+1,) int64 offsets of each block in tables
    tables: np.ndarray          #: (2 * block_ptr[-1],) float64 energies (+inf forbidden), C order per
    #: block, followed by a second copy in which pairwise blocks are transposed
    block_potts: np.ndarray     #: (B,) bool: a pairwise K x K Potts table, ``T = d + g [x_i != x_j]`` with
    #: finite ``d`` and ``g >= 0`` (+inf allowed), whose messages cost O(K) (see :func:`potts_blocks`)


@dataclass(frozen=True)
class CompiledGraph:
    """A factor graph, or a batch of them, as read-only arrays plus evidence.

    Attributes
    ----------
    wiring : Wiring
        Structure and tables (see :class:`Wiring`).
    unary : ndarray (S,)
        Evidence energies per variable state: 0, or +inf for states ruled out.
    clamped : ndarray (V,) int64
        Clamped state per variable, -1 where free.
    graphs : tuple of FactorGraph
        The declared graphs, in batch order.
    graph_var_ptr, graph_factor_ptr : ndarray (n_graphs+1,) int64
        Variable and factor ranges of each graph in the batch.
    spec_slots : tuple
        ``(graph, spec, first_factor, first_block)`` per factor declaration, used
        to name factors and to refresh parameterized tables.
    parameters : mapping or None
        Parameters the tables were evaluated with.
    cache : dict
        Structure-derived helpers (e.g. the stacked LinearEnergy plan), shared
        by every variant made with ``with_evidence`` / ``with_parameters``.
    """

    wiring: Wiring
    unary: np.ndarray
    clamped: np.ndarray
    graphs: tuple
    graph_var_ptr: np.ndarray
    graph_factor_ptr: np.ndarray
    spec_slots: tuple
    parameters: object = None
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_vars(self):
        """Number of variables (all graphs)."""
        return len(self.wiring.var_states)

    @property
    def n_factors(self):
        """Number of factors (all graphs)."""
        return len(self.wiring.factor_edge_ptr) - 1

    @property
    def n_edges(self):
        """Number of (factor, variable) edges."""
        return len(self.wiring.edge_var)

    @property
    def n_graphs(self):
        """Number of graphs in the batch."""
        return len(self.graphs)

    @property
    def n_messages(self):
        """Length of a message array (the sum of edge state counts)."""
        return int(self.wiring.edge_state_ptr[-1])

    def pairwise_work(self):
        """Table entries touched per flooding iteration: sum over factors of arity x table size."""
        w = self.wiring
        sizes = np.diff(w.block_ptr)[w.factor_block]
        return int(np.dot(np.diff(w.factor_edge_ptr), sizes))

    def var_id(self, name, graph=0):
        """Flat id (in the batch) of a variable of graph ``graph``."""
        return int(self.graph_var_ptr[graph]) + self.graphs[graph].variable_id(name)

    def factor_range(self, name, graph=0):
        """``(first, count)`` factor ids of a declared factor or group of graph ``graph``."""
        for g, spec, first, _ in self.spec_slots:
            if g == graph and spec.name == name:
                return first, spec.n_factors
        raise FactorGraphError(f"unknown factor {name!r}")

    def states_from(self, assignment, graph=None):
        """Full flat int64 state vector from an assignment.

        ``assignment`` is a flat array of length ``n_vars``, or (single graph) a
        dict as accepted by evidence that names every variable.
        """
        from .lower import _int_states, resolve_evidence  # local: lower imports this module

        if isinstance(assignment, dict):
            if self.n_graphs != 1:
                raise FactorGraphError("a dict assignment needs a single graph; pass a flat array")
            states = resolve_evidence(self.graphs[0], assignment)
        else:
            states = _int_states(assignment, "assignment", (self.n_vars,), "one state per variable",
                                 alternative="a dict or ").astype(np.int64)
        bad = (states < 0) | (states >= self.wiring.var_states)
        if bad.any():
            v = int(np.argmax(bad))
            missing = states[v] < 0
            name = self.var_name(v)
            if missing:
                raise EvidenceError(f"assignment leaves variable {name!r} unassigned")
            raise EvidenceError(
                f"assignment for variable {name!r}: state {states[v]} out of range [0, {self.wiring.var_states[v]})"
            )
        return states

    def var_name(self, v):
        """``(graph, name)`` for a batch, or just the name for a single graph."""
        g = int(np.searchsorted(self.graph_var_ptr, v, side="right") - 1)
        name = self.graphs[g].variable_name(int(v - self.graph_var_ptr[g]))
        return name if self.n_graphs == 1 else (g, name)

    @cached_property
    def factor_entry_ptr(self):
        """(F+1,) int64 offsets of each factor's table entries in the *factor-entry layout*.

        Per-factor arrays over table entries (factor marginals, energy
        sensitivities) hold factor f's entries, in C order of its scope, at
        ``[factor_entry_ptr[f]:factor_entry_ptr[f + 1]]``.
        """
        w = self.wiring
        ptr = np.concatenate([[0], np.cumsum(np.diff(w.block_ptr)[w.factor_block])]).astype(np.int64)
        ptr.setflags(write=False)
        return ptr

    def entry_offsets(self, states):
        """(..., F) int64 C-order index, inside each factor's table, of the full assignment(s) ``states``.

        ``states`` is one flat assignment (n_vars,) or a stack of them (..., n_vars),
        for example the draws of a sampler: one gather and one segmented sum for all.
        """
        w = self.wiring
        states = np.asarray(states)
        if not len(w.edge_var):
            return np.zeros(states.shape[:-1] + (self.n_factors,), dtype=np.int64)
        contrib = states[..., w.edge_var].astype(np.int64) * w.edge_stride
        return np.add.reduceat(contrib, w.factor_edge_ptr[:-1], axis=-1)

    def table_positions(self, states):
        """(..., F) int64 position in ``wiring.tables`` of the entry every factor takes under ``states``."""
        w = self.wiring
        return w.block_ptr[w.factor_block] + self.entry_offsets(states)

    def factor_energies(self, states):
        """(..., F) energy of every factor under full flat assignment(s) (vectorized gather)."""
        return self.wiring.tables[self.table_positions(states)]

    def graph_energies(self, states, offsets=None):
        """(..., n_graphs) energy of each graph of the batch under full flat assignment(s) ``states``.

        ``offsets``: :meth:`entry_offsets` of ``states`` when already computed.

        Examples
        --------
        >>> from factorgraph_ebm import FactorGraph, compile_graph
        >>> fg = FactorGraph()
        >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
        >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [2.0, 3.0]])
        >>> compile_graph(fg).graph_energies(np.array([[0, 0], [1, 0], [1, 1]]))
        array([[0.],
               [2.],
               [3.]])
        """
        if offsets is None:
            offsets = self.entry_offsets(states)
        w = self.wiring
        return sum_ranges(w.tables[w.block_ptr[w.factor_block] + offsets], self.graph_factor_ptr)

    def energy(self, assignment):
        """Energy E of a full assignment; per graph for a batch.

        Evidence is not part of the energy; a forbidden configuration gives +inf.

        Examples
        --------
        >>> from factorgraph_ebm import FactorGraph, compile_graph
        >>> fg = FactorGraph()
        >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
        >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [2.0, 3.0]])
        >>> compile_graph(fg).energy({"a": 1, "b": 0})
        2.0
        """
        states = self.states_from(assignment)
        per_graph = self.graph_energies(states)
        return float(per_graph[0]) if self.n_graphs == 1 else per_graph


def sum_ranges(values, ptr):
    """Sum ``values`` over consecutive ranges ``ptr[i]:ptr[i+1]`` of its last axis; an empty range sums to 0."""
    values = np.asarray(values)
    out = np.zeros(values.shape[:-1] + (len(ptr) - 1,))
    nonempty = ptr[1:] > ptr[:-1]
    if nonempty.any():
        out[..., nonempty] = np.add.reduceat(values, ptr[:-1][nonempty], axis=-1)
    return out
