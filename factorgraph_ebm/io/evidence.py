"""UAI evidence files (``.evid``): observed states of some variables.

Two layouts exist (whitespace-separated integers; ``c`` or ``#`` lines are comments):

* **single** (current UAI competitions): the number of observed variables, then
  ``variable state`` pairs::

      2  1 0  2 1

* **samples** (older competitions): the number of evidence samples, then per
  sample the number of observed variables and its pairs::

      1
      2  1 0  2 1

Variables are flat ids of the model (the variable indices of a ``.uai`` file,
the label ranks of a ``.fg`` file); states are 0-based.
"""

import numpy as np

from ..exceptions import EvidenceError, ParseError
from ..utils.validation import check_scalar
from ._model import check_graph
from ._tokens import Tokens, write_lines
from .limits import resolve_limits

__all__ = ["read_evidence", "write_evidence", "LAYOUTS"]

#: Accepted values of ``layout``; ``auto`` (reading only) tells them apart by their token count.
LAYOUTS = ("auto", "single", "samples")


def _read_sample(toks, label, limits):
    n_obs = toks.count(f"number of observed variables{label}")
    toks.skip(2 * n_obs, f"variable and state pairs{label}")  # raises when the file ends first
    toks.pos -= 2 * n_obs
    toks.check_limit(limits, "variables", n_obs, f"evidence{label} observes")
    return toks.pairs(n_obs, f"variable and state pairs{label}", f"observed variable{label}", f"observed state{label}")


def _check_sample(toks, sample, var_states, label, build):
    """Check one sample; its evidence array when ``build`` (only the requested sample is built)."""
    start, variables, values = sample
    n_vars = len(var_states)
    if (variables >= n_vars).any():
        k = int(np.argmax(variables >= n_vars))
        raise toks.error(f"evidence{label} names variable {variables[k]}, but the model has {n_vars} variables", start + 2 * k)
    over = values >= var_states[variables]
    if over.any():
        k = int(np.argmax(over))
        v = int(variables[k])
        raise toks.error(
            f"evidence{label}: state {values[k]} of variable {v} out of range [0, {var_states[v]})", start + 2 * k + 1
        )
    # the first pair whose state differs from the first state given to its variable
    order = np.argsort(variables, kind="stable")
    sorted_vars = variables[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = sorted_vars[1:] != sorted_vars[:-1]
    first_state = values[order][np.maximum.accumulate(np.where(head, np.arange(len(order)), 0))]
    clash = np.flatnonzero(values[order] != first_state)
    if len(clash):
        j = int(clash[np.argmin(order[clash])])
        k = int(order[j])
        raise toks.error(f"evidence{label} gives variable {variables[k]} two states ({first_state[j]} and {values[k]})",
                         start + 2 * k)
    if not build:
        return None
    clamped = np.full(n_vars, -1, dtype=np.int64)
    clamped[variables] = values
    return clamped


def read_evidence(source, graph, *, layout="auto", sample=0, limits=None):
    """Read a UAI evidence file for ``graph``.

    Parameters
    ----------
    source : path-like or text stream
    graph : FactorGraph
        The model the evidence refers to (checks variables and states).
    layout : {"auto", "single", "samples"}
        ``auto`` reads a file whose token count fits ``single`` as ``single``,
        anything else as ``samples``. An empty file means no evidence.
    sample : int
        Which sample of a ``samples`` file to return.
    limits : ReadLimits or mapping, optional
        Bounds the counts of the file (limit ``variables``; default
        :class:`~factorgraph_ebm.io.ReadLimits` defaults).

    Returns
    -------
    ndarray of int64, shape (graph.n_vars,)
        The observed state of every variable, -1 where not observed; pass it as
        ``infer(graph, evidence=...)``.

    Raises
    ------
    ParseError
        Malformed file, a variable or state out of range, or a variable given
        two states; the message names the file and the line.

    Examples
    --------
    >>> import io
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> for name in range(3): _ = fg.add_variable(name, 2)
    >>> read_evidence(io.StringIO("2 1 0 2 1"), fg)
    array([-1,  0,  1])
    >>> read_evidence(io.StringIO("1\\n2 1 0 2 1\\n"), fg)
    array([-1,  0,  1])
    >>> read_evidence(io.StringIO("1 2 5"), fg)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: <stream>, line 1: evidence: state 5 of variable 2 out of range [0, 2)
    """
    if layout not in LAYOUTS:
        raise EvidenceError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    check_graph(graph, "read_evidence")
    sample = check_scalar(sample, "sample", int, low=0)
    limits = resolve_limits(limits)
    toks = Tokens(source, comments="c#", limits=limits)
    if not toks.words:
        return np.full(graph.n_vars, -1, dtype=np.int64)
    if layout == "auto":
        head = toks.count("number of observed variables or of samples")
        layout = "single" if toks.remaining == 2 * head else "samples"
        toks.pos = 0
    if layout == "single":
        samples = [_read_sample(toks, "", limits)]
    else:
        n_samples = toks.count("number of evidence samples")
        toks.skip(n_samples, "numbers of observed variables of the samples")  # raises when the file ends first
        toks.pos -= n_samples
        samples = [_read_sample(toks, f" of sample {i}", limits) for i in range(n_samples)]
    toks.expect_end("the evidence")
    var_states = graph.var_states
    labels = [""] if layout == "single" else [f" (sample {i})" for i in range(len(samples))]
    for s, lab in zip(samples, labels):
        _check_sample(toks, s, var_states, lab, False)
    if not 0 <= sample < len(samples):
        raise ParseError(toks.path, None, f"sample {sample} requested, but the file holds {len(samples)} samples")
    return _check_sample(toks, samples[sample], var_states, labels[sample], True)


def write_evidence(target, evidence, *, layout="single"):
    """Write evidence (-1 = not observed) as a UAI ``.evid`` file.

    Parameters
    ----------
    target : path-like or text stream
    evidence : array_like of int, shape (n_vars,) or (n_samples, n_vars)
        Observed states, -1 where free; several rows need ``layout="samples"``.
    layout : {"single", "samples"}

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> write_evidence(out, [-1, 0, 1])
    >>> out.getvalue()
    '2 1 0 2 1\\n'
    >>> out = io.StringIO()
    >>> write_evidence(out, [[-1, 0, 1], [1, -1, -1]], layout="samples")
    >>> print(out.getvalue(), end="")
    2
    2 1 0 2 1
    1 0 1
    """
    if layout not in LAYOUTS[1:]:
        raise EvidenceError(f"layout must be 'single' or 'samples', got {layout!r}")
    expected = "evidence must be an int array of shape (n_vars,) or (n_samples, n_vars) (-1 = not observed)"
    try:
        rows = np.asarray(evidence)
    except (TypeError, ValueError):
        raise EvidenceError(f"{expected}, got a ragged {type(evidence).__name__} (rows of different lengths)") from None
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise EvidenceError(f"{expected}, got {rows.dtype} array of shape {np.shape(evidence)}")
    if (rows < -1).any():
        raise EvidenceError(f"evidence states must be >= -1 (-1 = not observed), got {rows.min()}")
    if layout == "single" and len(rows) != 1:
        raise EvidenceError(f"layout 'single' holds one sample, got {len(rows)}; use layout='samples'")
    lines = [] if layout == "single" else [str(len(rows))]
    for row in rows:
        obs = np.flatnonzero(row >= 0)
        pairs = np.stack([obs, row[obs]], axis=1).ravel()
        lines.append(" ".join(map(str, [len(obs), *pairs.tolist()])))
    write_lines(target, lines)
