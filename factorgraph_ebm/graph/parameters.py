"""Named parameter arrays shared by parameterized energies."""

import numpy as np

from ..exceptions import DeclarationError
from ..utils.npz import read_npz_json, write_npz_json
from ..utils.saved import (check_fields, check_format, check_names, check_parameter_arrays, check_shape,
                           saved_error)
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
        identical tables and predictions. Values must be finite (what
        :meth:`load` accepts).
        """
        bad = [k for k in self if not isinstance(k, str) or not k]
        if bad:
            raise DeclarationError(f"parameter names must be str (non-empty) to be saved, got {bad[0]!r}")
        infinite = [k for k in sorted(self) if not np.isfinite(self[k]).all()]
        if infinite:
            raise DeclarationError(f"parameter {infinite[0]!r} is not finite; only finite parameters are saved")
        names = sorted(self)
        meta = {"format": self.FORMAT, "version": self.VERSION, "names": names,
                "shapes": [list(self[k].shape) for k in names]}
        write_npz_json(path, {f"p{i}": self[k] for i, k in enumerate(names)}, meta)

    @classmethod
    def load(cls, path):
        """Read parameters written by :meth:`save`.

        Every field is checked before anything is returned: ``format`` and
        ``version``, ``names`` (unique non-empty str), ``shapes`` (one per
        name), and one finite float64 array ``p<i>`` of that shape per name,
        nothing else. A damaged file raises :class:`~factorgraph_ebm.ParseError`
        naming the file and the field.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.npz"
        >>> Parameters(w=[1.0, 2.0]).save(path)
        >>> Parameters.load(path)["w"]
        array([1., 2.])
        """
        arrays, meta = read_npz_json(path)
        check_format(path, meta, cls.FORMAT, cls.VERSION, "parameters")
        check_fields(path, meta, ("format", "version", "names", "shapes"))
        names = check_names(path, "names", meta["names"])
        shapes = meta["shapes"]
        if not isinstance(shapes, list) or len(shapes) != len(names):
            raise saved_error(path, "shapes", f"expected a list of {len(names)} shapes (one per name), got "
                                              f"{shapes!r:.60}")
        expected = {f"p{i}": check_shape(path, f"shapes[{i}]", s) for i, s in enumerate(shapes)}
        labels = {f"p{i}": f"p{i} (parameter {name!r})" for i, name in enumerate(names)}
        checked = check_parameter_arrays(path, "", arrays, expected, labels)
        out = cls()
        for i, name in enumerate(names):
            dict.__setitem__(out, name, checked[f"p{i}"])
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
