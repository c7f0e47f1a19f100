"""UAI model files (``.uai``), ``MARKOV`` and ``BAYES`` networks.

The format, as used by the UAI inference competitions (whitespace-separated
integers and numbers; lines starting with ``c`` or ``#`` are comments)::

    MARKOV                 network type: MARKOV or BAYES
    3                      number of variables
    2 2 3                  cardinality of each variable
    2                      number of factors
    2 0 1                  scope of each factor: its size, then variable indices
    2 1 2
    4                      per factor, in the same order: number of entries,
    1.0 0.5 0.5 1.0        then the potentials, last scope variable fastest
    6
    0.2 0.3 0.5 0.1 0.0 0.9

Tables hold potentials (MARKOV) or conditional probabilities with the child
last in the scope (BAYES); the engine stores energies ``E = -log(potential)``,
so a zero potential is a forbidden configuration (``E = +inf``).
"""

import logging
import math

import numpy as np

from ..exceptions import FactorGraphError
from ._model import check_graph, check_states, graph_factors, graph_from_tables, potentials_from_energies, spec_owner
from .limits import resolve_limits
from ._tokens import Tokens, format_numbers, write_lines

__all__ = ["read_uai", "write_uai", "NETWORKS", "NETWORK_KEY"]

logger = logging.getLogger(__name__)

#: Network types of the UAI preamble.
NETWORKS = ("MARKOV", "BAYES")
#: Key of ``FactorGraph.graph.graph`` (the networkx graph attributes) recording the preamble.
NETWORK_KEY = "uai_network"
#: Largest deviation from 1 accepted for a conditional probability table written as BAYES.
CPT_TOLERANCE = 1e-6


def _read_scopes(toks, n_vars, n_factors):
    if n_factors > toks.remaining:  # each factor has at least its scope size and its table size
        toks.skip(n_factors, "the factors")  # raises: the file ends first
    scopes = []
    for f in range(n_factors):
        size = toks.count(f"scope size of factor {f}")
        scopes.append(toks.scope(size, f"variable index of factor {f}", f"the scope of factor {f}", n_vars - 1))
    return scopes


def _read_tables(toks, states, scopes, network, limits):
    """All tables: counts checked one by one, potentials converted in one go."""
    what = "probability" if network == "BAYES" else "potential"
    sizes = [math.prod(states[v] for v in scope) for scope in scopes]
    starts = []
    total = 0
    for f, expected in enumerate(sizes):
        size = toks.count(f"number of table entries of factor {f}")
        toks.check_limit(limits, "factor_entries", expected, f"factor {f} has")
        total += expected
        toks.check_limit(limits, "total_entries", total, f"the tables up to factor {f} hold")
        if size != expected:
            raise toks.error(
                f"table of factor {f} has {size} entries, expected {expected} "
                f"(the product of its scope's cardinalities)", toks.pos - 1
            )
        starts.append(toks.skip(size, f"{what} of factor {f}"))
    toks.expect_end(f"the {len(scopes)} tables")
    potentials = toks.spans(starts, sizes, lambda f: f"{what} of factor {f}")
    offsets = np.concatenate([[0], np.cumsum(sizes[:-1], dtype=np.int64)]) if sizes else np.zeros(0, np.int64)
    return potentials, offsets


def read_uai(source, *, limits=None):
    """Read a UAI model (``MARKOV`` or ``BAYES``) into a :class:`~factorgraph_ebm.FactorGraph`.

    Parameters
    ----------
    source : path-like or text stream
        A ``.uai`` file (``.uai.gz`` is decompressed).
    limits : ReadLimits or mapping, optional
        Largest sizes the file may ask for (:class:`~factorgraph_ebm.io.ReadLimits`;
        default its defaults), e.g. ``{"states": 4_000_000}``.

    Returns
    -------
    FactorGraph
        Variable ``i`` of the file is the scalar variable named ``i`` (flat id
        ``i``). Factors of equal shape form one factor group (named
        ``"factors_2x3"`` etc., members in file order), with energies
        ``-log(potential)``. A ``BAYES`` preamble is recorded in
        ``fg.graph.graph["uai_network"]`` so that :func:`write_uai` keeps it.
        Factors with an empty scope (constants) become uniform unary factors of
        the variable with the fewest states.

    Raises
    ------
    ParseError
        Malformed file; the message names the file and the line.
    ResourceLimitError
        The file asks for more than ``limits`` allows (checked before allocating).

    Examples
    --------
    >>> import io
    >>> text = "MARKOV 2  2 2  2  1 0  2 0 1   2  1.0 3.0   4  2.0 1.0 1.0 0.0"
    >>> fg = read_uai(io.StringIO(text))
    >>> fg.n_vars, fg.n_factors, fg.var_states.tolist()
    (2, 2, [2, 2])
    >>> np.exp(-fg.factor_spec("factors_2x2").energy.table()[0])
    array([[2., 1.],
           [1., 0.]])
    """
    limits = resolve_limits(limits)
    toks = Tokens(source, comments="c#", limits=limits)
    network = toks.word("network type (MARKOV or BAYES)").upper()
    if network not in NETWORKS:
        raise toks.error(f"network type must be MARKOV or BAYES, got {toks.words[toks.pos - 1]!r}", toks.pos - 1)
    n_vars = toks.count("number of variables")
    first = toks.pos
    states = toks.ints(n_vars, "variable cardinalities", low=1)  # the file holds them: no limit before
    toks.check_limit(limits, "variables", n_vars, "the model declares", first - 1)
    check_states(toks, limits, states, lambda i: first + i)
    n_factors = toks.count("number of factors")
    scopes = _read_scopes(toks, n_vars, n_factors)
    potentials, offsets = _read_tables(toks, states, scopes, network, limits)
    fg = graph_from_tables(toks, states, scopes, potentials, offsets, limits)
    if network == "BAYES":
        fg.graph.graph[NETWORK_KEY] = "BAYES"
    logger.debug("read %s: %s network, %d variables, %d factors", toks.path, network, n_vars, n_factors)
    return fg


def _check_cpts(fg, factors):
    children = np.concatenate([spec.scopes[:, -1] for spec, _ in factors]) if factors else np.zeros(0, int)
    if len(children) != fg.n_vars or len(np.unique(children)) != fg.n_vars:
        raise FactorGraphError(
            "cannot write a BAYES network: every variable must be the last (child) variable of exactly one "
            f"factor ({len(children)} factors for {fg.n_vars} variables); use network='MARKOV'"
        )
    for spec, pot in factors:
        dev = np.abs(pot.sum(axis=-1) - 1.0)
        if (dev > CPT_TOLERANCE).any():
            raise FactorGraphError(
                f"cannot write a BAYES network: {spec_owner(spec)} is not a conditional probability table "
                f"(its potentials sum to {1.0 + dev.max():.6g} over the child variable); use network='MARKOV'"
            )


def _uai_lines(fg, network, factors):
    yield network
    yield str(fg.n_vars)
    yield " ".join(map(str, fg.var_states.tolist()))
    yield str(sum(spec.n_factors for spec, _ in factors))
    for spec, _ in factors:
        prefix = f"{spec.arity} "
        yield from (prefix + " ".join(map(str, row)) for row in spec.scopes.tolist())
    for spec, pot in factors:
        size = str(math.prod(spec.states))
        for row in pot.reshape(spec.n_factors, -1):
            yield ""
            yield size
            yield format_numbers(row)


def write_uai(fg, target, network=None, parameters=None):
    """Write a :class:`~factorgraph_ebm.FactorGraph` as a UAI model.

    Parameters
    ----------
    fg : FactorGraph
        Variables are written in flat-id order; factors in declaration order,
        each table as potentials ``exp(-E)`` (``+inf`` energies become 0).
    target : path-like or text stream
        ``.gz`` paths are compressed.
    network : {"MARKOV", "BAYES"}, optional
        Default: the preamble recorded by :func:`read_uai`, else ``MARKOV``.
        ``BAYES`` requires one conditional probability table per variable, with
        the child last in its scope.
    parameters : mapping, optional
        Values of the parameters of parameterized energies.

    Raises
    ------
    FactorGraphError
        A finite energy has no float64 potential (below about -709 or above
        about 745), or the model is not a Bayesian network for ``BAYES``.

    Examples
    --------
    >>> import io
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, np.log(2)], [np.inf, 0.0]])
    >>> out = io.StringIO()
    >>> write_uai(fg, out)
    >>> print(out.getvalue())
    MARKOV
    2
    2 2
    1
    2 0 1
    <BLANKLINE>
    4
    1 0.5 0 1
    <BLANKLINE>
    """
    check_graph(fg, "write_uai")
    network = fg.graph.graph.get(NETWORK_KEY, "MARKOV") if network is None else str(network).upper()
    if network not in NETWORKS:
        raise FactorGraphError(f"network must be one of {NETWORKS}, got {network!r}")
    factors = [(spec, potentials_from_energies(e, spec_owner(spec))) for spec, e in graph_factors(fg, parameters)]
    if network == "BAYES":
        _check_cpts(fg, factors)
    write_lines(target, _uai_lines(fg, network, factors))
