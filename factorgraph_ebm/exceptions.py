"""Exceptions and warnings raised by factorgraph_ebm.

Every error is a :class:`FactorGraphError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working for callers that do not know this package.
"""

__all__ = [
    "FactorGraphError",
    "DeclarationError",
    "EvidenceError",
    "ZeroPartitionError",
    "InferenceError",
    "ConvergenceWarning",
]


class FactorGraphError(ValueError):
    """Base class of every error raised by factorgraph_ebm."""


class DeclarationError(FactorGraphError):
    """A variable, factor or energy was declared wrongly (name, states, table...)."""


class EvidenceError(FactorGraphError):
    """Evidence names an unknown variable or a state out of range."""


class ZeroPartitionError(FactorGraphError):
    """Every configuration compatible with the evidence has infinite energy."""


class InferenceError(FactorGraphError):
    """An inference request is invalid (bad beta, method, or a model too large for it)."""


class ConvergenceWarning(UserWarning):
    """Loopy belief propagation stopped at its iteration cap before reaching tolerance."""
