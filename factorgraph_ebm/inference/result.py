"""InferenceResult: the one result type every inference method returns."""

import numpy as np

from ..compile.compiled import sum_ranges
from ..compile.linear import table_index_of_entries
from ..exceptions import ZeroPartitionError
from ..utils.lazy import lazy_module

_kernels = lazy_module("factorgraph_ebm.kernels.bp")
_jit = lazy_module("factorgraph_ebm.kernels._jit")

__all__ = ["InferenceResult", "marginals_from_beliefs", "check_zero_partition", "probabilities_from_costs",
           "EXACT_METHODS", "factor_entry_slice"]

#: Values of ``InferenceResult.method`` whose free energy is exact (so it is its own bound).
EXACT_METHODS = ("tree-bp", "junction-tree", "enumerate")


def marginals_from_beliefs(belief, var_state_ptr, beta):
    """Per-variable probabilities from energy-domain beliefs (vectorized).

    ``p_v(x) ∝ exp(-beta (b_v(x) - min b_v))``; at ``beta = inf`` uniform over
    the states of minimal belief.
    """
    return probabilities_from_costs(belief, var_state_ptr, beta)


class InferenceResult:
    """What inference found about a compiled graph (one graph or a batch).

    Attributes
    ----------
    compiled : CompiledGraph
        The graph, evidence and tables inference ran on.
    method : str
        ``"tree-bp"``, ``"loopy-bp"``, ``"junction-tree"``, ``"enumerate"``
        (exact: :data:`EXACT_METHODS`) or ``"mean-field"``.
    beta : float
        Inverse temperature (``inf`` = min-sum).
    marginal_array : ndarray (S,)
        Variable marginals, flat (``compiled.wiring.var_state_ptr`` indexes it).
        At ``beta = inf``: uniform over each variable's minimal min-marginal states.
    free_energies : ndarray (n_graphs,)
        ``F = -(1/beta) log Z`` of each graph given its evidence; at beta = inf the
        energy of the MAP assignment. Bethe approximation for loopy BP.
    n_iter : int
        Sweeps run (flooding iterations; 1 for a tree pass or exact method).
    delta : float
        Largest message change of the last sweep (0 for exact methods).
    converged : bool
        Whether ``delta <= tol`` (always True for exact methods).
    schedule : str or None
        BP schedule that produced the answer (``"tree"``, ``"flood"``,
        ``"sequential"``, ``"random"``, ``"residual"``; ``schedule="auto"``
        reports the run it chose); None for exact methods.
    damping : float
        Damping the BP run ended with (``damping="auto"`` starts undamped and
        damps only when the undamped run did not converge); 0 for exact methods.
    free_energy_lower, free_energy_upper : ndarray (n_graphs,) or None
        Proven bounds on the free energy ``F``, when the method gives them
        (None otherwise, e.g. for loopy BP): mean field an upper bound; exact
        methods both, equal to ``F``.
        The properties :attr:`log_partition_bound`,
        :attr:`log_partition_lower_bound`, :attr:`energy_lower_bound` and
        :attr:`gap` read them.
    reason : str or None
        Why this method ran, when ``infer(method="auto")`` chose on a loopy
        graph (e.g. ``"exact: min-fill width 12, 3.1e+05 entries (2.4 MB, about
        0.012 s) fit the budget"`` or ``"bp: exact would need 1.1e+12 entries
        ..."``); the prediction for ``method="exact"``; None otherwise.

    Results pickle (their lazy parts are module-level objects), so they can
    come back from joblib or multiprocessing workers.
    """

    def __init__(self, compiled, method, beta, marginal_array, free_energies, n_iter, delta, converged,
                 map_solver, factor_solver, map_state=None, table_adder=None, schedule=None, damping=0.0):
        self.compiled = compiled
        self.method = method
        self.beta = beta
        self.marginal_array = marginal_array
        self.free_energies = free_energies
        self.n_iter = n_iter
        self.delta = delta
        self.converged = converged
        self._map_solver = map_solver
        self._factor_solver = factor_solver
        self._map_state = map_state
        self._factor_marginals = None
        self._table_adder = table_adder
        self.schedule = schedule
        self.damping = damping
        self.reason = None
        exact = method in EXACT_METHODS
        self.free_energy_lower = free_energies if exact else None
        self.free_energy_upper = free_energies if exact else None

    def __repr__(self):
        fe = self.free_energies[0] if len(self.free_energies) == 1 else self.free_energies
        bp = f", schedule={self.schedule!r}, damping={self.damping:g}" if self.schedule else ""
        return (f"InferenceResult(method={self.method!r}, beta={self.beta}, free_energy={fe}, "
                f"n_iter={self.n_iter}, converged={self.converged}{bp})")

    def _per_graph(self, values):
        return float(values[0]) if self.compiled.n_graphs == 1 else values

    # --------------------------------------------------------------- energies
    @property
    def free_energy(self):
        """F_beta = -(1/beta) log Z of the evidence-clamped model (per graph for a batch)."""
        return self._per_graph(self.free_energies)

    @property
    def log_partition(self):
        """log Z = -beta F (per graph for a batch); None at beta = inf."""
        if self.beta == np.inf:
            return None
        return self._per_graph(-self.beta * self.free_energies)

    # ----------------------------------------------------------------- bounds
    @property
    def log_partition_bound(self):
        """A proven upper bound on log Z (per graph for a batch); None when the method gives none or beta = inf.

        Exact methods return log Z itself; loopy BP and mean field give none.

        Examples
        --------
        >>> from factorgraph_ebm import infer
        >>> from factorgraph_ebm.models import potts_grid
        >>> res = infer(potts_grid(np.zeros((3, 3, 2)), 1.0), method="exact")
        >>> res.log_partition_bound == res.log_partition
        True
        """
        if self.beta == np.inf or self.free_energy_lower is None:
            return None
        return self._per_graph(-self.beta * self.free_energy_lower)

    @property
    def log_partition_lower_bound(self):
        """A proven lower bound on log Z (per graph); None when the method gives none or beta = inf.

        Mean field (``method="mean-field"``) bounds log Z from below; exact
        methods return log Z itself.

        Examples
        --------
        >>> from factorgraph_ebm import infer
        >>> from factorgraph_ebm.models import potts_grid
        >>> fg = potts_grid(np.zeros((3, 3, 2)), 1.0)
        >>> bool(infer(fg, method="mean-field").log_partition_lower_bound <= infer(fg, method="exact").log_partition)
        True
        """
        if self.beta == np.inf or self.free_energy_upper is None:
            return None
        return self._per_graph(-self.beta * self.free_energy_upper)

    @property
    def energy_lower_bound(self):
        """At beta = inf, a proven lower bound on the minimum energy (per graph); None otherwise.

        Exact methods return the minimum energy itself.
        """
        if self.beta != np.inf or self.free_energy_lower is None:
            return None
        return self._per_graph(self.free_energy_lower)

    @property
    def gap(self):
        """``map_energy - energy_lower_bound`` (per graph): how far :attr:`map_state` can be from optimal.

        0 proves the MAP state optimal; None when there is no lower bound.
        """
        if self.energy_lower_bound is None:
            return None
        cg = self.compiled
        energy = sum_ranges(cg.factor_energies(self.map_state), cg.graph_factor_ptr)
        with np.errstate(invalid="ignore"):
            gap = np.where(energy == self.free_energy_lower, 0.0, energy - self.free_energy_lower)
        return self._per_graph(gap)

    # -------------------------------------------------------------------- MAP
    @property
    def map_state(self):
        """Flat int64 MAP assignment (min-sum; run on first access when beta < inf)."""
        if self._map_state is None:
            self._map_state = self._map_solver()
            self._map_state.setflags(write=False)
        return self._map_state

    @property
    def map_energy(self):
        """Energy of :attr:`map_state` (per graph for a batch)."""
        cg = self.compiled
        return self._per_graph(sum_ranges(cg.factor_energies(self.map_state), cg.graph_factor_ptr))

    def map_assignment(self, graph=0):
        """MAP assignment as a dict: name -> state, array name -> int array."""
        return self._by_block(self.map_state, graph, scalar=int)

    def energy(self, assignment):
        """Energy of any full assignment of the compiled graph (see CompiledGraph.energy)."""
        return self.compiled.energy(assignment)

    # -------------------------------------------------------------- marginals
    def _block_slice(self, name, graph):
        g = self.compiled.graphs[graph]
        block = g.variable_block(name) if not isinstance(name, tuple) else None
        base = int(self.compiled.graph_var_ptr[graph])
        if block is None:
            v = base + g.variable_id(name)
            return v, v + 1, (), int(self.compiled.wiring.var_states[v])
        return base + block.start, base + block.start + block.size, block.shape, block.states

    def marginal(self, name, graph=0):
        """Marginal of a variable, shape ``(states,)``, or of an array, shape ``(*shape, states)``.

        Examples
        --------
        >>> from factorgraph_ebm import FactorGraph, infer
        >>> fg = FactorGraph()
        >>> _ = fg.add_variable("a", 2)
        >>> _ = fg.add_factor(["a"], [0.0, np.log(3.0)])
        >>> infer(fg).marginal("a")
        array([0.75, 0.25])
        """
        lo, hi, shape, k = self._block_slice(name, graph)
        ptr = self.compiled.wiring.var_state_ptr
        return self.marginal_array[ptr[lo]:ptr[hi]].reshape(*shape, k).copy()

    def marginals(self, graph=0):
        """Dict of every declared variable (or array) name -> :meth:`marginal`."""
        return {b.name: self.marginal(b.name, graph) for b in self.compiled.graphs[graph].variable_blocks}

    def factor_marginal(self, name, graph=0):
        """Marginal over a factor's scope: ``states`` shaped, ``(n, *states)`` for a group.

        At beta = inf: uniform over the scope configurations of minimal min-marginal.
        """
        first, count = self.compiled.factor_range(name, graph)
        spec = self.compiled.graphs[graph].factor_spec(name)
        probs = self._factor_solver(first, count).reshape(count, *spec.states)
        return probs if spec.is_group else probs[0]

    def factor_marginal_array(self):
        """Marginals of every factor of the batch, flat in the factor-entry layout.

        Factor f's joint distribution over its scope (C order) sits at
        ``[ptr[f]:ptr[f + 1]]`` with ``ptr = compiled.factor_entry_ptr``. This is
        ``dF/d(table entry)`` of the free energy F, what likelihood gradients
        need. Computed on first access.

        Examples
        --------
        >>> from factorgraph_ebm import FactorGraph, infer
        >>> fg = FactorGraph()
        >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
        >>> _ = fg.add_factor(["a", "b"], [[0.0, np.inf], [np.inf, np.log(3.0)]])   # a == b
        >>> infer(fg).factor_marginal_array()
        array([0.75, 0.  , 0.  , 0.25])
        """
        if self._factor_marginals is None:
            probs = np.asarray(self._factor_solver(0, self.compiled.n_factors), dtype=np.float64)
            probs.setflags(write=False)
            self._factor_marginals = probs
        return self._factor_marginals

    def add_factor_marginals(self, out, factor_weight):
        """``out[table entry] += factor_weight[f] * P_f(entry)`` for every factor f (table layout).

        The weighted sum of factor marginals that a likelihood gradient needs,
        accumulated directly into the layout of ``compiled.wiring.tables``
        (first copy): factors that share a table (one transition matrix for
        every position of every chain) add into the same entries. BP results
        do this in one kernel call without materialising the factor-entry
        layout; other methods sum :meth:`factor_marginal_array`.

        Parameters
        ----------
        out : ndarray (len(wiring.tables) // 2,) float64
            Accumulator, updated in place.
        factor_weight : ndarray (n_factors,) float64
            Weight of each factor (0 skips it).

        Examples
        --------
        >>> from factorgraph_ebm import FactorGraph, infer
        >>> fg = FactorGraph()
        >>> y = fg.add_variables("y", shape=3, states=2)
        >>> _ = fg.add_factor_group([[0, 1], [1, 2]], [[0.0, 1.0], [1.0, 0.0]], name="pair")  # one shared table
        >>> out = np.zeros(4)
        >>> infer(fg, beta=1.0).add_factor_marginals(out, np.ones(2))
        >>> bool(np.isclose(out.sum(), 2.0)), bool(np.allclose(out, out[::-1]))
        (True, True)
        """
        weight = np.ascontiguousarray(factor_weight, dtype=np.float64)
        if weight.shape != (self.compiled.n_factors,):
            raise ValueError(f"factor_weight must have shape ({self.compiled.n_factors},), got {weight.shape}")
        if self._table_adder is not None:
            self._table_adder(out, weight)
            return
        sizes = np.diff(self.compiled.factor_entry_ptr)
        out += np.bincount(table_index_of_entries(self.compiled), minlength=len(out),
                           weights=np.repeat(weight, sizes) * self.factor_marginal_array())

    def _by_block(self, flat, graph, scalar):
        out = {}
        for b in self.compiled.graphs[graph].variable_blocks:
            lo, hi, shape, _ = self._block_slice(b.name, graph)
            vals = flat[lo:hi]
            out[b.name] = scalar(vals[0]) if shape == () else vals.reshape(shape).copy()
        return out


def check_zero_partition(compiled, belief):
    """Raise ZeroPartitionError naming a variable whose every state is ruled out."""
    lo = np.minimum.reduceat(belief, compiled.wiring.var_state_ptr[:-1])
    dead = np.flatnonzero(lo == np.inf)
    if len(dead):
        name = compiled.var_name(int(dead[0]))
        raise ZeroPartitionError(
            f"zero partition: every state of variable {name!r} is forbidden given the evidence and energies"
        )


def factor_entry_slice(wiring, first, count):
    """``(factors, ptr)`` of the factors ``first .. first + count - 1``: their ids and the offsets of their entries.

    The flat factor-entry layout the factor solvers write (factor ``factors[i]``
    at ``[ptr[i]:ptr[i + 1]]``).
    """
    factors = np.arange(first, first + count, dtype=np.int64)
    sizes = np.diff(wiring.block_ptr)[wiring.factor_block[factors]]
    return factors, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def probabilities_from_costs(costs, ptr, beta):
    """Normalise consecutive cost tables (energies) into probabilities (one parallel kernel call)."""
    if len(ptr) <= 1:
        return costs
    costs = np.ascontiguousarray(costs, dtype=np.float64)
    out = np.empty_like(costs)
    ptr = np.ascontiguousarray(ptr, dtype=np.int64).view()
    ptr.flags.writeable = False    # always the read-only type: one compiled signature, not two
    with _jit.threads_for(len(costs)):
        _kernels._probabilities(costs, ptr, float(beta), out)
    return out


class LazyMarginalsResult(InferenceResult):
    """An InferenceResult whose variable marginals come from ``self.answers.variable_marginals()`` on first read.

    For methods whose marginals need a pass the other answers do not (the tree
    schedule's outward pass, the junction tree's downward pass): that pass runs
    when ``marginal_array`` is first read, not before.
    """

    @property
    def marginal_array(self):
        """Variable marginals, flat (``compiled.wiring.var_state_ptr`` indexes them)."""
        if self._marginals is None:
            self._marginals = self.answers.variable_marginals()
        return self._marginals

    @marginal_array.setter
    def marginal_array(self, value):
        self._marginals = value
