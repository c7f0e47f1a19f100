"""Counter-based random numbers for the samplers: the same draws whatever the thread count.

A draw is a pure function of ``(seed, chain, sweep, site)``: no generator state is
carried between threads or iterations, so a chain's trajectory does not depend on
how many threads ran it, nor on which chains ran beside it, and a run can be
resumed at any sweep. The mixing function is the SplitMix64 finaliser (Steele,
Lea and Flood 2014; the output stage of Java's ``SplittableRandom``), which passes
BigCrush when fed a Weyl sequence; here it is fed ``key + site * GOLDEN`` with a
per-(seed, chain, sweep) key that is itself mixed twice.

* :func:`_mix` -- SplitMix64's finaliser, a bijection of ``uint64``.
* :func:`_sweep_key` -- the key of one (seed, chain, sweep).
* :func:`_uniform` -- a float64 in ``[0, 1)`` (53 random bits) for one site under a key.
"""

import numpy as np

from ._jit import JIT, JIT_INLINE, njit

#: 2^64 / golden ratio, odd: the Weyl increment of SplitMix64.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
#: 2^-53: turns the top 53 bits of a draw into a float in [0, 1).
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(**JIT_INLINE)
def _mix(z):
    """SplitMix64's finaliser of ``z`` (uint64 -> uint64, a bijection)."""
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(**JIT_INLINE)
def _sweep_key(seed, chain, sweep):
    """Key of the draws of ``chain`` in ``sweep`` under ``seed`` (all non-negative integers)."""
    k = _mix(np.uint64(seed) * GOLDEN + np.uint64(chain))
    return _mix(k ^ (np.uint64(sweep) * GOLDEN + np.uint64(0x632BE59BD9B4E019)))


@njit(**JIT_INLINE)
def _uniform(key, site):
    """Uniform float64 in ``[0, 1)`` for ``site`` (a non-negative integer) under ``key``."""
    z = _mix(key + (np.uint64(site) + np.uint64(1)) * GOLDEN)
    return np.float64(z >> _S11) * _TWO_M53


@njit(**JIT)
def _uniforms(seed, chain, sweep, n):
    """``n`` uniforms of one (seed, chain, sweep), sites ``0 .. n-1`` (for tests and NumPy callers)."""
    key = _sweep_key(seed, chain, sweep)
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = _uniform(key, i)
    return out
