"""Declaration layer: variables, factors and energies over a networkx graph."""

from .energies import Energy, LinearEnergy, TableEnergy
from .factor_graph import FactorGraph
from .factors import FactorSpec
from .parameters import Gradient, Parameters
from .variables import ROLES, VariableArray, VariableBlock

__all__ = [
    "Energy",
    "FactorGraph",
    "FactorSpec",
    "Gradient",
    "LinearEnergy",
    "Parameters",
    "ROLES",
    "TableEnergy",
    "VariableArray",
    "VariableBlock",
]
