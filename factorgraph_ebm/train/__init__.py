"""Training: the Trainer (batches, optimizers, regularization, progress, checkpoints) and predictions."""

from .checkpoint import load_checkpoint, save_checkpoint
from .optimizers import LBFGS, SGD, Adam, Optimizer, get_optimizer
from .prediction import accuracy, predict
from .trainer import Trainer, check_finite_parameters, check_parameters

__all__ = [
    "Adam",
    "LBFGS",
    "Optimizer",
    "SGD",
    "Trainer",
    "accuracy",
    "check_finite_parameters",
    "check_parameters",
    "get_optimizer",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
]
