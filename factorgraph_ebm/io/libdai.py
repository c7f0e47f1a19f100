"""libDAI factor-graph files (``.fg``).

The format (whitespace-separated; lines starting with ``#`` are comments)::

    2                  number of factors
                       then per factor, separated by blank lines:
    2                  number of variables
    0 1                their labels (non-negative integers)
    2 3                their cardinalities
    3                  number of listed (nonzero) entries
    0 0.5              entry index and potential; the FIRST variable changes
    1 2.0              fastest: index = x0 + 2 * x1 here
    5 1.0              entries not listed are zero (forbidden configurations)

The variables of the model are the labels that occur, in increasing label order.
"""

import logging
import math

import numpy as np

from ._model import (
    check_graph,
    check_states,
    graph_factors,
    graph_from_tables,
    potentials_from_energies,
    spec_owner,
)
from ._tokens import Tokens, format_numbers, write_lines
from .limits import resolve_limits

__all__ = ["read_libdai", "write_libdai"]

logger = logging.getLogger(__name__)

def _read_scope(toks, f, label_states, limits):
    """Labels and cardinalities of factor ``f``, checked against the earlier factors."""
    arity = toks.count(f"number of variables of factor {f}")
    labels = toks.scope(arity, f"variable label of factor {f}", f"factor {f}")
    first = toks.pos
    dims = toks.ints(arity, f"cardinality of factor {f}", low=1)
    check_states(toks, limits, dims, lambda k: first + k, lambda k: f"variable {labels[k]} of factor {f}")
    for k, (lab, dim) in enumerate(zip(labels, dims)):
        known = label_states.setdefault(lab, dim)
        if known != dim:
            raise toks.error(f"variable {lab} has {dim} states in factor {f} but {known} in an earlier factor", first + k)
    # sparse entries: the file size does not bound the dense table built from them
    toks.check_limit(limits, "factor_entries", math.prod(dims), f"factor {f} has", first)
    return labels, dims


def _c_order(index, factor, dims):
    """C-order (last variable fastest) table indices of first-variable-fastest ones.

    ``index[e]`` is an entry of factor ``factor[e]``, whose cardinalities are
    the row ``dims[factor[e]]`` (padded with 1). Vectorized over all entries.
    """
    if dims.shape[1] == 0:  # only constant factors: every index is 0
        return index
    ones = np.ones((len(dims), 1), dtype=np.int64)
    f_stride = np.cumprod(np.concatenate([ones, dims[:, :-1]], axis=1), axis=1)
    c_stride = np.cumprod(np.concatenate([ones, dims[:, :0:-1]], axis=1), axis=1)[:, ::-1]
    digits = (index[:, None] // f_stride[factor]) % dims[factor]
    return (digits * c_stride[factor]).sum(axis=1)


def _check_entries(toks, index, entry_factor, sizes, offsets, position):
    """Entry indices in range and listed once; raises at the first offender."""
    bad = np.flatnonzero(index >= sizes[entry_factor])
    if len(bad):
        k, f = int(bad[0]), int(entry_factor[bad[0]])
        raise toks.error(f"entry index {index[k]} of factor {f} out of range [0, {sizes[f]})", position(k))
    key = offsets[entry_factor] + index
    order = np.argsort(key, kind="stable")
    repeat = order[1:][key[order][1:] == key[order][:-1]]
    if len(repeat):
        k = int(repeat.min())
        raise toks.error(f"entry index {index[k]} of factor {entry_factor[k]} is listed twice", position(k))


def read_libdai(source, *, limits=None):
    """Read a libDAI ``.fg`` file into a :class:`~factorgraph_ebm.FactorGraph`.

    Parameters
    ----------
    source : path-like or text stream
        A ``.fg`` file (``.fg.gz`` is decompressed).
    limits : ReadLimits or mapping, optional
        Largest sizes the file may ask for (:class:`~factorgraph_ebm.io.ReadLimits`;
        default its defaults). Unlisted entries count: a factor's dense table
        is built from its sparse entries.

    Returns
    -------
    FactorGraph
        One scalar variable per label, named by the label, in increasing label
        order (flat id = rank of the label). Factors keep the file's variable
        order as their scope order; factors of equal shape form one factor group
        (``"factors_2x3"`` etc.). Energies are ``-log(potential)``; unlisted
        entries are zero potentials, hence ``+inf`` energies.

    Raises
    ------
    ParseError
        Malformed file; the message names the file and the line.
    ResourceLimitError
        The file asks for more than ``limits`` allows (checked before allocating).

    Examples
    --------
    The first variable of a factor changes fastest:

    >>> import io
    >>> text = "1\\n\\n2\\n4 7\\n2 3\\n3\\n0 0.5\\n1 2.0\\n5 1.0\\n"
    >>> fg = read_libdai(io.StringIO(text))
    >>> [b.name for b in fg.variable_blocks], fg.var_states.tolist()
    ([4, 7], [2, 3])
    >>> np.exp(-fg.factor_spec("factors_2x3").energy.table()[0])
    array([[0.5, 0. , 0. ],
           [2. , 0. , 1. ]])
    """
    limits = resolve_limits(limits)
    toks = Tokens(source, comments="#", limits=limits)
    n_factors = toks.count("number of factors")
    if n_factors > toks.remaining:  # each factor has at least its number of variables and of entries
        toks.skip(n_factors, "the factors")  # raises: the file ends first
    label_states, labels, dims, starts, listed = {}, [], [], [], []
    total = 0
    for f in range(n_factors):
        lab, dim = _read_scope(toks, f, label_states, limits)
        total += math.prod(dim)
        toks.check_limit(limits, "total_entries", total, f"the tables up to factor {f} hold")
        n_listed = toks.count(f"number of nonzero entries of factor {f}", high=math.prod(dim))
        starts.append(toks.skip(2 * n_listed, f"entries of factor {f}"))
        labels.append(lab)
        dims.append(dim)
        listed.append(n_listed)
    toks.expect_end(f"the {n_factors} factors")

    index = toks.spans(starts, listed, lambda f: f"entry index of factor {f}", "int", step=2)
    values = toks.spans([s + 1 for s in starts], listed, lambda f: f"potential of factor {f}", "float", step=2)
    sizes = np.array([math.prod(d) for d in dims], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    entry_factor = np.repeat(np.arange(n_factors), listed)
    first_entry = np.cumsum(listed, dtype=np.int64) - np.asarray(listed, dtype=np.int64)
    _check_entries(toks, index, entry_factor, sizes, offsets,
                   lambda k: starts[entry_factor[k]] + 2 * int(k - first_entry[entry_factor[k]]))
    width = max(map(len, dims), default=0)
    dim_matrix = np.array([d + [1] * (width - len(d)) for d in dims], dtype=np.int64).reshape(n_factors, width)
    potentials = np.zeros(total)
    if len(index):
        potentials[offsets[entry_factor] + _c_order(index, entry_factor, dim_matrix)] = values

    names = sorted(label_states)
    toks.check_limit(limits, "variables", len(names), "the factors name", 0)
    toks.check_limit(limits, "total_states", sum(label_states.values()), "the variables have", 0)
    rank = {lab: i for i, lab in enumerate(names)}
    scopes = [[rank[lab] for lab in lab_list] for lab_list in labels]
    logger.debug("read %s: %d variables, %d factors", toks.path, len(names), n_factors)
    return graph_from_tables(toks, [label_states[lab] for lab in names], scopes, potentials, offsets, limits,
                             names=names)


def _labels(fg):
    """Variable names when they are increasing non-negative ints (labels survive a round trip), else flat ids."""
    blocks = fg.variable_blocks
    names = [b.name for b in blocks]
    if all(b.is_scalar and isinstance(b.name, int) and not isinstance(b.name, bool) for b in blocks) and (
        all(a < b for a, b in zip(names, names[1:])) and (not names or names[0] >= 0)
    ):
        return np.array(names, dtype=np.int64)
    return np.arange(fg.n_vars, dtype=np.int64)


def _factor_lines(labels, dims, potentials):
    """Lines of one factor; ``potentials`` is already flattened first-variable-fastest."""
    nonzero = np.flatnonzero(potentials)
    yield ""
    yield str(len(dims))
    yield " ".join(map(str, labels))
    yield " ".join(map(str, dims))
    yield str(len(nonzero))
    yield from map("{} {}".format, nonzero.tolist(), format_numbers(potentials[nonzero]).split())


def _fg_lines(fg, factors, labels):
    covered = np.zeros(fg.n_vars, dtype=bool)
    for spec, _ in factors:
        covered[spec.scopes.ravel()] = True
    isolated = np.flatnonzero(~covered)
    yield str(sum(spec.n_factors for spec, _ in factors) + len(isolated))
    for spec, pot in factors:
        dims = list(spec.states)
        # first variable fastest = C order of the table with its axes reversed
        flat = pot.transpose(0, *range(spec.arity, 0, -1)).reshape(spec.n_factors, -1)
        for scope, row in zip(labels[spec.scopes].tolist(), flat):
            yield from _factor_lines(scope, dims, row)
    for v in isolated.tolist():
        # a variable without factors exists in .fg only through a factor: write a uniform one
        yield from _factor_lines([int(labels[v])], [int(fg.var_states[v])], np.ones(int(fg.var_states[v])))


def write_libdai(fg, target, parameters=None):
    """Write a :class:`~factorgraph_ebm.FactorGraph` as a libDAI ``.fg`` file.

    Labels are the variable names when every variable is a scalar variable
    named by an increasing non-negative int (as :func:`read_libdai` and
    :func:`~factorgraph_ebm.io.read_uai` produce), otherwise the flat ids.
    Only nonzero potentials are listed. A variable that no factor touches gets
    a uniform unary factor, since ``.fg`` knows variables only through factors.

    Examples
    --------
    >>> import io
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 3)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, np.inf, np.inf], [np.log(0.5), np.inf, 0.0]])
    >>> out = io.StringIO()
    >>> write_libdai(fg, out)
    >>> print(out.getvalue())
    1
    <BLANKLINE>
    2
    0 1
    2 3
    3
    0 1
    1 2
    5 1
    <BLANKLINE>
    """
    check_graph(fg, "write_libdai")
    factors = [(spec, potentials_from_energies(e, spec_owner(spec))) for spec, e in graph_factors(fg, parameters)]
    labels = _labels(fg)
    write_lines(target, _fg_lines(fg, factors, labels))
