"""Randomness passed in: seeds, Generators and their saved states."""

import numbers

import numpy as np

from ..exceptions import FactorGraphError

__all__ = ["check_random_state"]


def check_random_state(random_state):
    """A :class:`numpy.random.Generator` from ``None``, an int seed or a Generator.

    A Generator is returned as is (so the caller's stream advances).

    Examples
    --------
    >>> rng = check_random_state(0)
    >>> int(rng.integers(100)) == int(check_random_state(0).integers(100))
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    raise FactorGraphError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")
