"""Negative log-likelihood at inverse temperature beta."""

import numpy as np  # noqa: F401 - the doctests use the module globals

from ..utils.validation import check_beta
from .base import Loss

__all__ = ["NLLLoss"]


class NLLLoss(Loss):
    """``L = E(y_i) + (1/beta) log sum_y exp(-beta E(y))`` = ``-(1/beta) log P(y_i | x_i)``.

    Answers "how probable is the correct answer under the Gibbs distribution
    ``P(y | x) = exp(-beta E) / Z``?". Its gradient is ``dE/dW`` at the correct
    answer minus the expectation of ``dE/dW`` under the model, computed from
    the factor marginals of sum-product. With latent variables z both terms
    are free energies: ``F(x, y_i) - F(x)``, summing z out.

    Parameters
    ----------
    beta : float > 0, default 1.0
        Inverse temperature; ``beta -> inf`` tends to the perceptron loss.
    method, infer_options
        See :class:`~factorgraph_ebm.losses.Loss`. On loopy graphs run with
        ``method="bp"`` the free energies are Bethe approximations.

    Examples
    --------
    Binary y with ``E(y) = -y w x`` is logistic regression:

    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2)
    >>> _ = fg.add_factor(["y"], LinearEnergy("w", features=[[0.0], [2.0]]))
    >>> out = NLLLoss()(fg, [1], parameters={"w": np.array([0.5])})
    >>> bool(np.isclose(out.value, np.log1p(np.exp(-1.0))))
    True
    """

    name = "nll"

    def __init__(self, beta=1.0, *, method="auto", infer_options=None):
        super().__init__(method=method, infer_options=infer_options)
        self.beta = check_beta(beta)

    def __repr__(self):
        return f"NLLLoss(beta={self.beta})"

    def _evaluate(self, ev):
        return ev.contrast(self.beta)
