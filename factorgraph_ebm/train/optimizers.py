"""Optimizers: SGD with momentum, Adam (step by step) and L-BFGS.

Step optimizers return new values (a :class:`~factorgraph_ebm.graph.Gradient`,
unchecked, so the trainer can name a parameter that became NaN) and never
modify the ones passed in, so a trainer can always fall back to the last good
values. Their state (velocities, moments, step count) is a dict of arrays plus
JSON scalars, saved in checkpoints.
"""

import inspect

import numpy as np

from ..graph.parameters import Gradient, Parameters  # noqa: F401 - Parameters: the doctests
from ..utils.estimator import check_choice
from ..utils.validation import check_scalar

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
        """Run one ``minimize`` call; ``fun(theta) -> (value, gradient)``. Returns an :class:`LBFGSResult`.

        ``callback`` is called after every iteration as by
        ``scipy.optimize.minimize``: with ``intermediate_result=`` (a result
        holding ``x``, ``fun``, ``jac``, ``nit``, ``nfev``) when it has a
        parameter of that name, else with the iterate ``x``.

        The unconstrained L-BFGS of scipy's L-BFGS-B (same stopping tests,
        status codes and messages, first step ``1 / ||g||``, a strong Wolfe
        line search, correction pairs skipped when ``s.y <= eps y.y``), with
        the two-loop recursion of :mod:`factorgraph_ebm.kernels.lbfgs`
        instead of L-BFGS-B's compact bounded form, whose per-iteration cost
        on a million weights was several evaluations of a CRF loss.
        """
        return _lbfgs(fun, theta, self.max_iter, self.tol, self.memory, callback)


class LBFGSResult(dict):
    """What :meth:`LBFGS.minimize` returns, read like scipy's ``OptimizeResult`` (keys are attributes).

    ``x``, ``fun``, ``jac`` (the gradient at ``x``), ``nit``, ``nfev``, ``njev``,
    ``status`` (0 converged, 1 iteration limit, 2 line search failure),
    ``success`` and ``message``. (Not scipy's class: importing
    ``scipy.optimize`` costs 27 MB of memory.)

    Examples
    --------
    >>> res = LBFGS(max_iter=20).minimize(lambda x: (float(x @ x), 2 * x), np.array([1.0, -2.0]))
    >>> res.status, res.success, bool(abs(res.fun) < 1e-12)
    (0, True, True)
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_MESSAGES = {"pgtol": "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
             "ftol": "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
             "maxiter": "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
             "lnsrch": "ABNORMAL: line search found no step satisfying the Wolfe conditions"}


def _wolfe_step(phi, f0, d0, step, c1=1e-4, c2=0.9, xtol=0.1, max_evals=20):
    """A step satisfying the strong Wolfe conditions (Nocedal and Wright, algorithms 3.5 and 3.6).

    ``phi(a) -> (value, slope, payload)`` along the search direction; ``d0 < 0`` the slope at 0.
    Returns ``(step, payload)``. As the More-Thuente search of L-BFGS-B, when the bracket has shrunk
    to ``xtol`` of its upper end or ``max_evals`` evaluations are spent (a kink of a non-smooth loss), the
    best step with sufficient decrease found so far is taken; ``(None, None)`` when there is none.
    """
    evals = 0

    def interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi):
        # minimiser of the cubic through both ends, kept in the middle 80% of the bracket
        lo, hi = min(a_lo, a_hi), max(a_lo, a_hi)
        d1 = d_lo + d_hi - 3.0 * (f_lo - f_hi) / (a_lo - a_hi)
        rad = d1 * d1 - d_lo * d_hi
        a = 0.5 * (lo + hi)
        if rad >= 0.0:
            d2 = np.copysign(np.sqrt(rad), a_hi - a_lo)
            denom = d_hi - d_lo + 2.0 * d2
            if denom != 0.0:
                a = a_hi - (a_hi - a_lo) * (d_hi + d2 - d1) / denom
        width = hi - lo
        if not np.isfinite(a):
            a = 0.5 * (lo + hi)
        return min(max(a, lo + 0.1 * width), hi - 0.1 * width)

    def zoom(lo, hi):
        # lo, hi: (step, value, slope, payload); lo has sufficient decrease and the lower value
        nonlocal evals
        while evals < max_evals and abs(hi[0] - lo[0]) > xtol * max(lo[0], hi[0]):
            a = interpolate(*lo[:3], *hi[:3])
            f, d, payload = phi(a)
            evals += 1
            if not np.isfinite(f) or f > f0 + c1 * a * d0 or f >= lo[1]:
                hi = (a, f, d, payload) if np.isfinite(f) else (a, lo[1] + abs(lo[2]) * abs(a - lo[0]) + 1.0, 0.0,
                                                               None)
            else:
                if abs(d) <= -c2 * d0:
                    return a, payload
                if d * (hi[0] - lo[0]) >= 0.0:
                    hi = lo
                lo = (a, f, d, payload)
        return (lo[0], lo[3]) if lo[0] > 0.0 else (None, None)

    prev = (0.0, f0, d0, None)
    a = step
    while evals < max_evals:
        f, d, payload = phi(a)
        evals += 1
        if not np.isfinite(f) or f > f0 + c1 * a * d0 or (evals > 1 and f >= prev[1]):
            if not np.isfinite(f):
                f, d = prev[1] + abs(prev[2]) * (a - prev[0]) + 1.0, 0.0
            return zoom(prev, (a, f, d, payload))
        if abs(d) <= -c2 * d0:
            return a, payload
        if d >= 0.0:
            return zoom((a, f, d, payload), prev)
        prev = (a, f, d, payload)
        a = 4.0 * a
    return (prev[0], prev[3]) if prev[0] > 0.0 else (None, None)


def _parameter_names(func):
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return ()


def _lbfgs(fun, theta, max_iter, tol, memory, callback):
    """Unconstrained L-BFGS (see :meth:`LBFGS.minimize`); returns an :class:`LBFGSResult`."""
    from ..kernels.lbfgs import lbfgs_direction, lbfgs_push

    x = np.array(theta, dtype=np.float64)
    n = len(x)
    # as scipy.optimize.minimize: a callback with a parameter named intermediate_result gets the iterate and
    # its objective as a result object, any other callback the iterate
    by_result = callback is not None and "intermediate_result" in _parameter_names(callback)
    f, g = fun(x)
    f, g = float(f), np.array(g, dtype=np.float64)
    nfev, nit, status, reason = 1, 0, None, None
    S, Y = np.empty((memory, n)), np.empty((memory, n))
    rho, alpha = np.zeros(memory), np.zeros(memory)
    pairs = []                        # rows of S / Y in use, oldest first
    gamma = 1.0
    d = np.empty(n)
    eps = np.finfo(np.float64).eps
    if n == 0 or np.max(np.abs(g)) <= tol:
        status, reason = 0, "pgtol"
    while status is None:
        if nit >= max_iter:
            status, reason = 1, "maxiter"
            break
        lbfgs_direction(S, Y, rho, np.array(pairs, dtype=np.int64), gamma, g, d, alpha)
        slope = float(np.dot(g, d))
        if not pairs or not slope < 0.0:
            pairs = []
            np.negative(g, out=d)
            slope = -float(np.dot(g, g))
        step = 1.0 if pairs else 1.0 / np.sqrt(-slope)

        def phi(a):
            nonlocal nfev
            xa = x + a * d
            fa, ga = fun(xa)
            nfev += 1
            fa, ga = float(fa), np.asarray(ga, dtype=np.float64)
            return fa, float(np.dot(ga, d)), (xa, fa, ga)

        a, payload = _wolfe_step(phi, f, slope, step)
        if a is None and pairs:       # as L-BFGS-B: drop the memory and retry once along -g
            pairs = []
            continue
        if a is None:
            status, reason = 2, "lnsrch"
            break
        x_old, g_old, f_old = x, g, f
        x, f, g = payload
        nit += 1
        if len(pairs) == memory:
            slot = pairs.pop(0)       # the oldest pair's row
        else:
            slot = next(i for i in range(memory) if i not in pairs)
        sy, yy = lbfgs_push(S, Y, slot, x, x_old, g, g_old)
        if sy > eps * yy:
            rho[slot] = 1.0 / sy
            gamma = sy / yy
            pairs.append(slot)
        if callback is not None:
            if by_result:
                callback(intermediate_result=LBFGSResult(x=x, fun=f, jac=g, nit=nit, nfev=nfev))
            else:
                callback(x)
        if (f_old - f) <= tol * max(abs(f_old), abs(f), 1.0):
            status, reason = 0, "ftol"
        elif np.max(np.abs(g)) <= tol:
            status, reason = 0, "pgtol"
    return LBFGSResult(x=x, fun=f, jac=g, nit=nit, nfev=nfev, njev=nfev, status=status,
                       success=status == 0, message=_MESSAGES[reason])


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
