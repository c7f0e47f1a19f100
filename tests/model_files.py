"""Raw models (cardinalities, scopes, potential tables) for the io and CLI tests.

Independent of the engine and of ``factorgraph_ebm.io``: a brute-force oracle
over the full joint table and a minimal UAI text writer, so the readers, the
writers and the command are checked against something they do not share code with.
"""

import itertools

import numpy as np


class RawModel:
    """Cardinalities, scopes and C-ordered potential tables of a small model."""

    def __init__(self, cards, scopes, tables):
        self.cards = [int(c) for c in cards]
        self.scopes = [tuple(int(v) for v in s) for s in scopes]
        self.tables = [np.asarray(t, dtype=np.float64).reshape([self.cards[v] for v in s])
                       for s, t in zip(self.scopes, tables)]

    # ----------------------------------------------------------- brute force
    def joint(self, evidence=None):
        """Unnormalised joint potential over all variables (axes = variables)."""
        n = len(self.cards)
        joint = np.ones(self.cards)
        for scope, table in zip(self.scopes, self.tables):
            shape = [1] * n
            for v in scope:
                shape[v] = self.cards[v]
            joint = joint * table.transpose(np.argsort(scope)).reshape(shape)
        for v, s in (evidence or {}).items():
            keep = np.zeros(self.cards[v])
            keep[s] = 1.0
            shape = [1] * n
            shape[v] = self.cards[v]
            joint = joint * keep.reshape(shape)
        return joint

    def partition(self, evidence=None, beta=1.0):
        """Z = sum over assignments of prod(potentials)^beta (evidence-consistent only)."""
        return float((self.joint(evidence) ** beta).sum())

    def marginals(self, evidence=None, beta=1.0):
        """Per-variable marginals of prod(potentials)^beta."""
        joint = self.joint(evidence) ** beta
        z = joint.sum()
        n = len(self.cards)
        return [joint.sum(axis=tuple(a for a in range(n) if a != v)) / z for v in range(n)]

    def best(self, evidence=None):
        """(largest joint potential, lexicographically smallest assignment reaching it)."""
        joint = self.joint(evidence)
        flat = int(np.argmax(joint))
        return float(joint.ravel()[flat]), np.array(np.unravel_index(flat, joint.shape))

    def potential(self, assignment):
        """Product of potentials of one full assignment."""
        return float(self.joint()[tuple(assignment)])

    # --------------------------------------------------------------- writing
    def uai_text(self, network="MARKOV"):
        """The model as UAI text (one table entry per line, to exercise line numbers)."""
        lines = [network, str(len(self.cards)), " ".join(map(str, self.cards)), str(len(self.scopes))]
        lines += [" ".join(map(str, [len(s), *s])) for s in self.scopes]
        for table in self.tables:
            lines += ["", str(table.size)] + [repr(float(p)) for p in table.ravel()]
        return "\n".join(lines) + "\n"


def random_model(rng, cards, scopes, zero_prob=0.0, low=0.2, high=3.0):
    """Random potentials in [low, high], a fraction ``zero_prob`` set to 0."""
    tables = []
    for s in scopes:
        t = rng.uniform(low, high, size=[cards[v] for v in s])
        t[rng.random(t.shape) < zero_prob] = 0.0
        tables.append(t)
    return RawModel(cards, scopes, tables)


def chain(rng, n=5, k=3, **kw):
    """Chain x0 - x1 - ... with unary factors."""
    scopes = [(v,) for v in range(n)] + [(v, v + 1) for v in range(n - 1)]
    return random_model(rng, [k] * n, scopes, **kw)


def tree(rng, **kw):
    """A tree with mixed cardinalities, a ternary factor and reversed scopes."""
    cards = [2, 3, 2, 4, 2, 3]
    scopes = [(0,), (1, 0), (0, 2, 3), (3, 4), (5, 3), (2,)]
    return random_model(rng, cards, scopes, **kw)


def grid(rng, n=3, k=2, **kw):
    """n x n grid (loopy), unary and pairwise factors."""
    ids = np.arange(n * n).reshape(n, n)
    pairs = [(int(a), int(b)) for a, b in itertools.chain(zip(ids[:, :-1].ravel(), ids[:, 1:].ravel()),
                                                           zip(ids[:-1].ravel(), ids[1:].ravel()))]
    return random_model(rng, [k] * (n * n), [(v,) for v in range(n * n)] + pairs, **kw)
