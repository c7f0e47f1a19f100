"""Variables: roles, blocks of variables, and handles on variable arrays.

Every declaration of variables is a *block*: a scalar variable is a block of
shape ``()``, a variable array (a chain, a grid) is a block of shape ``(T,)`` or
``(H, W)``. Blocks own a contiguous range of flat variable ids, in declaration
order; compilation uses those ids directly.
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ROLES", "VariableBlock", "VariableArray"]

#: Allowed variable roles: observed inputs X, outputs Y, latent variables Z.
ROLES = ("observed", "output", "latent")


@dataclass(frozen=True)
class VariableBlock:
    """One declaration of variables sharing a number of states and a role.

    Attributes
    ----------
    name : hashable
        Scalar variable name, or array name (elements are ``(name, *index)``).
    shape : tuple of int
        ``()`` for a scalar variable.
    states : int
        Number of states of every variable of the block.
    role : str
        One of :data:`ROLES`.
    start : int
        Flat id of the first variable of the block.
    """

    name: object
    shape: tuple
    states: int
    role: str
    start: int

    @property
    def size(self):
        """Number of variables in the block."""
        return int(math.prod(self.shape))

    @property
    def is_scalar(self):
        """True for a single variable declared with :meth:`FactorGraph.add_variable`."""
        return self.shape == ()

    def element_name(self, offset):
        """Name of the variable at ``offset`` (0-based) inside the block."""
        if self.is_scalar:
            return self.name
        return (self.name, *(int(i) for i in np.unravel_index(offset, self.shape)))


class VariableArray:
    """Handle on a declared variable array: its flat ids, for bulk factor scopes.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=(2, 3), states=4)
    >>> x.ids
    array([[0, 1, 2],
           [3, 4, 5]])
    >>> x[1, 2]
    ('x', 1, 2)
    """

    def __init__(self, block):
        self._block = block
        ids = np.arange(block.start, block.start + block.size, dtype=np.int64).reshape(block.shape)
        ids.setflags(write=False)
        self._ids = ids

    @property
    def name(self):
        """The array's name."""
        return self._block.name

    @property
    def shape(self):
        """The array's shape."""
        return self._block.shape

    @property
    def states(self):
        """Number of states of each element."""
        return self._block.states

    @property
    def ids(self):
        """Read-only int64 array of flat variable ids, shaped like the array."""
        return self._ids

    def __getitem__(self, index):
        """Name of one element: ``x[i, j] == ("x", i, j)``."""
        if not isinstance(index, tuple):
            index = (index,)
        flat = int(self._ids[index]) - self._block.start
        return self._block.element_name(flat)

    def __repr__(self):
        return f"VariableArray({self.name!r}, shape={self.shape}, states={self.states})"
