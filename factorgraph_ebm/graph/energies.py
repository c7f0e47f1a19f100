"""Energies: what a factor (or a factor group) contributes to E(W, X, Y, Z).

An energy knows two things:

* ``table(parameters)``: its energy table, shaped ``states`` (one table shared by
  every factor that uses it) or ``(n_factors, *states)`` (one table per factor);
* ``backward(sensitivity, parameters)``: turn dLoss/d(table entries), shaped like
  the table, into a dict of parameter gradients.

``+inf`` entries forbid a configuration; NaN and ``-inf`` are rejected.
Custom energies subclass :class:`Energy` and implement both methods.
"""

import numpy as np

from ..exceptions import DeclarationError
from ..utils.validation import check_energy_table

__all__ = ["Energy", "TableEnergy", "LinearEnergy", "as_energy"]


class Energy:
    """Protocol for factor energies. Subclasses set ``parameter_names``.

    Attributes
    ----------
    parameter_names : tuple of str
        Names of the parameters the table depends on (empty for a fixed table).
    """

    parameter_names = ()

    def table(self, parameters=None):
        """Energy table given ``parameters`` (a mapping name -> array)."""
        raise NotImplementedError

    def backward(self, sensitivity, parameters=None):
        """Parameter gradients from a table-shaped sensitivity dLoss/dtable."""
        return {}

    def _missing(self, parameters):
        missing = [n for n in self.parameter_names if parameters is None or n not in parameters]
        return missing


class TableEnergy(Energy):
    """A fixed energy table.

    Examples
    --------
    >>> TableEnergy([[0.0, 1.0], [1.0, 0.0]]).table().shape
    (2, 2)
    """

    def __init__(self, table):
        arr = np.array(table, dtype=np.float64)
        if np.isnan(arr).any():
            raise DeclarationError("energy table contains NaN")
        if np.isneginf(arr).any():
            raise DeclarationError("energy table contains -inf (use +inf to forbid)")
        arr.setflags(write=False)
        self._table = arr

    @property
    def shape(self):
        """Shape of the table."""
        return self._table.shape

    def table(self, parameters=None):
        return self._table

    def __repr__(self):
        return f"TableEnergy(shape={self._table.shape})"


class LinearEnergy(Energy):
    """Energy linear in a named, shared parameter: table = -features . W.

    Parameters
    ----------
    parameter : str
        Name of the parameter W, shared by every factor using the same name.
    features : array_like, optional
        Shape ``(*table_shape, n_features)``; the table is ``-(features @ W)`` with
        W of shape ``(n_features,)``. Without features the table is ``-W`` itself
        (W has the table's shape), e.g. one transition matrix for a whole chain.

    Examples
    --------
    >>> e = LinearEnergy("transition")
    >>> e.table({"transition": np.eye(2)})
    array([[-1., -0.],
           [-0., -1.]])
    """

    def __init__(self, parameter, features=None):
        if not isinstance(parameter, str) or not parameter:
            raise DeclarationError(f"LinearEnergy parameter must be a non-empty str, got {parameter!r}")
        self.parameter_names = (parameter,)
        if features is not None:
            features = np.array(features, dtype=np.float64)
            if not np.isfinite(features).all():
                raise DeclarationError(f"LinearEnergy({parameter!r}): features must be finite")
            features.setflags(write=False)
        self._features = features

    @property
    def parameter(self):
        """Name of the parameter."""
        return self.parameter_names[0]

    def table(self, parameters=None):
        missing = self._missing(parameters)
        if missing:
            raise DeclarationError(f"LinearEnergy: parameter {missing[0]!r} has no value")
        w = np.asarray(parameters[self.parameter], dtype=np.float64)
        if self._features is None:
            return -w
        if w.shape != self._features.shape[-1:]:
            raise DeclarationError(
                f"parameter {self.parameter!r} has shape {w.shape}, features expect "
                f"{self._features.shape[-1:]}"
            )
        return -(self._features @ w)

    def backward(self, sensitivity, parameters=None):
        sensitivity = np.asarray(sensitivity, dtype=np.float64)
        if self._features is None:
            return {self.parameter: -sensitivity}
        feats = self._features.reshape(-1, self._features.shape[-1])
        return {self.parameter: -(sensitivity.reshape(-1) @ feats)}

    def __repr__(self):
        return f"LinearEnergy({self.parameter!r})"


def as_energy(energy, owner):
    """Wrap an array in :class:`TableEnergy`; pass :class:`Energy` objects through."""
    if isinstance(energy, Energy):
        return energy
    try:
        return TableEnergy(energy)
    except DeclarationError as exc:
        raise DeclarationError(f"{owner}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise DeclarationError(f"{owner}: energy must be an array or an Energy ({exc})") from None


def resolve_table(energy, parameters, n_factors, states, owner):
    """Evaluate ``energy`` and check it against the scope's states.

    Returns a float64 array shaped ``(1 or n_factors, *states)``.
    """
    try:
        table = energy.table(parameters)
    except DeclarationError as exc:
        raise DeclarationError(f"{owner}: {exc}") from None
    table = np.asarray(table, dtype=np.float64)
    states = tuple(int(s) for s in states)
    if table.shape == states:
        table = table[None]
    elif table.shape != (n_factors, *states):
        want = f"{states}" if n_factors == 1 else f"{states} or {(n_factors, *states)}"
        raise DeclarationError(f"{owner}: table shape {table.shape} != cardinalities {want}")
    return check_energy_table(table, table.shape, owner)
