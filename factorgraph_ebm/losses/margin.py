"""Generalized margin losses: ``L = Q_m(E(y_i), E(y-bar))``.

``y-bar`` is the most offending incorrect answer (see :mod:`.offending`).
Each built-in loss is a :class:`MarginLoss` with its own ``Q``; pass your own
``q(e_pos, e_neg, margin) -> (value, dQ/de_pos, dQ/de_neg)`` (vectorized over
examples) to :class:`MarginLoss` for any other.

With ``offending="hamming"`` the margin of each example is ``m H(y-bar, y_i)``
(m times the Hamming distance), so ``[m H + E(y_i) - E(y-bar)]+`` is the
margin-rescaled structured hinge.
"""

import numpy as np

from ..exceptions import DeclarationError, TrainingError
from ..utils.lazy import lazy_module
from ..utils.validation import check_scalar
from .base import Loss, check_latent_beta
from .offending import OFFENDING, check_alternatives, most_offending

_special = lazy_module("scipy.special")

__all__ = [
    "MarginLoss",
    "HingeLoss",
    "LogLoss",
    "SimpleLoss",
    "SquareSquareLoss",
    "SquareExponentialLoss",
    "MCELoss",
    "hinge_q",
    "log_q",
    "simple_q",
    "square_square_q",
    "square_exponential_q",
    "mce_q",
]


def _gap(e_pos, e_neg, margin):
    with np.errstate(invalid="ignore"):
        return margin + e_pos - e_neg


def hinge_q(e_pos, e_neg, margin):
    """``[m + E(y_i) - E(y-bar)]+``."""
    z = _gap(e_pos, e_neg, margin)
    active = (z > 0).astype(np.float64)
    return np.maximum(z, 0.0), active, -active


def log_q(e_pos, e_neg, margin):
    """``log(1 + exp(m + E(y_i) - E(y-bar)))`` (soft hinge)."""
    z = _gap(e_pos, e_neg, margin)
    s = _special.expit(z)
    return np.logaddexp(0.0, z), s, -s


def simple_q(e_pos, e_neg, margin):
    """``[E(y_i)]+ + [m - E(y-bar)]+``."""
    up = margin - e_neg
    return (np.maximum(e_pos, 0.0) + np.maximum(up, 0.0), (e_pos > 0).astype(np.float64),
            -(up > 0).astype(np.float64))


def square_square_q(e_pos, e_neg, margin):
    """``([E(y_i)]+)^2 + ([m - E(y-bar)]+)^2``."""
    p, n = np.maximum(e_pos, 0.0), np.maximum(margin - e_neg, 0.0)
    return p * p + n * n, 2.0 * p, -2.0 * n


def square_exponential_q(e_pos, e_neg, margin, gamma=1.0):
    """``([E(y_i)]+)^2 + gamma exp(m - E(y-bar))``."""
    p = np.maximum(e_pos, 0.0)
    with np.errstate(over="ignore"):
        g = gamma * np.exp(margin - e_neg)
    return p * p + g, 2.0 * p, -g


def mce_q(e_pos, e_neg, margin):
    """``sigmoid(m + E(y_i) - E(y-bar))`` (minimum classification error)."""
    s = _special.expit(_gap(e_pos, e_neg, margin))
    d = s * (1.0 - s)
    return s, d, -d


class MarginLoss(Loss):
    """``L = Q_m(E(y_i), E(y-bar))`` for a user-chosen ``Q_m``.

    Parameters
    ----------
    q : callable
        ``q(e_pos, e_neg, margin) -> (value, dvalue/de_pos, dvalue/de_neg)``,
        arrays over the examples. ``e_neg`` may be ``+inf`` (every incorrect
        answer forbidden); Q should then give a finite value and zero slope.
    margin : float >= 0
        m. With ``offending="hamming"`` each example's margin is m times the
        Hamming distance of its y-bar to the target.
    offending : {"other", "hamming"}
        How y-bar is found: the best full assignment other than the target,
        or loss-augmented inference (``argmin E(y) - m H(y, y_i)``).
    latent_beta : float, default inf
        With latent z: ``inf`` compares ``min_z E``; finite compares the free
        energies over z at that inverse temperature.
    method, infer_options
        See :class:`~factorgraph_ebm.losses.Loss`.

    Examples
    --------
    A squared hinge, ``[m + E(y_i) - E(y-bar)]+^2``:

    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> def squared_hinge(e_pos, e_neg, m):
    ...     z = np.maximum(m + e_pos - e_neg, 0.0)
    ...     return z * z, 2 * z, -2 * z
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 3); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> out = MarginLoss(squared_hinge, margin=1.0)(fg, [0], parameters={"b": np.array([1.0, 0.5, 0.0])})
    >>> out.value, out.gradient["b"]
    (0.25, array([-1.,  1.,  0.]))
    """

    name = "margin"
    needs_offending = True
    default_margin = 1.0
    #: The fixed Q of a built-in loss, or None when the user passes ``q``.
    q_function = None

    def __init__(self, q=None, *, margin=None, offending="other", latent_beta=np.inf, method="auto",
                 infer_options=None):
        super().__init__(method=method, infer_options=infer_options)
        if self.q_function is not None:
            if q is not None:
                raise DeclarationError(f"{type(self).__name__} has a fixed Q; use MarginLoss(q) for your own")
        elif not callable(q):
            raise DeclarationError(f"q must be a callable q(e_pos, e_neg, margin), got {q!r}")
        if offending not in OFFENDING:
            raise DeclarationError(f"offending must be one of {OFFENDING}, got {offending!r}")
        self.q = q
        self.margin = check_scalar(self.default_margin if margin is None else margin, "margin", float, low=0.0)
        self.offending = offending
        self.latent_beta = check_latent_beta(latent_beta)

    def __repr__(self):
        return f"{type(self).__name__}(margin={self.margin}, offending={self.offending!r})"

    def check_examples(self, examples):
        check_alternatives(examples, self.name)

    def _evaluate(self, ev):
        pos = ev.positive(self.latent_beta)
        neg = ev.cached("offending", (self.offending, self.margin, self.latent_beta),
                        lambda: most_offending(ev, self.offending, self.margin, self.latent_beta))
        neg, hamming = neg
        margins = self.margin * hamming if self.offending == "hamming" else np.full(len(hamming), self.margin)
        out = self.Q(pos.values, neg.values, margins)
        try:
            value, d_pos, d_neg = (np.broadcast_to(np.asarray(a, dtype=np.float64), pos.values.shape) for a in out)
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"{self.name}: q must return (value, d_pos, d_neg) arrays of shape "
                                f"{pos.values.shape} ({exc})") from None
        return value, [(d_pos, pos), (d_neg, neg)]

    def Q(self, e_pos, e_neg, margin):
        """``(value, dQ/de_pos, dQ/de_neg)`` per example."""
        return (self.q or self.q_function)(e_pos, e_neg, margin)


class HingeLoss(MarginLoss):
    """``[m + E(y_i) - E(y-bar)]+``: the correct answer must beat every other by m.

    Answers "does the correct answer win by a margin?". With a linear energy
    and L2 regularization this is the (multiclass / structured) SVM. Default
    ``margin=1``. Parameters as for :class:`MarginLoss` (without ``q``).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> HingeLoss()(fg, [1], parameters={"b": np.array([0.0, 0.5])}).value
    0.5
    """

    name = "hinge"
    default_margin = 1.0
    q_function = staticmethod(hinge_q)


class LogLoss(MarginLoss):
    """``log(1 + exp(m + E(y_i) - E(y-bar)))``: a smooth hinge.

    Answers "how strongly does the correct answer beat its best rival?",
    never quite zero. Default ``margin=0``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> round(LogLoss()(fg, [1], parameters={"b": np.array([0.0, 0.0])}).value, 4)
    0.6931
    """

    name = "log"
    default_margin = 0.0
    q_function = staticmethod(log_q)


class SimpleLoss(MarginLoss):
    """``[E(y_i)]+ + [m - E(y-bar)]+``: push the correct energy below 0, the rival above m.

    Answers "is the correct answer's energy low and its rival's high, in
    absolute terms?". Default ``margin=1``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> SimpleLoss()(fg, [1], parameters={"b": np.array([0.0, -0.5])}).value
    1.5
    """

    name = "simple"
    default_margin = 1.0
    q_function = staticmethod(simple_q)


class SquareSquareLoss(MarginLoss):
    """``([E(y_i)]+)^2 + ([m - E(y-bar)]+)^2``.

    Answers the same question as :class:`SimpleLoss` with quadratic
    penalties. Default ``margin=1``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> SquareSquareLoss()(fg, [1], parameters={"b": np.array([0.0, -0.5])}).value
    1.25
    """

    name = "square-square"
    default_margin = 1.0
    q_function = staticmethod(square_square_q)


class SquareExponentialLoss(MarginLoss):
    """``([E(y_i)]+)^2 + gamma exp(m - E(y-bar))``.

    Answers "is the correct energy near zero and the rival's energy large?";
    the rival's push fades exponentially. Default ``margin=0``, ``gamma=1``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> SquareExponentialLoss()(fg, [1], parameters={"b": np.array([0.0, 0.0])}).value
    1.0
    """

    name = "square-exponential"
    default_margin = 0.0
    q_function = staticmethod(square_exponential_q)

    def __init__(self, *, gamma=1.0, margin=None, offending="other", latent_beta=np.inf, method="auto",
                 infer_options=None):
        self.gamma = check_scalar(gamma, "gamma", float, low=0.0)
        super().__init__(margin=margin, offending=offending, latent_beta=latent_beta, method=method,
                         infer_options=infer_options)

    def Q(self, e_pos, e_neg, margin):
        return square_exponential_q(e_pos, e_neg, margin, self.gamma)


class MCELoss(MarginLoss):
    """``sigmoid(m + E(y_i) - E(y-bar))``: a smooth count of errors.

    Answers "how many examples are misclassified?" with a differentiable
    step (minimum classification error). Default ``margin=0``.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2); _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> MCELoss()(fg, [1], parameters={"b": np.array([0.0, 0.0])}).value
    0.5
    """

    name = "mce"
    default_margin = 0.0
    q_function = staticmethod(mce_q)
