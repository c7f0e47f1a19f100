"""Resource limits of the readers: how large a model (or result) a file may ask for.

A file of a few dozen bytes can declare a variable with ``10**12`` states or a
sparse table of ``10**10`` entries. Every reader compares what a file asks for
with a :class:`ReadLimits` *before* allocating it and raises
:class:`~factorgraph_ebm.exceptions.ResourceLimitError` (a ``ParseError``)
naming the file, the line, the limit and how to raise it: the keyword
``limits=`` of the readers, or ``fgebm --limit NAME=VALUE``.

The defaults admit every real model we know (the UAI competition sets,
1000 x 1000 grids of a few states, CSP factors of 2**20 entries).
"""

import dataclasses
from collections.abc import Mapping

from ..exceptions import FactorGraphError, ResourceLimitError
from ..utils.validation import parse_bytes

__all__ = ["ReadLimits", "resolve_limits", "parse_limit", "DEFAULT_LIMITS"]


_UNITS = {"variables": "variables", "states": "states", "total_states": "states in all",
          "factor_entries": "table entries", "total_entries": "table entries in all",
          "result_bytes": "bytes", "text_bytes": "bytes"}

def _limit_value(name, value, error=FactorGraphError):
    """A limit as a positive int, from an int or a text with a K/M/G/T suffix (powers of 1024)."""
    if isinstance(value, bool):
        raise error(f"limit {name} must be a positive integer, got {value!r}")
    number = parse_bytes(value, f"limit {name}", error)
    if number != int(number):
        raise error(f"limit {name} must be a positive integer, got {value!r}")
    return int(number)


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """Largest sizes a file may ask for; every field is a positive int.

    Attributes
    ----------
    variables : int
        Variables of a model (or of a result / evidence file).
    states : int
        States of one variable.
    total_states : int
        Sum of the states of every variable (the size of the marginals).
    factor_entries : int
        Table entries of one factor, including dense tables built from sparse
        ``.fg`` entries and constant factors spread over a variable.
    total_entries : int
        Table entries of every factor of a file.
    result_bytes : int
        Bytes of a result file ``fgebm infer`` is about to write.
    text_bytes : int
        Bytes of text a reader takes in, after decompression (a small ``.gz``
        file can expand to gigabytes). The default admits a 1000 x 1000 grid
        written as ``.uai`` (166 MB).

    Examples
    --------
    >>> ReadLimits().states
    1048576
    >>> ReadLimits.from_mapping({"states": 4_000_000}).states
    4000000
    >>> ReadLimits.from_mapping({"colours": 3})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.FactorGraphError: unknown limit 'colours'; the limits are variables, states, total_states, factor_entries, total_entries, result_bytes, text_bytes
    """

    variables: int = 1 << 24
    states: int = 1 << 20
    total_states: int = 1 << 21
    factor_entries: int = 1 << 23
    total_entries: int = 10 << 20
    result_bytes: int = 1 << 28
    text_bytes: int = 1 << 28

    def __post_init__(self):
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _limit_value(field.name, getattr(self, field.name)))

    @classmethod
    def names(cls):
        """The limit names, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, mapping, base=None):
        """Limits of ``base`` (default: the defaults) with the values of ``mapping`` (name -> int or ``"4M"``)."""
        if not isinstance(mapping, Mapping):
            raise FactorGraphError(f"limits must be a ReadLimits or a mapping of limit names to values, "
                                   f"got {type(mapping).__name__}")
        for name in mapping:
            if name not in cls.names():
                raise FactorGraphError(f"unknown limit {name!r}; the limits are {', '.join(cls.names())}")
        return dataclasses.replace(cls() if base is None else base, **dict(mapping))

    def check(self, name, value, path, line, what):
        """Raise :class:`ResourceLimitError` when ``value`` (what ``what`` asks for) exceeds limit ``name``.

        Examples
        --------
        >>> ReadLimits().check("states", 10**12, "x.uai", 3, "variable 0 has")
        Traceback (most recent call last):
            ...
        factorgraph_ebm.exceptions.ResourceLimitError: x.uai, line 3: variable 0 has 1000000000000 states, over the limit states=1048576; raise it with limits={'states': ...} or fgebm --limit states=VALUE
        """
        maximum = getattr(self, name)
        if value > maximum:
            unit = _UNITS[name]
            raise ResourceLimitError(
                path, line, f"{what} {value} {unit}, over the limit {name}={maximum}; raise it with "
                f"limits={{{name!r}: ...}} or fgebm --limit {name}=VALUE", name, int(value), maximum)


#: The default limits.
DEFAULT_LIMITS = ReadLimits()


def resolve_limits(limits):
    """A :class:`ReadLimits` from ``None`` (the defaults), a ReadLimits or a mapping.

    Examples
    --------
    >>> resolve_limits(None) == ReadLimits()
    True
    >>> resolve_limits({"variables": "1K"}).variables
    1024
    """
    if limits is None:
        return DEFAULT_LIMITS
    if isinstance(limits, ReadLimits):
        return limits
    return ReadLimits.from_mapping(limits)


def parse_limit(text):
    """``(name, value)`` of a ``"NAME=VALUE"`` text (``fgebm --limit``); VALUE may end in K, M, G or T.

    Examples
    --------
    >>> parse_limit("states=4M")
    ('states', 4194304)
    >>> parse_limit("states")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.FactorGraphError: a limit is NAME=VALUE (e.g. states=4M), got 'states'; the limits are variables, states, total_states, factor_entries, total_entries, result_bytes, text_bytes
    """
    name, sep, value = str(text).partition("=")
    name = name.strip()
    if not sep:
        raise FactorGraphError(f"a limit is NAME=VALUE (e.g. states=4M), got {text!r}; "
                               f"the limits are {', '.join(ReadLimits.names())}")
    if name not in ReadLimits.names():
        raise FactorGraphError(f"unknown limit {name!r}; the limits are {', '.join(ReadLimits.names())}")
    return name, _limit_value(name, value.strip())
