"""Energy loss and perceptron loss.

Both push the energy of the correct answer down; the perceptron also pushes
the energy of the model's current best answer up.
"""

import numpy as np

from .base import Loss, check_latent_beta

__all__ = ["EnergyLoss", "PerceptronLoss"]


class EnergyLoss(Loss):
    """``L = E(W, y_i, x_i)``: make the correct answer's energy low.

    Answers "how low is the energy of the right answer?". It has no
    contrastive term, so it only suits energies that cannot collapse
    (e.g. with fixed, non-trainable normalisers).

    Parameters
    ----------
    latent_beta : float, default inf
        With latent variables z: ``inf`` uses ``min_z E(y_i, z)``; a finite
        value uses the free energy over z at that inverse temperature.
    method, infer_options
        See :class:`~factorgraph_ebm.losses.Loss`.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> out = EnergyLoss()(fg, [1], parameters={"b": np.array([0.0, 0.5])})
    >>> out.value, out.gradient["b"]
    (-0.5, array([ 0., -1.]))
    """

    name = "energy"

    def __init__(self, *, latent_beta=np.inf, method="auto", infer_options=None):
        super().__init__(method=method, infer_options=infer_options)
        self.latent_beta = check_latent_beta(latent_beta)

    def _evaluate(self, ev):
        pos = ev.positive(self.latent_beta)
        return pos.values, [(np.ones_like(pos.values), pos)]


class PerceptronLoss(Loss):
    """``L = E(y_i) - min_y E(y)``: zero exactly when the correct answer has the lowest energy.

    Answers "is the correct answer the model's best answer?". No margin:
    ties count as correct. With latent z: ``min_z E(y_i, z) - min_{y,z} E(y, z)``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 3); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> out = PerceptronLoss()(fg, [0], parameters={"b": np.array([0.0, 2.0, 1.0])})
    >>> out.value, out.gradient["b"]
    (2.0, array([-1.,  1.,  0.]))
    """

    name = "perceptron"

    def _evaluate(self, ev):
        return ev.contrast(np.inf)
