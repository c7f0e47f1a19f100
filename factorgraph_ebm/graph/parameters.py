"""Named parameter arrays shared by parameterized energies."""

import numpy as np

from ..exceptions import DeclarationError

__all__ = ["Parameters"]


class Parameters(dict):
    """A dict of named float64 arrays (the W of E(W, X, Y, Z)).

    Values are converted to float64 arrays on insertion; NaN is rejected.

    Examples
    --------
    >>> p = Parameters(transition=[[0.0, 1.0], [1.0, 0.0]])
    >>> p["transition"].shape
    (2, 2)
    >>> p.flatten().shape
    (4,)
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key, value):
        arr = np.array(value, dtype=np.float64)
        if np.isnan(arr).any():
            raise DeclarationError(f"parameter {key!r} contains NaN")
        super().__setitem__(key, arr)

    def update(self, *args, **kwargs):
        """Set several parameters, each validated as by item assignment."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def copy(self):
        """Deep copy (arrays are copied)."""
        return Parameters({k: v.copy() for k, v in self.items()})

    def flatten(self):
        """Concatenate every array (in sorted-name order) into one 1-D vector."""
        if not self:
            return np.zeros(0)
        return np.concatenate([self[k].ravel() for k in sorted(self, key=repr)])

    def unflatten(self, vector):
        """Return new Parameters with this one's shapes, filled from ``vector``."""
        vector = np.asarray(vector, dtype=np.float64)
        total = sum(v.size for v in self.values())
        if vector.shape != (total,):
            raise DeclarationError(f"flat parameter vector has shape {vector.shape}, expected ({total},)")
        out, pos = Parameters(), 0
        for k in sorted(self, key=repr):
            size = self[k].size
            out[k] = vector[pos:pos + size].reshape(self[k].shape)
            pos += size
        return out
