"""FactorGraph: declare variables and energy factors over a networkx graph.

The graph is bipartite: variable nodes (``kind="variable"`` for a single
variable, ``kind="variable_array"`` for an array of them) and factor nodes
(``kind="factor"`` or ``kind="factor_group"``). A factor group holds many factors
of one shape as a single node (its scopes as an integer matrix), so a 1000 x 1000
grid costs a handful of nodes; :meth:`FactorGraph.to_networkx` expands it to one
node per variable and per factor on demand.

Every method validates its whole input before touching the graph, so a failed
call leaves the graph unchanged.
"""

import numbers

import networkx as nx
import numpy as np

from ..exceptions import DeclarationError, DeclarationTypeError, FactorGraphError
from ..utils.validation import check_shape
from .energies import TableEnergy, as_energy
from .factors import FactorSpec
from .variables import ROLES, VariableArray, VariableBlock

__all__ = ["FactorGraph"]


def _check_states(states, owner):
    if isinstance(states, bool) or not isinstance(states, numbers.Integral):
        raise DeclarationTypeError(f"{owner}: states must be an integer >= 1, got {states!r}")
    if states < 1:
        raise DeclarationError(f"{owner}: states must be >= 1, got {states}")
    return int(states)


def _check_role(role, owner):
    if not isinstance(role, str):
        raise DeclarationTypeError(f"{owner}: role must be one of {ROLES}, got {type(role).__name__}")
    if role not in ROLES:
        raise DeclarationError(f"{owner}: role must be one of {ROLES}, got {role!r}")
    return role


class FactorGraph:
    """A factor graph of discrete variables and energy factors.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, infer
    >>> fg = FactorGraph()
    >>> fg.add_variable("rain", states=2, role="latent")
    'rain'
    >>> fg.add_variable("wet", states=2, role="observed")
    'wet'
    >>> fg.add_factor(["rain"], [0.0, 1.5])
    'f0'
    >>> fg.add_factor(["rain", "wet"], [[0.0, 2.0], [2.0, 0.0]])
    'f1'
    >>> res = infer(fg, evidence={"wet": 1}, beta=1.0)
    >>> np.round(res.marginal("rain"), 3)
    array([0.378, 0.622])
    """

    def __init__(self):
        self._graph = nx.Graph()
        self._blocks = []
        self._starts = None  # block start ids, cached until the next block
        self._block_index = {}
        self._n_vars = 0
        self._factors = []
        self._factor_index = {}
        self._states_cache = None

    # ------------------------------------------------------------------ views
    @property
    def graph(self):
        """The underlying :class:`networkx.Graph` at block level (a group is one node)."""
        return self._graph

    @property
    def n_vars(self):
        """Number of variables (array elements counted one by one)."""
        return self._n_vars

    @property
    def n_factors(self):
        """Number of factors (group members counted one by one)."""
        return sum(spec.n_factors for spec in self._factors)

    @property
    def variable_blocks(self):
        """Tuple of :class:`VariableBlock`, in declaration order."""
        return tuple(self._blocks)

    @property
    def factor_specs(self):
        """Tuple of :class:`FactorSpec`, in declaration order."""
        return tuple(self._factors)

    @property
    def var_states(self):
        """Number of states of every variable, by flat id (read-only int64 array)."""
        if self._states_cache is None:
            parts = [np.full(b.size, b.states, dtype=np.int64) for b in self._blocks]
            arr = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            arr.setflags(write=False)
            self._states_cache = arr
        return self._states_cache

    @property
    def parameter_names(self):
        """Sorted names of every parameter some energy depends on."""
        names = {n for spec in self._factors for n in spec.energy.parameter_names}
        return tuple(sorted(names))

    def __repr__(self):
        return f"FactorGraph(n_vars={self.n_vars}, n_factors={self.n_factors})"

    # ------------------------------------------------------------- variables
    def _check_new_node(self, name, what):
        try:
            hash(name)
        except TypeError:
            raise DeclarationTypeError(f"{what} name {name!r} is not hashable") from None
        if name is None:
            raise DeclarationTypeError(f"{what} name must not be None (networkx nodes cannot be None)")
        if isinstance(name, tuple):
            raise DeclarationError(
                f"{what} name {name!r}: tuples are reserved for array elements ('x', i, j)"
            )
        if name in self._graph:
            raise DeclarationError(f"{what} name {name!r} is already declared")

    def _add_block(self, name, shape, states, role, kind):
        block = VariableBlock(name, shape, states, role, self._n_vars)
        self._blocks.append(block)
        self._starts = None
        self._block_index[name] = block
        self._n_vars += block.size
        self._states_cache = None
        self._graph.add_node(name, kind=kind, states=states, role=role, shape=shape)
        return block

    def add_variable(self, name, states, role="output"):
        """Declare one variable; returns its name.

        Parameters
        ----------
        name : hashable (not a tuple)
        states : int >= 1
        role : {"observed", "output", "latent"}

        Examples
        --------
        >>> fg = FactorGraph()
        >>> fg.add_variable("y", states=3)
        'y'
        """
        self._check_new_node(name, "variable")
        states = _check_states(states, f"variable {name!r}")
        role = _check_role(role, f"variable {name!r}")
        self._add_block(name, (), states, role, "variable")
        return name

    def add_variables(self, name, shape, states, role="output"):
        """Declare an array of variables at once; returns a :class:`VariableArray`.

        Elements are named ``(name, i, j, ...)``; ``.ids`` gives their flat ids for
        :meth:`add_factor_group`.

        Examples
        --------
        >>> fg = FactorGraph()
        >>> x = fg.add_variables("x", shape=(100, 100), states=2)
        >>> fg.n_vars
        10000
        """
        self._check_new_node(name, "variable array")
        shape = check_shape(shape, f"variable array {name!r}: shape")
        states = _check_states(states, f"variable array {name!r}")
        role = _check_role(role, f"variable array {name!r}")
        return VariableArray(self._add_block(name, shape, states, role, "variable_array"))

    def variable_array(self, name):
        """The :class:`VariableArray` handle of a declared array."""
        block = self._lookup_block(name)
        if block is None or block.is_scalar:
            raise FactorGraphError(f"unknown variable array {name!r}")
        return VariableArray(block)

    # ------------------------------------------------------------- resolving
    def _block_of_id(self, ids):
        if self._starts is None:
            self._starts = np.fromiter((b.start for b in self._blocks), dtype=np.int64, count=len(self._blocks))
        return np.searchsorted(self._starts, ids, side="right") - 1

    def _lookup_block(self, name):
        """The block declared under ``name``, or None (also for unhashable names)."""
        try:
            return self._block_index.get(name)
        except TypeError:
            return None

    def variable_id(self, name):
        """Flat id of a variable name (``"a"`` or ``("x", i, j)``).

        Examples
        --------
        >>> fg = FactorGraph()
        >>> _ = fg.add_variables("x", shape=(2, 2), states=2)
        >>> fg.variable_id(("x", 1, 0))
        2
        """
        if not isinstance(name, tuple):
            block = self._lookup_block(name)
            if block is None:
                raise FactorGraphError(f"unknown variable {name!r}")
            if not block.is_scalar:
                raise FactorGraphError(
                    f"{name!r} is a variable array of shape {block.shape}; name an element as ({name!r}, i, ...)"
                )
            return block.start
        block = self._lookup_block(name[0]) if name else None
        if block is None or block.is_scalar:
            raise FactorGraphError(f"unknown variable {name!r}")
        index = name[1:]
        if len(index) != len(block.shape) or not all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) and 0 <= i < n
            for i, n in zip(index, block.shape)
        ):
            raise FactorGraphError(f"unknown variable {name!r}: array {name[0]!r} has shape {block.shape}")
        return block.start + int(np.ravel_multi_index(tuple(int(i) for i in index), block.shape))

    def variable_name(self, var_id):
        """Name of the variable with flat id ``var_id``."""
        if isinstance(var_id, bool) or not isinstance(var_id, numbers.Integral) or not 0 <= var_id < self._n_vars:
            raise FactorGraphError(f"variable id must be an int in [0, {self._n_vars}), got {var_id!r}")
        block = self._blocks[int(self._block_of_id(np.int64(var_id)))]
        return block.element_name(int(var_id) - block.start)

    def variable_block(self, name):
        """The :class:`VariableBlock` declared under ``name``."""
        block = self._lookup_block(name) if not isinstance(name, tuple) else None
        if block is None:
            raise FactorGraphError(f"unknown variable {name!r}")
        return block

    # ---------------------------------------------------------------- factors
    def _auto_name(self):
        i = len(self._factors)
        while f"f{i}" in self._graph:
            i += 1
        return f"f{i}"

    def _new_factor_name(self, name, what):
        if name is None:
            return self._auto_name()
        self._check_new_node(name, what)
        return name

    def add_factor(self, scope, energy, name=None):
        """Declare one factor over ``scope`` (variable names) with an energy.

        Parameters
        ----------
        scope : sequence of variable names
            Distinct variables; any arity >= 1.
        energy : array_like or Energy
            A table shaped by the scope's state counts (``+inf`` forbids a
            configuration), or an :class:`~factorgraph_ebm.Energy`.
        name : hashable, optional
            Defaults to ``"f<k>"``.

        Returns
        -------
        The factor's name.

        Examples
        --------
        >>> fg = FactorGraph()
        >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 3)
        >>> fg.add_factor(["a", "b"], np.zeros((2, 3)), name="ab")
        'ab'
        """
        name = self._new_factor_name(name, "factor")
        owner = f"factor {name!r}"
        if isinstance(scope, (str, bytes)) or not hasattr(scope, "__iter__"):
            raise DeclarationTypeError(f"{owner}: scope must be a sequence of variable names, got {scope!r}")
        scope = tuple(scope)
        if not scope:
            raise DeclarationError(f"{owner}: empty scope")
        try:
            ids = np.array([self.variable_id(v) for v in scope], dtype=np.int64)
        except FactorGraphError as exc:
            raise DeclarationError(f"{owner}: {exc}") from None
        if len(np.unique(ids)) != len(ids):
            dup = next(v for v in scope if scope.count(v) > 1)
            raise DeclarationError(f"{owner}: variable {dup!r} appears twice in the scope")
        energy = as_energy(energy, owner)
        states = tuple(int(s) for s in self.var_states[ids])
        if isinstance(energy, TableEnergy) and energy.shape != states:
            raise DeclarationError(f"{owner}: table shape {energy.shape} != cardinalities {states}")
        spec = FactorSpec(name, _readonly(ids[None, :]), states, energy, False)
        self._register(spec, kind="factor", scope=scope)
        return name

    def add_factor_group(self, scopes, energy, name=None):
        """Declare many factors of one shape at once, without a Python call per factor.

        Parameters
        ----------
        scopes : array_like of int, shape (n_factors, arity)
            Flat variable ids (from :attr:`VariableArray.ids`); every factor's
            j-th variable must have the same number of states.
        energy : array_like or Energy
            One table shaped by the states (shared by all factors), or a stack
            shaped ``(n_factors, *states)``, or an Energy producing either.
        name : hashable, optional
            Name of the group node; factor i is named ``(name, i)``.

        Examples
        --------
        >>> fg = FactorGraph()
        >>> x = fg.add_variables("x", shape=(3, 3), states=2)
        >>> right = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], axis=1)
        >>> fg.add_factor_group(right, [[0.0, 1.0], [1.0, 0.0]], name="h")
        'h'
        >>> fg.n_factors
        6
        """
        name = self._new_factor_name(name, "factor group")
        owner = f"factor group {name!r}"
        expected = "an integer matrix of variable ids (e.g. from VariableArray.ids), shape (n_factors, arity)"
        try:
            raw, scopes = scopes, np.array(scopes)
        except (TypeError, ValueError):
            raise DeclarationTypeError(f"{owner}: scopes must be {expected}, got a ragged "
                                       f"{type(scopes).__name__} (rows of different lengths)") from None
        if scopes.dtype.kind in "OUSV":
            got = "None" if raw is None else f"{type(raw).__name__} of dtype {scopes.dtype}"
            raise DeclarationTypeError(f"{owner}: scopes must be {expected}, got {got}")
        if scopes.ndim != 2 or scopes.shape[0] < 1:
            raise DeclarationError(f"{owner}: scopes must have shape (n_factors >= 1, arity), got {scopes.shape}")
        if scopes.shape[1] == 0:
            raise DeclarationError(f"{owner}: empty scope")
        if not np.issubdtype(scopes.dtype, np.integer):
            raise DeclarationTypeError(f"{owner}: scopes must hold integer variable ids, got dtype {scopes.dtype}")
        scopes = scopes.astype(np.int64)
        bad = (scopes < 0) | (scopes >= self._n_vars)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DeclarationError(f"{owner}: factor {row} refers to unknown variable id {scopes[bad][0]}")
        if scopes.shape[1] > 1:
            srt = np.sort(scopes, axis=1)
            rep = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
            if rep.any():
                row = int(np.argmax(rep))
                raise DeclarationError(f"{owner}: factor {row} has a variable twice in its scope")
        st = self.var_states[scopes]
        mixed = (st != st[:1]).any(axis=0)
        if mixed.any():
            col = int(np.argmax(mixed))
            row = int(np.argmax(st[:, col] != st[0, col]))
            raise DeclarationError(
                f"{owner}: scope position {col} mixes variables with {st[0, col]} and {st[row, col]} states (factor {row})"
            )
        states = tuple(int(s) for s in st[0])
        energy = as_energy(energy, owner)
        if isinstance(energy, TableEnergy) and energy.shape not in (states, (len(scopes), *states)):
            raise DeclarationError(
                f"{owner}: table shape {energy.shape} != cardinalities {states} or {(len(scopes), *states)}"
            )
        spec = FactorSpec(name, _readonly(scopes), states, energy, True)
        self._register(spec, kind="factor_group", n_factors=len(scopes))
        return name

    def _register(self, spec, kind, **attrs):
        blocks = np.unique(self._block_of_id(np.unique(spec.scopes)))
        self._factors.append(spec)
        self._factor_index[spec.name] = spec
        self._graph.add_node(spec.name, kind=kind, energy=spec.energy, states=spec.states, **attrs)
        self._graph.add_edges_from((spec.name, self._blocks[b].name) for b in blocks)

    def factor_spec(self, name):
        """The :class:`FactorSpec` declared under ``name``."""
        try:
            return self._factor_index[name]
        except (KeyError, TypeError):
            raise FactorGraphError(f"unknown factor {name!r}") from None

    def set_energy(self, name, energy):
        """Replace the energy of a declared factor or group (same shape)."""
        spec = self.factor_spec(name)
        owner = f"factor {name!r}"
        energy = as_energy(energy, owner)
        if isinstance(energy, TableEnergy) and energy.shape not in (spec.states, (spec.n_factors, *spec.states)):
            raise DeclarationError(f"{owner}: table shape {energy.shape} != cardinalities {spec.states}")
        new = FactorSpec(spec.name, spec.scopes, spec.states, energy, spec.is_group)
        self._factors[self._factors.index(spec)] = new
        self._factor_index[name] = new
        self._graph.nodes[name]["energy"] = energy

    # ------------------------------------------------------------- expansion
    def to_networkx(self):
        """Expanded bipartite graph: one node per variable and per factor.

        Variable nodes carry ``bipartite=0, states, role``; factor nodes carry
        ``bipartite=1, scope`` (tuple of variable names). Meant for analysis and
        drawing of small and medium graphs.

        Examples
        --------
        >>> fg = FactorGraph()
        >>> x = fg.add_variables("x", shape=3, states=2)
        >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), np.zeros((2, 2)), name="t")
        >>> sorted(fg.to_networkx().neighbors(("t", 1)))
        [('x', 1), ('x', 2)]
        """
        g = nx.Graph()
        names = [self.variable_name(i) for i in range(self._n_vars)]
        for block in self._blocks:
            for k in range(block.size):
                g.add_node(names[block.start + k], bipartite=0, states=block.states, role=block.role)
        for spec in self._factors:
            for i in range(spec.n_factors):
                fname = spec.factor_name(i)
                scope = tuple(names[v] for v in spec.scopes[i])
                g.add_node(fname, bipartite=1, scope=scope)
                g.add_edges_from((fname, v) for v in scope)
        return g


def _readonly(arr):
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    arr.setflags(write=False)
    return arr
