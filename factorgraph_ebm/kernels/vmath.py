"""``exp`` and ``log`` as straight-line arithmetic, so that loops calling them vectorise.

``np.exp`` / ``np.log`` compile to calls of the C library, one element at a
time; the sum-product messages spend most of their time there (one
exponential per source state, one logarithm per target state). These
versions use only multiplications, additions, a rounding, an integer shift and
bit casts, which LLVM vectorises, and are accurate to a few units in the last
place (tests/kernels/test_vmath.py checks them against NumPy):

* :func:`_exp_nonpos` -- ``exp(x)`` for ``x <= 0`` (``-inf`` included): range
  reduction ``x = k ln 2 + r``, ``|r| <= ln 2 / 2``, a degree-13 Taylor
  polynomial, ``2^k`` built from its exponent bits. Results below the smallest
  normal number (``x < -708``) are 0 instead of subnormal (they are dropped
  next to terms of at least ``TINY`` by the callers, which take an exact path
  when a sum falls below ``TINY``).
* :func:`_log_pos` -- ``log(s)`` for positive normal ``s``: ``s = 2^e m`` with
  ``m`` in ``[sqrt(1/2), sqrt(2))``, ``log m = 2 atanh((m - 1) / (m + 1))`` as an
  odd series to ``z^21`` (``|z| <= 0.172``).
"""

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from ._jit import JIT_INLINE, njit

LOG2E = 1.4426950408889634
#: ln 2 split so that ``k * LN2_HI`` is exact for |k| < 2^20 (LN2_HI has 32 trailing zero bits).
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
SQRT2 = 1.4142135623730951
#: Below this ``exp`` is not a normal float64; :func:`_exp_nonpos` returns 0 there.
EXP_MIN = -708.0
MANTISSA = (1 << 52) - 1


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bit pattern is the int64 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


@intrinsic
def _as_bits(typingctx, x):
    """The bit pattern of the float64 ``x``, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@njit(**JIT_INLINE)
def _exp_nonpos(x):
    """``exp(x)`` for ``x <= 0`` or ``-inf`` (0 below :data:`EXP_MIN`); branch-free, vectorisable."""
    y = x if x > EXP_MIN else EXP_MIN
    kf = np.floor(y * LOG2E + 0.5)
    k = np.int64(kf)
    # the low part multiplies k converted back (a value LLVM cannot equate with kf), so the
    # reassoc fast-math flag cannot fold the two products into kf * (LN2_HI + LN2_LO)
    r = (y - kf * LN2_HI) - np.float64(k) * LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    v = p * _as_float((k + 1023) << 52)
    return v if x > EXP_MIN else 0.0


@njit(**JIT_INLINE)
def _log_pos(s):
    """``log(s)`` for a positive normal float64 ``s``; branch-free, vectorisable."""
    bits = _as_bits(s)
    e = (bits >> 52) - 1023
    m = _as_float((bits & MANTISSA) | (1023 << 52))
    big = m > SQRT2
    m = 0.5 * m if big else m
    ef = np.float64(e + 1 if big else e)
    z = (m - 1.0) / (m + 1.0)
    z2 = z * z
    p = 1.0 / 21.0
    p = p * z2 + 1.0 / 19.0
    p = p * z2 + 1.0 / 17.0
    p = p * z2 + 1.0 / 15.0
    p = p * z2 + 1.0 / 13.0
    p = p * z2 + 1.0 / 11.0
    p = p * z2 + 1.0 / 9.0
    p = p * z2 + 1.0 / 7.0
    p = p * z2 + 1.0 / 5.0
    p = p * z2 + 1.0 / 3.0
    p = p * z2 + 1.0
    return ef * LN2_HI + (2.0 * z * p + ef * LN2_LO)
