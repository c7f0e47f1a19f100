"""Losses of energy-based learning: value, energy sensitivities and parameter gradient.

Following LeCun et al., "A Tutorial on Energy-Based Learning": every loss is a
function of the energy of the correct answer and of contrastive energies found
by inference (the model's best answer, the free energy, or the most offending
incorrect answer y-bar). See ``docs/learning.md`` for one example per loss.
"""

import inspect

from .base import Loss, LossResult, Term, parameter_gradient
from .batch import Batch, Examples, make_batch, output_ids
from .contrastive import EnergyLoss, PerceptronLoss
from .likelihood import NLLLoss
from .margin import (
    HingeLoss,
    LogLoss,
    MarginLoss,
    MCELoss,
    SimpleLoss,
    SquareExponentialLoss,
    SquareSquareLoss,
)
from .offending import OFFENDING
from .penalties import regularization
from .sampling import CDLoss, PCDLoss, SamplingLoss
from ..exceptions import DeclarationError, DeclarationTypeError
from ..utils.estimator import check_choice

__all__ = [
    "LOSS_ALIASES",
    "LOSSES",
    "Batch",
    "CDLoss",
    "EnergyLoss",
    "Examples",
    "HingeLoss",
    "LogLoss",
    "Loss",
    "LossResult",
    "MCELoss",
    "MarginLoss",
    "NLLLoss",
    "OFFENDING",
    "PCDLoss",
    "PerceptronLoss",
    "SamplingLoss",
    "SimpleLoss",
    "SquareExponentialLoss",
    "SquareSquareLoss",
    "Term",
    "get_loss",
    "make_batch",
    "output_ids",
    "parameter_gradient",
    "regularization",
]

#: Loss names accepted by :func:`get_loss` (and ``Trainer(loss=...)``).
LOSSES = {
    "energy": EnergyLoss,
    "perceptron": PerceptronLoss,
    "nll": NLLLoss,
    "hinge": HingeLoss,
    "log": LogLoss,
    "simple": SimpleLoss,
    "square-square": SquareSquareLoss,
    "square-exponential": SquareExponentialLoss,
    "mce": MCELoss,
    "cd": CDLoss,
    "pcd": PCDLoss,
}

#: Other names of the losses, for the "did you mean" of an unknown name (difflib cannot guess these).
LOSS_ALIASES = {"crossentropy": "nll", "logloss": "nll", "loglikelihood": "nll", "likelihood": "nll",
                "negativeloglikelihood": "nll", "crf": "nll", "svm": "hinge", "ssvm": "hinge",
                "structuredsvm": "hinge", "structuredperceptron": "perceptron",
                "contrastivedivergence": "cd", "cdk": "cd", "persistentcd": "pcd",
                "persistentcontrastivedivergence": "pcd", "sml": "pcd"}


def get_loss(loss, **options):
    """A :class:`Loss` from a name in :data:`LOSSES` (with options) or a Loss instance.

    Examples
    --------
    >>> get_loss("hinge", margin=2.0)
    HingeLoss(margin=2.0, offending='other')
    """
    if isinstance(loss, Loss):
        if options:
            raise DeclarationError("options apply to a loss name, not to a Loss instance")
        return loss
    error = DeclarationError if isinstance(loss, str) or loss is None else DeclarationTypeError
    check_choice(loss, "loss", LOSSES, allowed="a Loss or one of", aliases=LOSS_ALIASES, error=error)
    cls = LOSSES[loss]
    accepted = [p.name for p in inspect.signature(cls).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise DeclarationTypeError(f"loss {loss!r} takes no option {unknown[0]!r}; its options are {accepted}")
    return cls(**options)
