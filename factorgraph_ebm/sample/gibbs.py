"""Single-site Gibbs sampling on any factor graph: :func:`gibbs_sample` and the low-level :func:`run_chains`.

Kernels: :mod:`factorgraph_ebm.kernels.gibbs`. Wiring (colouring, neighbour
lists): :mod:`.colouring`, built once per structure and cached.
"""

import math
import numbers

import numpy as np

from ..compile.compiled import CompiledGraph
from ..compile.lower import compile_graph, resolve_evidence
from ..exceptions import EvidenceError, SamplingError
from ..graph.factor_graph import FactorGraph
from ..utils.lazy import lazy_module
from .colouring import field, sweep_values
from .samples import Samples

_k = lazy_module("factorgraph_ebm.kernels.gibbs")
_jit = lazy_module("factorgraph_ebm.kernels._jit")

__all__ = ["gibbs_sample", "run_chains", "SCHEDULES", "check_seed", "random_states"]

#: Values of ``schedule``.
SCHEDULES = ("auto", "chromatic", "sequential")
#: Largest seed (seeds are non-negative int64).
MAX_SEED = 2**63 - 1


def check_beta_finite(beta):
    """``beta`` as a finite float > 0, else :class:`SamplingError` (MAP is ``infer(beta=inf)``)."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise SamplingError(f"beta must be a finite number > 0, got {beta!r} ({type(beta).__name__})")
    beta = float(beta)
    if math.isnan(beta) or beta <= 0 or math.isinf(beta):
        hint = "; sampling at beta = inf is MAP: use infer(graph, beta=np.inf)" if beta == math.inf else ""
        raise SamplingError(f"beta must be a finite number > 0, got {beta!r}{hint} (use infer(beta=inf) for MAP)")
    return beta


def check_count(value, name, low):
    """``value`` as an int, refused with SamplingError unless it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SamplingError(f"{name} must be an int >= {low}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise SamplingError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_seed(seed):
    """A seed in ``[0, 2^63)``: an int as is, None -> a fresh one from the OS, a Generator -> one drawn from it.

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.SamplingError: seed must be None, a numpy Generator or an int in [0, 2^63), got -1
    """
    if seed is None:
        return int(np.random.default_rng().integers(MAX_SEED))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(MAX_SEED))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED:
        return int(seed)
    raise SamplingError(f"seed must be None, a numpy Generator or an int in [0, 2^63), got {seed!r}")


def _schedule(schedule):
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise SamplingError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    return "chromatic" if schedule == "auto" else schedule


def _dead_factor(compiled):
    """First factor whose scope is all clamped and whose entry is +inf (the evidence has probability 0), or None."""
    w = compiled.wiring
    clamped = compiled.clamped
    if not (clamped >= 0).any():
        return None
    hit = compiled.cache.get("gibbs_dead")
    if hit is not None and hit[0] is clamped and hit[1] is w.tables:
        return hit[2]
    dead = _find_dead(compiled)
    compiled.cache["gibbs_dead"] = (clamped, w.tables, dead)
    return dead


def _find_dead(compiled):
    w = compiled.wiring
    clamped = compiled.clamped
    free_edges = np.add.reduceat((clamped[w.edge_var] < 0).astype(np.int64), w.factor_edge_ptr[:-1]) \
        if compiled.n_factors else np.zeros(0, dtype=np.int64)
    dead = np.flatnonzero(free_edges == 0)
    if not len(dead):
        return None
    e = compiled.factor_energies(np.maximum(clamped, 0))[dead]
    bad = dead[np.isinf(e)]
    return int(bad[0]) if len(bad) else None


def _factor_name(compiled, f):
    for g, spec, first, _ in compiled.spec_slots:
        if first <= f < first + spec.n_factors:
            name = spec.name if not spec.is_group else f"{spec.name}[{f - first}]"
            return name if compiled.n_graphs == 1 else (g, name)
    return f


def run_chains(compiled, states, *, beta, n_sweeps, seed, first_sweep=0, chain_ids=None, record_every=0,
               schedule="chromatic"):
    """Run ``n_sweeps`` Gibbs sweeps of every chain in ``states``, in place.

    Parameters
    ----------
    compiled : CompiledGraph
        The graph, its tables and its evidence: clamped variables
        (``compiled.clamped >= 0``) never change (they keep the states they
        hold in ``states``).
    states : ndarray (n_chains, n_vars) int32, C-contiguous, writable
        One state per chain, updated in place.
    beta : float
        Inverse temperature, finite and > 0.
    n_sweeps : int >= 0
    seed : int in [0, 2^63)
    first_sweep : int >= 0
        Index of the first sweep: chain ``c`` draws its uniforms from
        ``(seed, chain_ids[c], first_sweep + t)``, so continuing a chain with
        ``first_sweep`` = the sweeps it ran gives the same chain as one long run.
    chain_ids : array of int (n_chains,), optional
        RNG identity of each chain (default ``0 .. n_chains - 1``).
    record_every : int >= 0
        ``r > 0``: return the states after sweeps ``r, 2r, ...``,
        ``(n_chains, n_sweeps // r, n_vars)`` int32.
    schedule : {"chromatic", "sequential", "auto"}
        ``chromatic``: colour classes of a greedy colouring in turn, each in
        parallel over (chain, site) pairs; ``sequential``: variables in order,
        chains in parallel. Both use the same draw per (chain, sweep, variable).

    Returns
    -------
    None, or the recorded states when ``record_every > 0``.

    Raises
    ------
    SamplingError
        Bad arguments; a chain still in a state of zero probability after the
        sweeps because some variable's conditional has no allowed state (the
        message names the chain and the variable; ``states`` is then left as
        it was); evidence of probability zero.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variables("x", shape=4, states=2)
    >>> _ = fg.add_factor_group([[0, 1], [1, 2], [2, 3]], [[0.0, np.inf], [np.inf, 0.0]])   # all equal
    >>> cg = compile_graph(fg, evidence={"x": [1, -1, -1, -1]})
    >>> states = np.zeros((2, 4), dtype=np.int32); states[:, 0] = 1
    >>> run_chains(cg, states, beta=1.0, n_sweeps=50, seed=0)     # from a state of +inf energy
    >>> states.tolist()
    [[1, 1, 1, 1], [1, 1, 1, 1]]
    """
    if not isinstance(compiled, CompiledGraph):
        raise SamplingError(f"run_chains expects a CompiledGraph, got {type(compiled).__name__}")
    beta = check_beta_finite(beta)
    n_sweeps = check_count(n_sweeps, "n_sweeps", 0)
    first_sweep = check_count(first_sweep, "first_sweep", 0)
    record_every = check_count(record_every, "record_every", 0)
    seed = check_seed(seed)
    schedule = _schedule(schedule)
    n_vars = compiled.n_vars
    if (not isinstance(states, np.ndarray) or states.dtype != np.int32 or states.ndim != 2
            or states.shape[1] != n_vars or not states.flags.c_contiguous or not states.flags.writeable):
        got = (f"{states.dtype} array of shape {states.shape}" if isinstance(states, np.ndarray)
               else type(states).__name__)
        raise SamplingError(f"states must be a writable C-contiguous int32 array of shape (n_chains, {n_vars}), "
                            f"got {got}")
    n_chains = states.shape[0]
    if chain_ids is None:
        chain_ids = np.arange(n_chains, dtype=np.int64)
    else:
        chain_ids = np.ascontiguousarray(chain_ids)
        if chain_ids.shape != (n_chains,) or not np.issubdtype(chain_ids.dtype, np.integer) or (chain_ids < 0).any():
            raise SamplingError(f"chain_ids must be {n_chains} non-negative ints, got {chain_ids!r}")
        chain_ids = chain_ids.astype(np.int64)
    out = np.zeros((n_chains, n_sweeps // record_every if record_every else 0, n_vars), dtype=np.int32)
    if n_sweeps == 0 or n_chains == 0:
        return out if record_every else None
    w = compiled.wiring
    bad = (states < 0) | (states >= w.var_states)
    if bad.any():
        c, v = np.argwhere(bad)[0]
        raise SamplingError(f"chain {c}: state {states[c, v]} of variable {compiled.var_name(int(v))!r} out of range "
                            f"[0, {w.var_states[v]})")
    dead = _dead_factor(compiled)
    if dead is not None:
        raise SamplingError(f"the evidence has probability zero: factor {_factor_name(compiled, dead)!r} "
                            "has +inf energy at the clamped states of its scope")
    plan, class_ptr, kmax, tables, sfield, d, delta, mode = sweep_values(compiled, schedule)
    backup = states.copy()
    n_sites = len(plan.sites)
    if schedule == "chromatic":
        entries = n_chains * n_sites
        with _jit.threads_for(entries):
            n_chunks = max(1, min(entries, 16 * _jit.num_threads()))
            stuck = _k._chromatic(class_ptr, chain_ids, seed, first_sweep, n_sweeps, record_every, plan, tables,
                                  sfield, d, delta, mode, beta, states, n_chunks, kmax, out)
    else:
        with _jit.threads_for(n_chains * n_sites if n_chains > 1 else 0):
            stuck = _k._sequential(chain_ids, seed, first_sweep, n_sweeps, record_every, plan, tables, sfield, d,
                                   delta, mode, beta, states, kmax, out)
    if stuck:
        _diagnose(compiled, plan, tables, sfield, kmax, states, backup, n_sweeps)
    return out if record_every else None


def _diagnose(compiled, plan, tables, sfield, kmax, states, backup, n_sweeps):
    """Raise SamplingError for the first chain left with +inf energy (states restored), else return."""
    w = compiled.wiring
    fld = field(compiled)
    free = compiled.clamped < 0
    for c, s in enumerate(states):
        if np.isfinite(compiled.factor_energies(s.astype(np.int64)).sum() + fld[w.var_state_ptr[:-1] + s][free].sum()):
            continue
        v = int(_k._no_allowed_state(plan, tables, sfield, states, c, kmax))
        states[...] = backup
        what = (f"variable {compiled.var_name(v)!r} has no allowed state given the others"
                if v >= 0 else "its state has +inf energy")
        raise SamplingError(f"chain {c} is stuck in a state of probability zero after {n_sweeps} sweeps: {what} "
                            "(every state of its conditional has +inf energy); run more sweeps or start the chain "
                            "elsewhere (init=)")


def random_states(compiled, n_chains, seed):
    """(n_chains, n_vars) int32 states: free variables uniform over their allowed states, clamped ones at evidence.

    A state is allowed when the evidence and the one-variable factors give it
    finite energy. Drawn from ``numpy.random.default_rng([seed, 1])``.

    Raises
    ------
    SamplingError
        A variable has no allowed state.
    """
    w = compiled.wiring
    allowed = np.isfinite(field(compiled))
    counts = np.add.reduceat(allowed.astype(np.int64), w.var_state_ptr[:-1]) if compiled.n_vars else allowed
    if (counts == 0).any():
        v = int(np.flatnonzero(counts == 0)[0])
        raise SamplingError(f"variable {compiled.var_name(v)!r} has no allowed state: the evidence and its "
                            "one-variable factors give every state +inf energy")
    idx = np.flatnonzero(allowed)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng([seed, 1])
    r = np.minimum((rng.random((n_chains, compiled.n_vars)) * counts).astype(np.int64), counts - 1)
    out = (idx[first + r] - w.var_state_ptr[:-1]).astype(np.int32)
    on = compiled.clamped >= 0
    out[:, on] = compiled.clamped[on]
    return np.ascontiguousarray(out)


def _init_states(compiled, init, n_chains, seed):
    n_vars = compiled.n_vars
    if isinstance(init, str):
        if init != "random":
            raise SamplingError(f"init must be 'random', an int array (n_chains, n_vars) or a dict name -> state, "
                                f"got {init!r}")
        return random_states(compiled, n_chains, seed)
    states = random_states(compiled, n_chains, seed)
    if isinstance(init, dict):
        if compiled.n_graphs != 1:
            raise SamplingError("a dict init needs a single graph; pass an int array (n_chains, n_vars)")
        try:
            given = resolve_evidence(compiled.graphs[0], init)
        except EvidenceError as exc:
            raise SamplingError(f"init: {exc}") from None
        on = given >= 0
        states[:, on] = given[on]
    else:
        arr = np.asarray(init) if not isinstance(init, (bytes,)) else None
        if arr is None or arr.dtype == object or not np.issubdtype(arr.dtype, np.integer) or (
                arr.shape not in ((n_vars,), (n_chains, n_vars))):
            got = (f"{arr.dtype} array of shape {arr.shape}" if isinstance(arr, np.ndarray) and arr.dtype != object
                   else type(init).__name__)
            raise SamplingError(f"init must be 'random', an int array of shape ({n_chains}, {n_vars}) or ({n_vars},), "
                                f"or a dict name -> state, got {got}")
        bad = (arr < 0) | (arr >= compiled.wiring.var_states)
        if bad.any():
            where = np.argwhere(bad)[0]
            v = int(where[-1])
            chain = f"chain {where[0]}, " if arr.ndim == 2 else ""
            raise SamplingError(f"init: {chain}variable {compiled.var_name(v)!r} state {int(arr[tuple(where)])} out "
                                f"of range [0, {compiled.wiring.var_states[v]})")
        states[...] = arr
    on = compiled.clamped >= 0
    states[:, on] = compiled.clamped[on]
    return states


def _progress(progress, total):
    """A callable(done) for ``progress`` (None / False: nothing; True: a tqdm bar; callable(done, total))."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="gibbs", unit="sweep")
        state = {"done": 0}

        def update(done):
            bar.update(done - state["done"])
            state["done"] = done
        return update, bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), None
    raise SamplingError(f"progress must be None, a bool or a callable(done, total), got {progress!r}")


def gibbs_sample(graph, evidence=None, *, beta=1.0, n_chains=4, n_draws=1000, burn_in=100, thin=1,
                 schedule="auto", init="random", seed=None, parameters=None, progress=None):
    """Draw samples from ``P(x) ∝ exp(-beta E(x))`` given evidence, by single-site Gibbs sampling.

    Parameters
    ----------
    graph : FactorGraph, sequence of FactorGraph (a batch) or CompiledGraph
    evidence : dict or array, optional
        Clamped states (see ``resolve_evidence``); clamped variables keep them.
    beta : float
        Inverse temperature, finite and > 0 (for MAP use ``infer(beta=np.inf)``).
    n_chains : int >= 1
        Independent chains (run in parallel).
    n_draws : int >= 1
        Draws kept per chain.
    burn_in : int >= 0
        Sweeps run and discarded before the first draw.
    thin : int >= 1
        Sweeps between kept draws.
    schedule : {"auto", "chromatic", "sequential"}
        ``chromatic`` (= ``auto``): colour classes of a greedy colouring in
        turn, each updated in parallel; ``sequential``: variables in order.
    init : "random", int array (n_chains, n_vars) or (n_vars,), or dict name -> state
        Start of the chains: ``random`` is uniform over each variable's
        allowed states; a dict sets some variables (the rest random).
        Clamped variables always start at their evidence. A start of zero
        probability is allowed: the chains move out of it.
    seed : int in [0, 2^63), numpy Generator or None
        Same seed, same samples, whatever the thread count.
    parameters : mapping, optional
        Parameters of parameterized energies (with a FactorGraph).
    progress : None, bool or callable(done, total)
        Report sweeps done.

    Returns
    -------
    Samples
        ``n_sweeps = burn_in + n_draws * thin``.

    Raises
    ------
    SamplingError
        A bad argument, or a chain that cannot leave a state of zero
        probability.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, gibbs_sample
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    >>> s = gibbs_sample(fg, {"a": 1}, n_draws=2000, seed=0)
    >>> np.round(s.marginal("b"), 1)       # exact: [0.27, 0.73]
    array([0.3, 0.7])
    """
    beta = check_beta_finite(beta)
    n_chains = check_count(n_chains, "n_chains", 1)
    n_draws = check_count(n_draws, "n_draws", 1)
    burn_in = check_count(burn_in, "burn_in", 0)
    thin = check_count(thin, "thin", 1)
    method = "gibbs-" + _schedule(schedule)
    seed = check_seed(seed)
    if isinstance(graph, CompiledGraph):
        if parameters is not None:
            raise SamplingError("parameters apply at compile time; use with_parameters(compiled, parameters)")
        if evidence is not None:
            from ..compile.lower import with_evidence

            graph = with_evidence(graph, evidence)
        compiled = graph
    elif isinstance(graph, FactorGraph) or isinstance(graph, (list, tuple)):
        compiled = compile_graph(graph, evidence=evidence, parameters=parameters)
    else:
        raise SamplingError(f"gibbs_sample expects a FactorGraph or a CompiledGraph, got {type(graph).__name__}")
    states = _init_states(compiled, init, n_chains, seed)
    total = burn_in + n_draws * thin
    update, close = _progress(progress, total)
    kw = dict(beta=beta, seed=seed, schedule=method[6:])
    try:
        done = 0
        block = max(1, total // 100) if update is not None else total
        while done < burn_in:
            step = min(block, burn_in - done)
            run_chains(compiled, states, n_sweeps=step, first_sweep=done, **kw)
            done += step
            if update is not None:
                update(done)
        draws = []
        per = max(1, block // thin) * thin if update is not None else n_draws * thin
        kept = 0
        while kept < n_draws:
            step = min(per, (n_draws - kept) * thin)
            draws.append(run_chains(compiled, states, n_sweeps=step, first_sweep=done, record_every=thin, **kw))
            done += step
            kept += step // thin
            if update is not None:
                update(done)
    finally:
        if close is not None:
            close()
    out = draws[0] if len(draws) == 1 else np.concatenate(draws, axis=1)
    return Samples(out, compiled, beta, seed, method, total, states)
