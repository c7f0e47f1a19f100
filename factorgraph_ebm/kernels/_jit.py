"""JIT options, set in one place, and what the user is told when kernels compile.

fastmath is limited to flags that keep IEEE infinities and NaN semantics:
energies use +inf to forbid configurations, so ``nnan``/``ninf`` are never set.

Kernels are compiled on first use and cached on disk (``cache=True``), so a
machine compiles each of them once. Every kernel module decorates with
:func:`njit` from here, not ``numba.njit``: it files the cache under a folder
named by a hash of the sources of all of ``kernels/`` (:data:`CACHE_DIR`,
``fgebm-<hash>`` in ``kernels/__pycache__``, or under ``NUMBA_CACHE_DIR`` when
that is set). Numba's own cache key is the source file of the cached function
only, so a change in a helper that a kernel inlines from another module
would otherwise go unnoticed and the stale machine code would keep running. The first compilation a process has to do prints
one notice on standard error (set ``FACTORGRAPH_EBM_COMPILE_NOTICE=0`` to
silence it); every compilation is logged on the ``factorgraph_ebm.kernels``
logger at INFO with its duration. ``python -m factorgraph_ebm warmup``
compiles every kernel ahead of time.
"""

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import time

# Set by the package's __init__ (before anything can start Numba's thread pool); again here for
# code that imports the kernels some other way.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402 - after the wait policy
from numba.core import event  # noqa: E402

#: The OpenMP wait policy asked for (``OMP_WAIT_POLICY``): ``PASSIVE`` unless the user chose otherwise.
#: (libgomp reads it once, when Numba starts its thread pool: a program that ran a parallel Numba
#: function or called ``numba.set_num_threads`` before importing factorgraph_ebm keeps the default.)
#: With libgomp's default (spin for a while, then sleep), a machine with one other busy process made
#: two-thread flooding 2-29x slower than one thread: between the two parallel regions of every
#: iteration the idle thread spins on the core the other process needs, and the region then waits
#: for the thread that lost its core. Sleeping waiters cost about nothing on a quiet machine (100 x
#: 100 grid, K = 2 min-sum: 0.55-0.80 ms per iteration passive, 0.69-0.71 spinning) and keep two
#: threads within a few percent of one thread on a busy one.
WAIT_POLICY = os.environ["OMP_WAIT_POLICY"]

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

def _sources_key(folder):
    """Hash of the names and contents of the ``*.py`` files in ``folder`` (16 hex digits)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


#: Folders of other versions of ``kernels/`` in the in-tree cache not used for this long are removed.
STALE_CACHE_SECONDS = 3600.0


def _cache_dir():
    """Where the kernels are cached: ``<base>/fgebm-<hash of kernels/ sources>``.

    ``<base>`` is ``NUMBA_CACHE_DIR`` when set, else ``kernels/__pycache__``
    when writable (old versions' folders there are pruned after
    :data:`STALE_CACHE_SECONDS`), else ``$XDG_CACHE_HOME/factorgraph_ebm``.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    name = f"fgebm-{_sources_key(here)}"
    if numba.config.CACHE_DIR:
        return os.path.join(numba.config.CACHE_DIR, name)
    in_tree = os.path.join(here, "__pycache__")
    try:
        os.makedirs(os.path.join(in_tree, name), exist_ok=True)
    except OSError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "factorgraph_ebm", name)
    now = time.time()
    for other in os.listdir(in_tree):
        path = os.path.join(in_tree, other)
        if other.startswith("fgebm-") and other != name:
            with contextlib.suppress(OSError):
                if now - os.path.getmtime(path) > STALE_CACHE_SECONDS:
                    shutil.rmtree(path)
    return os.path.join(in_tree, name)


#: The cache folder of this version of the kernels (see the module docstring).
CACHE_DIR = _cache_dir()


def njit(**options):
    """``numba.njit(**options)`` whose disk cache (``cache=True``) lives in :data:`CACHE_DIR`.

    Examples
    --------
    >>> from factorgraph_ebm.kernels.bp import _probabilities
    >>> _probabilities._cache.cache_path.startswith(CACHE_DIR)
    True
    """
    def decorate(func):
        if not options.get("cache"):
            return numba.njit(**options)(func)
        saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = CACHE_DIR   # read once, when the dispatcher sets up its cache
        try:
            return numba.njit(**options)(func)
        finally:
            numba.config.CACHE_DIR = saved
    return decorate


#: Below this many message entries a kernel call runs on one thread: waking a
#: second thread costs more than it saves, and on a busy machine a parallel
#: region can wait milliseconds for a core (a 100-message batch: 0.5 ms on one
#: thread, 100+ ms on two while another process holds a core).
PARALLEL_MIN_ENTRIES = 1 << 15


def num_threads():
    """Threads Numba's parallel kernels use now (``numba.get_num_threads()``)."""
    return numba.get_num_threads()


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


logger = logging.getLogger("factorgraph_ebm.kernels")


def _kernel_name(dispatcher):
    func = getattr(dispatcher, "py_func", None)
    module = getattr(func, "__module__", "") or ""
    return func.__name__ if module.startswith("factorgraph_ebm.kernels") else None


class _CompileNotice(event.Listener):
    """Tells the user, once per process, that kernels are being compiled, and logs each compilation.

    Compilations nest (a kernel compiles the helpers it calls, Numba its own
    implementations): only the outermost of our kernels is logged.
    """

    def __init__(self):
        self.noticed = False
        self.started = []    # (kernel name or None, start time) of the compilations under way

    def _outermost(self, name):
        return name is not None and not any(n is not None for n, _ in self.started)

    def on_start(self, ev):
        name = _kernel_name(ev.data["dispatcher"]) if ev.data else None
        outermost = self._outermost(name)
        self.started.append((name, time.perf_counter()))
        if not outermost:
            return
        logger.info("compiling kernel %s ...", name)
        if not self.noticed and os.environ.get("FACTORGRAPH_EBM_COMPILE_NOTICE", "1") != "0":
            self.noticed = True
            where = getattr(getattr(ev.data["dispatcher"], "_cache", None), "cache_path", None)
            sys.stderr.write(
                "factorgraph-ebm: compiling Numba kernels, once per machine (5-30 s for each kind of inference on "
                f"2 cores; then cached{' in ' + where if where else ''}). `python -m factorgraph_ebm warmup` "
                "compiles all of them ahead of time.\n")
            sys.stderr.flush()

    def on_end(self, ev):
        if not self.started:
            return
        name, start = self.started.pop()
        if self._outermost(name):
            logger.info("compiled kernel %s in %.1f s", name, time.perf_counter() - start)


_NOTICE = _CompileNotice()
event.register("numba:compile", _NOTICE)


def is_cached(dispatcher):
    """Whether the disk cache holds a compiled version of ``dispatcher`` for this machine and source.

    Reads Numba's cache index (a private structure; any surprise answers
    False, which only means "compile or load it to find out").

    Examples
    --------
    >>> from factorgraph_ebm.kernels.bp import _probabilities
    >>> isinstance(is_cached(_probabilities), bool)
    True
    """
    try:
        cache = dispatcher._cache
        index = cache._cache_file._load_index()
        magic = dispatcher.targetctx.codegen().magic_tuple()
        return any(key[1] == magic for key in index)
    except Exception:   # noqa: BLE001 - private Numba internals: unknown means "not known to be cached"
        return False
