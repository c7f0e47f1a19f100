"""The options of inference, checked in one place whatever method runs.

:func:`check_options` is called at the top of :func:`~factorgraph_ebm.infer`,
:func:`~factorgraph_ebm.free_energy` and
:func:`~factorgraph_ebm.inference.bp.belief_propagation`, and by every loss for
its ``method`` and ``infer_options``, before anything is compiled. So an option
out of range is refused the same way on a tree, a small loopy graph (where
``method="auto"`` runs the junction tree) and a large one (where it runs loopy
BP), and ``method="exact"`` refuses a ``max_iter=0`` or ``damping=5`` it would
not use rather than ignore the mistake.

Every bad option raises :class:`~factorgraph_ebm.InferenceError` naming the
option, the accepted values and the value received (the CLI maps it to the
"bad arguments" exit status).
"""

import math
import numbers
from typing import NamedTuple

from ..exceptions import InferenceError
from ..utils.validation import check_beta, parse_bytes

__all__ = ["InferenceOptions", "check_options", "check_damping", "METHODS", "SCHEDULES", "LOOPY_SCHEDULES"]

#: Values of ``method``.
METHODS = ("auto", "bp", "exact", "enumerate", "mean-field", "trw", "trws")
#: Methods that answer at one kind of beta only: method -> (needs beta = inf, what to use otherwise).
_BETA_OF_METHOD = {"mean-field": (False, "method='bp', 'trws' or 'exact' for a MAP answer"),
                   "trws": (True, "method='trw' (the same method at any beta) for a bound on log Z")}
#: Methods that run their own sequential schedule (``schedule`` must stay "auto").
_OWN_SCHEDULE = ("mean-field", "trw", "trws")
#: Values of ``schedule``.
SCHEDULES = ("auto", "tree", "flood", "sequential", "random", "residual")
#: The schedules of loopy BP (every schedule but ``tree`` and ``auto``).
LOOPY_SCHEDULES = ("flood", "sequential", "random", "residual")


class InferenceOptions(NamedTuple):
    """Validated inference options (as returned by :func:`check_options`)."""

    method: str
    beta: float
    schedule: str
    damping: object      # "auto" or float in [0, 1)
    tol: float
    max_iter: int
    memory_budget: object    # None (the default budget) or float bytes > 0


def _number(value, name, kind, accepted):
    """``value`` as ``kind`` (int or float), or an InferenceError naming ``name`` and the ``accepted`` values."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InferenceError(f"{name} must be {accepted}, got {value!r} ({type(value).__name__})")
    if kind is int:
        if not math.isfinite(value) or value != int(value):
            raise InferenceError(f"{name} must be an integer ({accepted}), got {value!r}")
        return int(value)
    value = float(value)
    if math.isnan(value):
        raise InferenceError(f"{name} must be {accepted}, got nan")
    return value


def check_damping(damping):
    """``"auto"`` or a float in [0, 1); else :class:`~factorgraph_ebm.InferenceError`.

    Examples
    --------
    >>> check_damping("auto"), check_damping(0.5)
    ('auto', 0.5)
    >>> check_damping(1.0)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.InferenceError: damping must be < 1.0, got 1.0 (a number in [0, 1) or 'auto')
    """
    accepted = "a number in [0, 1) or 'auto'"
    if isinstance(damping, str):
        if damping != "auto":
            raise InferenceError(f"damping must be {accepted}, got {damping!r}")
        return damping
    value = _number(damping, "damping", float, accepted)
    if value < 0.0:
        raise InferenceError(f"damping must be >= 0.0, got {value!r} ({accepted})")
    if value >= 1.0:
        raise InferenceError(f"damping must be < 1.0, got {value!r} ({accepted})")
    return value


def check_options(method="auto", beta=1.0, schedule="auto", damping="auto", tol=1e-9, max_iter=1000,
                  memory_budget=None):
    """Check every inference option, whichever method will run; return them as :class:`InferenceOptions`.

    Options the chosen method does not use (the BP options of
    ``method="exact"``, the memory budget of ``method="bp"``) are checked for
    type and range all the same, so a value that is wrong is refused whatever
    graph ``method="auto"`` meets.

    Parameters
    ----------
    method : one of :data:`METHODS`
        ``"mean-field"`` needs a finite beta, ``"trws"`` beta = inf.
    beta : float > 0 or np.inf
    schedule : one of :data:`SCHEDULES`
    damping : "auto" or float in [0, 1)
    tol : float >= 0
    max_iter : int >= 1
    memory_budget : None, float > 0 or text such as "2G"

    Raises
    ------
    InferenceError
        Naming the option, the accepted values and the value received.

    Examples
    --------
    >>> check_options(method="bp", damping=0.5).damping
    0.5
    >>> check_options(method="auto", max_iter=0)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.InferenceError: max_iter must be >= 1, got 0
    >>> check_options(method="exact", damping=5)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.InferenceError: damping must be < 1.0, got 5.0 (a number in [0, 1) or 'auto')
    """
    if not isinstance(method, str) or method not in METHODS:
        raise InferenceError(f"method must be one of {METHODS}, got {method!r}")
    beta = check_beta(beta)
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise InferenceError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if method in _OWN_SCHEDULE and schedule != "auto":
        raise InferenceError(f"schedule={schedule!r} is an option of method='bp'; method={method!r} runs its own "
                             "sequential schedule (leave schedule='auto')")
    damping = check_damping(damping)
    tol = _number(tol, "tol", float, "a number >= 0")
    if tol < 0.0:
        raise InferenceError(f"tol must be >= 0, got {tol!r}")
    max_iter = _number(max_iter, "max_iter", int, "an integer >= 1")
    if max_iter < 1:
        raise InferenceError(f"max_iter must be >= 1, got {max_iter!r}")
    if memory_budget is not None:
        if isinstance(memory_budget, bool) or not isinstance(memory_budget, (numbers.Real, str)):
            raise InferenceError(f"memory_budget must be a number of bytes or a text such as '2G', "
                                 f"got {memory_budget!r} ({type(memory_budget).__name__})")
        memory_budget = parse_bytes(memory_budget, "memory_budget", InferenceError)
    if method in _BETA_OF_METHOD:     # last: a value out of range is named first, whatever the method
        needs_inf, other = _BETA_OF_METHOD[method]
        if needs_inf != (beta == math.inf):
            kind = "beta = inf (MAP)" if needs_inf else "a finite beta"
            raise InferenceError(f"method={method!r} needs {kind}, got beta={beta!r}; use {other}")
    return InferenceOptions(method, beta, schedule, damping, tol, max_iter, memory_budget)
