"""Training: the Trainer (batches, optimizers, regularization, progress, checkpoints) and predictions."""

from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import DaskBackend, map_infer, map_predict
from .optimizers import LBFGS, SGD, Adam, Optimizer, get_optimizer
from .prediction import accuracy, predict
from .trainer import Trainer, check_finite_parameters, check_parameters

__all__ = [
    "Adam",
    "DaskBackend",
    "LBFGS",
    "Optimizer",
    "SGD",
    "Trainer",
    "accuracy",
    "check_finite_parameters",
    "check_parameters",
    "get_optimizer",
    "load_checkpoint",
    "map_infer",
    "map_predict",
    "predict",
    "save_checkpoint",
]
