"""Trainer: fit the parameters W of an energy-based model with a chosen loss and optimizer."""

import copy
import logging
import warnings
import weakref

import numpy as np

from ..exceptions import ConvergenceWarning, DeclarationError, FactorGraphError, TrainingError
from ..graph.energies import resolve_table
from ..graph.parameters import Gradient, Parameters
from ..losses import LOSS_ALIASES, LOSSES, Loss, get_loss
from ..losses.batch import Batch, Examples
from ..losses.penalties import penalty_weights, regularization
from ..utils.estimator import ParamsMixin, check_choice
from ..utils.random import check_random_state
from ..utils.lazy import lazy_module
from ..utils.validation import check_scalar
from ..utils.saved import check_like
from .checkpoint import check_optimizer_arrays, load_checkpoint, rng_from_state, save_checkpoint
from .optimizers import OPTIMIZER_ALIASES, OPTIMIZERS, Optimizer, get_optimizer
from .prediction import batch_accuracy, predict

_tqdm = lazy_module("tqdm.auto")

__all__ = ["Trainer", "check_finite_parameters", "check_loss", "check_optimizer", "check_parameters"]

logger = logging.getLogger(__name__)




def check_loss(loss):
    """Return ``loss`` if it is a :class:`~factorgraph_ebm.losses.Loss` or a name in ``LOSSES``.

    Otherwise raise :class:`~factorgraph_ebm.DeclarationError` listing the
    names, with the closest one.

    Examples
    --------
    >>> check_loss("hinge")
    'hinge'
    >>> check_loss("crossentropy")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationError: loss must be a Loss or one of ['cd', 'energy', 'hinge', 'log', \
'mce', 'nll', 'pcd', 'perceptron', 'simple', 'square-exponential', 'square-square'], got 'crossentropy'; did you \
mean 'nll'?
    """
    if isinstance(loss, Loss):
        return loss
    return check_choice(loss, "loss", LOSSES, allowed="a Loss or one of", aliases=LOSS_ALIASES)


def check_optimizer(optimizer):
    """Return ``optimizer`` if it is an :class:`~factorgraph_ebm.train.Optimizer` or a name in ``OPTIMIZERS``.

    Otherwise raise :class:`~factorgraph_ebm.DeclarationError` listing the
    names, with the closest one.

    Examples
    --------
    >>> check_optimizer("lbfgs")
    'lbfgs'
    >>> check_optimizer("l-bfgs")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationError: optimizer must be an Optimizer or one of ['adam', 'lbfgs', 'sgd'], \
got 'l-bfgs'; did you mean 'lbfgs'?
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    return check_choice(optimizer, "optimizer", OPTIMIZERS, allowed="an Optimizer or one of",
                        aliases=OPTIMIZER_ALIASES)


def check_parameters(graphs, parameters):
    """Raise :class:`DeclarationError` when a parameter some energy needs is missing or ill-shaped.

    Each distinct energy is evaluated once, so a mistake is reported before
    training starts, naming the factor and the parameter.
    """
    seen_graphs, seen_energies = set(), set()
    for graph in graphs:
        if id(graph) in seen_graphs:
            continue
        seen_graphs.add(id(graph))
        for spec in graph.factor_specs:
            energy = spec.energy
            if not energy.parameter_names or id(energy) in seen_energies:
                continue
            seen_energies.add(id(energy))
            owner = f"{'factor group' if spec.is_group else 'factor'} {spec.name!r}"
            missing = [n for n in energy.parameter_names if n not in parameters]
            if missing:
                raise DeclarationError(f"{owner}: parameter {missing[0]!r} has no value; pass it in parameters=")
            resolve_table(energy, parameters, spec.n_factors, spec.states, owner)


def _describe(obj):
    """JSON description of a loss's configuration (callables by name, so it is stable across runs)."""
    out = {"class": type(obj).__name__}
    for key, value in sorted(vars(obj).items()):
        if key.startswith("_"):         # private state (a sampling loss's chains), not configuration
            continue
        out[key] = getattr(value, "__qualname__", None) if callable(value) else repr(value)
    return out


def fingerprint_diff(saved, now):
    """What differs between two configuration fingerprints, one ``"<what> <saved> (checkpoint) != <now> (now)"`` each.

    A nested value is named by its key (``learning_rate``, ``l2['w']``); an
    optimizer or loss of another kind is named once, with the settings both
    have that differ.

    Examples
    --------
    >>> fingerprint_diff({"optimizer": {"name": "adam", "learning_rate": 0.1, "beta1": 0.9}, "batch_size": 2},
    ...                  {"optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0}, "batch_size": 2})
    ["optimizer 'adam' (checkpoint) != 'sgd' (now)", 'learning_rate 0.1 != 0.01']
    """
    out = []

    def differ(label, a, b):
        if len(out) == 0:
            out.append(f"{label} {a!r} (checkpoint) != {b!r} (now)")
        else:
            out.append(f"{label} {a!r} != {b!r}")

    for key in sorted(set(saved) | set(now), key=str):
        a, b = saved.get(key, "<missing>"), now.get(key, "<missing>")
        if a == b:
            continue
        if not (isinstance(a, dict) and isinstance(b, dict)):
            differ(key, a, b)
            continue
        kind = "name" if "name" in a or "name" in b else "class" if "class" in a or "class" in b else None
        same_kind = kind is None or a.get(kind) == b.get(kind)
        if not same_kind:
            differ(key, a.get(kind), b.get(kind))
        for sub in sorted(set(a) | set(b), key=str):
            if sub == kind or (not same_kind and (sub not in a or sub not in b)):
                continue
            if a.get(sub, "<missing>") != b.get(sub, "<missing>"):
                label = sub if key in ("optimizer", "loss") else f"{key}[{sub!r}]"
                differ(label, a.get(sub, "<missing>"), b.get(sub, "<missing>"))
    return out


def _examples(indices):
    """``"examples [0, 3, 5, ...]"``: the first few example indices of a batch."""
    shown = ", ".join(str(int(i)) for i in indices[:5]) + (", ..." if len(indices) > 5 else "")
    return f"examples [{shown}]"


class _PointValues:
    """The data loss of every point the objective was evaluated at, found again by the point itself.

    L-BFGS evaluates the objective ~1.05 times per iteration and the trainer
    needs the data loss at the point it returns. Keying by
    ``theta.tobytes()`` kept a copy of every point (10 MB each for a
    1.3M-weight tagger, 1.6 GB over one fit) and a hash of the bytes cost a
    pass over the vector per evaluation; here the key is the array object
    (its id, checked through a weak reference, so a recycled id never
    matches).
    """

    def __init__(self):
        self.values = {}

    def __setitem__(self, theta, value):
        try:
            self.values[id(theta)] = (weakref.ref(theta), value)
        except TypeError:                  # not weakly referenceable: not cached
            pass

    def get(self, theta):
        hit = self.values.get(id(theta))
        return hit[1] if hit is not None and hit[0]() is theta else None

    def best(self):
        return min(v for _, v in self.values.values())


def _nonfinite_name(values):
    """Name of the first array in ``values`` holding NaN or inf, else None."""
    return next((k for k, v in values.items() if not np.isfinite(v).all()), None)


def check_finite_parameters(parameters, what="initial value"):
    """Raise :class:`TrainingError` naming the first parameter holding NaN or inf.

    Training starts from finite values: a NaN or infinite weight makes the
    energy tables NaN or -inf at once (forbid configurations with ``+inf`` in a
    fixed table instead).

    Examples
    --------
    >>> check_finite_parameters({"w": np.array([0.0, np.inf])})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.TrainingError: initial value of parameter 'w' is not finite (1 of its 2 entries is NaN \
or inf); training needs finite starting values
    """
    for name in sorted(parameters):
        value = np.asarray(parameters[name], dtype=np.float64)
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        if bad:
            entries = f"{bad} of its {value.size} entries is" if bad == 1 else f"{bad} of its {value.size} entries are"
            raise TrainingError(f"{what} of parameter {name!r} is not finite ({entries} NaN or inf); "
                                "training needs finite starting values")


def _table_defect(energy, parameters):
    """``"NaN"`` or ``"-inf"`` when ``energy``'s table at ``parameters`` holds one, ``"invalid"`` when it cannot be
    evaluated, else None."""
    try:
        with np.errstate(all="ignore"):
            table = np.asarray(energy.table(parameters), dtype=np.float64)
    except FactorGraphError:
        return "invalid"
    if np.isnan(table).any():
        return "NaN"
    if np.isneginf(table).any():
        return "-inf"
    return None


def _table_fault(graphs, parameters, good):
    """Describe the first energy whose table ``parameters`` make NaN or -inf, else None.

    Names the factor and the parameter: for an energy of several parameters,
    the ones whose new value alone (the others at the last good values
    ``good``) breaks the table, else all of them.
    """
    seen = set()
    for graph in graphs:
        for spec in graph.factor_specs:
            energy = spec.energy
            if not energy.parameter_names or id(energy) in seen:
                continue
            seen.add(id(energy))
            defect = _table_defect(energy, parameters)
            if defect is None:
                continue
            names = list(energy.parameter_names)
            if len(names) > 1 and _table_defect(energy, good) is None:
                names = [n for n in names if _table_defect(energy, {**good, n: parameters[n]}) is not None] or names
            owner = f"{'factor group' if spec.is_group else 'factor'} {spec.name!r}"
            who = f"parameter {names[0]!r}" if len(names) == 1 else f"parameters {names}"
            what = "not evaluable" if defect == "invalid" else f"contain {defect}"
            return f"{who} made the energy table of {owner} {what}"
    return None


class Trainer(ParamsMixin):
    """Fit the parameters of energy-based models with a loss and an optimizer.

    Follows the scikit-learn estimator contract: ``__init__`` stores its
    arguments, :meth:`get_params` / :meth:`set_params` read and change them
    (so ``sklearn.base.clone`` works), :meth:`fit` returns ``self``, learned
    state ends with an underscore. The loss and optimizer names are checked
    at construction and by :meth:`set_params` (a misspelt name fails at once,
    with the closest valid one); every other argument is checked by
    :meth:`fit`.

    Parameters
    ----------
    loss : str or Loss
        A name from :data:`factorgraph_ebm.losses.LOSSES` (``"nll"``,
        ``"perceptron"``, ``"hinge"``, ...) or a configured Loss instance.
    optimizer : {"sgd", "adam", "lbfgs"} or Optimizer
        ``SGD(learning_rate, momentum)``, ``Adam(...)`` or ``LBFGS(max_iter, tol)``
        for non-default settings.
    learning_rate : float, optional
        Step size for an optimizer given by name (its default otherwise).
    batch_size : int or None
        Examples per mini-batch, compiled as one block so one kernel call
        serves the batch. None: the whole dataset. L-BFGS always optimizes the
        full-data objective (evaluated batch by batch).
    max_epochs : int
        Passes over the data (L-BFGS: ``minimize`` calls).
    l2, l1 : float or dict name -> float
        Regularization ``l2/2 ||W||^2 + l1 ||W||_1`` added to the mean loss,
        for every parameter or per parameter (missing names: 0). L1 needs a
        step optimizer (its subgradient is used).
    shuffle : bool
        Shuffle the examples every epoch (with ``random_state``).
    random_state : None, int or numpy Generator
        Seed of the shuffles, and of a loss that samples (``"cd"``,
        ``"pcd"``) unless it has its own ``seed``: the same seed gives the
        same run. Such a loss (``stochastic = True``) trains as a copy, and
        refuses ``"lbfgs"``.
    progress : bool
        Show a tqdm progress bar with the running loss.
    callbacks : sequence of callables
        ``callback(trainer, info)`` after every epoch; ``info`` has ``epoch``,
        ``loss`` (mean data loss of the epoch), ``objective``, ``val_score``
        and ``n_iter``; ``trainer.parameters_`` holds the current values.
        Returning True stops training.
    patience : int or None
        Early stopping: stop after this many epochs without improving the
        validation score (or the training loss without validation) by more
        than ``min_delta``, and keep the best parameters.
    min_delta : float
    checkpoint : path or None
        Write a checkpoint after every epoch (with a sampling loss's chains,
        seed and sweep counter); ``fit(..., resume=path)`` continues from it
        exactly as an uninterrupted run would.
    cluster : dask.distributed.Client, DaskBackend or None
        Evaluate the loss and gradient data-parallel on a Dask cluster (the
        optional extra ``distributed``; see ``docs/distributed.md``): the
        examples are cut into shards held by the workers, each evaluation
        sends the parameters and sums the shards' losses and gradients in a
        fixed order, so L-BFGS, SGD and Adam give the results of one process
        (up to the order of floating-point additions). The optimizer and the
        checkpoints stay in this process. Not with a sampling loss.
    n_workers : int or None
        Without ``cluster``: ``n_workers > 1`` starts a local Dask cluster of
        that many processes (one thread each) for the call of :meth:`fit`.

    Attributes
    ----------
    parameters_ : Parameters
        Learned parameters (the last good ones if training stopped on an error).
    theta_ : ndarray
        ``parameters_`` flattened (sorted names).
    n_iter_ : int
        Optimizer steps (L-BFGS: iterations).
    n_epochs_ : int
        Completed epochs.
    history_ : list of dict
        The ``info`` of every epoch.
    stop_reason_ : str or None
        ``"max_epochs"``, ``"converged"``, ``"early_stopping"`` or ``"callback"``.

    Examples
    --------
    Logistic regression as a one-factor EBM, ``E(y) = -y (w . x)``:

    >>> from factorgraph_ebm import FactorGraph, LinearEnergy
    >>> def example(x):
    ...     fg = FactorGraph()
    ...     _ = fg.add_variable("y", 2)
    ...     _ = fg.add_factor(["y"], LinearEnergy("w", features=[[0.0, 0.0], [x, 1.0]]))
    ...     return fg
    >>> xs = [-2.0, -1.0, 1.0, 2.0]
    >>> trainer = Trainer("nll", "lbfgs", l2=0.1, progress=False)
    >>> trainer = trainer.fit([example(x) for x in xs], [0, 0, 1, 1], parameters={"w": np.zeros(2)})
    >>> trainer.predict([example(-3.0), example(3.0)])
    [array([0]), array([1])]

    Parameters can be read, changed and cloned like a scikit-learn estimator's:

    >>> trainer.set_params(l2=0.5)
    Trainer(optimizer='lbfgs', l2=0.5, progress=False)
    >>> Trainer("crossentropy")                     # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationError: loss must be a Loss or one of [...], got 'crossentropy'; did you mean 'nll'?
    """

    def __init__(self, loss="nll", optimizer="sgd", *, learning_rate=None, batch_size=32, max_epochs=10,
                 l2=0.0, l1=0.0, shuffle=True, random_state=None, progress=True, callbacks=(), patience=None,
                 min_delta=0.0, checkpoint=None, cluster=None, n_workers=None):
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.l2 = l2
        self.l1 = l1
        self.shuffle = shuffle
        self.random_state = random_state
        self.progress = progress
        self.callbacks = callbacks
        self.patience = patience
        self.min_delta = min_delta
        self.checkpoint = checkpoint
        self.cluster = cluster
        self.n_workers = n_workers
        self._check_params(self.get_params(deep=False))

    def _check_params(self, params):
        """The names of the loss and the optimizer (called by ``__init__`` and :meth:`set_params`)."""
        check_loss(params["loss"])
        check_optimizer(params["optimizer"])

    # ------------------------------------------------------------------ fit
    def fit(self, graphs, targets, evidence=None, *, parameters=None, validation=None, resume=None):
        """Train on examples (graph, evidence, target); returns ``self``.

        Parameters
        ----------
        graphs : FactorGraph or sequence of FactorGraph
            One graph per example, or one graph shared by all (inputs in ``evidence``).
            A model may instead pass a prepared dataset (an object with
            ``prepared_examples = True``, ``len``, and ``batch(indices, parameters)``
            returning what its loss evaluates, e.g. ChainTagger's token block);
            ``targets`` and ``evidence`` are then part of it.
        targets : sequence
            One target per example (see :class:`~factorgraph_ebm.losses.Examples`).
        evidence : sequence, optional
            One evidence per example (clamps inputs; never outputs).
        parameters : mapping
            Initial parameter values (copied; not needed with ``resume``).
        validation : tuple, optional
            ``(graphs, targets)`` or ``(graphs, targets, evidence)``, scored by
            output accuracy after every epoch.
        resume : path, optional
            A checkpoint written by a trainer of the same configuration.
        """
        run = _Run(self, graphs, targets, evidence, parameters, validation, resume)
        try:
            run.distribute()
            run.train()
        finally:
            run.undistribute()
            run.publish()
        return self

    # ------------------------------------------------------------- predict
    def _check_fitted(self):
        if not hasattr(self, "parameters_"):
            raise TrainingError("this Trainer is not fitted yet; call fit() first")

    def predict(self, graphs, evidence=None):
        """MAP output states of each example with the learned parameters (see :func:`predict`)."""
        self._check_fitted()
        return predict(graphs, self.parameters_, evidence, method=self.loss_.method, **self.loss_.infer_options)

    def score(self, graphs, targets, evidence=None):
        """Fraction of output variables predicted right (see :func:`accuracy`)."""
        self._check_fitted()
        batch = Batch(Examples(graphs, targets, evidence), self.parameters_)
        return batch_accuracy(batch, method=self.loss_.method, **self.loss_.infer_options)


class _Run:
    """One call of :meth:`Trainer.fit`: validated settings and the mutable training state."""

    def __init__(self, trainer, graphs, targets, evidence, parameters, validation, resume):
        t = trainer
        self.trainer = t
        self.loss = get_loss(t.loss)
        self.optimizer = copy.deepcopy(get_optimizer(t.optimizer, t.learning_rate))
        self.stochastic = bool(getattr(self.loss, "stochastic", False))
        if self.stochastic:
            if not self.optimizer.stepwise:
                raise TrainingError(f"loss {self.loss.name!r} uses samples; use sgd or adam ({self.optimizer.name!r} "
                                    "needs an exact objective and gradient, not a random estimate)")
            self.loss = copy.deepcopy(self.loss)    # its chains belong to this run, not to the caller's object
        if t.batch_size is not None:
            check_scalar(t.batch_size, "batch_size", int, low=1)
        self.max_epochs = check_scalar(t.max_epochs, "max_epochs", int, low=0)
        self.patience = None if t.patience is None else check_scalar(t.patience, "patience", int, low=1)
        self.min_delta = check_scalar(t.min_delta, "min_delta", float, low=0.0)
        if not all(callable(c) for c in t.callbacks):
            raise TrainingError("callbacks must be callables callback(trainer, info)")
        # a dataset prepared by a model (e.g. ChainTagger's token block) comes with its own batches and no graphs
        self.prepared = bool(getattr(graphs, "prepared_examples", False))
        self.data = graphs if self.prepared else Examples(graphs, targets, evidence)
        self.val = None
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) not in (2, 3):
                raise TrainingError("validation must be (graphs, targets) or (graphs, targets, evidence)")
            self.val = Examples(*validation)
        n = len(self.data)
        self.batch_size = n if t.batch_size is None else min(int(t.batch_size), n)
        if resume is not None:
            if parameters is not None:
                raise TrainingError("pass either parameters= or resume=, not both")
            params, best, opt_arrays, meta = load_checkpoint(resume)
        else:
            if parameters is None:
                raise DeclarationError("parameters= is required: initial values of every parameter")
            params, best, opt_arrays, meta = Parameters(parameters), None, None, None
        check_finite_parameters(params, "initial value" if resume is None else f"checkpoint {resume!s}: value")
        names = sorted(params)
        self.l2 = penalty_weights(t.l2, names, "l2")
        self.l1 = penalty_weights(t.l1, names, "l1")
        if not self.optimizer.stepwise and any(self.l1.values()):
            raise DeclarationError(f"l1 needs a step optimizer ('sgd' or 'adam'), not {self.optimizer.name!r}")
        self.loss.check_examples(self.data)
        if not self.prepared:
            check_parameters(self.data.graphs, params)
        if self.val is not None:
            check_parameters(self.val.graphs, params)
        self.fingerprint = {"loss": _describe(self.loss), "optimizer": self.optimizer.config(),
                            "batch_size": self.batch_size, "shuffle": bool(t.shuffle), "n_examples": n,
                            "l2": self.l2, "l1": self.l1, "patience": self.patience, "min_delta": self.min_delta,
                            "parameters": {k: list(np.shape(v)) for k, v in sorted(params.items())}}
        self.params = params
        self.good = params          # the last values at which the objective was finite
        self.best = best
        self.optimizer.reset(params)
        if meta is None:
            self.rng = check_random_state(t.random_state)
            self.epoch, self.n_iter, self.history = 0, 0, []
            self.best_value, self.wait, self.stop_reason = None, 0, None
        else:
            if meta["fingerprint"] != self.fingerprint:
                diff = ", ".join(fingerprint_diff(meta["fingerprint"], self.fingerprint))
                raise TrainingError(f"checkpoint {resume!s} was written with a different configuration: {diff}; "
                                    "resume with the checkpoint's settings or start a new run")
            template_arrays, template_meta = self.optimizer.get_state()
            check_optimizer_arrays(resume, opt_arrays, params, template_arrays)
            opt_meta = check_like(resume, "optimizer", meta["optimizer"], template_meta)
            rng = rng_from_state(meta["rng"], resume)
            self.optimizer.set_state(opt_arrays, opt_meta)
            self.rng = rng
            self.epoch, self.n_iter, self.history = meta["epoch"], meta["n_iter"], meta["history"]
            self.best_value, self.wait, self.stop_reason = meta["best_value"], meta["wait"], meta["stop_reason"]
        if self.stochastic:
            self.start_sampling(meta, resume)
        self.batches = {}
        self.val_batch = None
        self.shards = self.backend = None
        self.owned_backend = False

    # -------------------------------------------------------- distributed
    def distribute(self):
        """Cut the examples into shards held by Dask workers when ``cluster`` / ``n_workers`` ask for it."""
        t = self.trainer
        if t.cluster is None and t.n_workers in (None, 1):
            return
        from .distributed import open_backend

        self.backend, self.owned_backend = open_backend(t.cluster, t.n_workers)
        self.shards = self.backend.shard(self.data, self.loss, self.batch_size, self.params, self.prepared)

    def undistribute(self):
        """Release the shards, and stop a cluster this run started."""
        if self.shards is not None:
            self.shards.close()
        if self.owned_backend:
            self.backend.close()
        self.owned_backend = False

    def start_sampling(self, meta, resume):
        """Seed a sampling loss from ``random_state`` (unless it has its own seed), or restore its checkpointed state."""
        if meta is None:
            seed = self.loss.seed if self.loss.seed is not None else int(self.rng.integers(2 ** 63))
            self.loss.reset_state(seed)
            return
        if "loss_state" not in meta:
            raise TrainingError(f"checkpoint {resume!s} holds no state of the sampling loss {self.loss.name!r} "
                                "(its chains and sweep counter); it was not written by this configuration")
        self.loss.set_state(meta["loss_arrays"], meta["loss_state"], resume)

    # ------------------------------------------------------------ batches
    def batch(self, indices):
        key = tuple(indices)
        b = self.batches.get(key)
        if b is None:
            if len(self.batches) > max(1, len(self.data) // self.batch_size + 1):
                self.batches.clear()
            if self.prepared:
                b = self.batches[key] = self.data.batch(indices, self.params)
            else:
                b = self.batches[key] = Batch(self.data.subset(indices), self.params)
        return b

    def epoch_batches(self):
        n = len(self.data)
        order = self.rng.permutation(n) if self.trainer.shuffle else np.arange(n)
        return [np.sort(order[i:i + self.batch_size]) for i in range(0, n, self.batch_size)]

    # ---------------------------------------------------------- objective
    def objective(self, indices, params, where):
        """Mean loss, regularized objective and its gradient on the examples ``indices``.

        Raises :class:`TrainingError` on a non-finite loss or gradient (the
        values the step started from stay in ``self.params``), or when
        ``params`` make an energy table NaN or -inf (``self.params`` goes back
        to the last values whose tables were finite, ``self.good``).
        """
        try:
            with np.errstate(over="ignore", invalid="ignore"):   # non-finite results are named below
                if self.shards is not None:
                    res = self.shards.evaluate(indices, params)
                else:
                    res = self.loss.evaluate(self.batch(indices), params)
        except DeclarationError as exc:
            graphs = [] if self.prepared else [self.data.graphs[i] for i in indices]
            fault = _table_fault(dict.fromkeys(graphs), params, self.good)   # one pass per distinct graph
            if fault is None:
                raise
            if params is self.params and self.good is not params:
                # the update that produced ``params`` broke the tables: back to the values before it, which work
                self.params = self.good
                self.n_iter -= 1
            raise TrainingError(f"training stopped at {where}: {fault}; parameters_ keeps the last values whose "
                                "energy tables are finite, those before the update that broke them "
                                "(lower the learning rate?)") from exc
        reg, reg_grad = regularization(params, self.l2, self.l1)
        grad = Gradient.wrap({k: res.gradient[k] + reg_grad[k] for k in params})
        bad = _nonfinite_name(grad)
        if not np.isfinite(res.value) or bad is not None:
            what = f"non-finite loss {res.value!r}" if not np.isfinite(res.value) else "non-finite gradient"
            culprit = f"; gradient of parameter {bad!r} is not finite" if bad is not None else ""
            raise TrainingError(f"{what} at {where}{culprit}; stopped, parameters_ keeps the last finite values")
        return res.value, res.value + reg, grad

    def where(self, step_in_epoch, indices):
        return f"epoch {self.epoch + 1}, step {self.n_iter + 1} (batch {step_in_epoch + 1}, {_examples(indices)})"

    # ------------------------------------------------------------- epochs
    def train(self):
        t = self.trainer
        n_batches = -(-len(self.data) // self.batch_size)
        per_epoch = n_batches if self.optimizer.stepwise else self.optimizer.max_iter
        bar = _tqdm.tqdm(total=self.max_epochs * per_epoch, initial=min(self.epoch, self.max_epochs) * per_epoch,
                   disable=not t.progress, desc=f"{self.loss.name} / {self.optimizer.name}", unit="step")
        try:
            while self.epoch < self.max_epochs and self.stop_reason is None:
                if self.optimizer.stepwise:
                    loss, objective = self.step_epoch(bar)
                else:
                    loss, objective = self.lbfgs_epoch(bar)
                self.end_epoch(loss, objective)
        finally:
            bar.close()
        if self.stop_reason is None:
            self.stop_reason = "max_epochs"
        if self.stop_reason == "early_stopping" and self.best is not None:
            self.params = self.best

    def step_epoch(self, bar):
        total = total_obj = 0.0
        seen = 0
        for k, idx in enumerate(self.epoch_batches()):
            value, objective, grad = self.objective(idx, self.params, self.where(k, idx))
            self.good = self.params
            new = self.optimizer.step(self.params, grad)
            bad = _nonfinite_name(new)
            if bad is not None:
                raise TrainingError(f"step at {self.where(k, idx)} made parameter {bad!r} non-finite; stopped, "
                                    "parameters_ keeps the last finite values (lower the learning rate?)")
            self.params = Parameters(new)
            self.n_iter += 1
            total += value * len(idx)
            total_obj += objective * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4g}", refresh=False)
            bar.update(1)
        return total / seen, total_obj / seen

    def lbfgs_epoch(self, bar):
        n = len(self.data)
        if self.shards is not None:       # the shards evaluate their examples batch by batch themselves
            chunks = [np.arange(n)]
        else:
            chunks = [np.arange(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]
        template = self.params
        data_loss = _PointValues()

        faults, started = [], []

        def fun(theta):
            try:
                out = evaluate(theta)
                started.append(True)
                return out
            except TrainingError as exc:
                if not started:                 # the starting point itself: nothing to fall back to
                    raise
                # a trial point of the line search broke a table or the loss: too far, the search steps back
                faults.append(str(exc))
                logger.debug("L-BFGS trial point refused: %s", exc)
                return np.inf, np.zeros_like(theta)

        def evaluate(theta):
            params = template.unflatten(theta)
            value = objective = 0.0
            where = f"epoch {self.epoch + 1}, L-BFGS iteration {self.n_iter + 1}"
            if len(chunks) == 1:          # the whole data set in one batch: no weighted sum of gradients
                value, objective, g = self.objective(chunks[0], params, f"{where} ({_examples(chunks[0])})")
                grad = g.flatten()
            else:
                grad = np.zeros_like(theta)
                for idx in chunks:
                    v, o, g = self.objective(idx, params, f"{where} ({_examples(idx)})")
                    w = len(idx) / n
                    value += w * v
                    objective += w * o
                    grad += w * g.flatten()
            self.params = self.good = params  # the last finite point
            data_loss[theta] = value
            return objective, grad

        def callback(*_):
            self.n_iter += 1
            bar.set_postfix(loss=f"{data_loss.best():.4g}", refresh=False)
            bar.update(1)

        start_iter = self.n_iter
        res = self.optimizer.minimize(fun, template.flatten(), callback=callback)
        self.params = template.unflatten(res.x)
        self.n_iter = start_iter + int(res.nit)
        bar.update(max(0, self.optimizer.max_iter - int(res.nit)))
        if res.status == 0 and res.nit < self.optimizer.max_iter:
            self.stop_reason = "converged"
        elif res.status == 2:
            why = (f"its trial points kept failing ({faults[-1]})" if faults else
                   f"a non-smooth loss ({self.loss.name!r}) often stops it at once: use optimizer='adam' or 'sgd'")
            warnings.warn(f"L-BFGS stopped after {int(res.nit)} iterations without converging ({res.message}); "
                          f"{why}", ConvergenceWarning, stacklevel=4)
        x = res.x
        value = data_loss.get(x)
        if value is None:                  # an optimizer that returns a copy of the point it evaluated
            x = np.array(res.x, dtype=np.float64)
            fun(x)
            value = data_loss.get(x)
        self.params = template.unflatten(res.x)
        return value, float(res.fun)

    def end_epoch(self, loss, objective):
        t = self.trainer
        self.epoch += 1
        score = None
        if self.val is not None:
            if self.val_batch is None:
                self.val_batch = Batch(self.val, self.params)
            score = batch_accuracy(self.val_batch, self.params, method=self.loss.method, **self.loss.infer_options)
        info = {"epoch": self.epoch, "loss": float(loss), "objective": float(objective), "val_score": score,
                "n_iter": self.n_iter}
        self.history.append(info)
        logger.info("epoch %d: loss %.6g, objective %.6g, validation score %s", self.epoch, loss, objective, score)
        if self.patience is not None:
            self.early_stopping(score if score is not None else -loss)
        self.publish()
        if any(cb(t, dict(info)) for cb in t.callbacks) and self.stop_reason is None:
            self.stop_reason = "callback"
        if t.checkpoint is not None:
            self.save(t.checkpoint)

    def early_stopping(self, value):
        if self.best_value is None or value > self.best_value + self.min_delta:
            self.best_value, self.best, self.wait = float(value), self.params.copy(), 0
            return
        self.wait += 1
        if self.wait >= self.patience and self.stop_reason is None:
            self.stop_reason = "early_stopping"

    def save(self, path):
        opt_arrays, opt_meta = self.optimizer.get_state()
        meta = {"fingerprint": self.fingerprint, "optimizer": opt_meta, "rng": self.rng.bit_generator.state,
                "epoch": self.epoch, "n_iter": self.n_iter, "history": self.history,
                "best_value": self.best_value, "wait": self.wait, "stop_reason": self.stop_reason}
        loss_arrays = None
        if self.stochastic:
            loss_arrays, meta["loss_state"] = self.loss.get_state()
        save_checkpoint(path, self.params, self.best, opt_arrays, meta, loss_arrays)

    def publish(self):
        """Copy the training state to the trainer's fitted attributes."""
        t = self.trainer
        t.parameters_ = self.params
        t.theta_ = self.params.flatten()
        t.n_iter_ = self.n_iter
        t.n_epochs_ = self.epoch
        t.history_ = list(self.history)
        t.stop_reason_ = self.stop_reason
        t.loss_ = self.loss
        t.optimizer_ = self.optimizer

