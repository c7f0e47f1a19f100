"""Bayesian networks in the BIF format (the bnlearn repository) as factor graphs, for the benchmarks.

Reads the subset of BIF the bnlearn files use: ``variable NAME { type discrete
[ K ] { s1, ..., sK }; }`` and ``probability ( CHILD | P1, P2 ) { (a, b) p1,
..., pK; ... }`` or ``probability ( CHILD ) { table p1, ..., pK; }``. Each
conditional probability table becomes one factor over ``(P1, ..., Pn, CHILD)``
with energies ``-log p`` (the UAI ``BAYES`` layout: child last).
"""

import gzip
import re

import numpy as np

from factorgraph_ebm import FactorGraph
from factorgraph_ebm.io.uai import NETWORK_KEY

#: Key of ``fg.graph.graph`` holding ``{variable: [state names]}``.
STATES_KEY = "bif_states"
_VARIABLE = re.compile(r"variable\s+(\S+)\s*\{\s*type\s+discrete\s*\[\s*(\d+)\s*\]\s*\{([^}]*)\}\s*;", re.S)
_PROBABILITY = re.compile(r"probability\s*\(\s*([^|)]+?)\s*(?:\|\s*([^)]*?))?\s*\)\s*\{([^}]*)\}", re.S)
_ROW = re.compile(r"\(([^)]*)\)\s*([^;]*);")


def _numbers(text):
    return [float(x) for x in re.split(r"[,\s]+", text.strip()) if x]


def read_bif(path):
    """A :class:`FactorGraph` (network ``BAYES``) from a ``.bif`` or ``.bif.gz`` file.

    Examples
    --------
    >>> import io, tempfile, os
    >>> text = ("variable a { type discrete [ 2 ] { y, n }; }\\n"
    ...         "probability ( a ) { table 0.2, 0.8; }")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "m.bif"); _ = open(p, "w").write(text)
    ...     fg = read_bif(p)
    >>> fg.n_vars, fg.n_factors
    (1, 1)
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        text = fh.read()
    states, labels = {}, {}
    for name, k, values in _VARIABLE.findall(text):
        labels[name] = [s.strip() for s in values.split(",")]
        states[name] = int(k)
        if len(labels[name]) != states[name]:
            raise ValueError(f"{path}: variable {name} declares {k} states but lists {len(labels[name])}")
    fg = FactorGraph()
    for name, k in states.items():
        fg.add_variable(name, k)
    for child, parents, body in _PROBABILITY.findall(text):
        parents = [p.strip() for p in parents.split(",")] if parents and parents.strip() else []
        shape = [states[p] for p in parents] + [states[child]]
        table = np.full(shape, np.nan)
        body = body.strip()
        if body.startswith("table"):
            if parents:
                raise ValueError(f"{path}: 'table' form for {child} with parents is not supported")
            table[...] = np.asarray(_numbers(body[len("table"):].rstrip(";")))
        else:
            for parent_states, probs in _ROW.findall(body):
                index = tuple(labels[p].index(s.strip()) for p, s in zip(parents, parent_states.split(",")))
                table[index] = _numbers(probs)
        if np.isnan(table).any():
            raise ValueError(f"{path}: conditional table of {child} is incomplete")
        with np.errstate(divide="ignore"):
            fg.add_factor(parents + [child], -np.log(table), name=f"P({child})")
    fg.graph.graph[NETWORK_KEY] = "BAYES"
    fg.graph.graph[STATES_KEY] = labels
    return fg
