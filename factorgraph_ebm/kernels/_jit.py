"""JIT options, set in one place.

fastmath is limited to flags that keep IEEE infinities and NaN semantics:
energies use +inf to forbid configurations, so ``nnan``/``ninf`` are never set.
"""

#: ``numba.njit`` is always nopython.
JIT = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": {"nsz", "arcp", "contract", "reassoc"},
}

#: Same options with ``parallel=True`` for kernels that ``prange`` over factors.
JIT_PARALLEL = dict(JIT, parallel=True)

#: For per-variable / per-factor helpers called from the sweep kernels: inlined
#: at the Numba IR level so the hot loops see no call overhead.
JIT_INLINE = dict(JIT, inline="always")
