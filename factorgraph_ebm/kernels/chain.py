"""Linear-chain kernels: forward-backward with the NLL gradient, and Viterbi, for a batch of sequences.

A batch of sequences is one block of tokens: sequence ``s`` holds tokens
``seq_ptr[s]:seq_ptr[s + 1]``. Token ``t`` has a sparse feature row (CSR:
``indptr``, ``indices``, ``data``) and scores ``score[t, k] = x_t . W[:, k]``
(the negative emission energy); every pair of neighbours scores
``T[k, k']`` (the negative transition energy, one table for the batch).
Emission scores are gathered from the rows of ``W`` inside the kernels, so
no per-batch table is built.

Kernels split the sequences into ``n_chunks`` contiguous chunks and
``prange`` over them; per-chunk partial sums (loss, transition counts) are
reduced by the caller, so results do not depend on the thread count.
Forward-backward runs in probability space with one scale per token (the
scaled recursions of Rabiner) and falls back to log space for a sequence
whose scores spread too widely for it (see :data:`MAX_RANGE`).
"""

import numpy as np
from numba import prange

from ._jit import JIT, JIT_PARALLEL, njit

#: Probability space is exact while, at every token, the spread of the (beta-scaled) emission scores plus the
#: spread of the transition scores stays below this many nats: every forward entry is then at least
#: ``exp(-MAX_RANGE) / K`` of its token's total and every backward entry at most ``K exp(MAX_RANGE)``, far from
#: float64 underflow and overflow. A sequence with a wider spread at some token runs in log space.
MAX_RANGE = 600.0


@njit(**JIT)
def _gather_scores(indptr, indices, data, W, a, b, beta, out):
    """``out[t - a, k] = beta * x_t . W[:, k]`` for tokens ``a <= t < b``."""
    K = W.shape[1]
    for t in range(a, b):
        row = out[t - a]
        for k in range(K):
            row[k] = 0.0
        for j in range(indptr[t], indptr[t + 1]):
            w = W[indices[j]]
            v = data[j] * beta
            for k in range(K):
                row[k] += v * w[k]


@njit(**JIT)
def _log_forward_backward(score, logT, L, alpha, bwd, gamma, dtrans, target, gold):
    """Log-space forward-backward of one sequence (fallback); returns log Z. Writes marginals into ``gamma``."""
    K = score.shape[1]
    tmp = np.empty(K)
    for k in range(K):
        alpha[0, k] = score[0, k]
    for t in range(1, L):
        for j in range(K):
            m = -np.inf
            for i in range(K):
                tmp[i] = alpha[t - 1, i] + logT[i, j]
                m = max(m, tmp[i])
            s = 0.0
            for i in range(K):
                s += np.exp(tmp[i] - m)
            alpha[t, j] = score[t, j] + m + np.log(s)
    m = -np.inf
    for k in range(K):
        m = max(m, alpha[L - 1, k])
    s = 0.0
    for k in range(K):
        s += np.exp(alpha[L - 1, k] - m)
    logz = m + np.log(s)
    for k in range(K):
        bwd[L - 1, k] = 0.0
    for t in range(L - 2, -1, -1):
        for i in range(K):
            m = -np.inf
            for j in range(K):
                tmp[j] = logT[i, j] + score[t + 1, j] + bwd[t + 1, j]
                m = max(m, tmp[j])
            s = 0.0
            for j in range(K):
                s += np.exp(tmp[j] - m)
            bwd[t, i] = m + np.log(s)
    for t in range(L):
        for k in range(K):
            gamma[t, k] = np.exp(alpha[t, k] + bwd[t, k] - logz)
    if gold:
        for t in range(L - 1):
            for i in range(K):
                for j in range(K):
                    dtrans[i, j] += np.exp(alpha[t, i] + logT[i, j] + score[t + 1, j] + bwd[t + 1, j] - logz)
            dtrans[target[t], target[t + 1]] -= 1.0
    return logz


@njit(**JIT_PARALLEL)
def chain_forward_backward(indptr, indices, data, W, T, beta, seq_ptr, target, n_chunks, out, dtrans, values):
    """Per-token marginals at inverse temperature ``beta``, and with targets the NLL and its score gradient.

    Parameters
    ----------
    indptr, indices, data : ndarray (N+1,) int64, (nnz,) int32, (nnz,) float64
        CSR feature rows of the N tokens.
    W : ndarray (n_features, K) float64
        Emission weights (score = ``x . W[:, k]``).
    T : ndarray (K, K) float64
        Transition scores ``T[k, k']`` from label k to the next label k'.
    beta : float
        Finite inverse temperature (> 0).
    seq_ptr : ndarray (S+1,) int64
        Token range of every sequence.
    target : ndarray (N,) int64
        Correct label per token, or an empty array: marginals only.
    n_chunks : int
        Sequences are split in this many contiguous chunks (the parallel unit).
    out : ndarray (N, K) float64
        Output: the marginals ``P(y_t = k)``, minus the indicator of the target when one is given
        (the gradient of the NLL with respect to the scores).
    dtrans : ndarray (n_chunks, K, K) float64
        Output with targets: per chunk, expected minus observed transition counts.
    values : ndarray (n_chunks,) float64
        Output with targets: per chunk, the sum of the NLL ``-score(y) + log Z / beta`` of its sequences.
    """
    K = W.shape[1]
    S = len(seq_ptr) - 1
    gold = len(target) > 0
    tmax = -np.inf
    tmin = np.inf
    for i in range(K):
        for j in range(K):
            tmax = max(tmax, beta * T[i, j])
            tmin = min(tmin, beta * T[i, j])
    trange = tmax - tmin
    expT = np.empty((K, K))
    logT = np.empty((K, K))
    for i in range(K):
        for j in range(K):
            logT[i, j] = beta * T[i, j]
            expT[i, j] = np.exp(logT[i, j] - tmax)
    longest = 0
    for s in range(S):
        longest = max(longest, seq_ptr[s + 1] - seq_ptr[s])
    for c in prange(n_chunks):
        s0 = c * S // n_chunks
        s1 = (c + 1) * S // n_chunks
        score = np.empty((longest, K))
        alpha = np.empty((longest, K))
        bwd = np.empty((longest, K))
        z = np.empty(longest)
        dt = dtrans[c]
        for i in range(K):
            for j in range(K):
                dt[i, j] = 0.0
        total = 0.0
        for s in range(s0, s1):
            a = seq_ptr[s]
            L = seq_ptr[s + 1] - a
            if L == 0:
                continue
            gamma = out[a:a + L]
            _gather_scores(indptr, indices, data, W, a, a + L, beta, score)
            gold_score = 0.0
            if gold:
                for t in range(L):
                    gold_score += score[t, target[a + t]]
                for t in range(L - 1):
                    gold_score += logT[target[a + t], target[a + t + 1]]
            # forward: alpha[t] = P(y_t | x_0..t) up to the scale z[t]
            logz = 0.0
            ok = True
            for t in range(L):
                m = -np.inf
                lo = np.inf
                for k in range(K):
                    m = max(m, score[t, k])
                    lo = min(lo, score[t, k])
                if m - lo + trange > MAX_RANGE:
                    ok = False
                    break
                zt = 0.0
                if t == 0:
                    for k in range(K):
                        p = np.exp(score[t, k] - m)
                        score[t, k] = p
                        alpha[t, k] = p
                        zt += p
                else:
                    for k in range(K):
                        score[t, k] = np.exp(score[t, k] - m)
                        alpha[t, k] = 0.0
                    for i in range(K):
                        ai = alpha[t - 1, i]
                        for k in range(K):
                            alpha[t, k] += ai * expT[i, k]
                    for k in range(K):
                        alpha[t, k] *= score[t, k]
                        zt += alpha[t, k]
                    m += tmax
                if not (zt > 1e-280 and zt < 1e280):
                    ok = False
                    break
                inv = 1.0 / zt
                for k in range(K):
                    alpha[t, k] *= inv
                z[t] = zt
                logz += m + np.log(zt)
            if not ok:
                _gather_scores(indptr, indices, data, W, a, a + L, beta, score)
                logz = _log_forward_backward(score, logT, L, alpha, bwd, gamma, dt, target[a:a + L] if gold
                                             else target, gold)
            else:
                for k in range(K):
                    bwd[L - 1, k] = 1.0
                for t in range(L - 2, -1, -1):
                    inv = 1.0 / z[t + 1]
                    nxt = score[t + 1]
                    for j in range(K):
                        nxt[j] *= bwd[t + 1, j] * inv     # P(x_t+1 | j) * beta_t+1(j) / z_t+1
                    # beta_t(i) = sum_j expT[i, j] nxt[j]; with targets, the pair marginal alpha_t(i) expT[i, j]
                    # nxt[j] is the same product times alpha_t(i): one pass gives both
                    for i in range(K):
                        acc = 0.0
                        row = expT[i]
                        if gold:
                            ai = alpha[t, i]
                            dti = dt[i]
                            for j in range(K):
                                p = row[j] * nxt[j]
                                acc += p
                                dti[j] += ai * p
                        else:
                            for j in range(K):
                                acc += row[j] * nxt[j]
                        bwd[t, i] = acc
                    if gold:
                        dt[target[a + t], target[a + t + 1]] -= 1.0
                for t in range(L):
                    for k in range(K):
                        gamma[t, k] = alpha[t, k] * bwd[t, k]
            if gold:
                for t in range(L):
                    gamma[t, target[a + t]] -= 1.0
                total += (logz - gold_score) / beta
        values[c] = total


@njit(**JIT_PARALLEL)
def emission_gradient(col_ptr, col_rows, col_data, dscore, scale, out):
    """``out[f, :] = scale * sum_t X[t, f] * dscore[t, :]``: the gradient of W, one feature per iteration.

    ``col_ptr``, ``col_rows``, ``col_data`` are the features in CSC (column f holds the tokens that have
    feature f), so every row of ``out`` is written by one iteration (no atomics, no per-thread copies).
    """
    K = dscore.shape[1]
    for f in prange(len(col_ptr) - 1):
        row = out[f]
        for k in range(K):
            row[k] = 0.0
        for j in range(col_ptr[f], col_ptr[f + 1]):
            d = dscore[col_rows[j]]
            v = col_data[j] * scale
            for k in range(K):
                row[k] += v * d[k]


@njit(**JIT_PARALLEL)
def chain_viterbi(indptr, indices, data, W, T, seq_ptr, n_chunks, out):
    """Highest-score label sequence of every sequence (ties: the lowest label), written into ``out`` (N,) int64."""
    K = W.shape[1]
    S = len(seq_ptr) - 1
    longest = 0
    for s in range(S):
        longest = max(longest, seq_ptr[s + 1] - seq_ptr[s])
    for c in prange(n_chunks):
        s0 = c * S // n_chunks
        s1 = (c + 1) * S // n_chunks
        score = np.empty((longest, K))
        back = np.empty((longest, K), dtype=np.int32)
        for s in range(s0, s1):
            a = seq_ptr[s]
            L = seq_ptr[s + 1] - a
            if L == 0:
                continue
            _gather_scores(indptr, indices, data, W, a, a + L, 1.0, score)
            for t in range(1, L):
                for j in range(K):
                    best = -np.inf
                    arg = 0
                    for i in range(K):
                        v = score[t - 1, i] + T[i, j]
                        if v > best:
                            best = v
                            arg = i
                    back[t, j] = arg
                    score[t, j] += best
            best = -np.inf
            arg = 0
            for k in range(K):
                if score[L - 1, k] > best:
                    best = score[L - 1, k]
                    arg = k
            for t in range(L - 1, -1, -1):
                out[a + t] = arg
                if t:
                    arg = back[t, arg]
