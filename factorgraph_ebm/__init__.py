"""factorgraph_ebm: factor graphs for energy-based models.

Declare variables and energy factors (:class:`FactorGraph`), then ask
:func:`infer` for MAP answers (``beta=np.inf``), marginals, log partition and
free energies (finite ``beta``).
"""

from .compile import CompiledGraph, compile_graph, with_evidence, with_parameters
from .exceptions import (
    ConvergenceWarning,
    DeclarationError,
    EvidenceError,
    FactorGraphError,
    InferenceError,
    ParseError,
    ZeroPartitionError,
)
from .graph import Energy, FactorGraph, LinearEnergy, Parameters, TableEnergy, VariableArray
from .infer import InferenceResult, belief_propagation, energy, free_energy, infer

__version__ = "0.1.0"

__all__ = [
    "CompiledGraph",
    "ConvergenceWarning",
    "DeclarationError",
    "Energy",
    "EvidenceError",
    "FactorGraph",
    "FactorGraphError",
    "InferenceError",
    "InferenceResult",
    "LinearEnergy",
    "ParseError",
    "Parameters",
    "TableEnergy",
    "VariableArray",
    "ZeroPartitionError",
    "belief_propagation",
    "compile_graph",
    "energy",
    "free_energy",
    "infer",
    "with_evidence",
    "with_parameters",
]
