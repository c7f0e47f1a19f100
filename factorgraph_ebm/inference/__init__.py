"""Inference layer: belief propagation, exact methods, one result type."""

from .api import METHODS, energy, free_energy, infer
from .bp import belief_propagation
from .elimination import default_memory_budget, exact_cost, junction_tree
from .exact import enumerate_exact
from .reweighted import forest_cover, trw
from .variational import mean_field
from .options import InferenceOptions, check_options
from .ordering import HEURISTICS, EliminationOrder, elimination_order
from .result import InferenceResult

__all__ = [
    "HEURISTICS",
    "METHODS",
    "EliminationOrder",
    "InferenceOptions",
    "InferenceResult",
    "belief_propagation",
    "check_options",
    "default_memory_budget",
    "elimination_order",
    "energy",
    "enumerate_exact",
    "exact_cost",
    "forest_cover",
    "free_energy",
    "infer",
    "junction_tree",
    "mean_field",
    "trw",
]
