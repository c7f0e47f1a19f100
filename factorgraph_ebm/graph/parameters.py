"""Named parameter arrays shared by parameterized energies."""

import numpy as np

from ..exceptions import DeclarationError, ParseError
from ..utils.npz import read_npz_json, write_npz_json
from ..utils.validation import as_float_array

__all__ = ["Parameters", "Gradient"]


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

    Save and load (one ``.npz`` file with JSON metadata, no pickle):

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "params.npz"
    >>> p.save(path)
    >>> Parameters.load(path) == p
    True
    """

    FORMAT = "factorgraph_ebm.parameters"
    VERSION = 1

    def __init__(self, *args, **kwargs):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    @staticmethod
    def _checked(key, value):
        arr = as_float_array(value, f"parameter {key!r}")
        if np.isnan(arr).any():
            raise DeclarationError(f"parameter {key!r} contains NaN")
        return arr

    def __setitem__(self, key, value):
        super().__setitem__(key, self._checked(key, value))

    def update(self, *args, **kwargs):
        """Set several parameters, each validated as by item assignment; all or none are set."""
        checked = {key: self._checked(key, value) for key, value in dict(*args, **kwargs).items()}
        for key, arr in checked.items():
            super().__setitem__(key, arr)

    def copy(self):
        """Deep copy (arrays are copied)."""
        return type(self)({k: v.copy() for k, v in self.items()})

    def flatten(self):
        """Concatenate every array (in sorted-name order) into one 1-D vector."""
        if not self:
            return np.zeros(0)
        return np.concatenate([self[k].ravel() for k in sorted(self, key=repr)])

    def unflatten(self, vector):
        """Return new Parameters with this one's shapes, filled from ``vector``."""
        vector = as_float_array(vector, "flat parameter vector", copy=False)
        total = sum(v.size for v in self.values())
        if vector.shape != (total,):
            raise DeclarationError(f"flat parameter vector has shape {vector.shape}, expected ({total},)")
        out, pos = type(self)(), 0
        for k in sorted(self, key=repr):
            size = self[k].size
            out[k] = vector[pos:pos + size].reshape(self[k].shape)
            pos += size
        return out

    def __eq__(self, other):
        if not isinstance(other, dict) or set(self) != set(other):
            return False
        return all(np.array_equal(self[k], np.asarray(other[k])) for k in self)

    __hash__ = None

    def save(self, path):
        """Write the parameters to ``path`` (``.npz`` plus JSON metadata; names must be str).

        Values are stored bit for bit, so loading them in another process gives
        identical tables and predictions.
        """
        bad = [k for k in self if not isinstance(k, str)]
        if bad:
            raise DeclarationError(f"parameter names must be str to be saved, got {bad[0]!r}")
        names = sorted(self)
        meta = {"format": self.FORMAT, "version": self.VERSION, "names": names,
                "shapes": [list(self[k].shape) for k in names]}
        write_npz_json(path, {f"p{i}": self[k] for i, k in enumerate(names)}, meta)

    @classmethod
    def load(cls, path):
        """Read parameters written by :meth:`save`."""
        arrays, meta = read_npz_json(path)
        if not isinstance(meta, dict) or meta.get("format") != cls.FORMAT:
            raise ParseError(path, None, f"not a parameters file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
        if meta.get("version") != cls.VERSION:
            raise ParseError(path, None, f"parameters format version {meta.get('version')!r} is not supported")
        out = cls()
        for i, (name, shape) in enumerate(zip(meta["names"], meta["shapes"])):
            arr = arrays.get(f"p{i}")
            if arr is None or list(arr.shape) != list(shape) or arr.dtype != np.float64:
                raise ParseError(path, None, f"parameter {name!r}: array missing or not float64 of shape {tuple(shape)}")
            out[name] = arr
        return out


class Gradient(Parameters):
    """Named float64 arrays shaped like Parameters, without the NaN check.

    Loss gradients are Gradients, so a NaN can be reported (by name) instead of
    failing where it is stored.

    Examples
    --------
    >>> Gradient(w=[np.nan, 1.0]).flatten()
    array([nan,  1.])
    """

    @staticmethod
    def _checked(key, value):
        return np.array(value, dtype=np.float64)

    @classmethod
    def wrap(cls, arrays):
        """A Gradient holding the float64 arrays of ``arrays`` themselves (no copy): for freshly computed arrays.

        Examples
        --------
        >>> g = np.zeros(2)
        >>> Gradient.wrap({"w": g})["w"] is g
        True
        """
        out = cls()
        for key, value in arrays.items():
            dict.__setitem__(out, key, np.asarray(value, dtype=np.float64))
        return out
