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

from ..exceptions import DeclarationError, DeclarationTypeError
from ..utils.lazy import is_sparse
from ..utils.validation import as_float_array, check_energy_table, check_shape

__all__ = ["Energy", "TableEnergy", "LinearEnergy", "as_energy"]


class Energy:
    """Protocol for factor energies: a table from parameters, and its backward.

    Subclasses set ``parameter_names`` and implement two methods:

    ``table(parameters)``
        The energy table given ``parameters`` (a mapping name -> array), shaped
        ``states`` (one table shared by every factor of the declaration) or
        ``(n_factors, *states)`` (one table per factor). ``+inf`` forbids a
        configuration; NaN and ``-inf`` are rejected at compile time.
    ``backward(sensitivity, parameters)``
        The vector-Jacobian product of ``table``: given ``sensitivity``, shaped
        like the table and holding ``dLoss/d(table entry)``, return a dict
        ``name -> dLoss/d(parameter)`` shaped like each parameter. It must be
        linear in ``sensitivity`` (training sums the sensitivities of every
        factor that shares an energy object before calling it once).

    Attributes
    ----------
    parameter_names : tuple of str
        Names of the parameters the table depends on (empty for a fixed table).

    Examples
    --------
    A Potts coupling with one trainable strength ``J`` (energy ``J [a != b]``):

    >>> class Potts(Energy):
    ...     parameter_names = ("J",)
    ...     def table(self, parameters=None):
    ...         return float(parameters["J"]) * (1.0 - np.eye(2))
    ...     def backward(self, sensitivity, parameters=None):
    ...         return {"J": np.sum(sensitivity * (1.0 - np.eye(2)))}
    >>> Potts().table({"J": 0.5})
    array([[0. , 0.5],
           [0.5, 0. ]])
    >>> float(Potts().backward(np.ones((2, 2)))["J"])
    2.0
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
        arr = as_float_array(table, "TableEnergy: table")
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
    """Energy linear in a named, shared parameter: ``table = -features . W``.

    Parameters
    ----------
    parameter : str
        Name of the parameter W. Every factor whose energy names the same
        parameter shares it (a template, e.g. one transition matrix for every
        position of every sentence).
    features : array_like or scipy.sparse matrix, optional
        Dense, shaped ``(*lead, n_features)``: the table is
        ``-tensordot(features, W, 1)``, shaped ``(*lead, *rest)`` for W of shape
        ``(n_features, *rest)``. ``W`` of shape ``(n_features,)`` scores each
        entry (``lead`` is then the table shape); ``W`` of shape
        ``(n_features, K)`` scores K output states from one feature vector per
        row (``features`` of shape ``(T, n_features)`` give the ``(T, K)`` unary
        tables of a factor group over T variables). Sparse features are a 2-D
        matrix ``(n_rows, n_features)``, so ``lead = (n_rows,)``.
        Without features the table is ``-W`` itself (W has the table's shape).
    table_shape : tuple of int, optional
        Reshape ``lead`` to this shape (e.g. ``(n_rows,)`` of a sparse matrix
        to ``(2, 3)``); its product must equal the number of rows.

    Examples
    --------
    >>> e = LinearEnergy("transition")
    >>> e.table({"transition": np.eye(2)})
    array([[-1., -0.],
           [-0., -1.]])
    >>> x = np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 1.0]])   # 3 positions, 2 features
    >>> LinearEnergy("emit", features=x).table({"emit": [[1.0, 0.0], [0.0, 1.0]]})
    array([[-1. , -0. ],
           [-0.5, -2. ],
           [-0. , -1. ]])
    >>> from scipy.sparse import csr_matrix
    >>> LinearEnergy("emit", features=csr_matrix(x)).backward(np.ones((3, 2)))["emit"]
    array([[-1.5, -1.5],
           [-3. , -3. ]])
    """

    def __init__(self, parameter, features=None, table_shape=None):
        if not isinstance(parameter, str) or not parameter:
            error = DeclarationError if isinstance(parameter, str) else DeclarationTypeError
            raise error(f"LinearEnergy parameter must be a non-empty str, got {parameter!r}")
        self.parameter_names = (parameter,)
        owner = f"LinearEnergy({parameter!r})"
        if features is not None:
            if is_sparse(features):
                try:
                    features = features.tocsr().astype(np.float64, copy=False)
                except (TypeError, ValueError) as exc:
                    raise DeclarationTypeError(f"{owner}: sparse features must be numeric ({exc})") from None
                if not np.isfinite(features.data).all():
                    raise DeclarationError(f"{owner}: features must be finite")
                lead = (features.shape[0],)
            else:
                features = as_float_array(features, f"{owner}: features", "an array of numbers or a scipy.sparse matrix")
                if features.ndim < 1:
                    raise DeclarationError(f"{owner}: features must have a last axis of features")
                if not np.isfinite(features).all():
                    raise DeclarationError(f"{owner}: features must be finite")
                features.setflags(write=False)
                lead = features.shape[:-1]
            if table_shape is not None:
                table_shape = check_shape(table_shape, f"{owner}: table_shape")
                if int(np.prod(table_shape)) != int(np.prod(lead)):
                    raise DeclarationError(f"{owner}: table_shape {table_shape} does not hold {lead} feature rows")
                lead = table_shape
            self._lead = lead
        elif table_shape is not None:
            raise DeclarationError(f"{owner}: table_shape needs features")
        self._features = features

    @property
    def parameter(self):
        """Name of the parameter."""
        return self.parameter_names[0]

    @property
    def features(self):
        """The features (read-only dense array, CSR matrix, or None)."""
        return self._features

    def _weights(self, parameters):
        missing = self._missing(parameters)
        if missing:
            raise DeclarationError(f"LinearEnergy: parameter {missing[0]!r} has no value")
        w = as_float_array(parameters[self.parameter], f"parameter {self.parameter!r}", copy=False)
        n_features = None if self._features is None else self._features.shape[-1]
        if n_features is not None and (w.ndim == 0 or w.shape[0] != n_features):
            raise DeclarationError(
                f"parameter {self.parameter!r} has shape {w.shape}, features expect ({n_features}, ...)"
            )
        return w

    def table(self, parameters=None):
        w = self._weights(parameters)
        if self._features is None:
            return -w
        rest = w.shape[1:]
        flat = self.feature_rows() @ w.reshape(w.shape[0], -1)
        return -np.asarray(flat).reshape(*self._lead, *rest)

    def backward(self, sensitivity, parameters=None):
        sensitivity = np.asarray(sensitivity, dtype=np.float64)
        if self._features is None:
            return {self.parameter: -sensitivity}
        rows = self.feature_rows()
        n_features = rows.shape[1]
        rest = (sensitivity.size // rows.shape[0],)
        grad = rows.T @ sensitivity.reshape(rows.shape[0], *rest)
        if parameters is not None and self.parameter in parameters:
            shape = np.shape(parameters[self.parameter])
        else:
            shape = (n_features, *sensitivity.shape[len(self._lead):])
        return {self.parameter: -np.asarray(grad).reshape(shape)}

    @property
    def lead_shape(self):
        """Leading table axes indexed by the feature rows (None without features)."""
        return None if self._features is None else self._lead

    def feature_rows(self):
        """Features as a 2-D ``(rows, n_features)`` array or CSR matrix (rows in table C order)."""
        f = self._features
        return f if f.ndim == 2 else f.reshape(-1, f.shape[-1])

    def __repr__(self):
        return f"LinearEnergy({self.parameter!r})"


def as_energy(energy, owner):
    """Wrap an array in :class:`TableEnergy`; pass :class:`Energy` objects through."""
    if isinstance(energy, Energy):
        return energy
    if isinstance(energy, type) and issubclass(energy, Energy):
        raise DeclarationTypeError(f"{owner}: energy is the class {energy.__name__}; pass an instance, "
                                   f"e.g. {energy.__name__}(...)")
    table = as_float_array(energy, f"{owner}: energy", "an array of numbers or an Energy")
    try:
        return TableEnergy(table)
    except DeclarationError as exc:
        raise type(exc)(f"{owner}: {exc}") from None


def resolve_table(energy, parameters, n_factors, states, owner):
    """Evaluate ``energy`` and check it against the scope's states.

    Returns a float64 array shaped ``(1 or n_factors, *states)``.
    """
    try:
        table = energy.table(parameters)
    except DeclarationError as exc:
        raise type(exc)(f"{owner}: {exc}") from None
    table = as_float_array(table, f"{owner}: {type(energy).__name__}.table()", copy=False)
    states = tuple(int(s) for s in states)
    if table.shape == states:
        table = table[None]
    elif table.shape != (n_factors, *states):
        want = f"{states}" if n_factors == 1 else f"{states} or {(n_factors, *states)}"
        raise DeclarationError(f"{owner}: table shape {table.shape} != cardinalities {want}")
    return check_energy_table(table, table.shape, owner)
