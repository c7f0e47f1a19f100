"""A fully vectorised NumPy chromatic ("checkerboard") Gibbs sampler: the peer of ``gibbs_speed.py``.

Same model and same sweep as ours (colour classes of the greedy colouring in
turn; on a grid declared row by row that is the checkerboard), but every
class is one batch of NumPy operations: gather the neighbours' states, gather
the table rows of every (site, neighbour) and (site, factor of arity 3+)
pair into a ``(sites, degree, K)`` array, sum, and draw all sites of the
class at once (a logistic for K = 2, an inverse CDF over the cumulative sum
otherwise). Every variable must have the same number of states K. Padding
(sites of lower degree) points at an all-zero row. Uniforms come from a NumPy
Generator, so the chains are not ours draw for draw; the distribution is.

Built from the compiled wiring (``compile/compiled.py``) only, not from the
sampler's own plan.
"""

import numpy as np

from factorgraph_ebm.sample.colouring import colour_classes


class NumpyCheckerboard:
    """Precomputed padded gathers of every colour class of ``compiled`` (uniform K, no evidence needed)."""

    def __init__(self, compiled):
        w = compiled.wiring
        k = np.unique(w.var_states)
        if len(k) != 1:
            raise ValueError("the NumPy peer needs every variable to have the same number of states")
        self.k = k = int(k[0])
        n = compiled.n_vars
        arity = np.diff(w.factor_edge_ptr)
        # field: evidence and one-variable factors, (V, K)
        field = np.array(compiled.unary, dtype=np.float64).reshape(n, k)
        f1 = np.flatnonzero(arity == 1)
        if len(f1):
            v = w.edge_var[w.factor_edge_ptr[f1]]
            np.add.at(field, v, w.tables[w.block_ptr[w.factor_block[f1]][:, None] + np.arange(k)])
        self.field = field
        half = len(w.tables) // 2
        self.tables = np.concatenate([w.tables, np.zeros(k ** 3)])   # a zero block for padding
        zero = len(w.tables)
        # pairwise: owner reads the copy whose rows are the neighbour: off + K * x_nb + x
        f2 = np.flatnonzero(arity == 2)
        e0 = w.factor_edge_ptr[f2]
        a, b = w.edge_var[e0], w.edge_var[e0 + 1]
        off = w.block_ptr[w.factor_block[f2]]
        owner = np.concatenate([a, b])
        nb = np.concatenate([b, a])
        poff = np.concatenate([half + off, off])
        # arity >= 3: the owner's edge, its factor's other edges
        high_e = np.flatnonzero(arity[w.edge_factor] >= 3)
        class_ptr, sites = colour_classes(compiled)
        self.classes = []
        for c in range(len(class_ptr) - 1):
            s = sites[class_ptr[c]:class_ptr[c + 1]]
            pos = np.full(n, -1)
            pos[s] = np.arange(len(s))
            nb_p, off_p = _pad(pos, owner, [nb, poff], len(s), [0, zero])
            he = high_e[pos[w.edge_var[high_e]] >= 0]
            if len(he):
                f = w.edge_factor[he]
                amax = int(arity[f].max())
                idx = w.factor_edge_ptr[f][:, None] + np.arange(amax)
                valid = idx < w.factor_edge_ptr[f + 1][:, None]
                idx = np.where(valid, idx, w.factor_edge_ptr[f][:, None])
                other = valid & (idx != he[:, None])
                ovar = np.where(other, w.edge_var[idx], 0)
                ostride = np.where(other, w.edge_stride[idx], 0)
                base = w.block_ptr[w.factor_block[f]]
                hv, hs, hb, hown = _pad(pos, w.edge_var[he], [ovar, ostride, base, w.edge_stride[he]], len(s),
                                        [0, 0, zero, 0])
            else:
                hv = hs = hb = hown = None
            self.classes.append((s, nb_p, off_p, hv, hs, hb, hown))

    def sweep(self, states, rng, beta=1.0):
        """One chromatic sweep of ``states`` (V,) int64 in place."""
        k = self.k
        xs = np.arange(k)
        t = self.tables
        for s, nb_p, off_p, hv, hs, hb, hown in self.classes:
            e = self.field[s]
            e = e + t[(off_p + k * states[nb_p])[:, :, None] + xs].sum(axis=1)
            if hv is not None:
                base = hb + (states[hv] * hs).sum(axis=2)                  # (n, H)
                e = e + t[base[:, :, None] + hown[:, :, None] * xs].sum(axis=1)
            u = rng.random(len(s))
            if k == 2:
                z = beta * (e[:, 1] - e[:, 0])
                states[s] = u * (1.0 + np.exp(z)) < 1.0
            else:
                w = np.exp(-beta * (e - e.min(axis=1, keepdims=True)))
                cum = np.cumsum(w, axis=1)
                states[s] = np.minimum((cum < (u * cum[:, -1])[:, None]).sum(axis=1), k - 1)


def _pad(pos, owner, values, n_sites, fill):
    """Rows ``(n_sites, degree)`` of each of ``values`` grouped by ``pos[owner]`` (-1 = not in the class), padded."""
    keep = pos[owner] >= 0
    row = pos[owner[keep]]
    order = np.argsort(row, kind="stable")
    row = row[order]
    counts = np.bincount(row, minlength=n_sites)
    deg = int(counts.max(initial=0)) or 1
    col = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = []
    for vals, f in zip(values, fill):
        vals = np.asarray(vals)[keep][order]
        arr = np.full((n_sites, deg) + vals.shape[1:], f, dtype=np.int64)
        arr[row, col] = vals
        out.append(arr)
    return out


class NumpyGridCheckerboard:
    """The checkerboard sampler of an H x W grid written with slicing (the fastest plain NumPy form).

    ``unary`` (H, W, K); ``th`` horizontal tables, (K, K) shared or (H, W-1, K, K) per edge, ``tv`` vertical,
    (K, K) or (H-1, W, K, K); ``T[x_left, x_right]`` / ``T[x_up, x_down]``. Each half sweep computes the
    conditional energies of every site by shifted gathers and redraws the sites of one colour
    (``(i + j) % 2``). For K = 2 only the energy differences are gathered (``T[y, 1] - T[y, 0]``).
    """

    def __init__(self, unary, th, tv):
        self.unary = np.asarray(unary, dtype=np.float64)
        h, w, k = self.unary.shape
        self.k = k
        self.th, self.tv = np.asarray(th, dtype=np.float64), np.asarray(tv, dtype=np.float64)
        self.shared = self.th.ndim == 2
        ii, jj = np.indices((h, w))
        self.masks = [((ii + jj) % 2) == c for c in range(2)]
        if k == 2:
            self.du = self.unary[..., 1] - self.unary[..., 0]
            # difference for the right/down site given the left/up state y: T[y, 1] - T[y, 0];
            # for the left/up site given the right/down state y: T[1, y] - T[0, y]
            self.dh_right = self.th[..., :, 1] - self.th[..., :, 0]
            self.dh_left = self.th[..., 1, :] - self.th[..., 0, :]
            self.dv_down = self.tv[..., :, 1] - self.tv[..., :, 0]
            self.dv_up = self.tv[..., 1, :] - self.tv[..., 0, :]

    def _diff(self, x):
        z = self.du.copy()
        if self.shared:
            z[:, 1:] += self.dh_right[x[:, :-1]]
            z[:, :-1] += self.dh_left[x[:, 1:]]
            z[1:, :] += self.dv_down[x[:-1, :]]
            z[:-1, :] += self.dv_up[x[1:, :]]
        else:
            z[:, 1:] += np.take_along_axis(self.dh_right, x[:, :-1, None], axis=2)[..., 0]
            z[:, :-1] += np.take_along_axis(self.dh_left, x[:, 1:, None], axis=2)[..., 0]
            z[1:, :] += np.take_along_axis(self.dv_down, x[:-1, :, None], axis=2)[..., 0]
            z[:-1, :] += np.take_along_axis(self.dv_up, x[1:, :, None], axis=2)[..., 0]
        return z

    def _energies(self, x):
        e = self.unary.copy()
        if self.shared:
            e[:, 1:] += self.th[x[:, :-1]]                      # rows of the left state
            e[:, :-1] += np.moveaxis(self.th[:, x[:, 1:]], 0, -1)   # columns of the right state
            e[1:, :] += self.tv[x[:-1, :]]
            e[:-1, :] += np.moveaxis(self.tv[:, x[1:, :]], 0, -1)
        else:
            e[:, 1:] += np.take_along_axis(self.th, x[:, :-1, None, None], axis=2)[:, :, 0, :]
            e[:, :-1] += np.take_along_axis(self.th, x[:, 1:, None, None], axis=3)[:, :, :, 0]
            e[1:, :] += np.take_along_axis(self.tv, x[:-1, :, None, None], axis=2)[:, :, 0, :]
            e[:-1, :] += np.take_along_axis(self.tv, x[1:, :, None, None], axis=3)[:, :, :, 0]
        return e

    def sweep(self, x, rng, beta=1.0):
        """One checkerboard sweep of ``x`` (H, W) int64 in place."""
        for mask in self.masks:
            u = rng.random(x.shape)
            if self.k == 2:
                new = u * (1.0 + np.exp(beta * self._diff(x))) < 1.0
            else:
                e = self._energies(x)
                wgt = np.exp(-beta * (e - e.min(axis=2, keepdims=True)))
                cum = np.cumsum(wgt, axis=2)
                new = np.minimum((cum < (u * cum[..., -1])[..., None]).sum(axis=2), self.k - 1)
            x[mask] = new[mask]
