"""Data-parallel training and batch inference on Dask (the optional extra ``distributed``).

Nothing in the rest of the package imports Dask: this module imports
``dask.distributed`` when one of its functions needs it, and says which extra
to install when it is missing (``pip install -e ".[distributed]"``).

Training (:class:`DaskBackend`, used through ``Trainer(cluster=...)`` and
``ChainTagger(cluster=...)``): the training examples are cut into contiguous
*shards*; each shard is a Dask task result that lives in the memory of one
worker, where its batches are compiled once and kept between evaluations.
Each evaluation of the objective broadcasts the flat parameter vector, every
shard returns the summed loss and gradient of its examples (computed by the
loss's own ``evaluate``, the code a single-process trainer runs), and the
client adds them up in shard order. The sum is the same whatever worker runs
which shard, so a run is deterministic, and it equals the single-process
objective up to the order of floating-point additions (about 1e-15 relative).

Faults: a shard is built by a task whose inputs are the shard's examples, so
when a worker dies the scheduler rebuilds its shards elsewhere (or on the
restarted worker) and reruns the evaluations that were in flight; the client
also retries an evaluation whose inputs were lost. The optimizer, its state and
checkpoints stay on the client, unchanged.

Batch inference (:func:`map_infer`, :func:`map_predict`): ``infer`` or an
estimator's ``predict`` / ``predict_marginals`` mapped over partitions of a
list (or the partitions of a ``dask.bag``), results in input order. With
``select=``, each partition's forests are compiled together and answered by one
``infer`` call (split back per graph), in this process as on the workers.
"""

import math
import pickle
import time
import uuid
import warnings

import numpy as np

from ..exceptions import DeclarationTypeError, TrainingError
from ..graph.parameters import Gradient, Parameters
from ..utils.validation import check_scalar

__all__ = ["DaskBackend", "map_infer", "map_predict", "open_backend", "shard_bounds", "BATCH_SELECT"]

#: Times an evaluation is submitted again when a worker holding its inputs was lost (beyond Dask's own retries).
MAX_RESUBMITS = 3


def import_distributed():
    """``dask.distributed``, or an ImportError that names the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("data-parallel training and batch inference need dask.distributed, the optional extra "
                          "'distributed' of factorgraph-ebm: pip install -e \".[distributed]\" (from a checkout) "
                          "or pip install \"dask[distributed]\"") from exc
    return distributed


def _lost_errors():
    """Exception types that mean "a worker or its data went away", not "the computation failed"."""
    import asyncio
    import concurrent.futures

    distributed = import_distributed()
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    return (distributed.scheduler.KilledWorker, FutureCancelledError, CommClosedError,
            concurrent.futures.CancelledError, asyncio.CancelledError, OSError)


class DaskBackend:
    """Where data-parallel evaluations run: a ``dask.distributed`` client, or a local cluster it starts.

    Parameters
    ----------
    client : dask.distributed.Client, optional
        A client of a running cluster (local or on several machines). None:
        :meth:`start` starts a ``LocalCluster`` of ``n_workers`` processes
        with ``threads_per_worker`` threads each, which :meth:`close` stops.
    n_workers : int, optional
        Worker processes of the embedded cluster (default 2). Not with ``client``.
    n_shards : int, optional
        Shards the training examples are cut into (default: one per worker
        when the run starts). The objective is summed in shard order, so the
        same ``n_shards`` gives bit-identical runs on any cluster.
    threads_per_worker : int
        Threads of each embedded worker.
    numba_threads : int, optional
        Threads of the Numba kernels inside a shard's evaluation (default:
        ``threads_per_worker`` for the embedded cluster, Numba's own default on
        a given client). Workers that share a machine's cores should not each
        start a thread per core: two workers x two threads on two cores made
        one evaluation several times slower than two workers x one thread.
    direct : bool
        Each evaluation scatters every shard's parameters straight to the
        worker of the shard and gathers the gradients straight from the
        workers (on two local workers this saved about a third of the
        per-evaluation overhead), rather than through the scheduler (False:
        for a client that can reach the scheduler only). Either way the
        results are the same; an evaluation retried after a lost worker sends
        the parameters inside its tasks, so the scheduler can rerun them
        anywhere.

    Attributes
    ----------
    stats : dict
        Counters of the last training run: ``evaluations``, ``shards``,
        ``bytes_to_workers`` and ``bytes_from_workers`` (parameter vectors and
        gradients, summed over evaluations), ``seconds`` (wall time of the
        evaluations on the client) and ``worker_seconds`` (time inside the
        loss, the slowest shard of each evaluation, summed).

    Examples
    --------
    The backend is a context manager; a given client is left running:

    >>> from factorgraph_ebm.train import DaskBackend, Trainer
    >>> with DaskBackend(n_workers=2) as backend:          # doctest: +SKIP
    ...     trainer = Trainer("nll", "lbfgs", cluster=backend).fit(graphs, targets, parameters=init)
    """

    def __init__(self, client=None, *, n_workers=None, n_shards=None, threads_per_worker=1, numba_threads=None,
                 direct=True):
        if client is not None and n_workers is not None:
            raise DeclarationTypeError("DaskBackend: pass either client= (a running cluster) or n_workers= (an "
                                       "embedded local cluster), not both")
        if client is not None and not (hasattr(client, "submit") and hasattr(client, "scatter")):
            raise DeclarationTypeError(f"DaskBackend: client must be a dask.distributed.Client, got "
                                       f"{type(client).__name__}")
        self.client = client
        self.n_workers = 2 if n_workers is None else check_scalar(n_workers, "n_workers", int, low=1)
        self.n_shards = None if n_shards is None else check_scalar(n_shards, "n_shards", int, low=1)
        self.threads_per_worker = check_scalar(threads_per_worker, "threads_per_worker", int, low=1)
        self.numba_threads = None if numba_threads is None else check_scalar(numba_threads, "numba_threads", int,
                                                                             low=1)
        self.direct = bool(direct)
        self._cluster = None
        self.stats = {}

    def __repr__(self):
        where = f"client={self.client!r}" if self._cluster is None and self.client is not None else \
            f"n_workers={self.n_workers}"
        return f"DaskBackend({where})"

    def __deepcopy__(self, memo):
        # a handle on a running cluster: estimators that are cloned (scikit-learn) share it
        return self

    # ------------------------------------------------------------ lifetime
    def start(self):
        """Start the embedded local cluster unless there is a client; returns ``self``."""
        if self.client is None:
            distributed = import_distributed()
            env = {"NUMBA_NUM_THREADS": str(self.threads_per_worker), "OMP_NUM_THREADS": "1"}
            self._cluster = distributed.LocalCluster(n_workers=self.n_workers,
                                                     threads_per_worker=self.threads_per_worker, processes=True,
                                                     dashboard_address=":0", env=env)
            self.client = distributed.Client(self._cluster)
            if self.numba_threads is None:
                self.numba_threads = self.threads_per_worker
        return self

    def close(self):
        """Stop the embedded cluster (a client given by the user is left running)."""
        if self._cluster is not None:
            self.client.close()
            self._cluster.close()
            self._cluster = None
            self.client = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def workers(self):
        """Addresses of the cluster's workers, sorted."""
        return sorted(self.client.scheduler_info()["workers"])

    # ------------------------------------------------------------ training
    def shard(self, data, loss, batch_size, template, prepared):
        """The training examples ``data`` cut into shards held by the workers (see :class:`ShardedData`)."""
        return ShardedData(self, data, loss, batch_size, template, prepared)


def open_backend(cluster, n_workers):
    """``(backend, owned)`` for the ``cluster`` / ``n_workers`` options of a trainer, or ``(None, False)``.

    ``cluster`` may be a ``dask.distributed.Client``, a :class:`DaskBackend`
    or None; with None, ``n_workers > 1`` starts an embedded local cluster
    (``owned`` is then True: the caller closes it when done).

    Examples
    --------
    >>> open_backend(None, None)
    (None, False)
    >>> open_backend("tcp://host:8786", None)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationTypeError: cluster must be a dask.distributed.Client or a DaskBackend, \
got str
    """
    if n_workers is not None:
        check_scalar(n_workers, "n_workers", int, low=1)
    if cluster is None:
        if n_workers is None or n_workers == 1:
            return None, False
        return DaskBackend(n_workers=n_workers).start(), True
    if n_workers is not None:
        raise DeclarationTypeError("pass either cluster= or n_workers=, not both (a given cluster has its own "
                                   "workers; its DaskBackend says how many shards)")
    if isinstance(cluster, DaskBackend):
        if cluster.client is None:
            raise DeclarationTypeError("cluster: this DaskBackend is not started (use it as a context manager, or "
                                       "call start())")
        return cluster, False
    if hasattr(cluster, "submit") and hasattr(cluster, "scatter"):
        return DaskBackend(cluster), False
    raise DeclarationTypeError(f"cluster must be a dask.distributed.Client or a DaskBackend, got "
                               f"{type(cluster).__name__}")


def make_batch(data, indices, parameters, prepared):
    """What a loss evaluates for the examples ``indices`` of ``data`` (the trainer's own batches)."""
    if prepared:
        return data.batch(indices, parameters)
    from ..losses.batch import Batch

    return Batch(data.subset(indices), parameters)


class _Shard:
    """The examples ``start .. start + len(data)`` of a training set, with their compiled batches (on a worker)."""

    def __init__(self, data, start, loss, shapes, prepared, max_batches, numba_threads):
        self.numba_threads = numba_threads
        self.data = data
        self.start = int(start)
        self.loss = loss
        self.shapes = shapes
        self.prepared = prepared
        self.max_batches = int(max_batches)
        self.batches = {}

    def __getstate__(self):          # compiled batches are rebuilt where the shard lands, not shipped
        state = dict(vars(self))
        state["batches"] = {}
        return state

    def parameters(self, theta):
        out, pos = Parameters(), 0
        for name, shape in self.shapes:
            size = math.prod(shape)
            dict.__setitem__(out, name, theta[pos:pos + size].reshape(shape))
            pos += size
        return out

    def batch(self, local, params):
        key = (int(local[0]), len(local)) if len(local) and local[-1] - local[0] == len(local) - 1 else \
            tuple(local.tolist())
        b = self.batches.get(key)
        if b is None:
            if len(self.batches) >= self.max_batches:
                self.batches.clear()
            b = self.batches[key] = make_batch(self.data, local, params, self.prepared)
        return b

    def evaluate(self, theta, chunks):
        """Summed loss and flat gradient over ``chunks`` (global example indices), and the seconds it took."""
        began = time.perf_counter()
        if self.numba_threads is not None:
            import numba

            numba.set_num_threads(min(self.numba_threads, numba.config.NUMBA_NUM_THREADS))   # per thread
        params = self.parameters(theta)
        value, grad = 0.0, np.empty_like(theta)
        for c, idx in enumerate(chunks):
            with np.errstate(over="ignore", invalid="ignore"):   # non-finite results are named by the trainer
                res = self.loss.evaluate(self.batch(np.asarray(idx) - self.start, params), params)
            value += res.value * len(idx)
            pos = 0
            for name, shape in self.shapes:
                size = math.prod(shape)
                part = grad[pos:pos + size]
                if c == 0:           # the first chunk is written, not added to zeros: one pass less, same sum
                    np.multiply(np.ravel(res.gradient[name]), len(idx), out=part)
                else:
                    part += np.ravel(res.gradient[name]) * len(idx)
                pos += size
        if not chunks:
            grad[:] = 0.0
        return value, grad, time.perf_counter() - began


def _build_shard(*spec):
    return _Shard(*spec)


def _evaluate_shard(shard, theta, chunks):
    return shard.evaluate(theta, chunks)


class _Value:
    """Mean loss and gradient of a batch (what the trainer reads of a loss result)."""

    def __init__(self, value, gradient):
        self.value = value
        self.gradient = gradient


def shard_bounds(n, n_shards, example_costs=None):
    """``(n_shards + 1,)`` int64 bounds of contiguous shards of ``n`` examples, none empty.

    Equal numbers of examples, or, with ``example_costs`` (a method returning
    the work of each example, e.g. ``ChainData.example_costs``), equal sums of
    work as nearly as whole examples allow: the slowest shard sets the time
    of an evaluation.

    Examples
    --------
    >>> shard_bounds(10, 3)
    array([ 0,  3,  7, 10])
    >>> shard_bounds(4, 2, lambda: np.array([3.0, 1.0, 1.0, 1.0]))
    array([0, 1, 4])
    """
    even = np.linspace(0, n, n_shards + 1).round().astype(np.int64)
    costs = None if example_costs is None else np.asarray(example_costs(), dtype=np.float64)
    if costs is None or len(costs) != n or not np.isfinite(costs).all() or costs.sum() <= 0:
        return even
    cum = np.concatenate([[0.0], np.cumsum(costs)])
    targets = cum[-1] * np.arange(1, n_shards) / n_shards
    # the cut nearest to each target: the first bound whose prefix reaches it, or the one before
    hi = np.clip(np.searchsorted(cum, targets), 1, n)
    cut = np.where(np.abs(cum[hi - 1] - targets) <= np.abs(cum[hi] - targets), hi - 1, hi)
    bounds = [0]
    for j, c in enumerate(cut.tolist()):     # at least one example per shard
        bounds.append(min(max(c, bounds[-1] + 1), n - (n_shards - 1 - j)))
    return np.array(bounds + [n], dtype=np.int64)


class ShardedData:
    """Training examples held by the workers of a :class:`DaskBackend`, one task result per shard.

    Shard ``i`` holds the examples ``bounds[i] .. bounds[i + 1]`` (see
    :func:`shard_bounds`: equal work when the data say what each example
    costs, as ``ChainData.example_costs`` does); it is built
    by a task that carries those examples, placed on worker ``i mod n_workers``
    (loosely: Dask may move or rebuild it), and released by :meth:`close`.
    """

    def __init__(self, backend, data, loss, batch_size, template, prepared):
        if getattr(loss, "stochastic", False):
            raise TrainingError(f"loss {loss.name!r} keeps sampling chains in the trainer's process; distributed "
                                "training supports losses without state (nll, hinge, perceptron, ...)")
        if not hasattr(data, "subset"):
            raise TrainingError(f"a prepared dataset needs subset(indices) to be cut into shards; "
                                f"{type(data).__name__} has none")
        self.backend = backend
        workers = backend.workers()
        n = len(data)
        n_shards = min(n, backend.n_shards or max(1, len(workers)))
        self.bounds = shard_bounds(n, n_shards, getattr(data, "example_costs", None))
        self.batch_size = int(batch_size)
        self.n = n
        self.template = template
        self.shapes = [(k, tuple(np.shape(template[k]))) for k in sorted(template, key=repr)]
        self.run = uuid.uuid4().hex[:12]
        self.n_evaluations = 0
        backend.stats = self.stats = {"evaluations": 0, "shards": n_shards, "bytes_to_workers": 0,
                                      "bytes_from_workers": 0, "seconds": 0.0, "worker_seconds": 0.0}
        max_batches = max(1, -(-n // self.batch_size) + 1)
        self.specs, self.rows = [], []
        for i in range(n_shards):
            lo, hi = int(self.bounds[i]), int(self.bounds[i + 1])
            piece = data.subset(np.arange(lo, hi, dtype=np.int64))
            rows = {}
            if prepared and hasattr(piece, "compact"):
                # only the parameter rows the shard's examples touch travel (a token block: its features' rows)
                piece, rows = piece.compact()
            self.rows.append(rows)
            shapes = [(k, shape if rows.get(k) is None else (len(rows[k]),) + shape[1:]) for k, shape in self.shapes]
            self.specs.append((piece, lo, loss, shapes, prepared, max_batches, backend.numba_threads))
        self.workers = workers
        self.futures = [self._submit_shard(i) for i in range(n_shards)]

    def _submit_shard(self, i):
        client = self.backend.client
        where = [self.workers[i % len(self.workers)]] if self.workers else None
        with warnings.catch_warnings():
            # the shard's examples travel inside its task, so the scheduler can rebuild it after a fault
            warnings.filterwarnings("ignore", message=".*[Ll]arge (object|graph).*")
            return client.submit(_build_shard, *self.specs[i], key=f"fgebm-shard-{self.run}-{i}",
                                 workers=where, allow_other_workers=True, pure=False)

    def close(self):
        """Release the shards (their memory on the workers)."""
        if self.futures:
            try:
                self.backend.client.cancel(self.futures)
            except Exception:       # the cluster is already gone
                pass
            self.futures = []

    def chunks(self, indices):
        """Per shard, the examples of ``indices`` it holds, in pieces of at most ``batch_size``."""
        indices = np.sort(np.asarray(indices, dtype=np.int64))
        cut = np.searchsorted(indices, self.bounds)
        out = []
        for i in range(len(self.bounds) - 1):
            sel = indices[cut[i]:cut[i + 1]]
            out.append([sel[j:j + self.batch_size] for j in range(0, len(sel), self.batch_size)])
        return out

    def evaluate(self, indices, params):
        """Mean loss over the examples ``indices`` and its gradient, summed over the shards in shard order."""
        lost = _lost_errors()
        chunks = self.chunks(indices)
        began = time.perf_counter()
        active = [i for i, c in enumerate(chunks) if c]
        thetas = [self.local_theta(params, i) for i in active]
        for attempt in range(MAX_RESUBMITS + 1):
            try:
                results = self._run(thetas, [chunks[i] for i in active], active, attempt)
                break
            except lost:
                if attempt == MAX_RESUBMITS:
                    raise
                self._rebuild_lost()
        value, slowest = 0.0, 0.0
        grad = {name: np.zeros(shape) for name, shape in self.shapes}
        for j, (i, (v, g, seconds)) in enumerate(zip(active, results)):      # fixed order: shard 0, 1, ...
            value += v
            slowest = max(slowest, seconds)
            pos = 0
            for name, shape in self.shapes:
                rows = self.rows[i].get(name)
                size = math.prod(shape) if rows is None else len(rows) * math.prod(shape[1:])
                piece = g[pos:pos + size].reshape((-1,) + shape[1:])
                if rows is None:
                    grad[name] += piece.reshape(shape)
                elif j == 0:         # onto zeros: written, not added (a scatter instead of a gather-add-scatter)
                    grad[name][rows] = piece
                else:                # rows are unique (a compacted shard's columns): one gather-add-scatter
                    grad[name][rows] += piece
                pos += size
        n = len(indices)
        for name in grad:
            grad[name] /= n
        out = Gradient.wrap(grad)
        s = self.stats
        s["evaluations"] += 1
        s["bytes_to_workers"] += sum(t.nbytes for t in thetas)
        s["bytes_from_workers"] += sum(r[1].nbytes for r in results)
        s["seconds"] += time.perf_counter() - began
        s["worker_seconds"] += slowest
        return _Value(value / n, out)

    def local_theta(self, params, i):
        """The flat parameter vector shard ``i`` evaluates: only the rows its examples use, of a compacted shard."""
        parts = []
        for name, _ in self.shapes:
            rows = self.rows[i].get(name)
            value = np.asarray(params[name], dtype=np.float64)
            parts.append((value if rows is None else value[rows]).ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def _run(self, thetas, chunks, active, attempt):
        client = self.backend.client
        k = self.stats["evaluations"]
        direct = self.backend.direct
        args = thetas
        if direct and attempt == 0:
            # each shard's parameters go straight to the worker meant to hold the shard (not through the
            # scheduler inside the task); the results come straight back
            try:
                args = [client.scatter(theta, workers=[self.workers[i % len(self.workers)]], direct=True,
                                       hash=False) for i, theta in zip(active, thetas)]
            except Exception:    # that worker is gone (or unreachable): the parameters travel in the tasks
                args = thetas
        # in the tasks (after a lost worker): the scheduler can rerun them anywhere from what it holds
        futures = [client.submit(_evaluate_shard, self.futures[i], theta, c, pure=False,
                                 key=f"fgebm-eval-{self.run}-{k}-{attempt}-{i}")
                   for i, theta, c in zip(active, args, chunks)]
        return client.gather(futures, direct=direct or None)

    def _rebuild_lost(self):
        """Submit again the shards whose results Dask could not keep (cancelled or failed)."""
        self.workers = self.backend.workers() or self.workers
        for i, f in enumerate(self.futures):
            if f.status in ("cancelled", "lost", "error"):
                self.futures[i] = self._submit_shard(i)


# ---------------------------------------------------------------- batch inference
def _partitions(n, partition_size, n_workers):
    size = partition_size or max(1, -(-n // max(1, 4 * n_workers)))
    return [(i, min(i + size, n)) for i in range(0, n, size)]


#: ``select=`` names that a batch result answers per graph (see :func:`_answer`).
BATCH_SELECT = ("map_state", "map_energy", "free_energy", "free_energies", "log_partition", "marginal_array",
                "marginals", "map_assignment", "log_partition_bound", "log_partition_lower_bound",
                "energy_lower_bound", "gap", "method", "beta", "n_iter", "delta", "converged", "schedule", "damping",
                "reason")
_SCALARS = ("method", "beta", "n_iter", "delta", "converged", "schedule", "damping", "reason")


def _names(select):
    return (select,) if isinstance(select, str) else tuple(select)


def _answer(result, name, graph):
    """Attribute ``name`` of graph ``graph`` of ``result`` (a batch, or one graph with ``graph=0``).

    The same value ``infer`` on that graph alone gives: arrays are the graph's
    slice (copied, read-only like the result's own), per-graph values a float
    (None stays None), ``marginals`` and ``map_assignment`` the dicts of those
    methods; other names are the attribute itself.
    """
    cg = result.compiled
    if name not in BATCH_SELECT or name in _SCALARS:
        return getattr(result, name)
    if name in ("marginals", "map_assignment"):
        return getattr(result, name)(graph)
    if cg.n_graphs == 1:
        return getattr(result, name)
    lo, hi = int(cg.graph_var_ptr[graph]), int(cg.graph_var_ptr[graph + 1])
    if name == "map_state":
        out = result.map_state[lo:hi].copy()
    elif name == "marginal_array":
        ptr = cg.wiring.var_state_ptr
        out = result.marginal_array[ptr[lo]:ptr[hi]].copy()
    elif name == "free_energies":
        out = result.free_energies[graph:graph + 1].copy()
    else:
        values = getattr(result, name)
        return None if values is None else float(values[graph])
    out.setflags(write=False)
    return out


def _selected(result, names, graph, single):
    values = tuple(_answer(result, name, graph) for name in names)
    return values[0] if single else values


def _forests(compiled):
    """(n_graphs,) bool: which graphs of a compiled batch are forests (every edge in the BFS spanning forest)."""
    from ..kernels import trees

    _, parent_edge, _ = trees._bfs_order(compiled.wiring)
    n_vars = compiled.n_vars
    tree_vars = np.concatenate([[0], np.cumsum(parent_edge[:n_vars] >= 0)])
    tree_factors = np.concatenate([[0], np.cumsum(parent_edge[n_vars:] >= 0)])
    vp, fp = compiled.graph_var_ptr, compiled.graph_factor_ptr
    tree_edges = np.diff(tree_vars[vp]) + np.diff(tree_factors[fp])
    edges = np.diff(compiled.wiring.factor_edge_ptr[fp])
    return tree_edges == edges


def _batchable(graphs, options):
    from ..graph.factor_graph import FactorGraph

    return (len(graphs) > 1 and options.get("method", "auto") in ("auto", "bp")
            and options.get("schedule", "auto") in ("auto", "tree")
            and all(isinstance(g, FactorGraph) for g in graphs))


def _infer_batch(graphs, evidence, options):
    """One ``infer`` call on ``graphs`` compiled together, or None when that would not answer as graph by graph.

    Only forests are batched: there the tree schedule's answers of each graph
    depend on that graph alone, so they equal ``infer`` on it. A loopy graph
    inside a batch would change what ``auto`` chooses and when loopy BP stops
    for every graph, so loopy graphs (and any batch whose compiling or
    inference raises: the graph-by-graph path raises the same error, naming
    the graph's own variable) are answered graph by graph.
    """
    from ..compile.lower import compile_graph
    from ..exceptions import FactorGraphError
    from ..inference.api import infer

    run = {k: v for k, v in options.items() if k != "parameters"}
    try:
        compiled = compile_graph(graphs, evidence=list(evidence), parameters=options.get("parameters"),
                                 memory_budget=options.get("memory_budget"))
        forest = _forests(compiled)
        if not forest.all():
            return compiled, forest, None
        return compiled, forest, infer(compiled, **run)
    except FactorGraphError:     # InferenceError, EvidenceError, MemoryBudgetError, ... subclass it
        return None, None, None


def _infer_partition(graphs, evidence, options, select=None):
    """``infer`` on each of ``graphs``: as one batch where that gives the same answers (``select`` given), else one by one.

    With ``select``, the forests among ``graphs`` are compiled together and
    answered by one ``infer`` call (one compile, one kernel call), split back
    per graph by :func:`_answer`; the other graphs, and every graph when
    ``select`` is None (a full InferenceResult holds its own compiled graph),
    run one ``infer`` call each.
    """
    from ..inference.api import infer

    graphs, evidence = list(graphs), list(evidence)
    if select is None:
        return [infer(g, ev, **options) for g, ev in zip(graphs, evidence)]
    names, single = _names(select), isinstance(select, str)
    out = [None] * len(graphs)
    todo = list(range(len(graphs)))
    if all(name in BATCH_SELECT for name in names) and _batchable(graphs, options):
        compiled, forest, result = _infer_batch(graphs, evidence, options)
        if forest is not None and result is None and forest.sum() > 1:    # mixed: batch the forests
            idx = np.flatnonzero(forest)
            _, _, result = _infer_batch([graphs[i] for i in idx], [evidence[i] for i in idx], options)
            batch = idx.tolist() if result is not None else []
        else:
            batch = todo if result is not None else []
        for g, i in enumerate(batch):
            out[i] = _selected(result, names, g, single)
        todo = sorted(set(todo) - set(batch))
    for i in todo:
        out[i] = _selected(infer(graphs[i], evidence[i], **options), names, 0, single)
    return out


def _call_partition(estimator, method, part, options):
    return getattr(estimator, method)(list(part), **options)


def _pack(obj):
    """``obj`` pickled into one bytes object.

    Dask serialises a list item by item, each NumPy array as a frame of its
    own; a partition of declared graphs (or of their results) is thousands of
    small arrays, and sending it as one pickle is several times faster.
    """
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _infer_packed(packed, options, select):
    graphs, evidence = pickle.loads(packed)
    return _pack(_infer_partition(graphs, evidence, options, select))


def _call_packed(estimator, method, packed, options):
    return _pack(list(_call_partition(estimator, method, pickle.loads(packed), options)))


def _bag_partition(part, estimator, method, options):
    return _call_partition(estimator, method, part, options)


def _bag(obj):
    """``obj`` when it is a ``dask.bag.Bag``, else None (without importing Dask for other inputs)."""
    return obj if type(obj).__module__.startswith("dask.bag") and hasattr(obj, "map_partitions") else None


def map_infer(graphs, evidence=None, *, cluster=None, n_workers=None, partition_size=None, select=None,
              **infer_options):
    """:func:`~factorgraph_ebm.infer` on every graph, on Dask workers; results in input order.

    Parameters
    ----------
    graphs : sequence of FactorGraph or CompiledGraph
        The models (one result each).
    evidence : sequence, optional
        One evidence per graph (None: none).
    cluster : dask.distributed.Client or DaskBackend, optional
        Where to run; None with ``n_workers > 1`` starts (and stops) a local
        cluster, None otherwise runs in this process.
    n_workers : int, optional
    partition_size : int, optional
        Graphs per task (default: four tasks per worker).
    select : str or tuple of str, optional
        Return only these attributes of each result (``"map_state"``,
        ``("log_partition", "marginal_array")``, ...) instead of the
        InferenceResult, which holds its compiled graph, parameters included:
        for a model with many parameters, the whole result costs their size in
        transfers and memory per graph. ``"marginals"`` and
        ``"map_assignment"`` give the dicts of those methods.
        With ``select`` (names of :data:`BATCH_SELECT`), ``method`` "auto" or
        "bp" and ``schedule`` "auto" or "tree", the forests of each partition
        (chains, trees: the tree schedule answers each graph on its own) are
        compiled together and answered by one ``infer`` call, then split per
        graph: one compile and one kernel call per partition, several times
        faster than graph by graph, with the same answers. Loopy graphs (BP on
        a batch would stop for all graphs at once) and full InferenceResult
        objects (``select=None``) are answered by one ``infer`` call per graph.
    **infer_options
        As for :func:`~factorgraph_ebm.infer` (``method``, ``beta``, ...).

    Returns
    -------
    list of InferenceResult (or of the selected attributes)
        The same answers as ``[infer(g, ev, **infer_options) ...]`` in one process.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_factor(["a"], [0.0, 1.0])
    >>> [r.map_state.tolist() for r in map_infer([fg, fg], beta=np.inf)]     # no cluster: in this process
    [[0], [0]]
    >>> map_infer([fg], beta=1.0, select=("map_state", "log_partition"))     # doctest: +ELLIPSIS
    [(array([0]), 0.31326...)]
    >>> map_infer([fg, fg], [None, {"a": 1}], beta=np.inf, select="map_energy")   # one batch of two
    [0.0, 1.0]
    >>> results = map_infer([fg] * 100, n_workers=2, beta=np.inf)            # doctest: +SKIP
    """
    graphs = list(graphs)
    evidence = [None] * len(graphs) if evidence is None else list(evidence)
    if len(evidence) != len(graphs):
        raise DeclarationTypeError(f"map_infer: {len(evidence)} evidence entries for {len(graphs)} graphs")
    backend, owned = open_backend(cluster, n_workers)
    if select is not None and not (isinstance(select, str) or all(isinstance(x, str) for x in select)):
        raise DeclarationTypeError(f"map_infer: select must be an attribute name or a tuple of them, got {select!r}")
    if backend is None:
        return _infer_partition(graphs, evidence, infer_options, select)
    try:
        client = backend.client
        parts = _partitions(len(graphs), partition_size, len(backend.workers()))
        options = client.scatter(infer_options, broadcast=True, hash=False) if infer_options else infer_options
        futures = [client.submit(_infer_packed, _pack((graphs[a:b], evidence[a:b])), options, select, pure=False)
                   for a, b in parts]
        return [r for part in client.gather(futures) for r in pickle.loads(part)]
    finally:
        if owned:
            backend.close()


def map_predict(estimator, X, *, method="predict", cluster=None, n_workers=None, partition_size=None, **options):
    """``estimator.<method>(X)`` computed partition by partition on Dask workers; results in input order.

    Parameters
    ----------
    estimator : fitted estimator
        E.g. a :class:`~factorgraph_ebm.models.ChainTagger` or a
        :class:`~factorgraph_ebm.Trainer`; it is sent to each worker once.
    X : list, or dask.bag.Bag
        The inputs. A Bag gives a Bag of the outputs (lazy, one output per
        input, partition by partition).
    method : {"predict", "predict_marginals", ...}
        A method that maps a list of inputs to a list of outputs.
    cluster, n_workers, partition_size
        As for :func:`map_infer`.
    **options
        Keyword arguments of the method (``beta=`` ...).

    Returns
    -------
    list, or dask.bag.Bag

    Examples
    --------
    >>> from factorgraph_ebm.models import ChainTagger
    >>> X, y = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"]]], [["DET", "NOUN"]] * 2
    >>> tagger = ChainTagger(l2=0.1, progress=False).fit(X, y)
    >>> map_predict(tagger, [[["w=a"], ["w=dog"]]])                            # no cluster: in this process
    [array(['DET', 'NOUN'], dtype='<U4')]
    >>> labels = map_predict(tagger, X * 1000, n_workers=2)                   # doctest: +SKIP
    """
    if not callable(getattr(estimator, method, None)):
        raise DeclarationTypeError(f"map_predict: {type(estimator).__name__} has no method {method!r}")
    bag = _bag(X)
    if bag is not None:
        if cluster is not None or n_workers is not None:
            raise DeclarationTypeError("map_predict: a dask Bag runs on Dask's current scheduler; do not pass "
                                       "cluster= or n_workers= with it")
        return bag.map_partitions(_bag_partition, estimator, method, options)
    X = list(X)
    backend, owned = open_backend(cluster, n_workers)
    if backend is None:
        return list(_call_partition(estimator, method, X, options))
    try:
        client = backend.client
        est = client.scatter(estimator, broadcast=True, hash=False)
        parts = _partitions(len(X), partition_size, len(backend.workers()))
        futures = [client.submit(_call_packed, est, method, _pack(X[a:b]), options, pure=False) for a, b in parts]
        return [r for part in client.gather(futures) for r in pickle.loads(part)]
    finally:
        if owned:
            backend.close()
