"""Argument checks that produce errors naming the culprit (expected vs got)."""

import math
import numbers

import numpy as np

from ..exceptions import DeclarationError, DeclarationTypeError, FactorGraphError, InferenceError

__all__ = ["check_beta", "check_scalar", "check_energy_table", "as_float_array", "check_shape", "parse_bytes",
           "format_bytes", "check_type"]


def check_type(value, types, what, expected):
    """Raise :class:`DeclarationTypeError` unless ``value`` is an instance of ``types``.

    ``what`` names the argument (or the function and its argument), ``expected``
    says what it takes.

    Examples
    --------
    >>> check_type(None, str, "word_shape: word", "a str")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationTypeError: word_shape: word must be a str, got NoneType
    """
    if not isinstance(value, types):
        raise DeclarationTypeError(f"{what} must be {expected}, got {type(value).__name__}")
    return value


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
        raise FactorGraphError(f"{name} must be {'an int' if kind is int else 'a float'}, got {value!r}")
    if kind is int:
        if not math.isfinite(value) or int(value) != value:
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


def _describe(value):
    """Short description of a value for "got ..." in messages."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"the {type(value).__name__} {text}"


def as_float_array(value, what, expected="an array of numbers", copy=True):
    """``value`` as a float64 array, or a :class:`DeclarationTypeError` naming ``what``.

    Strings, ``None``, dicts, ragged lists and other non-numeric values are
    refused (NumPy would turn ``None`` into NaN and ``"1.5"`` into 1.5).

    Examples
    --------
    >>> as_float_array([[0, 1], [1, 0]], "factor 'f': table").dtype
    dtype('float64')
    >>> as_float_array([[0, 1], [1]], "factor 'f': table")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationTypeError: factor 'f': table must be an array of numbers, got a ragged list (rows of different lengths)
    """
    if value is None or isinstance(value, (str, bytes, dict)):
        got = "None" if value is None else _describe(value)
    else:
        try:
            return np.array(value, dtype=np.float64) if copy else np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            if "inhomogeneous" in str(exc):
                got = f"a ragged {type(value).__name__} (rows of different lengths)"
            else:
                got = f"{_describe(value)} ({exc})"
    raise DeclarationTypeError(f"{what} must be {expected}, got {got}")


def check_shape(shape, what):
    """A shape (int or sequence of ints, each >= 1) as a tuple, naming ``what`` in errors.

    Examples
    --------
    >>> check_shape(3, "shape"), check_shape([2, np.int64(4)], "shape")
    ((3,), (2, 4))
    """
    def is_int(s):
        return isinstance(s, numbers.Integral) and not isinstance(s, bool)

    dims = (shape,) if is_int(shape) else shape
    if not isinstance(dims, (str, bytes)) and hasattr(dims, "__iter__"):
        dims = tuple(dims)
    if not isinstance(dims, tuple) or not all(is_int(s) for s in dims):
        raise DeclarationTypeError(f"{what} must be an int or a tuple of ints, got {shape!r}")
    dims = tuple(int(s) for s in dims)
    if not dims or min(dims) < 1:
        raise DeclarationError(f"{what} must have positive sizes, got {dims}")
    return dims


def check_energy_table(table, shape, owner):
    """Return ``table`` as a float64 array of ``shape`` with no NaN or -inf entries.

    ``shape`` may carry a leading ``None`` meaning "any size". ``owner`` names the
    factor for the error message.

    Examples
    --------
    >>> check_energy_table([[0, 1], [1, 0]], (2, 2), "factor 'f'").dtype
    dtype('float64')
    """
    arr = as_float_array(table, f"{owner}: energy table", copy=False)
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


#: Suffixes :func:`parse_bytes` accepts (powers of 1024, as ``free -h`` and ``ls -h`` print them).
BYTE_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(value, what, error=None):
    """A positive number of bytes from a number or a text such as ``"2G"``, ``"500M"``, ``"1e9"``.

    Bad values raise ``error`` (default :class:`FactorGraphError`) naming ``what``.

    Examples
    --------
    >>> parse_bytes("2G", "memory_budget"), parse_bytes(1e6, "memory_budget")
    (2147483648.0, 1000000.0)
    """
    from ..exceptions import FactorGraphError

    error = FactorGraphError if error is None else error
    text = str(value).strip()
    scale = BYTE_SUFFIXES.get(text[-1:].upper(), 1) if not isinstance(value, (int, float)) else 1
    try:
        number = float(text[:-1] if scale > 1 else text)
    except ValueError:
        raise error(f"{what}={value!r} is not a number of bytes; use e.g. 2G, 500M or 1e9") from None
    if not number * scale > 0 or number * scale == float("inf"):
        raise error(f"{what} must be a positive, finite number of bytes, got {value!r}")
    return number * scale



def format_bytes(n):
    """``n`` bytes as a short text with a decimal unit.

    Examples
    --------
    >>> format_bytes(2.5e9), format_bytes(512)
    ('2.5 GB', '512 B')
    """
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"
