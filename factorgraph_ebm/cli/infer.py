"""``fgebm infer``: answer the UAI tasks MAR, MPE and PR for a model file."""

import math
import sys
import warnings

import numpy as np

from ..exceptions import ConvergenceWarning, ZeroPartitionError
from ..inference.api import infer
from ..inference.result import EXACT_METHODS
from ..io.evidence import read_evidence
from ..io.results import format_result, write_result
from ._common import LOGGER, Timer, load_model, read_limits

__all__ = ["run_infer", "task_value", "result_bytes", "check_result_size"]

#: Bytes of one probability in a MAR result (15 significant digits, exponent, separator), an upper bound.
MAR_BYTES_PER_STATE = 25


def result_bytes(task, var_states):
    """Predicted size in bytes (an upper bound) of the result file of ``task`` for variables of ``var_states`` states.

    ``MAR``: :data:`MAR_BYTES_PER_STATE` per state plus each variable's count;
    ``MPE``: each variable's state; ``PR``: one number.

    Examples
    --------
    >>> result_bytes("MAR", np.array([2, 3])), result_bytes("MPE", np.array([2, 3])), result_bytes("PR", [])
    (161, 36, 32)
    """
    states = np.asarray(var_states, dtype=np.int64)
    header = 4 + len(str(len(states))) + 1 + 1 + 25
    if task == "PR":
        return 32
    if task == "MPE":
        digits = len(str(int(states.max()) - 1)) if len(states) else 1
        return header + (digits + 1) * len(states)
    digits = len(str(int(states.max()))) if len(states) else 1
    return header + (digits + 1) * len(states) + MAR_BYTES_PER_STATE * int(states.sum())


def check_result_size(task, fg, path, limits):
    """Raise :class:`~factorgraph_ebm.exceptions.ResourceLimitError` (path: the model) when the ``task`` result
    of ``fg`` would exceed the ``result_bytes`` limit; checked before inference runs."""
    limits.check("result_bytes", result_bytes(task, fg.var_states), path, None,
                 f"the {task} result of this model would take up to")


def task_value(task, result):
    """The answer to ``task`` held by an :class:`~factorgraph_ebm.InferenceResult`.

    ``MAR``: list of per-variable marginals (observed variables one-hot);
    ``MPE``: the MAP state of every variable; ``PR``: log10 of the partition
    function of the evidence-clamped model (the probability of the evidence for
    a Bayesian network).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, infer
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable(0, 2)
    >>> _ = fg.add_factor([0], -np.log([1.0, 9.0]))
    >>> res = infer(fg, beta=1.0)
    >>> [m.round(3).tolist() for m in task_value("MAR", res)], round(task_value("PR", res), 6)
    ([[0.1, 0.9]], 1.0)
    """
    if task == "MAR":
        return np.split(result.marginal_array, result.compiled.wiring.var_state_ptr[1:-1])
    if task == "MPE":
        return result.map_state
    return result.log_partition / math.log(10.0)


def _describe(result, method, seconds):
    if result.method == "loopy-bp":
        state = "converged" if result.converged else "did NOT converge"
        LOGGER.info("method %s (requested %s, schedule %s, damping %g): %s after %d iterations "
                    "(last message change %.3g); %.2f s", result.method, method, result.schedule, result.damping,
                    state, result.n_iter, result.delta, seconds)
        if not result.converged:
            LOGGER.warning("loopy BP did not converge in %d iterations (%s schedule, damping %g, last message "
                           "change %.3g): the answer is approximate; try --damping 0.8, another --schedule or a "
                           "larger --max-iters", result.n_iter, result.schedule, result.damping, result.delta)
    elif result.method in EXACT_METHODS:
        exact = "exact on this forest" if result.method == "tree-bp" else "exact"
        LOGGER.info("method %s (requested %s): %s; %.2f s", result.method, method, exact, seconds)
    else:
        state = "converged" if result.converged else "did NOT converge (the bounds still hold)"
        LOGGER.info("method %s (requested %s): %s after %d iterations (last change %.3g); %.2f s", result.method,
                    method, state, result.n_iter, result.delta, seconds)
    if getattr(result, "reason", None):
        LOGGER.info("why: %s", result.reason)
    _describe_bounds(result)


def _describe_bounds(result):
    """Log the proven bounds a result carries (``log10 Z`` at finite beta; the energy and gap at beta = inf)."""
    if result.method in EXACT_METHODS:
        return
    ln10 = math.log(10.0)
    if result.beta == np.inf:
        low = result.energy_lower_bound
        if low is not None:
            energy = result.map_energy
            rel = result.gap / max(1.0, abs(energy)) if np.isfinite(energy) else math.inf
            LOGGER.info("MPE energy %.10g >= minimum energy >= %.10g (proven lower bound); gap %.3g (%.3g relative)",
                        energy, low, result.gap, rel)
        return
    upper, lower = result.log_partition_bound, result.log_partition_lower_bound
    if upper is not None:
        LOGGER.info("log10 Z <= %.10g (proven upper bound, %s)", upper / ln10, result.method)
    if lower is not None:
        LOGGER.info("log10 Z >= %.10g (proven lower bound, %s)", lower / ln10, result.method)


def _solve(fg, evidence, args):
    beta = np.inf if args.task == "MPE" else (1.0 if args.beta is None else args.beta)
    options = {"method": args.method, "beta": beta}
    if getattr(args, "schedule", None) is not None:
        options["schedule"] = args.schedule
    if args.damping is not None:
        options["damping"] = args.damping
    if args.max_iters is not None:
        options["max_iter"] = args.max_iters
    if args.memory_budget is not None:
        options["memory_budget"] = args.memory_budget
    LOGGER.info("running %s (method %s, beta %s) ...", args.task, args.method, beta)
    timer = Timer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported by _describe
        try:
            result = infer(fg, evidence, **options)
        except ZeroPartitionError as exc:
            if args.task != "PR":
                raise
            LOGGER.warning("%s: PR is log10(0) = -inf", exc)
            return -math.inf
    _describe(result, args.method, timer.seconds)
    value = task_value(args.task, result)
    if args.task == "MPE":
        energy = result.map_energy
        if energy == np.inf:
            LOGGER.warning("the MPE assignment found has zero probability (it violates a zero potential)")
        else:
            LOGGER.info("MPE energy %.6g (log10 of its unnormalised probability: %.6g)", energy, -energy / math.log(10))
    return value


def run_infer(args):
    """Run ``fgebm infer`` with parsed arguments; returns the exit code."""
    limits = read_limits(args)
    fg = load_model(args.model, limits)
    check_result_size(args.task, fg, args.model, limits)
    evidence = None
    if args.evidence:
        evidence = read_evidence(args.evidence, fg, limits=limits)
        LOGGER.info("evidence %s: %d observed variables", args.evidence, int((evidence >= 0).sum()))
    value = _solve(fg, evidence, args)
    if args.out:
        write_result(args.out, args.task, value)
        LOGGER.info("wrote %s to %s", args.task, args.out)
    else:
        sys.stdout.write(format_result(args.task, value))
        sys.stdout.flush()
    return 0
