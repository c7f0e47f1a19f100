"""factorgraph_ebm: factor graphs for energy-based models.

Declare variables and energy factors (:class:`FactorGraph`), then ask
:func:`infer` for MAP answers (``beta=np.inf``), marginals, log partition and
free energies (finite ``beta``). Train the parameters of the energies with a
loss from :mod:`factorgraph_ebm.losses` and a :class:`Trainer`.
"""

import os

# Before anything can start Numba's OpenMP thread pool (which is when libgomp reads it): waiting
# threads sleep instead of spinning; a value the user set is kept. Why: kernels/_jit.py, WAIT_POLICY.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .compile import CompiledGraph, compile_graph, with_evidence, with_parameters
from .exceptions import (
    ConvergenceWarning,
    DeclarationError,
    DeclarationTypeError,
    EvidenceError,
    FactorGraphError,
    InferenceError,
    MemoryBudgetError,
    NotFittedError,
    ParseError,
    ResourceLimitError,
    SamplingError,
    TargetError,
    TrainingError,
    ZeroPartitionError,
)
from .graph import Energy, FactorGraph, LinearEnergy, Parameters, TableEnergy, VariableArray
from .inference import InferenceResult, belief_propagation, energy, free_energy, infer, mean_field, trw
from .sample import Samples, gibbs_sample
from .sample import forest_sample
from .train import Trainer, predict

__version__ = "0.1.0"

__all__ = [
    "CompiledGraph",
    "ConvergenceWarning",
    "DeclarationError",
    "DeclarationTypeError",
    "Energy",
    "EvidenceError",
    "FactorGraph",
    "FactorGraphError",
    "InferenceError",
    "InferenceResult",
    "LinearEnergy",
    "MemoryBudgetError",
    "NotFittedError",
    "ParseError",
    "Parameters",
    "ResourceLimitError",
    "Samples",
    "SamplingError",
    "TableEnergy",
    "TargetError",
    "Trainer",
    "TrainingError",
    "VariableArray",
    "ZeroPartitionError",
    "belief_propagation",
    "compile_graph",
    "energy",
    "forest_sample",
    "free_energy",
    "gibbs_sample",
    "infer",
    "mean_field",
    "predict",
    "trw",
    "with_evidence",
    "with_parameters",
]
