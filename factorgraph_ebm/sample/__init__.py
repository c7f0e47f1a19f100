"""Sampling layer: Gibbs samplers on any factor graph, their result type and mixing diagnostics."""

from .diagnostics import autocovariance, effective_sample_size, r_hat
from .gibbs import SCHEDULES, gibbs_sample, run_chains
from .samples import Samples

__all__ = [
    "SCHEDULES",
    "Samples",
    "autocovariance",
    "effective_sample_size",
    "gibbs_sample",
    "r_hat",
    "run_chains",
]
