"""Argument checks that produce errors naming the culprit (expected vs got)."""

import math
import numbers

import numpy as np

from ..exceptions import DeclarationError, FactorGraphError, InferenceError

__all__ = ["check_beta", "check_scalar", "check_energy_table"]


def check_beta(beta):
    """Return ``beta`` as a float, raising :class:`InferenceError` unless ``beta > 0``.

    ``beta = np.inf`` selects min-sum (MAP).

    Examples
    --------
    >>> check_beta(2)
    2.0
    >>> check_beta(float("inf"))
    inf
    """
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise InferenceError(f"beta must be a positive real number or inf, got {beta!r}")
    beta = float(beta)
    if math.isnan(beta) or beta <= 0:
        raise InferenceError(f"beta must be > 0 (np.inf for min-sum), got {beta!r}")
    return beta


def check_scalar(value, name, kind, *, low=None, high=None, include_low=True, include_high=True):
    """Check a scalar argument's type and range, naming it in the error.

    Examples
    --------
    >>> check_scalar(0.5, "damping", float, low=0.0, high=1.0, include_high=False)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FactorGraphError(f"{name} must be a {kind.__name__}, got {value!r}")
    if kind is int:
        if int(value) != value:
            raise FactorGraphError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if math.isnan(value):
            raise FactorGraphError(f"{name} must not be NaN")
    if low is not None and (value < low or (value == low and not include_low)):
        op = ">=" if include_low else ">"
        raise FactorGraphError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (value > high or (value == high and not include_high)):
        op = "<=" if include_high else "<"
        raise FactorGraphError(f"{name} must be {op} {high}, got {value!r}")
    return value


def check_energy_table(table, shape, owner):
    """Return ``table`` as a float64 array of ``shape`` with no NaN or -inf entries.

    ``shape`` may carry a leading ``None`` meaning "any size". ``owner`` names the
    factor for the error message.

    Examples
    --------
    >>> check_energy_table([[0, 1], [1, 0]], (2, 2), "factor 'f'").dtype
    dtype('float64')
    """
    try:
        arr = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DeclarationError(f"{owner}: energy table is not numeric ({exc})") from None
    if arr.shape != tuple(shape):
        raise DeclarationError(
            f"{owner}: table shape {arr.shape} != cardinalities {tuple(shape)}"
        )
    if np.isnan(arr).any():
        raise DeclarationError(f"{owner}: energy table contains NaN")
    if np.isneginf(arr).any():
        raise DeclarationError(
            f"{owner}: energy table contains -inf (energies must be > -inf; use +inf to forbid)"
        )
    return arr
