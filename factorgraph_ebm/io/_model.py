"""Between parsed arrays and a FactorGraph: potentials <-> energies, factors grouped by shape.

File formats store *potentials* (or probabilities) ``phi >= 0``; the engine
stores *energies* ``E = -log(phi)``, with ``phi = 0`` becoming ``E = +inf``.
Readers declare one scalar variable per file variable and gather the factors
of equal shape into one factor group each (one ``add_factor_group`` call per
shape, never one call per factor), so large files load quickly.
"""

import math

import numpy as np

from ..exceptions import DeclarationTypeError, FactorGraphError
from ..graph.energies import resolve_table
from ..graph.factor_graph import FactorGraph

__all__ = [
    "energies_from_potentials",
    "potentials_from_energies",
    "build_graph",
    "graph_from_tables",
    "graph_factors",
    "fold_constant_factors",
    "check_constant_host",
    "check_states",
    "spec_owner",
    "check_graph",
]


def energies_from_potentials(potentials):
    """``-log(potentials)``, with ``+inf`` where a potential is 0.

    Examples
    --------
    >>> energies_from_potentials(np.array([1.0, 0.5, 0.0]))
    array([-0.        ,  0.69314718,         inf])
    """
    with np.errstate(divide="ignore"):
        out = np.log(np.asarray(potentials, dtype=np.float64))
    return np.negative(out, out=out)  # in place: one table-sized array, not two


def check_graph(fg, func):
    """Raise :class:`DeclarationTypeError` unless ``fg`` is a FactorGraph (``func`` names the caller)."""
    if not isinstance(fg, FactorGraph):
        raise DeclarationTypeError(f"{func} expects a FactorGraph, got {type(fg).__name__}")


def spec_owner(spec):
    """``"factor 'f0'"`` or ``"factor group 'g'"``, for messages."""
    return f"{'factor group' if spec.is_group else 'factor'} {spec.name!r}"


def potentials_from_energies(energies, owner):
    """``exp(-energies)``; raises when a finite energy has no finite, non-zero potential.

    Examples
    --------
    >>> potentials_from_energies(np.array([0.0, np.inf]), "factor 0")
    array([1., 0.])
    >>> potentials_from_energies(np.array([-1000.0]), "factor 0")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.FactorGraphError: factor 0: energy -1000.0 has no finite non-zero potential exp(-E) in float64; shift or rescale the energies
    """
    energies = np.asarray(energies, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        pot = np.exp(-energies)
    lost = np.isfinite(energies) & ((pot == 0) | np.isinf(pot))
    if lost.any():
        e = float(energies[lost].flat[0])
        raise FactorGraphError(
            f"{owner}: energy {e!r} has no finite non-zero potential exp(-E) in float64; "
            "shift or rescale the energies"
        )
    return pot


def check_states(toks, limits, states, position, name=None):
    """Check the cardinalities ``states`` against the ``states`` and ``total_states`` limits.

    ``position(i)`` is the token of the cardinality of variable ``i`` (for the
    line in messages); ``name(i)`` names it (default ``"variable i"``).
    """
    if not len(states):
        return
    big = int(np.argmax(states))
    label = f"variable {big}" if name is None else name(big)
    toks.check_limit(limits, "states", int(states[big]), f"{label} has", position(big))
    toks.check_limit(limits, "total_states", int(np.sum(states, dtype=object)), "the variables have",
                     position(len(states) - 1))


def check_constant_host(toks, states, scopes, limits, total):
    """Raise a ParseError (via the ``toks`` cursor) when constant factors cannot be folded.

    See :func:`fold_constant_factors`: they need a variable; each becomes a
    table of that variable's states, counted against the ``factor_entries``
    and ``total_entries`` limits of ``limits`` (``total``: entries of the other
    tables).
    """
    n_constant = sum(1 for scope in scopes if len(scope) == 0)
    if not n_constant:
        return
    if len(states) == 0:
        raise toks.error("a constant factor (empty scope) needs a variable to attach to; the model has none", 0)
    k = int(min(states))
    toks.check_limit(limits, "factor_entries", k, "a constant factor spread over the variable with the fewest "
                     "states has", 0)
    toks.check_limit(limits, "total_entries", total + n_constant * (k - 1),
                     f"the tables, with {n_constant} constant factors spread over {k} states each, hold", 0)


def fold_constant_factors(states, scopes, potentials, offsets):
    """Turn factors with an empty scope (constants) into uniform unary factors.

    A constant scales every configuration alike; as a uniform unary factor of
    the variable with the fewest states it keeps the partition function, the
    marginals and the MPE. Takes and returns ``(scopes, potentials, offsets)``
    as :func:`build_graph` takes them; the caller makes sure there is a
    variable and that its table is not too large (:func:`check_constant_host`).
    """
    constant = [f for f, scope in enumerate(scopes) if len(scope) == 0]
    if not constant:
        return scopes, potentials, offsets
    host = int(np.argmin(states))
    k = int(states[host])
    scopes = [[host] if len(scope) == 0 else scope for scope in scopes]
    offsets = np.array(offsets, dtype=np.int64)
    extra = np.repeat(potentials[offsets[constant]], k)
    offsets[constant] = len(potentials) + k * np.arange(len(constant))
    return scopes, np.concatenate([potentials, extra]), offsets


def graph_from_tables(toks, states, scopes, potentials, offsets, limits, names=None):
    """:func:`build_graph` after folding constant factors; errors are raised through the ``toks`` cursor."""
    check_constant_host(toks, states, scopes, limits, len(potentials))
    return build_graph(states, *fold_constant_factors(states, scopes, potentials, offsets), names=names)


def build_graph(states, scopes, potentials, offsets, names=None):
    """Declare a FactorGraph from parsed arrays.

    Parameters
    ----------
    states : array of int, shape (n_vars,)
        States of each variable (>= 1).
    scopes : list of int sequences
        Variable indices of each factor (distinct, non-empty).
    potentials : ndarray of float64
        Every factor's potentials, C-ordered over its scope, one after another.
    offsets : array of int, shape (n_factors,)
        Where each factor's potentials start in ``potentials``.
    names : sequence, optional
        Variable names (default ``0 .. n_vars - 1``).

    Returns
    -------
    FactorGraph
        Scalar variables in file order (flat id = file index); one factor group
        per distinct tuple of scope states, named ``"factors_2x3"`` etc., whose
        members keep their file order.

    Examples
    --------
    >>> fg = build_graph([2, 2], [[0], [0, 1]], np.array([1.0, 3.0, 1, 0, 0, 1]), [0, 2])
    >>> [spec.name for spec in fg.factor_specs]
    ['factors_2', 'factors_2x2']
    >>> fg.factor_spec("factors_2x2").energy.table()[0]
    array([[-0., inf],
           [inf, -0.]])
    """
    state_list = [int(k) for k in states]
    offsets = np.asarray(offsets, dtype=np.int64)
    fg = FactorGraph()
    for name, k in zip(range(len(state_list)) if names is None else names, state_list):
        fg.add_variable(name, k)
    groups = {}
    for f, scope in enumerate(scopes):
        groups.setdefault(tuple(state_list[v] for v in scope), []).append(f)
    for shape, members in groups.items():
        size = math.prod(shape)
        starts = offsets[members]
        if np.array_equal(starts, starts[0] + size * np.arange(len(members))):
            # consecutive tables (the usual case): a view, no index array and no gathered copy
            tables = potentials[starts[0]:starts[0] + size * len(members)].reshape(len(members), *shape)
        else:
            tables = potentials[starts[:, None] + np.arange(size)].reshape(len(members), *shape)
        scope_matrix = np.array([scopes[f] for f in members], dtype=np.int64)
        fg.add_factor_group(scope_matrix, energies_from_potentials(tables), name="factors_" + "x".join(map(str, shape)))
    return fg


def graph_factors(fg, parameters=None):
    """Every factor declaration of ``fg`` as ``(spec, energies)``, in declaration order.

    ``spec.scopes`` is the int64 ``(n, arity)`` matrix of flat variable ids and
    ``energies`` an ``(n, *states)`` array (a broadcast view when the group
    shares one table). ``parameters`` evaluates parameterized energies.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=3, states=2)
    >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), np.eye(2))
    >>> [(spec.scopes.tolist(), e.shape) for spec, e in graph_factors(fg)]
    [([[0, 1], [1, 2]], (2, 2, 2))]
    """
    for spec in fg.factor_specs:
        table = resolve_table(spec.energy, parameters, spec.n_factors, spec.states, spec_owner(spec))
        yield spec, np.broadcast_to(table, (spec.n_factors, *spec.states))
