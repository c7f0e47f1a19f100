"""What every loss shares: energy terms from inference, sensitivities, parameter gradients.

A loss depends on the parameters W only through energies. Each loss is a
function of a few per-example *energy terms*, each found by inference on the
compiled batch:

* the positive term: ``E(W, y_i, x_i)``, or ``min_z E(y_i, z)`` /
  the free energy over z when the model has latent variables;
* the negative term: ``min_{y,z} E`` (beta = inf) or the free energy
  ``-(1/beta) log sum_{y,z} exp(-beta E)``;
* the most offending incorrect answer ``E(y-bar)`` (see :mod:`.offending`).

The derivative of a term with respect to every table entry is a distribution
over each factor's entries: the indicator of the minimising configuration
(beta = inf) or the factor marginals (finite beta). A loss combines the terms'
values per example, and its *energy sensitivity* ``dLoss/d(table entry)`` is
the same combination of the terms' derivatives. Each energy's ``backward``
then turns the sensitivities into the parameter gradient.

Sensitivities are accumulated straight into the *table layout* (one entry per
distinct table entry, so the thousands of factors that share a transition
matrix add into its K^2 entries): a term keeps its derivative implicit
(:class:`Derivative`: a state or an inference result) and the per-factor
*factor-entry layout* is only built when ``LossResult.sensitivity`` is read.
"""

import inspect
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..compile.linear import linear_plan, table_index_of_entries
from ..compile.compiled import CompiledGraph
from ..compile.lower import with_clamped
from ..exceptions import DeclarationError, DeclarationTypeError, InferenceError, TargetError
from ..graph.parameters import Gradient
from ..inference.api import infer
from ..inference.options import check_options
from ..utils.validation import as_float_array, check_beta, check_type
from .batch import Batch, Examples

__all__ = ["Loss", "LossResult", "Term", "Derivative", "Evaluation", "parameter_gradient", "table_gradient"]

#: Keyword options of :func:`~factorgraph_ebm.infer` a loss may pass on (it sets method and beta itself).
INFER_OPTIONS = tuple(p.name for p in inspect.signature(infer).parameters.values()
                      if p.kind == p.KEYWORD_ONLY and p.name not in ("method", "beta", "parameters"))


def factor_graph_index(compiled):
    """(n_factors,) int64 example (graph of the batch) owning each factor."""
    index = compiled.cache.get("factor_graph")
    if index is None:
        index = np.repeat(np.arange(compiled.n_graphs, dtype=np.int64), np.diff(compiled.graph_factor_ptr))
        index.setflags(write=False)
        compiled.cache["factor_graph"] = index
    return index


class Derivative:
    """Derivative of one energy term with respect to every table entry, kept implicit.

    At every factor it is the indicator of a full assignment ``state`` (a
    clamped energy or a minimum), the mean of the indicators of many sampled
    assignments (``state`` of shape (n_samples, n_vars): a Monte Carlo
    estimate of the factor marginals, as the sampling losses use), or the
    factor marginals of an inference ``result`` (a free energy), scaled per
    example by ``example_weight``. With ``shared=True`` the batch holds
    copies of one graph and ``state`` (n_samples, n_vars of one copy) serves
    every copy (a pool of samples of an unconditional model): the indicator
    means are counted once, over one copy's factors. It is
    never stored in the factor-entry layout unless asked (:meth:`entries`):
    :meth:`add_to_tables` accumulates it straight into the table layout, where
    factors that share a table (a chain's transition matrix) share entries.

    Parameters
    ----------
    compiled : CompiledGraph
    state : ndarray (n_vars,) or (n_samples, n_vars) of int, optional
    result : InferenceResult, optional
        Exactly one of ``state`` and ``result``.
    example_weight : ndarray (n_examples,), optional
        Per-example factor (e.g. 0 where a term does not apply); default 1.
    shared : bool
        ``state`` holds samples of one graph copy, shared by every example
        (all examples are copies of one graph).
    """

    def __init__(self, compiled, state=None, result=None, example_weight=None, shared=False):
        self.compiled = compiled
        self.state = state
        self.result = result
        self.example_weight = example_weight
        self.shared = shared
        self._offsets = None

    def sample_offsets(self):
        """(n_samples, F) :meth:`CompiledGraph.entry_offsets` of a 2-D ``state``, computed once."""
        if self._offsets is None:
            self._offsets = self.compiled.entry_offsets(self.state)
        return self._offsets

    def masked(self, keep):
        """The same derivative with the examples where ``keep`` is False set to zero."""
        weight = keep.astype(np.float64)
        if self.example_weight is not None:
            weight = weight * self.example_weight
        return Derivative(self.compiled, self.state, self.result, weight, self.shared)

    def _shared_entries(self):
        """(n_entries,) indicator means of the shared samples, repeated for every copy (factor-entry layout)."""
        cg = self.compiled
        w = cg.wiring
        n_factors = int(cg.graph_factor_ptr[1])            # factors of one copy (the first graph)
        n_edges = int(w.factor_edge_ptr[n_factors])
        states = np.asarray(self.state)
        offsets = np.add.reduceat(states[:, w.edge_var[:n_edges]].astype(np.int64) * w.edge_stride[:n_edges],
                                  w.factor_edge_ptr[:n_factors], axis=1) if n_edges else \
            np.zeros((len(states), n_factors), dtype=np.int64)
        n_local = int(cg.factor_entry_ptr[n_factors])
        at = (cg.factor_entry_ptr[:n_factors] + offsets).ravel()
        means = np.bincount(at, minlength=n_local) / len(states)
        return np.tile(means, cg.n_graphs)

    def _factor_weight(self, example_coef):
        coef = np.asarray(example_coef, dtype=np.float64)
        if self.example_weight is not None:
            coef = coef * self.example_weight
        return coef[factor_graph_index(self.compiled)]

    def add_to_tables(self, out, example_coef):
        """``out += sum_examples coef * derivative`` in the table layout (first copy of ``wiring.tables``)."""
        weight = self._factor_weight(example_coef)
        if self.result is not None:
            self.result.add_factor_marginals(out, weight)
            return
        if self.shared:
            sizes = np.diff(self.compiled.factor_entry_ptr)
            out += np.bincount(table_index_of_entries(self.compiled), minlength=len(out),
                               weights=np.repeat(weight, sizes) * self._shared_entries())
            return
        if self.state.ndim == 2:
            w = self.compiled.wiring
            at, weight = self._sample_positions(w.block_ptr[w.factor_block], weight)
            out += np.bincount(at, weights=weight, minlength=len(out))
            return
        out += np.bincount(self.compiled.table_positions(self.state), weights=weight, minlength=len(out))

    def _sample_positions(self, base, weight):
        """Flat positions ``base[f] + offset`` of every (sample, factor) and their weights ``weight[f] / n``."""
        offsets = self.sample_offsets()
        at = (base + offsets).ravel()
        return at, np.broadcast_to(weight / len(offsets), offsets.shape).ravel()

    def entries(self, example_coef=None):
        """The derivative in the factor-entry layout (n_entries,), times ``example_coef`` per example."""
        cg = self.compiled
        coef = np.ones(cg.n_graphs) if example_coef is None else example_coef
        sizes = np.diff(cg.factor_entry_ptr)
        weight = np.repeat(self._factor_weight(coef), sizes)
        if self.result is not None:
            return weight * self.result.factor_marginal_array()
        if self.shared:
            return weight * self._shared_entries()
        if self.state.ndim == 2:
            at, wts = self._sample_positions(cg.factor_entry_ptr[:-1], self._factor_weight(coef))
            return np.bincount(at, weights=wts, minlength=int(cg.factor_entry_ptr[-1]))
        out = np.zeros(int(cg.factor_entry_ptr[-1]))
        at = cg.factor_entry_ptr[:-1] + cg.entry_offsets(self.state)
        out[at] = weight[at]
        return out


class Term(NamedTuple):
    """One energy term of every example of a batch.

    Attributes
    ----------
    values : ndarray (n_examples,)
        The term (an energy or a free energy) per example.
    derivative : Derivative
        Its derivative with respect to every table entry.
    state : ndarray (n_vars,) or None
        The minimising full assignment (beta = inf), else None.
    """

    values: np.ndarray
    derivative: Derivative
    state: object

    @property
    def sensitivity(self):
        """The derivative in the factor-entry layout, ``(n_entries,)``."""
        return self.derivative.entries()


class LossResult:
    """Value, energy sensitivities and parameter gradient of a loss on a batch.

    The batch value is the mean over its examples; ``sensitivity`` and
    ``gradient`` are derivatives of that mean.

    Attributes
    ----------
    value : float
        Mean loss over the examples.
    values : ndarray (n_examples,)
        Loss per example.
    table_sensitivity : ndarray (len(wiring.tables) // 2,)
        ``d value / d(table entry)`` in the table layout (shared tables summed).
    gradient : Gradient
        ``d value / d W`` for every parameter passed in.
    compiled : CompiledGraph
        The batch the loss was evaluated on (tables at the given parameters).
    terms : dict
        The energy terms used (``"positive"``, ``"negative"``, ``"offending"``).
    """

    def __init__(self, value, values, table_sensitivity, gradient, compiled, terms, pairs):
        self.value = value
        self.values = values
        self.table_sensitivity = table_sensitivity
        self.gradient = gradient
        self.compiled = compiled
        self.terms = terms
        self._pairs = pairs
        self._sensitivity = None

    @property
    def sensitivity(self):
        """``d value / d(table entry)`` for every factor in the factor-entry layout (n_entries,).

        Factor ``f`` sits at ``compiled.factor_entry_ptr[f]:[f + 1]``. Computed
        on first access (it holds every factor's table: large for big batches).
        """
        if self._sensitivity is None:
            out = np.zeros(int(self.compiled.factor_entry_ptr[-1]))
            for coef, term in self._pairs:
                out += term.derivative.entries(coef)
            self._sensitivity = out
        return self._sensitivity


def parameter_gradient(compiled, sensitivity, parameters):
    """Turn energy sensitivities into ``dLoss/dW`` through each energy's ``backward``.

    Sensitivities of factors that share a table are summed first; every
    LinearEnergy naming the same parameter is differentiated at once (one
    product with the stacked features, see ``compile.linear``), and other
    energies get one ``backward`` call per energy object (``backward`` is
    linear in the sensitivity).

    Parameters
    ----------
    compiled : CompiledGraph
    sensitivity : ndarray (n_entries,)
        ``dLoss/d(table entry)`` in the factor-entry layout.
    parameters : mapping
        Current parameter values (every name some energy needs).

    Returns
    -------
    Gradient
        One gradient per name in ``parameters`` (zeros where no factor uses it).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy, compile_graph
    >>> fg = FactorGraph()
    >>> y = fg.add_variables("y", shape=3, states=2)
    >>> _ = fg.add_factor_group(y.ids[:, None], LinearEnergy("b"), name="bias")
    >>> cg = compile_graph(fg, parameters={"b": [0.0, 0.0]})
    >>> parameter_gradient(cg, np.array([1.0, 0, 1, 0, 0, 1]), {"b": [0.0, 0.0]})["b"]
    array([-2., -1.])
    """
    check_type(compiled, CompiledGraph, "parameter_gradient: compiled", "a CompiledGraph")
    check_type(parameters, Mapping, "parameter_gradient: parameters", "a mapping name -> array")
    sensitivity = as_float_array(sensitivity, "parameter_gradient: sensitivity")
    n_entries = int(compiled.factor_entry_ptr[-1])
    if sensitivity.shape != (n_entries,):
        raise DeclarationError(f"parameter_gradient: sensitivity must have shape ({n_entries},) "
                               f"(one entry per factor table entry), got {sensitivity.shape}")
    w = compiled.wiring
    table_sens = np.bincount(table_index_of_entries(compiled), weights=sensitivity, minlength=len(w.tables) // 2)
    return table_gradient(compiled, table_sens, parameters)


def table_gradient(compiled, table_sens, parameters):
    """:func:`parameter_gradient` from a sensitivity already in the table layout (shared tables summed).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, LinearEnergy, compile_graph
    >>> fg = FactorGraph()
    >>> y = fg.add_variables("y", shape=3, states=2)
    >>> _ = fg.add_factor_group(y.ids[:, None], LinearEnergy("b"), name="bias")
    >>> cg = compile_graph(fg, parameters={"b": [0.0, 0.0]})
    >>> table_gradient(cg, np.array([2.0, 1.0]), {"b": [0.0, 0.0]})["b"]
    array([-2., -1.])
    """
    w = compiled.wiring
    plan = linear_plan(compiled)
    grad = Gradient({k: np.zeros(np.shape(v)) for k, v in parameters.items()})
    parts = [(f"LinearEnergy({k!r})", k, g) for k, g in plan.gradient(table_sens, parameters).items()]
    sums = {}
    for _, spec, first, first_block in plan.generic_slots:
        n_blocks = int(w.factor_block[first + spec.n_factors - 1] - first_block + 1)
        start = w.block_ptr[first_block]
        rows = table_sens[start:w.block_ptr[first_block + n_blocks]].reshape(n_blocks, *spec.states)
        rows = rows[0] if n_blocks == 1 else rows
        key = (id(spec.energy), rows.shape)
        if key in sums:
            sums[key][1] += rows
        else:
            sums[key] = [spec.energy, rows.copy()]
    for energy, sens in sums.values():
        parts.extend((repr(energy), name, g) for name, g in energy.backward(sens, parameters).items())
    for owner, name, g in parts:
        if name not in grad:
            raise DeclarationError(f"{owner}: gradient for parameter {name!r}, which has no value")
        g = np.asarray(g, dtype=np.float64)
        if g.shape != grad[name].shape:
            raise DeclarationError(
                f"{owner}: backward returned shape {g.shape} for parameter {name!r} of shape {grad[name].shape}"
            )
        grad[name] = grad[name] + g
    return grad


class Evaluation:
    """Energy terms of one batch at one parameter value, each computed at most once.

    Parameters
    ----------
    loss : Loss
        Supplies the inference options (``method``, ``infer_options``).
    batch : Batch
    parameters : mapping
    """

    def __init__(self, loss, batch, parameters):
        self.loss = loss
        self.batch = batch
        self.parameters = parameters
        self.compiled = batch.refreshed(parameters)
        self._cache = {}

    def infer(self, compiled, beta):
        """Run the loss's inference method on a compiled (sub)problem."""
        return infer(compiled, beta=beta, method=self.loss.method, **self.loss.infer_options)

    def clamped_term(self, clamped, beta):
        """Min (beta = inf) or free energy of the batch with ``clamped`` states fixed."""
        cg = with_clamped(self.compiled, clamped)
        if (clamped >= 0).all():
            state = clamped
        elif beta == np.inf:
            state = self.infer(cg, np.inf).map_state
        else:
            res = self.infer(cg, beta)
            return Term(np.asarray(res.free_energies, dtype=np.float64), Derivative(cg, result=res), None)
        return Term(cg.graph_energies(state), Derivative(cg, state=state), state)

    def positive(self, beta=np.inf):
        """``E(y_i)``; with free latent variables ``min_z E(y_i, z)`` or the free energy over z at ``beta``."""
        return self.cached("positive", beta, lambda: self.clamped_term(self.batch.positive, beta))

    def negative(self, beta=np.inf):
        """``min_{y,z} E`` (beta = inf) or the free energy over y and z at ``beta``."""
        return self.cached("negative", beta, lambda: self.clamped_term(self.batch.evidence, beta))

    def contrast(self, beta):
        """Values and term weights of ``positive(beta) - negative(beta)``."""
        pos, neg = self.positive(beta), self.negative(beta)
        one = np.ones_like(pos.values)
        return pos.values - neg.values, [(one, pos), (-one, neg)]

    def cached(self, name, key, compute):
        """The term ``name`` computed once per ``key`` (e.g. its beta)."""
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = self._cache[name] = (key, compute())
        return hit[1]

    @property
    def terms(self):
        """Dict name -> Term of the terms computed so far."""
        return {name: term for name, (_, term) in self._cache.items()}

    def combine(self, coefficients):
        """Sensitivity ``sum_k coef_k[example] * d term_k / d(table entry)`` in the table layout."""
        out = np.zeros(len(self.compiled.wiring.tables) // 2)
        for coef, term in coefficients:
            term.derivative.add_to_tables(out, coef)
        return out


class Loss:
    """Base class of the losses: value, energy sensitivities and parameter gradient.

    Subclasses implement ``_evaluate(ev)`` returning the per-example values and
    a list of ``(dvalue/dterm per example, Term)`` pairs.

    Parameters
    ----------
    method : {"auto", "bp", "exact", "enumerate"}
        Inference method for the terms (see :func:`~factorgraph_ebm.infer`).
        ``"auto"`` is exact on forests and small loopy graphs.
    infer_options : dict, optional
        Further options for :func:`~factorgraph_ebm.infer` (``damping``,
        ``tol``, ``max_iter``, ``schedule``).
    """

    name = "loss"
    #: True when the loss needs the most offending incorrect answer.
    needs_offending = False
    #: True when the loss draws samples (its value and gradient are random estimates): the Trainer then
    #: refuses L-BFGS, seeds it from ``random_state`` and checkpoints its state (see :mod:`.sampling`).
    stochastic = False

    def __init__(self, *, method="auto", infer_options=None):
        if infer_options is not None and not isinstance(infer_options, Mapping):
            raise DeclarationTypeError(f"infer_options must be a dict of options of infer() {INFER_OPTIONS}, "
                                       f"got {type(infer_options).__name__}")
        unknown = [k for k in (infer_options or {}) if k not in INFER_OPTIONS]
        if unknown:
            raise DeclarationTypeError(f"infer_options: {unknown[0]!r} is not an option of infer(); "
                                       f"use one of {INFER_OPTIONS}")
        check_options(method=method, **(infer_options or {}))   # refused here, before anything is compiled
        self.method = method
        self.infer_options = dict(infer_options or {})

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __call__(self, data, targets=None, evidence=None, *, parameters):
        """Evaluate on a :class:`Batch`, or on ``(graphs, targets, evidence)`` compiled as one.

        Returns
        -------
        LossResult
        """
        if isinstance(data, Batch):
            if targets is not None or evidence is not None:
                raise TargetError("a Batch already holds its targets and evidence")
            batch = data
        else:
            if targets is None:
                raise TargetError("targets are required (one per example)")
            batch = Batch(Examples(data, targets, evidence), parameters)
        return self.evaluate(batch, parameters)

    def evaluate(self, batch, parameters):
        """Value, sensitivities and gradient on a compiled :class:`Batch`."""
        parameters = parameters if parameters is not None else {}
        ev = Evaluation(self, batch, parameters)
        self.check_examples(batch)
        values, pairs = self._evaluate(ev)
        n = batch.n_examples
        values = np.asarray(values, dtype=np.float64)
        pairs = [(np.asarray(c, dtype=np.float64) / n, t) for c, t in pairs]
        sens = ev.combine(pairs)
        grad = table_gradient(ev.compiled, sens, parameters)
        return LossResult(float(values.mean()), values, sens, grad, ev.compiled, ev.terms, pairs)

    def check_examples(self, examples):
        """Raise :class:`TrainingError` before any inference when the loss cannot apply to ``examples``.

        ``examples`` is an :class:`Examples` or a :class:`Batch`.
        """

    def _evaluate(self, ev):
        raise NotImplementedError


def check_latent_beta(latent_beta):
    """``latent_beta`` as a float (inf = min over latent variables)."""
    try:
        return check_beta(latent_beta)
    except InferenceError as exc:
        raise InferenceError(str(exc).replace("beta", "latent_beta", 1)) from None
