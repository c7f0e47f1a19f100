"""ChainTagger: a linear-chain model (CRF, structured SVM, structured perceptron) on the engine.

Each sequence becomes a factor graph: one output variable per position with as
many states as labels, an emission factor per position whose energy is
``-x_t . W_emission[:, y_t]`` (:class:`~factorgraph_ebm.LinearEnergy` over the
position's feature row, sparse or dense) and a transition factor per pair of
neighbours with the shared energy ``-W_transition[y_t, y_t+1]``; with
``order=2`` also a factor over each triple with ``-W_transition2[y_t, y_t+1, y_t+2]``.
Training is the learning layer's :class:`~factorgraph_ebm.Trainer` with any
loss (``"nll"`` gives a CRF, ``"hinge"`` a structured SVM, ``"perceptron"`` a
structured perceptron); all training sequences are compiled as one block, so
each loss evaluation is one kernel call over every sentence.
"""

import inspect
import numbers

import numpy as np
import scipy.sparse as sp

from ..compile.lower import compile_graph
from ..exceptions import FactorGraphError, NotFittedError
from ..graph.energies import LinearEnergy
from ..graph.factor_graph import FactorGraph
from ..inference.api import infer
from ..losses import LOSSES, get_loss
from ..train.optimizers import LBFGS, OPTIMIZERS, get_optimizer
from ..train.trainer import Trainer
from ..utils.validation import check_beta
from .features import FeatureIndex

__all__ = ["ChainTagger"]

EMISSION, TRANSITION, TRANSITION2 = "emission", "transition", "transition2"


def _is_numeric(seq):
    return sp.issparse(seq) or (isinstance(seq, np.ndarray) and seq.dtype.kind in "biuf")


def _length(seq):
    """Tokens in a sequence (rows of a sparse matrix, else ``len``); None when it is not a sequence."""
    if sp.issparse(seq):
        return seq.shape[0]
    return len(seq) if hasattr(seq, "__len__") else None


def _fitted_names(obj):
    """Public attributes ending in ``_`` (the fitted state)."""
    return [k for k in vars(obj) if k.endswith("_") and not k.startswith("_")]


class ChainTagger:
    """Linear-chain tagger trained with any loss of the learning layer.

    Follows the scikit-learn estimator conventions: ``fit(X, y)``,
    :meth:`predict`, :meth:`predict_marginals`, :meth:`score`,
    :meth:`get_params` / :meth:`set_params`; fitted attributes end in ``_``.

    Parameters
    ----------
    loss : str
        A loss name (``"nll"``: conditional random field; ``"hinge"``:
        structured SVM; ``"perceptron"``; ``"log"``, ...; see
        :data:`factorgraph_ebm.losses.LOSSES`).
    optimizer : {"auto", "lbfgs", "sgd", "adam"}
        ``"auto"``: L-BFGS for the smooth NLL loss, Adam (mini-batches of 32
        unless ``batch_size`` says otherwise) for the other losses, whose
        subgradients L-BFGS cannot follow (from ``W = 0`` every label ties and
        its line search fails at once).
    l2 : float
        ``l2/2 ||W||^2`` added to the mean loss per sequence. CRFsuite's ``c2``
        on ``n`` sequences is ``l2 = 2 c2 / n``.
    max_iter : int
        L-BFGS iterations, or epochs for ``"sgd"`` / ``"adam"``.
    tol : float
        L-BFGS tolerance.
    learning_rate : float or None
        Step size of ``"sgd"`` / ``"adam"``.
    batch_size : int or None
        Sequences per step for ``"sgd"`` / ``"adam"`` (None: all).
    beta : float
        Inverse temperature of the NLL loss and the default of
        :meth:`predict_marginals`.
    order : {1, 2}
        2 adds a factor over every three consecutive labels (the graph then has
        cycles; inference uses the junction tree, exact but slower).
    min_count : int
        Keep token features seen at least this many times in training.
    loss_options : dict or None
        Further options for the loss (``margin``, ``offending="hamming"``, ...).
    random_state : None, int or Generator
        Seed of the mini-batch shuffles.
    progress : bool
        Show a progress bar while training.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted; states of the output variables index into it.
    feature_index_ : FeatureIndex or None
        Columns of the token features (None for numeric feature rows).
    n_features_in_ : int
        Columns of a feature row.
    parameters_ : Parameters
        ``emission`` (n_features, n_classes), ``transition`` (n_classes, n_classes)
        and, with ``order=2``, ``transition2``.
    trainer_ : Trainer
        The fitted trainer (history, stop reason).
    n_iter_ : int

    Examples
    --------
    >>> X = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"], ["w=runs"]]]
    >>> y = [["DET", "NOUN"], ["DET", "NOUN", "VERB"]]
    >>> tagger = ChainTagger(l2=0.01, progress=False).fit(X, y)
    >>> tagger.predict([[["w=the"], ["w=cat"]]])
    [array(['DET', 'NOUN'], dtype='<U4')]
    >>> tagger.score(X, y)
    1.0
    >>> tagger.predict_marginals([[["w=a"], ["w=dog"]]])[0].round(2)   # columns: classes_
    array([[0.97, 0.01, 0.01],
           [0.01, 0.97, 0.02]])
    """

    def __init__(self, loss="nll", optimizer="auto", *, l2=1e-3, max_iter=100, tol=1e-6, learning_rate=None,
                 batch_size=None, beta=1.0, order=1, min_count=1, loss_options=None, random_state=None,
                 progress=True):
        self.loss = loss
        self.optimizer = optimizer
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.beta = beta
        self.order = order
        self.min_count = min_count
        self.loss_options = loss_options
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------ sklearn API
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep=True):
        """The constructor arguments as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments; returns self. Unknown names raise ValueError."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for ChainTagger; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items()
                   if v is not inspect.signature(type(self).__init__).parameters[k].default}
        return f"ChainTagger({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------ validation
    def _check_settings(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.optimizer != "auto" and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be 'auto' or one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {self.order!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1, got {self.max_iter!r}")
        check_beta(self.beta)

    def _check_fitted(self):
        if not hasattr(self, "parameters_"):
            raise NotFittedError("this ChainTagger is not fitted yet; call fit(X, y) first")

    @staticmethod
    def _check_X(X):
        if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
            raise ValueError("X must be a list of sequences (one per sentence / word)")
        X = list(X)
        if not X:
            raise ValueError("X is empty: no sequences")
        for i, seq in enumerate(X):
            n = _length(seq)
            if n is None:
                raise ValueError(f"sequence {i} of X is not a sequence of tokens: {type(seq).__name__}")
            if n == 0:
                raise ValueError(f"sequence {i} of X is empty")
        return X

    def _features(self, X):
        """One feature matrix (T, n_features_in_) per sequence."""
        numeric = [_is_numeric(seq) for seq in X]
        if all(numeric):
            rows = []
            for i, seq in enumerate(X):
                m = seq.tocsr().astype(np.float64) if sp.issparse(seq) else np.asarray(seq, dtype=np.float64)
                if m.ndim != 2:
                    raise ValueError(f"sequence {i} of X: a numeric sequence must be 2-D (tokens, features), "
                                     f"got shape {m.shape}")
                if hasattr(self, "n_features_in_") and m.shape[1] != self.n_features_in_:
                    raise ValueError(f"sequence {i} of X has {m.shape[1]} features per token, "
                                     f"the tagger was fitted with {self.n_features_in_}")
                data = m.data if sp.issparse(m) else m
                if not np.isfinite(data).all():
                    raise ValueError(f"sequence {i} of X has non-finite feature values")
                rows.append(m)
            return rows
        if any(numeric):
            raise ValueError("X mixes numeric feature matrices and token feature lists; use one kind")
        if getattr(self, "feature_index_", 0) is None:
            raise ValueError("the tagger was fitted on numeric feature matrices; pass matrices, not token lists")
        return self.feature_index_.transform(X)

    @staticmethod
    def _check_y(y, X):
        """``y`` as a list of flat label arrays, one per sequence of ``X``."""
        if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
            raise ValueError("y must be a list of label sequences")
        y = [np.asarray(ys).ravel() for ys in y]
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} sequences but y has {len(y)}")
        return y

    def _encode(self, y, X):
        out = []
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        for i, (xs, ys) in enumerate(zip(X, self._check_y(y, X))):
            n = _length(xs)
            labels = ys.tolist()
            if len(labels) != n:
                raise ValueError(f"sequence {i}: {n} tokens in X but {len(labels)} labels in y")
            try:
                out.append(np.fromiter((index[lab] for lab in labels), dtype=np.int64, count=n))
            except KeyError as exc:
                raise ValueError(f"sequence {i}: label {exc.args[0]!r} was not seen in training "
                                 f"(classes_: {self.classes_.tolist()})") from None
        return out

    # ------------------------------------------------------------ the model
    def _chains(self, rows):
        """Sequences with feature rows ``rows`` (each (T, n_features)) as disjoint chains of one graph.

        One sequence gives the graph of a training example; prediction
        declares every sequence at once (three declarations, one compile).
        Returns the graph and the variable offset of each sequence.
        """
        lengths = np.array([r.shape[0] for r in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        if len(rows) == 1:
            stacked = rows[0]
        else:
            stacked = sp.vstack(rows, format="csr") if sp.issparse(rows[0]) else np.concatenate(rows, axis=0)
        fg = FactorGraph()
        ids = fg.add_variables("y", shape=int(offsets[-1]), states=len(self.classes_)).ids
        fg.add_factor_group(ids[:, None], LinearEnergy(EMISSION, features=stacked), name=EMISSION)
        n = len(ids)
        starts = np.zeros(n + 1, dtype=bool)
        starts[offsets] = True                           # where each sequence starts (and the end)
        for name, arity in ((TRANSITION, 2), (TRANSITION2, 3))[:self.order]:
            # windows i .. i + arity - 1 that no sequence start cuts
            inside = np.ones(max(n - arity + 1, 0), dtype=bool)
            for k in range(1, arity):
                inside &= ~starts[k:n - arity + 1 + k]
            first = np.flatnonzero(inside)
            if len(first):
                scopes = np.stack([ids[first + k] for k in range(arity)], axis=1)
                fg.add_factor_group(scopes, self._energy(name), name=name)
        return fg, offsets

    def _graph(self, rows):
        """Factor graph of one sequence with feature rows ``rows`` (T, n_features)."""
        return self._chains([rows])[0]

    def _energy(self, name):
        """The one LinearEnergy of a transition parameter, shared by every graph (one table block per batch)."""
        energies = vars(self).setdefault("_energies", {})
        if name not in energies:
            energies[name] = LinearEnergy(name)
        return energies[name]

    def _trainer(self):
        options = dict(self.loss_options or {})
        if self.loss == "nll":
            options.setdefault("beta", float(self.beta))
        loss = get_loss(self.loss, **options)
        name = self.optimizer
        batch_size = self.batch_size
        if name == "auto":
            name = "lbfgs" if self.loss == "nll" else "adam"
            if name == "adam" and batch_size is None:
                batch_size = 32
        if name == "lbfgs":
            optimizer, epochs = LBFGS(max_iter=self.max_iter, tol=self.tol), 1
        else:
            optimizer, epochs = get_optimizer(name, self.learning_rate), self.max_iter
        return Trainer(loss, optimizer, batch_size=batch_size, max_epochs=epochs, l2=self.l2,
                       random_state=self.random_state, progress=self.progress)

    # ------------------------------------------------------------ fit / predict
    def fit(self, X, y):
        """Train on sequences ``X`` with label sequences ``y``; returns self.

        Parameters
        ----------
        X : list of sequences
            Per sequence either a list of tokens, each a list of feature names
            (see :func:`~factorgraph_ebm.models.token_features`) or a dict
            ``{name: value}``, or a numeric matrix (tokens, features), dense or
            scipy.sparse (see :func:`~factorgraph_ebm.models.image_features`).
        y : list of sequences of labels
            Any hashable, sortable labels (str, int).
        """
        self._check_settings()
        X = self._check_X(X)
        classes = np.unique(np.concatenate(self._check_y(y, X)))
        if len(classes) < 2:
            raise ValueError(f"y needs at least 2 distinct labels, got {classes.tolist()}")
        fitted = {k: getattr(self, k) for k in _fitted_names(self)}
        for k in fitted:
            delattr(self, k)
        try:
            self.classes_ = classes
            if all(_is_numeric(seq) for seq in X):
                self.feature_index_ = None
            else:
                self.feature_index_ = FeatureIndex(self.min_count).fit(X)
            rows = self._features(X)
            self.n_features_in_ = rows[0].shape[1]
            targets = self._encode(y, X)
            graphs = [self._graph(r) for r in rows]
            k = len(classes)
            init = {EMISSION: np.zeros((self.n_features_in_, k)), TRANSITION: np.zeros((k, k))}
            if self.order == 2:
                init[TRANSITION2] = np.zeros((k, k, k))
            trainer = self._trainer().fit(graphs, targets, parameters=init)
        except BaseException:
            for k in _fitted_names(self):
                delattr(self, k)
            vars(self).update(fitted)
            raise
        self.trainer_ = trainer
        self.parameters_ = trainer.parameters_
        self.n_iter_ = trainer.n_iter_
        return self

    def _infer(self, X, beta):
        """Inference on every sequence of ``X``; returns the result and each sequence's variable offsets."""
        self._check_fitted()
        rows = self._features(self._check_X(X))
        if self.order == 1:
            graph, offsets = self._chains(rows)
            compiled = compile_graph(graph, parameters=self.parameters_)
        else:
            compiled = compile_graph([self._graph(r) for r in rows], parameters=self.parameters_)
            offsets = compiled.graph_var_ptr
        return infer(compiled, beta=beta), offsets

    def _predict_states(self, X):
        result, ptr = self._infer(X, np.inf)
        state = result.map_state
        return [state[ptr[g]:ptr[g + 1]] for g in range(len(ptr) - 1)]

    def predict(self, X):
        """The minimum-energy label sequence of each sequence (Viterbi for ``order=1``).

        Returns
        -------
        list of ndarray
            Labels (from ``classes_``) per sequence.
        """
        return [self.classes_[s] for s in self._predict_states(X)]

    def predict_marginals(self, X, beta=None):
        """Per-position label marginals ``P(y_t = c | x)`` at inverse temperature ``beta``.

        Parameters
        ----------
        beta : float, optional
            Defaults to the tagger's ``beta``. Larger values sharpen the
            distribution, smaller ones flatten it; ``np.inf`` gives the
            max-marginals (uniform over the tied best labels).

        Returns
        -------
        list of ndarray (T, n_classes)
            Columns follow ``classes_``; rows sum to 1.
        """
        beta = check_beta(self.beta if beta is None else beta)
        result, ptr = self._infer(X, beta)
        marg = result.marginal_array.reshape(-1, len(self.classes_))
        return [marg[ptr[g]:ptr[g + 1]] for g in range(len(ptr) - 1)]

    def score(self, X, y):
        """Token accuracy of :meth:`predict` against ``y`` (all positions pooled)."""
        self._check_fitted()
        X = self._check_X(X)
        truth = np.concatenate(self._encode(y, X))
        return float(np.mean(np.concatenate(self._predict_states(X)) == truth))
