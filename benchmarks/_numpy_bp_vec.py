"""Flooding loopy BP on any pairwise model, fully vectorised in NumPy: the strongest NumPy baseline we can write.

Standalone (does not import ``factorgraph_ebm``). Same problem and schedule as
``_numpy_bp.py`` (energy domain, zero initial messages, flooding, messages
shifted to minimum 0 after each update), but:

* any pairwise model: edges ``(a[e], b[e])`` with one ``K x K`` table each
  (``tables`` shape ``(E, K, K)``, ``tables[e, x_a, x_b]``), not only grids
  with one shared table;
* every directed message of one orientation at once: the variable-to-factor
  messages are ``belief[a] - msg_to_a`` (gathers), the factor-to-variable
  update is one batched product ``(E, 1, K) @ (E, K, K)`` in exp space
  (sum-product; a per-edge shift by the smallest incoming energy and by the
  table's minimum keeps it in range) or one ``(E, K, K)`` minimum (min-sum),
  and beliefs are two scatter-adds by sparse incidence products
  (``scipy.sparse`` CSR ``(V, E)`` times ``(E, K)``).

Finite energies only (a baseline for speed, not for +inf tables).
"""

import numpy as np
from scipy import sparse


class VectorisedBP:
    """Flooding BP state for a pairwise model; ``run(n)`` does ``n`` iterations."""

    def __init__(self, unary, a, b, tables, beta):
        self.unary = np.ascontiguousarray(unary, dtype=np.float64)          # (V, K)
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        self.tables = np.ascontiguousarray(tables, dtype=np.float64)        # (E, K, K)
        self.beta = float(beta)
        v, k = self.unary.shape
        e = len(self.a)
        ones = np.ones(e)
        self.inc_a = sparse.csr_matrix((ones, (self.a, np.arange(e))), shape=(v, e))
        self.inc_b = sparse.csr_matrix((ones, (self.b, np.arange(e))), shape=(v, e))
        if np.isfinite(self.beta):
            self.tmin = self.tables.min(axis=(1, 2))                          # (E,)
            shifted = self.tables - self.tmin[:, None, None]
            self.etab = np.exp(-self.beta * shifted)                          # (E, K, K): x_a rows, x_b cols
            self.etab_t = np.ascontiguousarray(self.etab.transpose(0, 2, 1))  # (E, K, K): x_b rows
        else:
            self.tables_t = np.ascontiguousarray(self.tables.transpose(0, 2, 1))
        self.to_a = np.zeros((e, k))
        self.to_b = np.zeros((e, k))

    def beliefs(self):
        return self.unary + self.inc_a @ self.to_a + self.inc_b @ self.to_b

    def _send(self, incoming, etab, tab):
        """Messages to the other end from the energies ``incoming`` (E, K) at this end."""
        lo = incoming.min(axis=1, keepdims=True)
        if np.isfinite(self.beta):
            w = np.exp(-self.beta * (incoming - lo))                         # (E, K)
            s = np.matmul(w[:, None, :], etab)[:, 0, :]                       # (E, K)
            out = -np.log(s) / self.beta
        else:
            out = (incoming[:, :, None] + tab).min(axis=1)
        return out - out.min(axis=1, keepdims=True)

    def step(self):
        bel = self.beliefs()
        from_a = bel[self.a] - self.to_a          # variable a -> factor e, excluding e's own message
        from_b = bel[self.b] - self.to_b
        inf = not np.isfinite(self.beta)
        new_b = self._send(from_a, None if inf else self.etab, self.tables if inf else None)
        new_a = self._send(from_b, None if inf else self.etab_t, self.tables_t if inf else None)
        delta = max(np.abs(new_a - self.to_a).max(initial=0.0), np.abs(new_b - self.to_b).max(initial=0.0))
        self.to_a, self.to_b = new_a, new_b
        return delta

    def run(self, n_iters):
        for _ in range(n_iters):
            self.step()
        return self

    def marginals(self):
        bel = self.beliefs()
        if not np.isfinite(self.beta):
            return bel
        p = np.exp(-self.beta * (bel - bel.min(axis=1, keepdims=True)))
        return p / p.sum(axis=1, keepdims=True)


def grid_model(unary, pair):
    """Edges and per-edge tables of an N x N grid (row-major ids) with one table ``pair`` on every edge."""
    n, _, k = unary.shape
    ids = np.arange(n * n).reshape(n, n)
    a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    tables = np.broadcast_to(np.asarray(pair, dtype=np.float64), (len(a), k, k))
    return unary.reshape(n * n, k), a, b, tables
