"""L2 and L1 penalties on the parameters, with their gradients."""

import numbers

import numpy as np

from collections.abc import Mapping

from ..exceptions import DeclarationError, DeclarationTypeError
from ..graph.parameters import Gradient

__all__ = ["penalty_weights", "regularization"]


def penalty_weights(weight, names, what):
    """Per-parameter penalty weights from a float (every parameter) or a dict name -> float.

    Names missing from a dict get 0 (e.g. leave a bias unregularized).

    Examples
    --------
    >>> penalty_weights({"w": 0.1}, ["b", "w"], "l2")
    {'b': 0.0, 'w': 0.1}
    """
    if isinstance(weight, dict):
        unknown = [k for k in weight if k not in names]
        if unknown:
            raise DeclarationError(f"{what} names unknown parameter {unknown[0]!r} (parameters: {sorted(names)})")
        out = {k: weight.get(k, 0.0) for k in names}
    else:
        out = {k: weight for k in names}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
            raise DeclarationError(f"{what} for parameter {k!r} must be a finite number >= 0, got {v!r}")
        out[k] = float(v)
    return out


def regularization(parameters, l2=0.0, l1=0.0):
    """``sum_k l2_k/2 ||W_k||^2 + l1_k ||W_k||_1`` and its (sub)gradient.

    Parameters
    ----------
    parameters : mapping name -> array
    l2, l1 : float or dict name -> float
        Weights for every parameter, or per parameter (missing names: 0).

    Returns
    -------
    value : float
    gradient : Gradient

    Examples
    --------
    >>> value, grad = regularization({"w": np.array([1.0, -2.0])}, l2=0.5, l1=0.1)
    >>> value, grad["w"]
    (1.55, array([ 0.6, -1.1]))
    """
    if not isinstance(parameters, Mapping):
        raise DeclarationTypeError(f"regularization: parameters must be a mapping name -> array, "
                                   f"got {type(parameters).__name__}")
    names = list(parameters)
    w2 = penalty_weights(l2, names, "l2")
    w1 = penalty_weights(l1, names, "l1")
    value = 0.0
    grad = {}
    for k in names:
        w = np.asarray(parameters[k], dtype=np.float64)
        flat = w.ravel()
        with np.errstate(over="ignore"):  # an overflow is reported by the trainer, naming the step
            value += 0.5 * w2[k] * float(np.dot(flat, flat))
            grad[k] = w2[k] * w
            if w1[k]:
                value += w1[k] * float(np.sum(np.abs(w)))
                grad[k] += w1[k] * np.sign(w)
    return value, Gradient.wrap(grad)
