"""Training data: validated examples (graph, evidence X, target Y) and compiled batches.

An *example* is a declared graph, evidence that clamps (usually) its observed
variables, and a *target*: the correct state of every variable whose role is
``"output"``. Latent variables (and unclamped observed ones) stay free. A
:class:`Batch` compiles several examples into one disjoint block, so one
kernel call serves the batch; the structure is compiled once and parameter
changes only refresh the tables.
"""

import numbers

import numpy as np

from ..compile.lower import compile_graph, resolve_evidence, with_clamped, with_parameters
from ..exceptions import EvidenceError, TargetError, TrainingError
from ..graph.factor_graph import FactorGraph
from ..utils.validation import check_type

__all__ = ["Examples", "Batch", "make_batch", "output_ids"]


def output_ids(graph):
    """Sorted flat ids of the variables of ``graph`` whose role is ``"output"``.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("x", 2, role="observed")
    >>> y = fg.add_variables("y", shape=3, states=2)
    >>> output_ids(fg)
    array([1, 2, 3])
    """
    check_type(graph, FactorGraph, "output_ids: graph", "a FactorGraph")
    parts = [np.arange(b.start, b.start + b.size, dtype=np.int64) for b in graph.variable_blocks if b.role == "output"]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _resolve_target(graph, target, outs, i):
    """Flat int64 target over the graph's variables: states on outputs, -1 elsewhere."""
    owner = f"target of example {i}"
    states = graph.var_states
    flat = np.full(graph.n_vars, -1, dtype=np.int64)
    if isinstance(target, dict):
        try:
            resolved = resolve_evidence(graph, target)
        except EvidenceError as exc:
            raise TargetError(f"{owner}: {exc}") from None
        extra = np.flatnonzero(resolved >= 0)
        extra = extra[~np.isin(extra, outs)]
        if len(extra):
            v = int(extra[0])
            role = next(b.role for b in graph.variable_blocks if b.start <= v < b.start + b.size)
            raise TargetError(f"{owner}: variable {graph.variable_name(v)!r} has role {role!r}; "
                              "targets assign output variables only")
        missing = outs[resolved[outs] < 0]
        if len(missing):
            raise TargetError(f"{owner}: output variable {graph.variable_name(int(missing[0]))!r} has no target state")
        flat[outs] = resolved[outs]
        return flat
    if isinstance(target, (numbers.Integral, np.integer)) and not isinstance(target, bool):
        arr = np.array([target])
        if len(outs) != 1:
            raise TargetError(f"{owner}: a single state {target!r} for {len(outs)} output variables; "
                              f"pass an int array of shape ({len(outs)},) or a dict")
    elif isinstance(target, (bool, np.bool_, numbers.Real, str)):
        got = f"got {target!r} ({type(target).__name__})"
        if len(outs) == 1:
            raise TargetError(f"{owner}: a target state must be an integer in [0, {int(states[outs[0]])}), {got}")
        raise TargetError(f"{owner}: expected an int array of shape ({len(outs)},) (one state per output "
                          f"variable, in id order) or a dict, {got}")
    else:
        try:
            arr = np.asarray(target)
        except (TypeError, ValueError) as exc:
            raise TargetError(f"{owner}: not an int array ({exc})") from None
        if arr.shape != (len(outs),) or not np.issubdtype(arr.dtype, np.integer):
            raise TargetError(f"{owner}: expected an int array of shape ({len(outs)},) (one state per output "
                              f"variable, in id order) or a dict, got shape {arr.shape} dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= states[outs])
    if bad.any():
        j = int(np.argmax(bad))
        raise TargetError(f"{owner}: state {int(arr[j])} out of range [0, {int(states[outs[j]])}) for output "
                          f"variable {graph.variable_name(int(outs[j]))!r}")
    flat[outs] = arr
    return flat


def _evidence_list(evidence):
    """``evidence`` (one entry per example) as a list, or an EvidenceError."""
    if not hasattr(evidence, "__iter__") or isinstance(evidence, (str, bytes, dict)):
        raise EvidenceError(f"evidence must be a sequence with one entry (dict, flat int array or None) per "
                            f"example, got {type(evidence).__name__}")
    return list(evidence)


class Examples:
    """A validated dataset: graphs, flat evidence and flat targets, one per example.

    Parameters
    ----------
    graphs : FactorGraph or sequence of FactorGraph
        One graph per example, or one graph shared by every example (the inputs
        then differ through the evidence).
    targets : sequence
        One target per example: a dict (as for evidence) naming every output
        variable, an int array with one state per output variable (in flat id
        order; for a chain ``y`` of length T, the T tags), or an int when the
        graph has a single output variable.
    evidence : sequence, optional
        One evidence (dict, flat int array or None) per example. Evidence may
        not clamp output variables.

    Attributes
    ----------
    graphs : list of FactorGraph
    evidence : list of ndarray
        Flat clamped states per example (-1 = free).
    targets : list of ndarray
        Flat target states per example (-1 off the outputs).
    ids : ndarray (n_examples,) int64
        Index of each example in the dataset it was first built as (kept by
        :meth:`subset`), so a loss can keep state per example across batches.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("x", 2, role="observed"); _ = fg.add_variable("y", 3)
    >>> data = Examples(fg, [2, 0], evidence=[{"x": 0}, {"x": 1}])
    >>> len(data), data.targets[0], data.evidence[1]
    (2, array([-1,  2]), array([ 1, -1]))
    """

    def __init__(self, graphs, targets, evidence=None):
        try:
            targets = list(targets)
        except TypeError:
            raise TargetError(f"targets must be a sequence with one target per example, got {targets!r}") from None
        n = len(targets)
        if n == 0:
            raise TrainingError("empty dataset: no targets (need at least one example)")
        if isinstance(graphs, FactorGraph):
            graphs = [graphs] * n
        else:
            iterable = hasattr(graphs, "__iter__") and not isinstance(graphs, (str, bytes, dict))
            graphs = list(graphs) if iterable else [graphs]
        wrong = [i for i, g in enumerate(graphs) if not isinstance(g, FactorGraph)]
        if wrong:
            raise TargetError(f"graphs must be a FactorGraph or a sequence of FactorGraph, "
                              f"got {type(graphs[wrong[0]]).__name__}"
                              + (f" at position {wrong[0]}" if len(graphs) > 1 else ""))
        if len(graphs) != n:
            raise TargetError(f"{len(graphs)} graphs for {n} targets")
        if evidence is None:
            evidence = [None] * n
        else:
            evidence = _evidence_list(evidence)
            if len(evidence) != n:
                raise EvidenceError(f"{len(evidence)} evidence entries for {n} examples")
        outs_of = {}
        self.graphs, self.evidence, self.targets = graphs, [], []
        for i, (g, ev, tg) in enumerate(zip(graphs, evidence, targets)):
            outs = outs_of.get(id(g))
            if outs is None:
                outs = outs_of[id(g)] = output_ids(g)
            if not len(outs):
                raise TargetError(f"example {i}: the graph has no output variable (role='output') to train")
            try:
                flat_ev = resolve_evidence(g, ev)
            except EvidenceError as exc:
                raise EvidenceError(f"evidence of example {i}: {exc}") from None
            clamped_out = outs[flat_ev[outs] >= 0]
            if len(clamped_out):
                raise EvidenceError(f"evidence of example {i} clamps output variable "
                                    f"{g.variable_name(int(clamped_out[0]))!r}; put it in the target")
            self.evidence.append(flat_ev)
            self.targets.append(_resolve_target(g, tg, outs, i))
        self.ids = np.arange(n, dtype=np.int64)

    def __len__(self):
        return len(self.graphs)

    def subset(self, indices):
        """The examples at ``indices`` (no re-validation)."""
        out = object.__new__(Examples)
        out.graphs = [self.graphs[i] for i in indices]
        out.evidence = [self.evidence[i] for i in indices]
        out.targets = [self.targets[i] for i in indices]
        out.ids = self.ids[np.asarray(indices, dtype=np.int64)]
        return out


class Batch:
    """Examples compiled as one disjoint block, ready for losses.

    Parameters
    ----------
    examples : Examples
    parameters : mapping, optional
        Parameter values to compile the tables with (required when energies
        have parameters); losses refresh them with ``with_parameters``.

    Attributes
    ----------
    compiled : CompiledGraph
        The batch with the evidence X clamped (the negative phase).
    evidence, target : ndarray (n_vars,) int64
        Flat evidence (-1 free) and target (-1 off the outputs) over the batch.
    positive : ndarray (n_vars,) int64
        Evidence plus target: the clamping of the positive phase.
    is_output : ndarray (n_vars,) bool
        Output variables.
    example_ids : ndarray (n_examples,) int64
        Dataset index of each example (``Examples.ids``).
    """

    def __init__(self, examples, parameters=None):
        check_type(examples, Examples, "Batch: examples", "an Examples (or use make_batch(graphs, targets, ...))")
        if len(examples) == 0:
            raise TrainingError("empty batch: no examples")
        self.examples = examples
        compiled = compile_graph(examples.graphs, parameters=parameters)
        self.evidence = np.concatenate(examples.evidence)
        self.target = np.concatenate(examples.targets)
        self.is_output = self.target >= 0
        self.positive = np.where(self.is_output, self.target, self.evidence)
        self.compiled = with_clamped(compiled, self.evidence)
        self.example_ids = examples.ids
        self.cache = {}

    @property
    def n_examples(self):
        """Number of examples."""
        return self.compiled.n_graphs

    def refreshed(self, parameters):
        """The compiled batch with tables evaluated at ``parameters``."""
        return with_parameters(self.compiled, parameters)


def make_batch(graphs, targets, evidence=None, parameters=None):
    """Validate examples and compile them as one :class:`Batch`.

    Examples
    --------
    >>> from factorgraph_ebm import LinearEnergy
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("y", 2)
    >>> _ = fg.add_factor(["y"], LinearEnergy("b"))
    >>> batch = make_batch(fg, [1, 0, 1], parameters={"b": [0.0, 0.0]})
    >>> batch.n_examples, batch.target
    (3, array([1, 0, 1]))
    """
    return Batch(Examples(graphs, targets, evidence), parameters)
