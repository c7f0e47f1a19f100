"""Exceptions and warnings raised by factorgraph_ebm.

Every error is a :class:`FactorGraphError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working for callers that do not know this package.
"""

__all__ = [
    "FactorGraphError",
    "DeclarationError",
    "DeclarationTypeError",
    "EvidenceError",
    "ZeroPartitionError",
    "InferenceError",
    "ParseError",
    "ResourceLimitError",
    "MemoryBudgetError",
    "SamplingError",
    "TargetError",
    "TrainingError",
    "NotFittedError",
    "ConvergenceWarning",
]


class FactorGraphError(ValueError):
    """Base class of every error raised by factorgraph_ebm."""


class NotFittedError(FactorGraphError, AttributeError):
    """A model was asked to predict before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError``.
    """


class DeclarationError(FactorGraphError):
    """A variable, factor or energy was declared wrongly (name, states, table...)."""


class DeclarationTypeError(DeclarationError, TypeError):
    """An argument has the wrong type: a table, features or parameter value that is
    not an array of numbers, a graph argument that is not a FactorGraph (or
    CompiledGraph), an option a loss does not take, a file argument that is
    neither a path nor a stream.

    It is both a :class:`DeclarationError` (so a ``ValueError``) and a
    ``TypeError``, so either ``except`` clause catches it.
    """


class EvidenceError(FactorGraphError):
    """Evidence names an unknown variable or a state out of range."""


class ZeroPartitionError(FactorGraphError):
    """Every configuration compatible with the evidence has infinite energy."""


class InferenceError(FactorGraphError):
    """An inference request is invalid (bad beta, method, or a model too large for it)."""


class SamplingError(InferenceError):
    """A sampler cannot run as asked: a chain in a state of zero probability that cannot
    leave it, a forest sampler given a graph with a cycle, bad chain counts or seeds."""


class TargetError(EvidenceError):
    """A training target has the wrong shape, an out-of-range state, or misses an output."""


class TrainingError(FactorGraphError):
    """A loss or a trainer cannot go on.

    Raised for an empty dataset, a loss that needs an incorrect answer on a model
    with a single possible output, a non-finite loss or gradient (the message
    names the step and the parameter), or a checkpoint that does not match.
    """


class ParseError(FactorGraphError):
    """A model, evidence or result file is malformed.

    The message starts with the file and the line, e.g.
    ``"grid.uai, line 7: table of factor 2 has 3 entries, expected 4"``.

    Attributes
    ----------
    path : str
        The file (or ``"<string>"`` for text that came from a stream without a name).
    line : int or None
        1-based line of the offending token; None when the problem is not tied to a line.
    """

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        return type(self), (self.path, self.line, self.reason)


class ResourceLimitError(ParseError):
    """A file asks for more than a reading limit allows (variables, states, table entries...).

    Raised before anything that large is allocated. A :class:`ParseError`, so
    ``except ParseError`` still catches every problem with a file; the
    message names the limit and how to raise it.

    Attributes
    ----------
    limit : str
        Name of the limit (a field of :class:`factorgraph_ebm.io.ReadLimits`).
    value : int
        What the file asks for.
    maximum : int
        The limit in force.
    """

    def __init__(self, path, line, message, limit, value, maximum):
        self.limit = str(limit)
        self.value = value
        self.maximum = maximum
        super().__init__(path, line, message)

    def __reduce__(self):
        return type(self), (self.path, self.line, self.reason, self.limit, self.value, self.maximum)


class MemoryBudgetError(InferenceError):
    """Inference (or compiling a model for it) would need more memory than its budget.

    Raised from the predicted size, before the arrays are allocated. Raise the
    budget with ``memory_budget=`` (or ``FGEBM_MEMORY_BUDGET``, ``fgebm
    --memory-budget``), or pick a cheaper method.

    Attributes
    ----------
    needed : float
        Predicted bytes.
    budget : float
        The budget in force, in bytes.
    """

    def __init__(self, message, needed, budget):
        self.needed = float(needed)
        self.budget = float(budget)
        super().__init__(message)

    def __reduce__(self):
        return type(self), (str(self), self.needed, self.budget)


class ConvergenceWarning(UserWarning):
    """Loopy belief propagation stopped at its iteration cap before reaching tolerance."""
