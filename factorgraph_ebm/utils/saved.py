"""Validation of saved state (parameters, checkpoints, saved models), one helper per concept.

Every helper takes the file's ``path`` and the name of the field it checks,
and raises :class:`~factorgraph_ebm.ParseError` ``"<path>: field <name>: ..."``
for a value that a file written by factorgraph_ebm cannot hold. Nothing is
converted silently: an int is not a name, a ``(1, 3)`` array is not a ``(2, 3)``
one, a bool is not a count.

Examples
--------
>>> check_names("p.npz", "names", ["a", "b"])
['a', 'b']
>>> check_names("p.npz", "names", ["a", "a"])
Traceback (most recent call last):
    ...
factorgraph_ebm.exceptions.ParseError: p.npz: field 'names': name 'a' appears twice
>>> check_count("ckpt.npz", "epoch", -1)
Traceback (most recent call last):
    ...
factorgraph_ebm.exceptions.ParseError: ckpt.npz: field 'epoch': expected a non-negative int, got int -1
"""

import math
import numbers

import numpy as np

from ..exceptions import ParseError

__all__ = ["BIT_GENERATORS", "saved_error", "check_fields", "check_format", "check_dict", "check_bool",
           "check_count", "check_number", "check_choice", "check_names", "check_shape", "check_array",
           "check_parameter_arrays", "check_like", "check_rng_state"]

#: The numpy bit generators a saved random state may name.
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def saved_error(path, field, message):
    """The ParseError ``"<path>: field <field>: <message>"``.

    Examples
    --------
    >>> str(saved_error("m.npz", "epoch", "expected an int"))
    "m.npz: field 'epoch': expected an int"
    """
    return ParseError(path, None, f"field '{field}': {message}")


def _kind(value):
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def check_fields(path, meta, required, optional=(), what="metadata"):
    """Check that the dict ``meta`` has every key of ``required`` and nothing outside ``required + optional``.

    Examples
    --------
    >>> check_fields("p.npz", {"format": 1}, ["format", "names"])
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: p.npz: field 'names' is missing from the metadata
    """
    if not isinstance(meta, dict):
        raise ParseError(path, None, f"the {what} is {_kind(meta)}, expected a JSON object")
    for key in required:
        if key not in meta:
            raise ParseError(path, None, f"field {key!r} is missing from the {what}")
    unknown = sorted(str(k) for k in meta if k not in required and k not in optional)
    if unknown:
        raise ParseError(path, None, f"unknown field {unknown[0]!r} in the {what}")
    return meta


def check_format(path, meta, fmt, version, what):
    """Check ``meta["format"] == fmt`` and ``meta["version"] == version`` (``what`` names the kind of file).

    Examples
    --------
    >>> check_format("m.npz", {"format": "a", "version": 2}, "a", 1, "demo")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: m.npz: demo file format version 2 is not supported (this \
factorgraph_ebm reads version 1)
    """
    got = meta.get("format") if isinstance(meta, dict) else None
    if got != fmt:
        raise ParseError(path, None, f"not a {what} file: format {got!r}, expected {fmt!r}")
    if meta.get("version") != version:
        raise ParseError(path, None, f"{what} file format version {meta.get('version')!r} is not supported "
                                     f"(this factorgraph_ebm reads version {version})")


def check_dict(path, field, value):
    """A JSON object with str keys.

    Examples
    --------
    >>> check_dict("m.npz", "settings", {"a": 1})
    {'a': 1}
    """
    if not isinstance(value, dict):
        raise saved_error(path, field, f"expected a JSON object, got {_kind(value)}")
    return value


def check_bool(path, field, value):
    """``True`` or ``False`` (not 0 or 1).

    Examples
    --------
    >>> check_bool("m.npz", "has_best", 1)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: m.npz: field 'has_best': expected true or false, got int 1
    """
    if not isinstance(value, bool):
        raise saved_error(path, field, f"expected true or false, got {_kind(value)}")
    return value


def check_count(path, field, value):
    """A non-negative int (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise saved_error(path, field, f"expected a non-negative int, got {_kind(value)}")
    return int(value)


def check_number(path, field, value, *, allow_none=False, finite=True, low=None, high=None):
    """A real number (int or float, not a bool), finite unless ``finite=False``, in ``[low, high]``.

    Examples
    --------
    >>> check_number("m.npz", "best_value", None, allow_none=True) is None
    True
    >>> check_number("m.npz", "val_score", 1.5, low=0.0, high=1.0)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: m.npz: field 'val_score': expected a finite number in [0.0, 1.0], got \
float 1.5
    """
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if ok and finite:
        ok = math.isfinite(value)
    if ok and not finite:
        ok = not math.isnan(value)
    if ok and low is not None:
        ok = value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        want = "finite number" if finite else "number"
        if low is not None or high is not None:
            want += f" in [{low}, {high}]"
        raise saved_error(path, field, f"expected a {want}{' or null' if allow_none else ''}, got {_kind(value)}")
    return value


def check_choice(path, field, value, choices):
    """One of ``choices`` (compared with ``==`` and the same type).

    Examples
    --------
    >>> check_choice("m.npz", "stop_reason", "converged", ["converged", "callback"])
    'converged'
    """
    if not any(type(value) is type(c) and value == c for c in choices):
        raise saved_error(path, field, f"expected one of {list(choices)}, got {_kind(value)}")
    return value


def check_names(path, field, value):
    """A list of unique, non-empty str names."""
    if not isinstance(value, list):
        raise saved_error(path, field, f"expected a list of names, got {_kind(value)}")
    seen = set()
    for name in value:
        if not isinstance(name, str) or not name:
            raise saved_error(path, field, f"names must be non-empty str, got {_kind(name)}")
        if name in seen:
            raise saved_error(path, field, f"name {name!r} appears twice")
        seen.add(name)
    return list(value)


def check_shape(path, field, value):
    """A list of non-negative ints, returned as a tuple.

    Examples
    --------
    >>> check_shape("m.npz", "shapes[0]", [2, 3])
    (2, 3)
    """
    if not isinstance(value, list):
        raise saved_error(path, field, f"expected a shape (list of non-negative ints), got {_kind(value)}")
    for n in value:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise saved_error(path, field, f"expected a shape (list of non-negative ints), got {_kind(value)}")
    return tuple(value)


def check_array(path, field, arr, shape=None, *, nan=False, inf=False):
    """A float64 array of ``shape`` (exactly: no broadcasting), without NaN or infinities unless allowed.

    Examples
    --------
    >>> check_array("m.npz", "w", np.array([1.0, np.inf]))
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: m.npz: field 'w': contains an infinite value (parameters must be finite)
    """
    if arr.dtype != np.float64:
        raise saved_error(path, field, f"expected a float64 array, got dtype {arr.dtype}")
    if shape is not None and arr.shape != tuple(shape):
        raise saved_error(path, field, f"expected shape {tuple(shape)}, got {arr.shape}")
    if (nan and inf) or np.isfinite(arr).all():
        return arr
    if not nan and np.isnan(arr).any():
        raise saved_error(path, field, "contains NaN")
    if not inf and np.isinf(arr).any():
        raise saved_error(path, field, "contains an infinite value (parameters must be finite)")
    return arr


def check_parameter_arrays(path, prefix, arrays, shapes, labels=None, *, inf=False):
    """:class:`~factorgraph_ebm.graph.Parameters` from ``arrays`` (name -> array): finite float64 of ``shapes``.

    ``shapes`` is a dict name -> shape; the names of ``arrays`` must be exactly
    its keys. A field is named ``<prefix><name>`` (the entry of the file), or
    ``labels[name]``. NaN is always refused, infinities unless ``inf=True``.

    Examples
    --------
    >>> check_parameter_arrays("c.npz", "param/", {"w": np.zeros(3)}, {"w": (2,)})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: c.npz: field 'param/w': expected shape (2,), got (3,)
    """
    from ..graph.parameters import Parameters

    labels = labels or {}
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing:
        raise saved_error(path, labels.get(missing[0], prefix + missing[0]), "the array is missing")
    if extra:
        raise saved_error(path, prefix + extra[0], "unexpected array (no such parameter)")
    out = Parameters()
    for name in sorted(shapes):
        dict.__setitem__(out, name, check_array(path, labels.get(name, prefix + name), arrays[name], shapes[name],
                                                 inf=inf))
    return out


def check_like(path, field, value, template):
    """``value`` (read from JSON) has the structure of ``template``; returned with arrays where it has arrays.

    Dicts need the same keys, ints are non-negative ints, floats finite
    numbers, strs equal to the template's, arrays lists of ints of the same
    length that fit the dtype.

    Examples
    --------
    >>> check_like("m.npz", "optimizer", {"t": 3}, {"t": 0})
    {'t': 3}
    """
    if isinstance(template, dict):
        check_dict(path, field, value)
        if set(value) != set(template):
            diff = sorted(str(k) for k in set(value) ^ set(template))
            raise saved_error(path, field, f"keys {sorted(map(str, value))}, expected {sorted(template)} "
                                           f"(differs in {diff[0]!r})")
        return {k: check_like(path, f"{field}.{k}", value[k], template[k]) for k in template}
    if isinstance(template, np.ndarray):
        if (not isinstance(value, list) or len(value) != template.size
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise saved_error(path, field, f"expected a list of {template.size} ints, got {_kind(value)}")
        info = np.iinfo(template.dtype)
        if value and (min(value) < info.min or max(value) > info.max):
            raise saved_error(path, field, f"a value does not fit {template.dtype}")
        return np.array(value, dtype=template.dtype).reshape(template.shape)
    if isinstance(template, str):
        return check_choice(path, field, value, [template])
    if isinstance(template, (bool, np.bool_)):
        return check_bool(path, field, value)
    if isinstance(template, numbers.Integral):
        return check_count(path, field, value)
    if isinstance(template, numbers.Real):
        return check_number(path, field, value)
    raise TypeError(f"check_like: unsupported template {template!r}")   # a bug here, not in the file


def check_rng_state(path, field, state):
    """A ``numpy.random.Generator`` restored from a saved ``bit_generator.state`` (validated first).

    Examples
    --------
    >>> rng = check_rng_state("m.npz", "rng", np.random.default_rng(0).bit_generator.state)
    >>> int(rng.integers(100)) == int(np.random.default_rng(0).integers(100))
    True
    >>> check_rng_state("m.npz", "rng", {"bit_generator": "Mersenne"})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: m.npz: field 'rng.bit_generator': expected one of ['PCG64', \
'PCG64DXSM', 'MT19937', 'Philox', 'SFC64'], got str 'Mersenne'
    """
    check_dict(path, field, state)
    name = check_choice(path, f"{field}.bit_generator", state.get("bit_generator"), BIT_GENERATORS)
    bit_generator = getattr(np.random, name)()
    checked = check_like(path, field, state, bit_generator.state)
    try:
        bit_generator.state = checked
    except (ValueError, OverflowError) as exc:    # a value out of the generator's range
        raise saved_error(path, field, f"not a valid {name} state ({exc})") from None
    return np.random.Generator(bit_generator)
