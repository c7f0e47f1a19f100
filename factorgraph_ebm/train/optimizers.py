"""Optimizers: SGD with momentum, Adam (step by step) and L-BFGS (scipy.optimize).

Step optimizers return new values (a :class:`~factorgraph_ebm.graph.Gradient`,
unchecked, so the trainer can name a parameter that became NaN) and never
modify the ones passed in, so a trainer can always fall back to the last good
values. Their state (velocities, moments, step count) is a dict of arrays plus
JSON scalars, saved in checkpoints.
"""

import numpy as np

from ..graph.parameters import Gradient, Parameters
from ..utils.estimator import check_choice
from ..utils.lazy import lazy_module
from ..utils.validation import check_scalar

_optimize = lazy_module("scipy.optimize")

__all__ = ["Optimizer", "SGD", "Adam", "LBFGS", "OPTIMIZER_ALIASES", "get_optimizer"]


class Optimizer:
    """Base class. ``step(parameters, gradient)`` returns the updated values."""

    name = "optimizer"
    #: False for optimizers that run whole-dataset iterations (L-BFGS).
    stepwise = True

    def reset(self, parameters):
        """Start from scratch for ``parameters`` (zero state)."""

    def step(self, parameters, gradient):
        raise NotImplementedError

    def get_state(self):
        """``(arrays, meta)``: named arrays and JSON scalars to checkpoint."""
        return {}, {}

    def set_state(self, arrays, meta):
        """Restore what :meth:`get_state` returned."""

    def config(self):
        """Hyperparameters (JSON), to check a checkpoint matches."""
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _zeros_like(parameters):
    return Gradient({k: np.zeros_like(v) for k, v in parameters.items()})


def _state_arrays(prefix, values):
    return {f"{prefix}/{k}": v for k, v in values.items()}


def _from_state(arrays, prefix):
    start = prefix + "/"
    return Gradient({k[len(start):]: v for k, v in arrays.items() if k.startswith(start)})


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum.

    ``v <- momentum v - learning_rate g``; ``W <- W + v``.

    Examples
    --------
    >>> opt = SGD(learning_rate=0.1, momentum=0.5)
    >>> p = Parameters(w=[1.0]); opt.reset(p)
    >>> p = opt.step(p, {"w": np.array([1.0])}); p["w"]
    array([0.9])
    >>> opt.step(p, {"w": np.array([1.0])})["w"]
    array([0.75])
    """

    name = "sgd"

    def __init__(self, learning_rate=0.1, momentum=0.0):
        self.learning_rate = check_scalar(learning_rate, "learning_rate", float, low=0.0, include_low=False)
        self.momentum = check_scalar(momentum, "momentum", float, low=0.0, high=1.0, include_high=False)
        self._velocity = None

    def config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "momentum": self.momentum}

    def reset(self, parameters):
        self._velocity = _zeros_like(parameters)

    def step(self, parameters, gradient):
        out, velocity = Gradient(), Gradient()
        for k, w in parameters.items():
            with np.errstate(over="ignore", invalid="ignore"):  # the trainer names a non-finite result
                v = self.momentum * self._velocity[k] - self.learning_rate * gradient[k]
            velocity[k] = v
            out[k] = w + v
        self._velocity = velocity
        return out

    def get_state(self):
        return _state_arrays("velocity", self._velocity), {}

    def set_state(self, arrays, meta):
        self._velocity = _from_state(arrays, "velocity")


class Adam(Optimizer):
    """Adam (Kingma and Ba): per-coordinate steps from bias-corrected moment estimates.

    Examples
    --------
    >>> opt = Adam(learning_rate=0.1)
    >>> p = Parameters(w=[1.0, -1.0]); opt.reset(p)
    >>> opt.step(p, {"w": np.array([3.0, -0.5])})["w"].round(6)   # first step: learning_rate * sign
    array([ 0.9, -0.9])
    """

    name = "adam"

    def __init__(self, learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = check_scalar(learning_rate, "learning_rate", float, low=0.0, include_low=False)
        self.beta1 = check_scalar(beta1, "beta1", float, low=0.0, high=1.0, include_high=False)
        self.beta2 = check_scalar(beta2, "beta2", float, low=0.0, high=1.0, include_high=False)
        self.eps = check_scalar(eps, "eps", float, low=0.0, include_low=False)
        self._m = self._v = None
        self._t = 0

    def config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "beta1": self.beta1,
                "beta2": self.beta2, "eps": self.eps}

    def reset(self, parameters):
        self._m, self._v, self._t = _zeros_like(parameters), _zeros_like(parameters), 0

    def step(self, parameters, gradient):
        t = self._t + 1
        out, m_new, v_new = Gradient(), Gradient(), Gradient()
        c1, c2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t
        for k, w in parameters.items():
            g = gradient[k]
            with np.errstate(over="ignore", invalid="ignore"):  # the trainer names a non-finite result
                m = self.beta1 * self._m[k] + (1.0 - self.beta1) * g
                v = self.beta2 * self._v[k] + (1.0 - self.beta2) * g * g
                out[k] = w - self.learning_rate * (m / c1) / (np.sqrt(v / c2) + self.eps)
            m_new[k], v_new[k] = m, v
        self._m, self._v, self._t = m_new, v_new, t
        return out

    def get_state(self):
        return {**_state_arrays("m", self._m), **_state_arrays("v", self._v)}, {"t": self._t}

    def set_state(self, arrays, meta):
        self._m, self._v, self._t = _from_state(arrays, "m"), _from_state(arrays, "v"), int(meta["t"])


class LBFGS(Optimizer):
    """Limited-memory BFGS on the full-data objective (``scipy.optimize.minimize``, L-BFGS-B).

    Each trainer epoch is one ``minimize`` call of at most ``max_iter``
    iterations, started from the previous epoch's parameters (so a run resumed
    from a checkpoint continues exactly). Training stops once scipy reports
    convergence. Smooth objectives only in theory (L1 is refused); hinge-type
    losses work in practice.

    Parameters
    ----------
    max_iter : int
        Iterations per epoch.
    tol : float
        Projected-gradient tolerance (``gtol``); ``ftol`` is ``tol`` too.
    memory : int
        Number of correction pairs kept (``maxcor``).
    """

    name = "lbfgs"
    stepwise = False

    def __init__(self, max_iter=200, tol=1e-10, memory=10):
        self.max_iter = check_scalar(max_iter, "max_iter", int, low=1)
        self.tol = check_scalar(tol, "tol", float, low=0.0)
        self.memory = check_scalar(memory, "memory", int, low=1)

    def config(self):
        return {"name": self.name, "max_iter": self.max_iter, "tol": self.tol, "memory": self.memory}

    def minimize(self, fun, theta, callback=None):
        """Run one ``minimize`` call; ``fun(theta) -> (value, gradient)``. Returns scipy's result."""
        return _optimize.minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                        options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": self.tol,
                                 "maxcor": self.memory})


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "lbfgs": LBFGS}
#: Other names of the optimizers.
OPTIMIZER_ALIASES = {"bfgs": "lbfgs", "lbfgsb": "lbfgs", "gd": "sgd", "gradientdescent": "sgd"}


def get_optimizer(optimizer, learning_rate=None):
    """An :class:`Optimizer` from a name (``"sgd"``, ``"adam"``, ``"lbfgs"``) or an instance.

    Examples
    --------
    >>> get_optimizer("adam", learning_rate=0.05)
    Adam(learning_rate=0.05, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    check_choice(optimizer, "optimizer", OPTIMIZERS, allowed="an Optimizer or one of", aliases=OPTIMIZER_ALIASES)
    cls = OPTIMIZERS[optimizer]
    if cls is LBFGS or learning_rate is None:
        return cls()
    return cls(learning_rate=learning_rate)
