"""Losses whose negative phase is sampled: contrastive divergence (CD-k) and persistent CD.

The NLL gradient is ``dE(y_i)/dW - E_{P(y, z | x)}[dE/dW]``; its second term
needs the partition function. These losses estimate it with Gibbs samples of
the free variables (outputs y and latents z, evidence x clamped) drawn by
:func:`factorgraph_ebm.sample.gibbs.run_chains`:

* :class:`CDLoss` (Hinton 2002) starts ``n_chains`` chains per example at the
  training target (the latents drawn given it) and runs ``k`` sweeps;
* :class:`PCDLoss` (Tieleman 2008) keeps the chains from one evaluation to the
  next (per training example, or one shared pool of fantasy particles) and
  runs ``k`` more sweeps each time.

The positive phase is computed as :class:`~factorgraph_ebm.losses.NLLLoss`
does: the free energy over the latents with y clamped (exact or BP, per the
loss's ``method``), or simply ``E(y_i)`` without latents; with
``latent="sample"`` it is sampled too (Gibbs over z with y clamped), for
models where even the clamped graph is beyond inference. The derivative of
the negative phase is the mean over the samples of the indicator of each
factor's table entry (:class:`~factorgraph_ebm.losses.base.Derivative` built
from many states), so the loss plugs into the same machinery as the others.

The *value* reported is a surrogate, not the NLL (which needs ``log Z``):
``F(x_i, y_i) - mean_s E(x_i, y_s, z_s)``, the positive free energy minus the
mean energy of the example's samples. Its gradient with the samples held fixed
is exactly the gradient estimate used.

Randomness: draws are keyed by ``(seed, chain, sweep)`` (counter-based, see
:mod:`factorgraph_ebm.kernels.rng`); the loss counts the sweeps it has run so
every evaluation gets new draws, and :meth:`SamplingLoss.get_state` /
:meth:`SamplingLoss.set_state` save and restore the seed, the counter and the
persistent chains (the Trainer writes them into its checkpoints).
"""

import numpy as np

from ..compile.lower import compile_graph, with_clamped, with_parameters
from ..exceptions import DeclarationError, FactorGraphError, TrainingError
from ..utils.validation import check_beta, check_scalar
from .base import Derivative, Loss, Term

__all__ = ["SamplingLoss", "CDLoss", "PCDLoss", "SCHEDULES", "CHAINS", "LATENT"]

#: Gibbs schedules the sampling losses accept (see :func:`factorgraph_ebm.sample.gibbs.run_chains`).
SCHEDULES = ("chromatic", "sequential")
#: How :class:`PCDLoss` keeps its persistent chains.
CHAINS = ("per-example", "pool")
#: How the sampling losses treat the latent variables of the positive phase.
LATENT = ("infer", "sample")
_MAX_SEED = 2 ** 63


def _run_chains(compiled, states, **options):
    from ..sample.gibbs import run_chains   # the sample layer sits below losses; imported on first use

    return run_chains(compiled, states, **options)


def _option(value, name, owner, kind, low):
    try:
        return check_scalar(value, name, kind, low=low)
    except FactorGraphError as exc:
        raise DeclarationError(f"{owner}: {exc}") from None


class SamplingLoss(Loss):
    """Base class of :class:`CDLoss` and :class:`PCDLoss`: positive phase by inference, negative by sampling.

    Parameters
    ----------
    k : int >= 0
        Gibbs sweeps over the free variables per evaluation.
    n_chains : int >= 1
        Chains (samples) per example (:class:`PCDLoss` with ``chains="pool"``:
        particles in the pool).
    beta : float > 0
        Inverse temperature of the model distribution (as in NLLLoss).
    latent : {"infer", "sample"}
        Positive phase with latent variables z: ``"infer"`` uses the free
        energy over z with y_i clamped (exact or BP, ``method``), as NLL does;
        ``"sample"`` uses ``n_chains`` Gibbs samples of z given y_i and x
        (``max(k, 1)`` sweeps from a fresh start each evaluation: exact after
        one sweep when the latents are independent given y and x, as in an
        RBM) and reports their mean energy in place of the free energy.
    schedule : {"chromatic", "sequential"}
        Gibbs schedule of the sampler.
    seed : int or None
        Seed of the draws; None takes a fresh one from the OS at the first
        evaluation. ``Trainer`` sets it from its ``random_state`` when None.
    method, infer_options
        Inference for the positive phase (the free energy over the latents),
        see :class:`~factorgraph_ebm.losses.Loss`.
    """

    stochastic = True

    def __init__(self, k=1, *, n_chains=1, beta=1.0, latent="infer", schedule="chromatic", seed=None,
                 method="auto", infer_options=None):
        super().__init__(method=method, infer_options=infer_options)
        owner = type(self).__name__
        if latent not in LATENT:
            raise DeclarationError(f"{owner}: latent must be one of {list(LATENT)}, got {latent!r}")
        self.latent = latent
        self.k = _option(k, "k", owner, int, 0)
        self.n_chains = _option(n_chains, "n_chains", owner, int, 1)
        self.beta = check_beta(beta)
        if not np.isfinite(self.beta):
            raise DeclarationError(f"{owner}: beta must be finite (samples of the Gibbs distribution at beta), "
                                   f"got {beta!r}; use the perceptron loss for beta = inf")
        if schedule not in SCHEDULES:
            raise DeclarationError(f"{owner}: schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        self.schedule = schedule
        if seed is not None:
            seed = _option(seed, "seed", owner, int, 0)
            if seed >= _MAX_SEED:
                raise DeclarationError(f"{owner}: seed must be < 2**63, got {seed}")
        self.seed = seed
        self.reset_state()

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k}, n_chains={self.n_chains}, beta={self.beta})"

    # ------------------------------------------------------------ state
    def reset_state(self, seed=None):
        """Forget the chains and the sweep counter; draw with ``seed`` (default: the loss's ``seed``)."""
        seed = self.seed if seed is None else seed
        self._seed = None if seed is None else int(seed)
        self._sweep = 0

    @property
    def sweeps_done(self):
        """Gibbs sweeps run so far (every evaluation starts its draws after them)."""
        return self._sweep

    def _draw_seed(self):
        if self._seed is None:
            self._seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] % _MAX_SEED)
        return self._seed

    def get_state(self):
        """``(arrays, meta)``: the persistent state (named int arrays and JSON scalars), for checkpoints."""
        return {}, {"class": type(self).__name__, "seed": self._seed, "sweep": self._sweep}

    def set_state(self, arrays, meta, path="<loss state>"):
        """Restore what :meth:`get_state` returned (validated: ParseError naming ``path`` and the field)."""
        from ..utils.saved import check_count, check_dict, saved_error

        meta = check_dict(path, "loss_state", meta)
        for key in ("class", "seed", "sweep"):
            if key not in meta:
                raise saved_error(path, "loss_state", f"has no field {key!r}")
        if meta["class"] != type(self).__name__:
            raise saved_error(path, "loss_state.class", f"expected {type(self).__name__!r}, got {meta['class']!r}")
        seed = None if meta["seed"] is None else check_count(path, "loss_state.seed", meta["seed"])
        if seed is not None and seed >= _MAX_SEED:
            raise saved_error(path, "loss_state.seed", f"expected a seed < 2**63, got {seed}")
        sweep = check_count(path, "loss_state.sweep", meta["sweep"])
        self._set_arrays(path, arrays)
        self._seed, self._sweep = seed, sweep

    def _set_arrays(self, path, arrays):
        if arrays:
            from ..utils.saved import saved_error

            raise saved_error(path, f"loss/{sorted(arrays)[0]}", f"{type(self).__name__} keeps no arrays")

    # ---------------------------------------------------------- sampling
    def _sweeps(self, compiled, states, n_sweeps):
        """Run ``n_sweeps`` Gibbs sweeps on ``states`` in place, with new draws (the sweep counter advances)."""
        if n_sweeps == 0:
            return
        _run_chains(compiled, states, beta=self.beta, n_sweeps=n_sweeps, seed=self._draw_seed(),
                    first_sweep=self._sweep, schedule=self.schedule)
        self._sweep += n_sweeps

    def _data_states(self, ev, n_rows):
        """(n_rows, n_vars) int32 chains at the data: targets and evidence, latents drawn given them (one sweep)."""
        batch = ev.batch
        start = batch.positive
        states = np.repeat(np.maximum(start, 0).astype(np.int32)[None, :], n_rows, axis=0)   # a writable copy
        if (start < 0).any():       # free latents: draw them given y and x
            self._sweeps(with_clamped(ev.compiled, start), states, 1)
        return states

    def _negative_samples(self, ev):
        """(n_samples, n_vars) states of the whole batch whose indicators estimate the model's expectation."""
        raise NotImplementedError

    def _positive(self, ev):
        """The positive term: inference over the latents, or (``latent="sample"``) Gibbs samples of them."""
        if self.latent == "infer" or not (ev.batch.positive < 0).any():
            return ev.positive(self.beta)
        return ev.cached("positive", ("samples", self._sweep), lambda: self._sampled_positive(ev))

    def _sampled_positive(self, ev):
        states = self._data_states(ev, self.n_chains)
        cg = with_clamped(ev.compiled, ev.batch.positive)
        self._sweeps(cg, states, max(self.k, 1) - 1)
        ev.sampled_start = states      # where the CD chains start (the latents already drawn)
        derivative = Derivative(cg, state=states.copy())
        return Term(cg.graph_energies(states, derivative.sample_offsets()).mean(axis=0), derivative, None)

    def _start_states(self, ev, n_rows):
        """Chains at the data (latents drawn given it); the positive samples when there are some."""
        start = getattr(ev, "sampled_start", None)
        if start is not None and len(start) == n_rows:
            return start
        return self._data_states(ev, n_rows)

    def _evaluate(self, ev):
        pos = self._positive(ev)
        neg = ev.cached("negative", ("samples", self._sweep), lambda: self._negative_term(ev))
        one = np.ones_like(pos.values)
        return pos.values - neg.values, [(one, pos), (-one, neg)]

    def _negative_term(self, ev):
        derivative = Derivative(ev.compiled, state=self._negative_samples(ev))
        energies = ev.compiled.graph_energies(derivative.state, derivative.sample_offsets())
        return Term(energies.mean(axis=0), derivative, None)


def _shared_term(compiled, pool_compiled, pool):
    """The negative term of a batch of copies of one graph from a pool of its samples (counted once)."""
    energy = pool_compiled.graph_energies(pool)[:, 0].mean()
    return Term(np.full(compiled.n_graphs, energy), Derivative(compiled, state=pool, shared=True), None)


class CDLoss(SamplingLoss):
    """Contrastive divergence CD-k: chains start at the training data and run ``k`` Gibbs sweeps.

    ``n_chains`` chains per example start at the target y_i (latents z drawn
    from their conditional given y_i and x, one Gibbs sweep), then run ``k``
    sweeps over the free variables (y and z; the evidence x stays clamped).
    The negative phase is the mean over the chains' final states; the positive
    phase is ``E(y_i)``, or the free energy over z with y_i clamped.

    The estimate is biased for small ``k`` (it does not follow the NLL
    gradient exactly; Carreira-Perpinan and Hinton 2005) and tends to the NLL
    gradient as ``k`` and ``n_chains`` grow. ``k = 0`` gives a zero gradient at
    the data (without latents exactly, with latents in expectation).

    Value: ``F(x_i, y_i) - mean_s E(x_i, y_s, z_s)`` (a surrogate: its gradient
    with the samples held fixed is the CD gradient).

    Parameters
    ----------
    k, n_chains, beta, latent, schedule, seed, method, infer_options
        See :class:`SamplingLoss`.

    Examples
    --------
    Logistic regression ``E(y) = -y w x``: with many chains the CD-5 gradient
    is close to the exact NLL gradient.

    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> from factorgraph_ebm.losses import NLLLoss
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2)
    >>> _ = fg.add_factor(["y"], LinearEnergy("w", features=[[0.0], [2.0]]))
    >>> w = {"w": np.array([0.5])}
    >>> cd = CDLoss(k=5, n_chains=4000, seed=0)(fg, [1], parameters=w).gradient["w"]
    >>> nll = NLLLoss()(fg, [1], parameters=w).gradient["w"]
    >>> bool(np.allclose(cd, nll, atol=0.05))
    True
    """

    name = "cd"

    def _negative_samples(self, ev):
        states = self._start_states(ev, self.n_chains)
        self._sweeps(ev.compiled, states, self.k)
        return states


class PCDLoss(SamplingLoss):
    """Persistent contrastive divergence: chains kept across evaluations, ``k`` more sweeps each time.

    Tieleman (2008): the negative chains are not restarted at the data; each
    evaluation continues them by ``k`` sweeps, so with a small learning rate
    they stay close to the model distribution and the gradient estimate is
    nearly unbiased even for ``k = 1``.

    * ``chains="per-example"``: ``n_chains`` chains per training example
      (started at its target on its first visit), for conditional models whose
      examples differ by their evidence x. Examples are recognised by their
      index in the training set (``Batch.example_ids``).
    * ``chains="pool"``: one pool of ``n_chains`` fantasy particles shared by
      every example, for unconditional models (an RBM): every example must use
      the same graph and the same evidence. The particles start at the first
      batch's targets.

    Value and positive phase as :class:`CDLoss`.

    Parameters
    ----------
    chains : {"per-example", "pool"}
    k, n_chains, beta, latent, schedule, seed, method, infer_options
        See :class:`SamplingLoss`.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> from factorgraph_ebm.losses import NLLLoss, make_batch
    >>> fg = FactorGraph(); _ = fg.add_variable("y", 2)
    >>> _ = fg.add_factor(["y"], LinearEnergy("w", features=[[0.0], [2.0]]))
    >>> w = {"w": np.array([0.5])}
    >>> batch = make_batch(fg, [1, 0, 1], parameters=w)
    >>> pcd = PCDLoss(chains="pool", n_chains=500, seed=0)
    >>> estimates = [pcd(batch, parameters=w).gradient["w"] for _ in range(40)]
    >>> pcd.sweeps_done            # 40 evaluations of one sweep (the chains continue)
    40
    >>> bool(np.allclose(np.mean(estimates, axis=0), NLLLoss()(batch, parameters=w).gradient["w"], atol=0.05))
    True
    """

    name = "pcd"

    def __init__(self, k=1, *, n_chains=1, chains="per-example", beta=1.0, latent="infer", schedule="chromatic",
                 seed=None, method="auto", infer_options=None):
        if chains not in CHAINS:
            raise DeclarationError(f"PCDLoss: chains must be one of {list(CHAINS)}, got {chains!r}")
        self.chains = chains
        super().__init__(k, n_chains=n_chains, beta=beta, latent=latent, schedule=schedule, seed=seed,
                         method=method, infer_options=infer_options)

    def __repr__(self):
        return f"PCDLoss(k={self.k}, n_chains={self.n_chains}, chains={self.chains!r}, beta={self.beta})"

    def reset_state(self, seed=None):
        super().reset_state(seed)
        self._chains = {}       # per-example: example id -> (n_chains, n_vars of the example) int32
        self._pool = None       # pool: (n_chains, n_vars of the shared graph) int32
        self._pool_graph = None  # the shared graph, its evidence and its compiled form (not saved: rebuilt)

    def check_examples(self, examples):
        if self.chains == "pool":
            graphs, evidence = _graphs_and_evidence(examples)
            if graphs is None:
                raise TrainingError("PCDLoss(chains='pool') needs examples with graphs (a prepared dataset has none)")
            first, ev0 = graphs[0], evidence[0]
            for i, (g, ev) in enumerate(zip(graphs, evidence)):
                if g is not first or not np.array_equal(ev, ev0):
                    what = "another graph" if g is not first else "other evidence"
                    raise TrainingError(f"PCDLoss(chains='pool') shares one pool of particles between examples "
                                        f"of one model: example {i} has {what} than example 0; use "
                                        "chains='per-example' for a conditional model")
        elif not hasattr(examples, "ids") and not hasattr(examples, "example_ids"):
            raise TrainingError("PCDLoss(chains='per-example') needs stable example indices (Examples.ids); "
                                f"this dataset ({type(examples).__name__}) has none")

    # ------------------------------------------------------------ state
    def get_state(self):
        arrays, meta = super().get_state()
        meta["chains"] = self.chains
        meta["n_chains"] = self.n_chains
        if self.chains == "pool":
            if self._pool is not None:
                arrays["pool"] = self._pool
            return arrays, meta
        ids = np.array(sorted(self._chains), dtype=np.int64)
        sizes = np.array([self._chains[int(i)].shape[1] for i in ids], dtype=np.int64)
        ptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(sizes * self.n_chains, out=ptr[1:])
        flat = (np.concatenate([self._chains[int(i)].ravel() for i in ids]) if len(ids)
                else np.zeros(0, dtype=np.int32))
        arrays.update({"ids": ids, "ptr": ptr, "states": flat.astype(np.int32)})
        return arrays, meta

    def set_state(self, arrays, meta, path="<loss state>"):
        from ..utils.saved import saved_error

        for key, want in (("chains", self.chains), ("n_chains", self.n_chains)):
            if isinstance(meta, dict) and meta.get(key) != want:
                raise saved_error(path, f"loss_state.{key}", f"expected {want!r}, got {meta.get(key)!r}")
        super().set_state(arrays, meta, path)

    def _set_arrays(self, path, arrays):
        from ..utils.saved import saved_error

        expected = {"pool"} if self.chains == "pool" else {"ids", "ptr", "states"}
        extra = sorted(set(arrays) - expected)
        if extra:
            raise saved_error(path, f"loss/{extra[0]}", f"unexpected entry (expected {sorted(expected)})")
        ints = {}
        for key, value in arrays.items():
            value = np.asarray(value)
            if not np.issubdtype(value.dtype, np.integer):
                raise saved_error(path, f"loss/{key}", f"expected an int array, got dtype {value.dtype}")
            ints[key] = value
        if self.chains == "pool":
            pool = ints.get("pool")
            if pool is not None and (pool.ndim != 2 or pool.shape[0] != self.n_chains or (pool < 0).any()):
                raise saved_error(path, "loss/pool", f"expected ({self.n_chains}, n_vars) states >= 0, "
                                                     f"got shape {pool.shape}")
            self._chains, self._pool = {}, None if pool is None else np.ascontiguousarray(pool, dtype=np.int32)
            return
        if set(ints) != expected:
            raise saved_error(path, "loss", f"expected the arrays {sorted(expected)}, got {sorted(ints)}")
        ids, ptr, flat = ints["ids"], ints["ptr"], ints["states"]
        if ids.ndim != 1 or (ids < 0).any() or len(np.unique(ids)) != len(ids):
            raise saved_error(path, "loss/ids", "expected distinct non-negative example indices")
        sizes = np.diff(ptr) if ptr.ndim == 1 else None
        if (ptr.ndim != 1 or len(ptr) != len(ids) + 1 or ptr[0] != 0 or (sizes < 0).any()
                or (sizes % self.n_chains).any() or ptr[-1] != flat.size):
            raise saved_error(path, "loss/ptr", f"expected {len(ids) + 1} offsets from 0 to {flat.size} in "
                                                f"steps of whole chain sets of {self.n_chains} chains")
        if flat.ndim != 1 or (flat < 0).any():
            raise saved_error(path, "loss/states", "expected a flat array of states >= 0")
        flat = flat.astype(np.int32)
        self._chains = {int(i): flat[ptr[j]:ptr[j + 1]].reshape(self.n_chains, -1).copy()
                        for j, i in enumerate(ids)}
        self._pool = None

    # ---------------------------------------------------------- sampling
    def _negative_samples(self, ev):
        return self._per_example_samples(ev)

    def _negative_term(self, ev):
        if self.chains == "pool":
            return self._pool_term(ev)
        return super()._negative_term(ev)

    def _per_example_samples(self, ev):
        batch, cg = ev.batch, ev.compiled
        ids = getattr(batch, "example_ids", None)
        if ids is None:
            raise TrainingError("PCDLoss(chains='per-example') needs a Batch with example_ids")
        ptr = cg.graph_var_ptr
        known = [i for i, j in enumerate(ids) if int(j) in self._chains]
        if len(known) == len(ids):
            states = np.empty((self.n_chains, cg.n_vars), dtype=np.int32)
        else:
            states = self._data_states(ev, self.n_chains)   # new examples start at their data
        for i in known:
            chain = self._chains[int(ids[i])]
            if chain.shape != (self.n_chains, ptr[i + 1] - ptr[i]):
                raise TrainingError(f"PCDLoss: the persistent chains of example {int(ids[i])} have "
                                    f"{chain.shape[1]} variables, the example has {int(ptr[i + 1] - ptr[i])}: the "
                                    "data changed; call reset_state() before training on other data")
            states[:, ptr[i]:ptr[i + 1]] = chain
        _check_states(cg, states, "PCDLoss: persistent chain")
        clamped = cg.clamped >= 0
        states[:, clamped] = cg.clamped[clamped]
        self._sweeps(cg, states, self.k)
        for i, j in enumerate(ids):
            self._chains[int(j)] = states[:, ptr[i]:ptr[i + 1]].copy()
        return states

    def _pool_term(self, ev):
        batch, cg = ev.batch, ev.compiled
        graph = batch.examples.graphs[0]
        n_local = graph.n_vars
        evidence = batch.evidence[:n_local]
        cached = self._pool_graph        # (graph, evidence, compiled): kept across batches, compiled once
        if cached is None or cached[0] is not graph or not np.array_equal(cached[1], evidence):
            base = with_clamped(compile_graph(graph, parameters=ev.parameters), evidence)
            cached = self._pool_graph = (graph, evidence.copy(), base)
        pool_cg = with_parameters(cached[2], ev.parameters) if ev.parameters else cached[2]
        if self._pool is None:
            rows = -(-self.n_chains // batch.n_examples)
            start = self._data_states(ev, rows).reshape(rows * batch.n_examples, n_local)
            self._pool = np.ascontiguousarray(start[:self.n_chains])
        if self._pool.shape[1] != n_local:
            raise TrainingError(f"PCDLoss: the pool's particles have {self._pool.shape[1]} variables, the model "
                                f"has {n_local}: call reset_state() before training another model")
        _check_states(pool_cg, self._pool, "PCDLoss: pool particle")
        self._sweeps(pool_cg, self._pool, self.k)
        return _shared_term(cg, pool_cg, self._pool.copy())


def _graphs_and_evidence(examples):
    """(graphs, evidence lists) of an Examples or a Batch, or (None, None) for a prepared dataset."""
    source = getattr(examples, "examples", examples)
    graphs = getattr(source, "graphs", None)
    if graphs is None:
        return None, None
    return graphs, source.evidence


def _check_states(compiled, states, what):
    bad = states >= compiled.wiring.var_states
    if bad.any():
        c, v = np.argwhere(bad)[0]
        raise TrainingError(f"{what} {int(c)}: state {int(states[c, v])} of variable {compiled.var_name(int(v))!r} "
                            f"is out of range [0, {int(compiled.wiring.var_states[v])})")
