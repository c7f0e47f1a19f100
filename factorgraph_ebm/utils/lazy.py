"""Modules imported on first use, so ``import factorgraph_ebm`` stays quick.

Numba (and through it LLVM) and SciPy take most of the time of importing the
package; the layers that call kernels or SciPy name them through
:func:`lazy_module` and pay for the import only when a computation needs it.
"""

import importlib
import sys

__all__ = ["is_sparse", "lazy_module"]


class _LazyModule:
    """Stands in for a module; the first attribute access imports it."""

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self):
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name):
    """A stand-in for module ``name`` that imports it on first attribute access.

    Examples
    --------
    >>> json = lazy_module("json")
    >>> json.dumps([1, 2])
    '[1, 2]'
    """
    return _LazyModule(name)


def is_sparse(x):
    """``scipy.sparse.issparse(x)``, without importing SciPy when nothing has.

    A SciPy sparse matrix cannot exist before ``scipy.sparse`` is imported, so
    when it is not in ``sys.modules`` the answer is False.

    Examples
    --------
    >>> is_sparse([1, 2])
    False
    """
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(x)
