"""``fgebm warmup``: compile every Numba kernel ahead of time, in parallel, with a progress bar.

Kernels compile on first use and stay cached on disk (see
:mod:`factorgraph_ebm.kernels._jit`), so a cold machine pays 5-30 s the first
time each kind of inference runs. ``warmup`` pays all of it at once, split into
groups that compile in separate processes (Numba compiles one function at a
time per process), each group by running small models through the public API
so that exactly the signatures real calls use get compiled.
"""

import concurrent.futures
import contextlib
import importlib
import multiprocessing
import os
import sys
import threading
import time
import warnings

__all__ = ["GROUPS", "warmup", "cold_groups"]


def _loopy_runs(schedules):
    """Loopy BP on a small grid with each of ``schedules``, min-sum (decoded) and sum-product."""
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import potts_grid

    grid = potts_grid(np.random.default_rng(0).normal(size=(3, 3, 2)), 1.0)
    for beta in (np.inf, 1.0):
        for schedule in schedules:
            infer(grid, beta=beta, method="bp", schedule=schedule).map_state


def _loopy():
    _loopy_runs(("flood",))


def _schedules():
    _loopy_runs(("sequential", "random", "residual"))


def _tree():
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import chain_graph

    chain = chain_graph(np.zeros((3, 2)), np.eye(2))
    for beta in (np.inf, 1.0):
        res = infer(chain, beta=beta)
        res.map_state, res.marginal_array     # marginals: the outward pass (its own call) and tree marginals


def _marginals():
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import chain_graph

    chain = chain_graph(np.zeros((3, 2)), np.eye(2))
    res = infer(chain, beta=1.0)
    res.factor_marginal_array()
    res.add_factor_marginals(np.zeros(len(res.compiled.wiring.tables) // 2), np.ones(res.compiled.n_factors))


def _exact():
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import potts_grid

    grid = potts_grid(np.zeros((2, 2, 2)), 1.0)
    for method in ("enumerate", "exact"):
        for beta in (np.inf, 1.0):
            res = infer(grid, beta=beta, method=method)
            res.map_state, res.marginal_array, res.factor_marginal_array()


def _crf():
    import numpy as np

    from ..models.tagger import ChainTagger

    X = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0]])]
    tagger = ChainTagger(l2=0.1, max_iter=2, progress=False).fit(X, [[0, 1], [1]])
    tagger.predict(X), tagger.predict_marginals(X)


def _sampling():
    import numpy as np

    from ..models.potts import potts_grid
    from ..sample import gibbs_sample

    grid = potts_grid(np.zeros((3, 3, 2)), 1.0)
    for schedule in ("chromatic", "sequential"):
        gibbs_sample(grid, n_chains=2, n_draws=2, burn_in=1, seed=0, schedule=schedule).energies()


def _forest_sampling():
    import numpy as np

    from ..models.potts import chain_graph
    from ..sample import forest_sample

    chain = chain_graph(np.zeros((3, 2)), np.eye(2))
    for name in "zuw":
        chain.add_variable(name, 2)
    chain.add_factor([("y", 0), ("y", 2), "z"], np.zeros((2, 2, 2)))   # a loop until y0 is clamped
    chain.add_factor(["z", "u", "w"], np.zeros((2, 2, 2)))             # the any-arity path
    forest_sample(chain, {("y", 0): 1}, n_draws=2, seed=0)     # conditioned wiring, any-arity path
    forest_sample(chain_graph(np.zeros((3, 2)), np.eye(2)), n_draws=2, seed=0)   # the compiled wiring as is


def _mean_field():
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import potts_grid

    grid = potts_grid(np.zeros((3, 3, 2)), 1.0)
    grid.add_factor([("x", 0, 0), ("x", 0, 1), ("x", 1, 0)], np.zeros((2, 2, 2)))   # the any-arity path
    res = infer(grid, beta=1.0, method="mean-field")
    res.map_state, res.factor_marginal_array()


def _trw():
    import numpy as np

    from ..inference.api import infer
    from ..models.potts import potts_grid

    grid = potts_grid(np.zeros((3, 3, 3)), 1.0)
    grid.add_factor([("x", 0, 0), ("x", 0, 1), ("x", 1, 0)], np.zeros((3, 3, 3)))   # the any-arity path
    for beta in (1.0, np.inf):
        res = infer(grid, beta=beta, method="trw", max_iter=2)
        res.map_state, res.factor_marginal_array()


#: name -> (what it compiles, function, kernels it compiles). Ordered longest first, so two
#: workers finish together; "exact" reuses the tree pass, compiled by then.
GROUPS = {
    "schedules": ("loopy BP: sequential, random-order and residual schedules (what schedule='auto' runs)",
                  _schedules, ("schedules._sequential", "schedules._residual")),
    "loopy": ("loopy BP: min-sum and sum-product flooding, Bethe free energy, MAP decoding on loopy graphs",
              _loopy, ("bp._flood", "bp._sweep", "trees._fill_decode", "bp._probabilities",
                       "decoding._fill_conditioned", "decoding._local_search")),
    "tree": ("tree BP: exact min-sum and sum-product on forests (chains, taggers)", _tree,
             ("trees._tree_pass", "trees._fill_bfs_order", "trees._fill_tree_order", "bp._fill_exp_tables",
              "trees._fill_decode", "trees._tree_marginals")),
    "crf": ("first-order CRF taggers: chain forward-backward and gradient, Viterbi, the L-BFGS recursion", _crf,
            ("chain.chain_forward_backward", "chain.emission_gradient", "chain.chain_viterbi",
             "lbfgs.lbfgs_direction", "lbfgs.lbfgs_push")),
    "sampling": ("Gibbs sampling: chromatic and sequential sweeps, graph colouring", _sampling,
                 ("gibbs._chromatic", "gibbs._class_sweep", "gibbs._sequential", "gibbs._greedy_colouring")),
    "forest": ("forest sampling: exact samples on forests, the inward tree pass and the outward sampling pass",
               _forest_sampling, ("forest_sampling._forest_weights", "forest_sampling._forest_draws",
                                  "trees._tree_pass", "junction._reduce_factors")),
    "marginals": ("factor marginals and the gradients of likelihood losses", _marginals,
                  ("bp._gather_costs", "bp._add_factor_marginals")),
    "mean-field": ("naive mean field: coordinate-ascent sweeps, the mean-field free energy (lower bound on log Z)",
                   _mean_field, ("mean_field._sweeps", "mean_field._free_energy_terms", "mean_field._unary_field",
                                 "mean_field._factor_products", "decoding._fill_conditioned",
                                 "decoding._local_search")),
    "trw": ("tree-reweighted BP and TRW-S: the forest cover, sequential passes, the bound's tree passes", _trw,
            ("trw._grow_forest", "trw._start", "trw._iterations", "trw._chain_decode", "trees._tree_pass",
             "trees._fill_tree_order",
             "decoding._fill_conditioned", "decoding._local_search")),
    "exact": ("exact inference: elimination orders, the junction tree, enumeration", _exact,
              ("exact._enumerate", "elimination._eliminate", "junction._passes", "junction._node_marginals",
               "junction._backtrack")),
}


def _run_group(name):
    """Worker: compile one group (warnings of the tiny models are not the user's business)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GROUPS[name][1]()
    return name, time.perf_counter() - start


def cold_groups(names=None):
    """The groups (of ``names``, default all) whose kernels are not all in the disk cache yet.

    Examples
    --------
    >>> set(cold_groups(["tree"])) <= {"tree"}
    True
    """
    from ..kernels._jit import is_cached

    cold = []
    for name in GROUPS if names is None else names:
        kernels = [getattr(importlib.import_module(f"factorgraph_ebm.kernels.{k.split('.')[0]}"), k.split(".")[1])
                   for k in GROUPS[name][2]]
        if not all(is_cached(k) for k in kernels):
            cold.append(name)
    return cold


def warmup(names=None, *, jobs=None, progress=True, out=sys.stderr):
    """Compile the kernels of the groups ``names`` (default: every group of :data:`GROUPS`).

    Groups run in up to ``jobs`` worker processes (default: one per core, at
    most one per group); a group whose kernels are cached only loads them.
    Returns ``{group: seconds}``.

    Examples
    --------
    >>> seconds = warmup(["tree"], jobs=1, progress=False)
    >>> sorted(seconds)
    ['tree']
    """
    from ..utils.validation import check_scalar

    names = list(GROUPS) if names is None else list(names)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        from ..exceptions import FactorGraphError

        raise FactorGraphError(f"unknown warmup group(s) {unknown}; the groups are {list(GROUPS)}")
    jobs = min(len(names), os.cpu_count() or 1) if jobs is None else check_scalar(jobs, "jobs", int, low=1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(names), desc="compiling kernels", unit="group", file=out,
                   bar_format="{desc}: {n_fmt}/{total_fmt} groups |{bar}| {elapsed}{postfix}")
    seconds = {}

    def done(name, took):
        seconds[name] = took
        if bar is not None:
            bar.set_postfix_str(f"{name} {took:.0f} s", refresh=False)
            bar.update()

    with _ticking(bar), _notice_off():
        if jobs == 1 or len(names) == 1:
            for name in names:
                done(*_run_group(name))
        else:
            # spawn, not fork: a forked child of a process that already ran an OpenMP kernel aborts
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                for future in concurrent.futures.as_completed([pool.submit(_run_group, n) for n in names]):
                    done(*future.result())
    return seconds


@contextlib.contextmanager
def _ticking(bar):
    """Refresh ``bar`` every half second (its elapsed time moves while a group compiles); close it at the end."""
    if bar is None:
        yield
        return
    stop = threading.Event()

    def tick():
        while not stop.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()


@contextlib.contextmanager
def _notice_off():
    """No "compiling Numba kernels" notice (here and in the workers): the progress bar says it."""
    old = os.environ.get("FACTORGRAPH_EBM_COMPILE_NOTICE")
    os.environ["FACTORGRAPH_EBM_COMPILE_NOTICE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["FACTORGRAPH_EBM_COMPILE_NOTICE"]
        else:
            os.environ["FACTORGRAPH_EBM_COMPILE_NOTICE"] = old


def run_warmup(args):
    """``fgebm warmup [--jobs N] [--group NAME ...]``."""
    from ._common import LOGGER

    start = time.perf_counter()
    names = args.group or None
    cold = cold_groups(names)
    LOGGER.info("%d of %d kernel groups to compile (%s); the rest load from the cache",
                len(cold), len(names or GROUPS), ", ".join(cold) or "none")
    seconds = warmup(names, jobs=args.jobs, progress=not args.quiet)
    for name, took in seconds.items():
        LOGGER.info("%-10s %5.1f s  %s", name, took, GROUPS[name][0])
    LOGGER.info("kernels ready in %.1f s", time.perf_counter() - start)
    return 0
