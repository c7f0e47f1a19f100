"""The first-order chain fast path of ChainTagger: one token block, no declared graphs.

A batch of sequences is held as one CSR feature matrix over all its tokens
(int32 column indices), the token range of every sequence and the target
labels. The CRF loss (:class:`ChainNLL`) and Viterbi run the dedicated
kernels of :mod:`factorgraph_ebm.kernels.chain` on it: emission scores are
gathered from the rows of the weight matrix, forward-backward gives the
token marginals, and the emission gradient is one pass over the features in
CSC order. Work arrays live with the batch and are reused by every
evaluation.

The model is the one ChainTagger declares for ``order=1``: emission energy
``-x_t . W_emission[:, y_t]``, transition energy ``-W_transition[y_t, y_t+1]``.
"""

import numpy as np
import scipy.sparse as sp

from ..graph.parameters import Gradient
from ..losses.likelihood import NLLLoss

__all__ = ["ChainData", "ChainNLL", "stack_rows", "viterbi", "marginals"]

EMISSION, TRANSITION = "emission", "transition"

#: Sequences are split in this many chunks (at most) for the parallel kernels: enough for load balance on a
#: few threads, few enough that per-chunk work arrays and partial sums stay small.
N_CHUNKS = 64


def stack_rows(rows):
    """One CSR matrix (float64 data, int32 indices) of the feature rows of every sequence, and the token pointer."""
    lengths = np.fromiter((r.shape[0] for r in rows), dtype=np.int64, count=len(rows))
    seq_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=seq_ptr[1:])
    if sp.issparse(rows[0]):
        stacked = rows[0].tocsr() if len(rows) == 1 else sp.vstack(rows, format="csr")
    else:
        stacked = sp.csr_matrix(np.concatenate(rows, axis=0) if len(rows) > 1 else rows[0])
    return as_csr(stacked), seq_ptr


def as_csr(matrix):
    """``matrix`` as canonical CSR with int64 indptr, int32 indices and float64 data."""
    m = matrix.tocsr()
    if m.dtype != np.float64:
        m = m.astype(np.float64)
    m.sum_duplicates()
    indices = np.ascontiguousarray(m.indices, dtype=np.int32)
    indptr = np.ascontiguousarray(m.indptr, dtype=np.int64)
    out = sp.csr_matrix((np.ascontiguousarray(m.data), indices, indptr), shape=m.shape)
    out.indices, out.indptr = indices, indptr      # scipy may downcast; the kernels take these dtypes
    return out


def _chunks(n_seq):
    return max(1, min(N_CHUNKS, n_seq))


class ChainData:
    """Training sequences of a first-order chain tagger as one token block.

    Parameters
    ----------
    features : scipy.sparse matrix (N, n_features)
        Feature rows of all tokens, sequence after sequence.
    seq_ptr : ndarray (S+1,) int64
        Token range of each sequence.
    target : ndarray (N,) int64
        Correct label (state) of every token.
    n_classes : int

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> data = ChainData(X, np.array([0, 2, 3]), np.array([0, 1, 1]), 2)
    >>> len(data), data.n_tokens
    (2, 3)
    """

    #: The trainer takes this dataset as it is (no graphs to validate) and asks it for batches.
    prepared_examples = True

    def __init__(self, features, seq_ptr, target, n_classes):
        self.features = as_csr(features)
        self.seq_ptr = np.ascontiguousarray(seq_ptr, dtype=np.int64)
        self.target = np.ascontiguousarray(target, dtype=np.int64)
        self.n_classes = int(n_classes)
        self._work = None
        self._csc = None

    def __len__(self):
        return len(self.seq_ptr) - 1

    @property
    def n_tokens(self):
        """Tokens of all sequences."""
        return int(self.seq_ptr[-1])

    def subset(self, indices):
        """The sequences at ``indices`` as a new ChainData."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == len(self) and (indices == np.arange(len(self))).all():
            return self
        starts, ends = self.seq_ptr[indices], self.seq_ptr[indices + 1]
        lengths = ends - starts
        ptr = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        tokens = np.repeat(starts - ptr[:-1], lengths) + np.arange(ptr[-1], dtype=np.int64)
        return ChainData(self.features[tokens], ptr, self.target[tokens], self.n_classes)

    def compact(self):
        """This block with only the feature columns its tokens use, and those columns (the ``emission`` rows).

        The emission rows of the other features change neither the loss nor
        the gradient of this block (their gradient is exactly zero), so a
        shard of a data-parallel run (:mod:`factorgraph_ebm.train.distributed`)
        receives and returns only the rows it uses.

        Examples
        --------
        >>> X = sp.csr_matrix(np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]))
        >>> small, rows = ChainData(X, np.array([0, 2]), np.array([0, 1]), 2).compact()
        >>> rows["emission"], small.features.toarray()
        (array([0, 2]), array([[0., 2.],
               [1., 0.]]))
        """
        cols = np.unique(self.features.indices).astype(np.int64)
        local = np.searchsorted(cols, self.features.indices).astype(np.int32)
        features = sp.csr_matrix((self.features.data, local, self.features.indptr),
                                 shape=(self.features.shape[0], len(cols)))
        return ChainData(features, self.seq_ptr, self.target, self.n_classes), {EMISSION: cols}

    def example_costs(self):
        """(S,) float64 work of each sequence in the loss kernels: feature entries x labels + tokens x labels^2.

        A data-parallel run (:mod:`factorgraph_ebm.train.distributed`) cuts
        the shards at equal sums of these, so the slowest shard, which sets
        the time of an evaluation, is not the one that got the longer sentences.

        Examples
        --------
        >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
        >>> ChainData(X, np.array([0, 1, 3]), np.array([0, 1, 1]), 2).example_costs()
        array([ 6., 14.])
        """
        k = self.n_classes
        entries = np.diff(self.features.indptr)[:self.n_tokens]
        per_token = entries * k + k * k
        return np.add.reduceat(per_token, self.seq_ptr[:-1]).astype(np.float64) if len(self) else np.zeros(0)

    def batch(self, indices, parameters=None):
        """The batch of the sequences at ``indices`` (what the trainer evaluates the loss on)."""
        return self.subset(indices)

    def csc(self):
        """The features by column (built once): column pointer, token of each entry, value."""
        if self._csc is None:
            m = self.features.tocsc()
            self._csc = (np.ascontiguousarray(m.indptr, dtype=np.int64),
                         np.ascontiguousarray(m.indices, dtype=np.int32), np.ascontiguousarray(m.data))
        return self._csc

    def work(self):
        """Work arrays of the loss kernels, allocated once: token gradients, chunk counts, chunk values."""
        if self._work is None:
            k, n = self.n_classes, _chunks(len(self))
            self._work = (np.empty((self.n_tokens, k)), np.empty((n, k, k)), np.empty(n))
        return self._work


class ChainResult:
    """Value and gradient of :class:`ChainNLL` on a batch (the part of LossResult the trainer reads)."""

    def __init__(self, value, gradient):
        self.value = value
        self.gradient = gradient


class ChainNLL(NLLLoss):
    """The NLL loss (a CRF) of a first-order chain tagger, evaluated by the chain kernels on a :class:`ChainData`.

    Same value and gradient as :class:`~factorgraph_ebm.losses.NLLLoss` on the
    declared chains: the mean over sequences of
    ``E(y_i) + (1/beta) log sum_y exp(-beta E(y))``.

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> data = ChainData(X, np.array([0, 2]), np.array([0, 1]), 2)
    >>> res = ChainNLL().evaluate(data, {"emission": np.zeros((2, 2)), "transition": np.zeros((2, 2))})
    >>> bool(np.isclose(res.value, np.log(4.0)))          # one sequence of 2 tokens, 2 labels: Z = 4
    True
    >>> res.gradient["transition"]                         # expected (1/4 each) minus observed (0 -> 1)
    array([[ 0.25, -0.75],
           [ 0.25,  0.25]])
    """

    def evaluate(self, batch, parameters):
        """Mean NLL over the sequences of ``batch`` and its gradient (``emission``, ``transition``)."""
        from ..kernels._jit import threads_for
        from ..kernels.chain import chain_forward_backward, emission_gradient

        W = np.ascontiguousarray(parameters[EMISSION], dtype=np.float64)
        T = np.ascontiguousarray(parameters[TRANSITION], dtype=np.float64)
        x = batch.features
        dscore, dtrans, values = batch.work()
        n_seq = len(batch)
        with threads_for(x.nnz * batch.n_classes):
            chain_forward_backward(x.indptr, x.indices, x.data, W, T, float(self.beta), batch.seq_ptr,
                                   batch.target, len(values), dscore, dtrans, values)
            grad_w = np.empty_like(W)
            col_ptr, col_rows, col_data = batch.csc()
            emission_gradient(col_ptr, col_rows, col_data, dscore, 1.0 / n_seq, grad_w)
        grad = Gradient()
        dict.__setitem__(grad, EMISSION, grad_w)
        dict.__setitem__(grad, TRANSITION, dtrans.sum(axis=0) / n_seq)
        for name in parameters:
            if name not in grad:
                dict.__setitem__(grad, name, np.zeros(np.shape(parameters[name])))
        return ChainResult(float(values.sum() / n_seq), grad)


def viterbi(features, seq_ptr, W, T):
    """Highest-score labels of every token (flat, sequence after sequence) under emission W and transition T."""
    from ..kernels._jit import threads_for
    from ..kernels.chain import chain_viterbi

    x = as_csr(features)
    out = np.empty(x.shape[0], dtype=np.int64)
    with threads_for(x.nnz * W.shape[1]):
        chain_viterbi(x.indptr, x.indices, x.data, np.ascontiguousarray(W, dtype=np.float64),
                      np.ascontiguousarray(T, dtype=np.float64), seq_ptr, _chunks(len(seq_ptr) - 1), out)
    return out


def marginals(features, seq_ptr, W, T, beta):
    """(N, K) label marginals of every token at a finite inverse temperature ``beta``."""
    from ..kernels._jit import threads_for
    from ..kernels.chain import chain_forward_backward

    x = as_csr(features)
    K = W.shape[1]
    n = _chunks(len(seq_ptr) - 1)
    out = np.empty((x.shape[0], K))
    with threads_for(x.nnz * K):
        chain_forward_backward(x.indptr, x.indices, x.data, np.ascontiguousarray(W, dtype=np.float64),
                               np.ascontiguousarray(T, dtype=np.float64), float(beta), seq_ptr,
                               np.zeros(0, dtype=np.int64), n, out, np.empty((n, K, K)), np.empty(n))
    return out
