"""Sampling: exact samples on forests (and, on the gibbs branch, Gibbs samplers)."""

from .forest import forest_draws

__all__ = ["forest_draws"]
