"""Inference layer: belief propagation, exact methods, one result type."""

from .api import METHODS, energy, free_energy, infer
from .bp import belief_propagation
from .exact import enumerate_exact, junction_tree
from .result import InferenceResult

__all__ = [
    "METHODS",
    "InferenceResult",
    "belief_propagation",
    "energy",
    "enumerate_exact",
    "free_energy",
    "infer",
    "junction_tree",
]
