"""Sampling layer: Gibbs samplers on any factor graph, exact samples on forests, their result type and mixing diagnostics."""

from .diagnostics import autocovariance, effective_sample_size, r_hat
from .forest import forest_draws, forest_sample
from .gibbs import SCHEDULES, gibbs_sample, run_chains
from .samples import Samples

__all__ = [
    "SCHEDULES",
    "Samples",
    "autocovariance",
    "effective_sample_size",
    "forest_draws",
    "forest_sample",
    "gibbs_sample",
    "r_hat",
    "run_chains",
]
