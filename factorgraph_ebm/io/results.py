"""UAI result files: the answers to the ``MAR``, ``MPE`` and ``PR`` tasks.

The first line names the task; the next holds the answer::

    MAR                               marginals of every variable:
    3 2 0.1 0.9 2 0.3 0.7 3 0.2 0.2 0.6   n, then per variable its states and probabilities
    MPE                               most probable explanation:
    3 0 1 0                           n, then the state of every variable
    PR                                log10 of the partition function
    -0.2008                           (of the probability of the evidence, with evidence)

A file may hold several answers, each after a ``-BEGIN-`` line; the last one counts.
"""

import numpy as np

from ..exceptions import DeclarationTypeError, FactorGraphError
from ..utils.validation import as_float_array, check_scalar
from ._tokens import Tokens, format_numbers, write_lines
from .limits import resolve_limits

__all__ = ["TASKS", "format_result", "write_result", "read_result"]

#: Tasks of the UAI result format.
TASKS = ("MAR", "MPE", "PR")


def format_result(task, value):
    """The text of a result file.

    Parameters
    ----------
    task : {"MAR", "MPE", "PR"}
    value
        ``MAR``: a sequence of 1-D probability arrays (one per variable);
        ``MPE``: the int state of every variable; ``PR``: log10 Z (a float,
        ``-inf`` when Z = 0).

    Examples
    --------
    >>> print(format_result("MAR", [np.array([0.25, 0.75]), np.array([1.0, 0.0, 0.0])]), end="")
    MAR
    2 2 0.25 0.75 3 1 0 0
    >>> print(format_result("PR", -0.5), end="")
    PR
    -0.5
    """
    if task == "MAR":
        if isinstance(value, (str, dict)) or not hasattr(value, "__iter__"):
            raise DeclarationTypeError(f"MAR value must be a sequence of probability arrays (one per variable), "
                                       f"got {type(value).__name__}")
        value = list(value)
        parts = [str(len(value))]
        for v, probs in enumerate(value):
            probs = as_float_array(probs, f"MAR probabilities of variable {v}", copy=False).ravel()
            parts.append(f"{len(probs)} {format_numbers(probs)}")
        line = " ".join(parts)
    elif task == "MPE":
        try:
            states = None if isinstance(value, str) else np.asarray(value)
        except (TypeError, ValueError):
            states = None
        if states is None or states.ndim != 1 or (states.size and not np.issubdtype(states.dtype, np.integer)):
            got = type(value).__name__ if states is None else f"{states.dtype} array of shape {states.shape}"
            raise DeclarationTypeError(f"MPE value must be a 1-D int array (the state of every variable), got {got}")
        line = " ".join(map(str, [len(states), *states.astype(np.int64).tolist()]))
    elif task == "PR":
        line = format_numbers([check_scalar(value, "PR value (log10 Z)", float)])
    else:
        raise FactorGraphError(f"task must be one of {TASKS}, got {task!r}")
    return f"{task}\n{line}\n"


def write_result(target, task, value):
    """Write :func:`format_result` to a path or text stream."""
    write_lines(target, format_result(task, value).splitlines())


def _read_answer(toks, task, limits):
    if task == "PR":
        return float(toks.floats(1, "log10 partition function", nonnegative=False, allow_neg_inf=True)[0])
    n_vars = toks.count("number of variables")
    if n_vars > toks.remaining:  # each variable has at least its state or its number of states
        toks.ints(n_vars, "MPE state" if task == "MPE" else "numbers of states")  # raises: the file ends first
    toks.check_limit(limits, "variables", n_vars, f"the {task} answer has")
    if task == "MPE":
        return np.array(toks.ints(n_vars, "MPE state"), dtype=np.int64)
    marginals = []
    total = 0
    for v in range(n_vars):
        k = toks.count(f"number of states of variable {v}")
        toks.check_limit(limits, "states", k, f"variable {v} has")
        total += k
        toks.check_limit(limits, "total_states", total, f"the variables up to {v} have")
        marginals.append(toks.floats(k, f"probability of variable {v}"))
    return marginals


def read_result(source, *, limits=None):
    """Read a UAI result file; returns ``(task, value)`` as :func:`format_result` takes them.

    ``limits`` (a :class:`~factorgraph_ebm.io.ReadLimits` or a mapping; default
    its defaults) bounds the counts of the file (``variables``, ``states``,
    ``total_states``); over them :class:`~factorgraph_ebm.exceptions.ResourceLimitError`.

    Examples
    --------
    >>> import io
    >>> read_result(io.StringIO("MPE\\n3 0 1 0\\n"))
    ('MPE', array([0, 1, 0]))
    >>> read_result(io.StringIO("PR\\n-1.5\\n-BEGIN-\\n-0.25\\n"))
    ('PR', -0.25)
    """
    limits = resolve_limits(limits)
    toks = Tokens(source, limits=limits)
    task = toks.word("task (MAR, MPE or PR)")
    if task not in TASKS:
        raise toks.error(f"task must be one of {TASKS}, got {task!r}", toks.pos - 1)
    value = _read_answer(toks, task, limits)
    while toks.remaining and toks.words[toks.pos] == "-BEGIN-":
        toks.pos += 1
        value = _read_answer(toks, task, limits)
    toks.expect_end(f"the {task} answer")
    return task, value
