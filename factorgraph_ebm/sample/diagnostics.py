"""Mixing diagnostics of Markov chains: effective sample size and split R-hat.

Both take ``x`` of shape ``(n_chains, n_draws)`` (one scalar quantity, e.g.
the indicator of one state of one variable, or the energy of each draw).

* :func:`effective_sample_size` -- the multi-chain ESS of Geyer's initial
  positive (and monotone) sequence estimator, with autocorrelations combined
  across chains as in Stan (Gelman et al., *Bayesian Data Analysis*, 3rd ed.,
  section 11.5; Vehtari et al. 2021, "Rank-normalization, folding, and
  localization: an improved R-hat", eq. 10-11).
* :func:`r_hat` -- the split R-hat: each chain is split in halves, and
  ``sqrt(var_plus / W)`` compares the pooled variance with the within-chain
  one. By default rank-normalised and the larger of the bulk and the folded
  (tail) versions (Vehtari et al. 2021); ``rank=False`` gives the classic
  split R-hat on the values.
"""

import math

import numpy as np

from ..exceptions import SamplingError

__all__ = ["effective_sample_size", "r_hat", "autocovariance"]


def _draws(x, what, min_draws):
    arr = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) else x.astype(np.float64, copy=False)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise SamplingError(f"{what} expects an array of shape (n_chains, n_draws), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < min_draws:
        raise SamplingError(f"{what} needs at least 1 chain of {min_draws} draws, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SamplingError(f"{what}: the draws must be finite (got NaN or inf)")
    return arr


def autocovariance(x):
    """(n_chains, n_draws) autocovariance of each chain at lags 0 .. n-1 (divisor n), by FFT.

    Examples
    --------
    >>> autocovariance(np.array([[1.0, -1.0, 1.0, -1.0]]))[0].round(6).tolist()
    [1.0, -0.75, 0.5, -0.25]
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    size = 1 << int(2 * n - 1).bit_length()
    f = np.fft.rfft(xc, size, axis=1)
    return np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n


def effective_sample_size(x):
    """Effective sample size of the draws ``x`` (n_chains, n_draws) of one scalar quantity.

    ``ESS = n_chains n_draws / tau`` with ``tau = -1 + 2 sum_k P_k``, where
    ``P_k = rho_2k + rho_2k+1`` are sums of consecutive autocorrelations
    (combined over chains with the between-chain variance, as in Stan), kept
    while positive and made monotone (Geyer 1992). For an AR(1) chain with
    coefficient ``phi`` it tends to ``N (1 - phi) / (1 + phi)``. NaN when the
    draws do not vary within chains.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ess = effective_sample_size(rng.normal(size=(4, 1000)))   # independent draws: about 4000
    >>> 3500 < ess < 4500
    True
    """
    x = _draws(x, "effective_sample_size", 4)
    m, n = x.shape
    acov = autocovariance(x)
    w = acov[:, 0].mean() * n / (n - 1)
    var_plus = w * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    if not w > 0 or not var_plus > 0:
        return math.nan
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    n_pairs = n // 2
    pairs = rho[0:2 * n_pairs:2] + rho[1:2 * n_pairs:2]
    nonpos = np.flatnonzero(pairs <= 0.0)
    if len(nonpos):
        pairs = pairs[:nonpos[0]]
    pairs = np.minimum.accumulate(pairs)
    tau = -1.0 + 2.0 * pairs.sum()
    tau = max(tau, 1.0 / math.log10(m * n)) if m * n > 1 else tau   # Stan's cap for antithetic chains
    return float(m * n / tau)


def _split(x):
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h:]], axis=0)


def _rhat_classic(x):
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    var_plus = w * (n - 1) / n + x.mean(axis=1).var(ddof=1)
    if not var_plus > 0:
        return math.nan
    if not w > 0:
        return math.inf
    return float(math.sqrt(var_plus / w))


def _rank_normal(x):
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(x, method="average").reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def r_hat(x, rank=True):
    """Split R-hat of the draws ``x`` (n_chains, n_draws) of one scalar quantity.

    Near 1 when the chains agree; above about 1.01 (Vehtari et al. 2021) or
    1.1 (Gelman and Rubin's older rule) says the chains have not mixed. NaN
    when nothing varies, inf when the chains are constant but differ.

    Parameters
    ----------
    x : array (n_chains, n_draws)
    rank : bool
        True: the larger of the rank-normalised split R-hat of ``x`` and of
        ``|x - median(x)|`` (bulk and tails, Vehtari et al. 2021). False: the
        classic split R-hat of the values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bool(r_hat(rng.normal(size=(4, 500))) < 1.01)
    True
    >>> bool(r_hat(rng.normal(size=(4, 500)) + np.arange(4)[:, None]) > 1.1)
    True
    """
    x = _split(_draws(x, "r_hat", 4))
    if not rank:
        return _rhat_classic(x)
    if not x.var() > 0:
        return math.nan
    bulk = _rhat_classic(_rank_normal(x))
    tail = _rhat_classic(_rank_normal(np.abs(x - np.median(x))))
    return float(max(bulk, tail))
