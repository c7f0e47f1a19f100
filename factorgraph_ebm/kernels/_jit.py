"""JIT options, set in one place.

fastmath is limited to flags that keep IEEE infinities and NaN semantics:
energies use +inf to forbid configurations, so ``nnan``/``ninf`` are never set.
"""

import contextlib

import numba

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
#: at the Numba IR level so the hot loops see no call overhead (a call that
#: is not inlined passes every array of the wiring tuple, seven words each).
JIT_INLINE = dict(JIT, inline="always")

#: For the serial loops over nodes and table entries (a chunk of a sweep, a
#: tree pass, decoding): no reference counting. In a serial function Numba
#: increments and decrements a reference count (an atomic operation) each
#: time a helper reads an array of the wiring tuple, which made these loops
#: 10-14x slower than the same loop in a ``prange`` body (where the parallel
#: lowering hoists the reads out of the loop). Without reference counting a
#: function cannot allocate: its callers pass the output and work arrays.
JIT_LOOP = dict(JIT, _nrt=False)

#: Below this many message entries a kernel call runs on one thread: waking a
#: second thread costs more than it saves, and on a busy machine a parallel
#: region can wait milliseconds for a core (a 100-message batch: 0.5 ms on one
#: thread, 100+ ms on two while another process holds a core).
PARALLEL_MIN_ENTRIES = 1 << 15


@contextlib.contextmanager
def threads_for(entries):
    """Run the enclosed kernel calls on one thread when ``entries`` is small.

    Examples
    --------
    >>> import numba
    >>> with threads_for(10):
    ...     numba.get_num_threads()
    1
    """
    if entries >= PARALLEL_MIN_ENTRIES:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
