"""Factor declarations: a scope matrix plus one energy."""

from dataclasses import dataclass

import numpy as np

__all__ = ["FactorSpec"]


@dataclass(frozen=True)
class FactorSpec:
    """One declared factor or factor group.

    Attributes
    ----------
    name : hashable
        Node name in the factor graph.
    scopes : ndarray of int64, shape (n_factors, arity)
        Flat variable ids of each factor's scope (read-only). A single factor has
        ``n_factors == 1``.
    states : tuple of int
        Number of states of each scope position (same for every factor of a group).
    energy : Energy
        Table shaped ``states`` (shared) or ``(n_factors, *states)``.
    is_group : bool
        True when declared with :meth:`FactorGraph.add_factor_group`.
    """

    name: object
    scopes: np.ndarray
    states: tuple
    energy: object
    is_group: bool

    @property
    def n_factors(self):
        """Number of factors declared."""
        return self.scopes.shape[0]

    @property
    def arity(self):
        """Number of variables in each scope."""
        return self.scopes.shape[1]

    def factor_name(self, i):
        """Name of the i-th factor: the spec's name, or ``(name, i)`` in a group."""
        return (self.name, int(i)) if self.is_group else self.name
