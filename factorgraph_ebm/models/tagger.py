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
each loss evaluation is one kernel call over every sentence. A first-order
CRF (``loss="nll"``) declares no graph at all: training, Viterbi and finite-beta
marginals run the chain kernels on one CSR block of tokens (``_chain.py``).

The tagger is a scikit-learn estimator without depending on scikit-learn:
``get_params`` / ``set_params`` come from
:class:`~factorgraph_ebm.utils.estimator.ParamsMixin`, and
``__sklearn_tags__`` imports scikit-learn only when scikit-learn asks for the
tags. Persistence (:meth:`ChainTagger.save` / :meth:`ChainTagger.load`) is in
``_tagger_io.py``.
"""

import numpy as np
import scipy.sparse as sp

from ..compile.lower import compile_graph
from ..exceptions import DeclarationError, DeclarationTypeError, InferenceError, NotFittedError, TargetError
from ..graph.energies import LinearEnergy
from ..graph.factor_graph import FactorGraph
from ..inference.api import infer
from ..losses import LOSS_ALIASES, LOSSES, get_loss
from ..train.optimizers import LBFGS, OPTIMIZER_ALIASES, OPTIMIZERS, get_optimizer
from ..train.trainer import Trainer
from ..utils.estimator import ParamsMixin, check_choice
from ..utils.validation import check_beta, check_scalar
from . import _chain, _tagger_io
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


def _kind(value):
    """``"the str 'abc'"``: a value's type and a short repr, for the "got ..." of a message."""
    text = repr(value)
    return f"the {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _fitted_names(obj):
    """Public attributes ending in ``_`` (the fitted state)."""
    return [k for k in vars(obj) if k.endswith("_") and not k.startswith("_")]


class ChainTagger(ParamsMixin):
    """Linear-chain tagger trained with any loss of the learning layer.

    Follows the scikit-learn estimator conventions: ``fit(X, y)``,
    :meth:`predict`, :meth:`predict_marginals`, :meth:`score`,
    :meth:`get_params` / :meth:`set_params`; fitted attributes end in ``_``;
    ``__init__`` only stores its arguments and :meth:`fit` checks them. With
    scikit-learn installed, ``clone``, ``cross_val_score``, ``GridSearchCV``
    and ``Pipeline`` work (see ``docs/models.md``). :meth:`save` and
    :meth:`load` keep a fitted tagger in one file.

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
    cluster : dask.distributed.Client, DaskBackend or None
        Train data-parallel on a Dask cluster (see
        :class:`~factorgraph_ebm.Trainer` and ``docs/distributed.md``): the
        same parameters as one process, up to the order of floating-point
        additions. Not saved by :meth:`save`. scikit-learn's ``clone`` (and
        so ``GridSearchCV``) copies a bare Client, which cannot be copied:
        pass ``DaskBackend(client)`` there, which clones share.
    n_workers : int or None
        Without ``cluster``: ``n_workers > 1`` trains on a local Dask cluster
        of that many processes, started and stopped by :meth:`fit`.

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
        The fitted trainer (history, stop reason); a tagger read by
        :meth:`load` has none.
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
    >>> tagger.set_params(max_iter=50)
    ChainTagger(l2=0.01, max_iter=50, progress=False)
    """

    def __init__(self, loss="nll", optimizer="auto", *, l2=1e-3, max_iter=100, tol=1e-6, learning_rate=None,
                 batch_size=None, beta=1.0, order=1, min_count=1, loss_options=None, random_state=None,
                 progress=True, cluster=None, n_workers=None):
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
        self.cluster = cluster
        self.n_workers = n_workers

    # ------------------------------------------------------------ scikit-learn protocol
    def __sklearn_tags__(self):
        """The estimator tags scikit-learn >= 1.6 asks for (scikit-learn is imported only then).

        Not a classifier (``y`` holds label sequences, so integer ``cv`` means
        ``KFold``, not ``StratifiedKFold``); ``y`` is required; ``X`` is a list
        of sequences, not a 2-D array (scikit-learn's array-based checks do
        not apply).
        """
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=True),
                    input_tags=InputTags(two_d_array=False, sparse=True, string=True, dict=True))

    def _more_tags(self):
        """The same tags for scikit-learn < 1.6."""
        return {"requires_y": True, "X_types": ["string", "dict", "sparse"]}

    def __sklearn_is_fitted__(self):
        """True once :meth:`fit` (or :meth:`load`) has set the parameters."""
        return hasattr(self, "parameters_")

    # ------------------------------------------------------------ validation
    def _check_settings(self):
        """Check the constructor arguments (in ``fit``, as scikit-learn does: ``__init__`` never raises)."""
        check_choice(self.loss, "loss", LOSSES, aliases=LOSS_ALIASES)
        check_choice(self.optimizer, "optimizer", ["auto", *OPTIMIZERS], aliases=OPTIMIZER_ALIASES)
        check_choice(self.order, "order", (1, 2))
        check_scalar(self.max_iter, "max_iter", int, low=1)
        if self.loss_options is not None and not isinstance(self.loss_options, dict):
            raise DeclarationTypeError(f"loss_options must be None or a dict of options for the {self.loss!r} "
                                       f"loss, got {_kind(self.loss_options)}")
        check_beta(self.beta)

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    @staticmethod
    def _check_X(X):
        """``X`` as a list of non-empty sequences.

        Raises :class:`DeclarationError` naming the culprit
        (:class:`DeclarationTypeError` for a value of the wrong type).
        """
        expected = "X must be a list of sequences (each a (tokens, features) matrix or a list of tokens)"
        if sp.issparse(X) or (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biufc"):
            raise DeclarationError(
                f"{expected}, got one {'scipy.sparse matrix' if sp.issparse(X) else '2-D array'} of shape "
                f"{X.shape}. Reshape your data: [X] is one sequence, [row[None, :] for row in X] is "
                f"{X.shape[0]} sequences of one token")
        if isinstance(X, np.ndarray) and X.ndim < 2 and X.dtype.kind in "biufc":
            raise DeclarationError(f"{expected}, got a {X.ndim}-D array of shape {X.shape}. Reshape your data: "
                                   "[X.reshape(-1, 1)] is one sequence of one-feature tokens")
        if isinstance(X, (str, bytes, dict)) or not hasattr(X, "__len__"):
            raise DeclarationTypeError(f"{expected}, got {_kind(X)}")
        X = list(X)
        if not X:
            raise DeclarationError("X is empty: expected a list of sequences, got no sequence")
        if all(map(list.__instancecheck__, X)) and all(X):   # token lists (the common case): C-level checks
            return X
        for i, seq in enumerate(X):
            n = None if isinstance(seq, (str, bytes, dict)) else _length(seq)
            if n is None:
                raise DeclarationTypeError(f"sequence {i} of X must be a sequence of tokens (a list, or a "
                                           f"(tokens, features) matrix), got {_kind(seq)}")
            if n == 0:
                raise DeclarationError(f"sequence {i} of X is empty: expected at least one token")
            if (isinstance(seq, np.ndarray) or sp.issparse(seq)) and seq.dtype.kind == "c":
                raise DeclarationError(f"sequence {i} of X has dtype {seq.dtype}: Complex data not supported, "
                                       "expected real feature values")
        numeric = [_is_numeric(seq) for seq in X]
        if any(numeric) and not all(numeric):
            first = numeric.index(not numeric[0])
            raise DeclarationError(f"X mixes numeric feature matrices and token feature lists (sequence 0 is "
                                   f"{'a matrix' if numeric[0] else 'a token list'}, sequence {first} is not); "
                                   "use one kind")
        return X

    def _features(self, X):
        """One feature matrix (T, n_features_in_) per sequence of a checked ``X`` (see :meth:`_check_X`)."""
        if _is_numeric(X[0]):
            rows = []
            for i, seq in enumerate(X):
                m = seq.tocsr().astype(np.float64) if sp.issparse(seq) else np.asarray(seq, dtype=np.float64)
                if m.ndim != 2:
                    raise DeclarationError(f"sequence {i} of X: a numeric sequence must be 2-D (tokens, features), "
                                           f"got shape {m.shape}")
                if m.shape[1] == 0:
                    raise DeclarationError(f"sequence {i} of X has 0 feature(s) (shape={m.shape}) while a minimum "
                                           "of 1 is required (one column per feature)")
                if hasattr(self, "n_features_in_") and m.shape[1] != self.n_features_in_:
                    raise DeclarationError(f"sequence {i} of X has {m.shape[1]} features, but {type(self).__name__} "
                                           f"is expecting {self.n_features_in_} features as input (per token, as "
                                           "in fit)")
                data = m.data if sp.issparse(m) else m
                if not np.isfinite(data).all():
                    raise DeclarationError(f"sequence {i} of X has non-finite feature values (NaN or inf); "
                                           "expected finite numbers")
                rows.append(m)
            return rows
        if getattr(self, "feature_index_", 0) is None:
            raise DeclarationError("the tagger was fitted on numeric feature matrices; pass matrices, not token "
                                   "lists (sequence 0 of X is a token list)")
        return self.feature_index_.transform(X)

    @staticmethod
    def _check_y(y, X):
        """``y`` as a list of flat label arrays, one per sequence of ``X``."""
        if y is None:
            raise TargetError("ChainTagger requires y to be passed, but the target y is None")
        if isinstance(y, (str, bytes, dict)) or not hasattr(y, "__len__"):
            raise TargetError(f"y must be a list of label sequences (one per sequence of X), got {_kind(y)}")
        y = [np.asarray(ys).ravel() for ys in y]
        if len(y) != len(X):
            raise TargetError(f"X has {len(X)} sequences but y has {len(y)}")
        return y

    def _encode(self, y, X, unseen=None):
        """Label sequences as state sequences (indices into ``classes_``).

        A label not in ``classes_`` raises a :class:`TargetError`, or, when
        ``unseen`` is given, becomes that state (``score`` passes -1, which
        no prediction equals).
        """
        out = []
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        for i, (xs, ys) in enumerate(zip(X, self._check_y(y, X))):
            n = _length(xs)
            labels = ys.tolist()
            if len(labels) != n:
                raise TargetError(f"sequence {i}: {n} tokens in X but {len(labels)} labels in y")
            if unseen is not None:
                out.append(np.fromiter((index.get(lab, unseen) for lab in labels), dtype=np.int64, count=n))
                continue
            try:
                out.append(np.fromiter((index[lab] for lab in labels), dtype=np.int64, count=n))
            except KeyError as exc:
                raise TargetError(f"sequence {i}: label {exc.args[0]!r} is not one of classes_ "
                                  f"{self.classes_.tolist()}") from None
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

    def _parameter_shapes(self, n_features, n_classes):
        """Shape of every parameter: ``emission``, ``transition`` and (``order=2``) ``transition2``."""
        k = n_classes
        shapes = {EMISSION: (n_features, k), TRANSITION: (k, k)}
        if self.order == 2:
            shapes[TRANSITION2] = (k, k, k)
        return shapes

    def _chain_fit(self):
        """Whether fit takes the first-order chain fast path (a CRF: ``order=1``, the plain NLL loss, finite beta).

        It trains the same model with the same loss on one token block with
        the chain kernels, instead of declaring and compiling a graph per
        sequence.
        """
        options = self.loss_options or {}
        beta = self._nll_beta()
        return (self.order == 1 and LOSS_ALIASES.get(self.loss, self.loss) == "nll" and set(options) <= {"beta"}
                and np.isfinite(beta) and beta > 0)

    def _nll_beta(self):
        """The beta the NLL loss gets: ``loss_options["beta"]``, else the tagger's (for the name "nll")."""
        return (self.loss_options or {}).get("beta", float(self.beta) if self.loss == "nll" else 1.0)

    def _trainer(self):
        options = dict(self.loss_options or {})
        if self.loss == "nll":
            options.setdefault("beta", float(self.beta))
        if self._chain_fit():
            loss = _chain.ChainNLL(beta=self._nll_beta())
        else:
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
                       random_state=self.random_state, progress=self.progress, cluster=self.cluster,
                       n_workers=self.n_workers)

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

        Returns
        -------
        ChainTagger
            ``self``, with ``classes_``, ``parameters_``, ... set. The settings
            are checked here (not in ``__init__``); a failed ``fit`` leaves an
            already fitted tagger unchanged.

        Examples
        --------
        >>> X = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0]])]   # two sequences, 2 features
        >>> tagger = ChainTagger(l2=0.1, progress=False).fit(X, [["a", "b"], ["b"]])
        >>> tagger.classes_, tagger.n_features_in_, sorted(tagger.parameters_)
        (array(['a', 'b'], dtype='<U1'), 2, ['emission', 'transition'])
        """
        self._check_settings()
        X = self._check_X(X)
        classes = np.unique(np.concatenate(self._check_y(y, X)))
        if len(classes) < 2:
            raise TargetError(f"y needs at least 2 distinct labels, got {len(classes)} "
                              f"class{'' if len(classes) == 1 else 'es'}: {classes.tolist()}")
        fitted = {k: getattr(self, k) for k in _fitted_names(self)}
        for k in fitted:
            delattr(self, k)
        try:
            self.classes_ = classes
            if _is_numeric(X[0]):                        # then every sequence is (see _check_X)
                self.feature_index_ = None
            else:
                self.feature_index_ = FeatureIndex(self.min_count).fit(X)
            if self._chain_fit():
                stacked, seq_ptr = self._stacked_features(X)
                self.n_features_in_ = stacked.shape[1]
                data = _chain.ChainData(stacked, seq_ptr, np.concatenate(self._encode(y, X)), len(classes))
                del stacked
                init = {name: np.zeros(shape)
                        for name, shape in self._parameter_shapes(self.n_features_in_, len(classes)).items()}
                trainer = self._trainer().fit(data, None, parameters=init)
            else:
                rows = self._features(X)
                self.n_features_in_ = rows[0].shape[1]
                targets = self._encode(y, X)
                graphs = [self._graph(r) for r in rows]
                init = {name: np.zeros(shape)
                        for name, shape in self._parameter_shapes(self.n_features_in_, len(classes)).items()}
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

    def _stacked_features(self, X):
        """Feature rows of every token of a checked ``X`` as one CSR matrix, and the token range of each sequence."""
        if self.feature_index_ is not None and not _is_numeric(X[0]):
            stacked, lengths = self.feature_index_.transform_stacked(X)
            seq_ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=seq_ptr[1:])
            return _chain.as_csr(stacked), seq_ptr
        return _chain.stack_rows(self._features(X))

    def _chain_weights(self):
        """``(W_emission, W_transition)`` when the chain kernels can decode this tagger, else None."""
        if self.order != 1:
            return None
        w, t = self.parameters_[EMISSION], self.parameters_[TRANSITION]
        if not (np.isfinite(w).all() and np.isfinite(t).all()):
            return None
        return w, t

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
        self._check_fitted()
        weights = self._chain_weights()
        if weights is not None:
            X = self._check_X(X)
            stacked, ptr = self._stacked_features(X)
            state = _chain.viterbi(stacked, ptr, *weights)
            return [state[ptr[g]:ptr[g + 1]] for g in range(len(ptr) - 1)]
        result, ptr = self._infer(X, np.inf)
        state = result.map_state
        return [state[ptr[g]:ptr[g + 1]] for g in range(len(ptr) - 1)]

    def predict(self, X):
        """The minimum-energy label sequence of each sequence (Viterbi for ``order=1``).

        Parameters
        ----------
        X : list of sequences
            As for :meth:`fit`.

        Returns
        -------
        list of ndarray
            Labels (from ``classes_``) per sequence.

        Examples
        --------
        >>> tagger = ChainTagger(l2=0.1, progress=False).fit([[["w=a"], ["w=b"]]], [["A", "B"]])
        >>> tagger.predict([[["w=b"], ["w=a"], ["w=unseen"]]])[0].shape
        (3,)
        """
        return [self.classes_[s] for s in self._predict_states(X)]

    def predict_marginals(self, X, beta=None, *, layout="arrays"):
        """Per-position label marginals ``P(y_t = c | x)`` at inverse temperature ``beta``.

        Parameters
        ----------
        X : list of sequences
            As for :meth:`fit`.
        beta : float, optional
            Defaults to the tagger's ``beta``. Larger values sharpen the
            distribution, smaller ones flatten it; ``np.inf`` gives the
            max-marginals (uniform over the tied best labels).
        layout : {"arrays", "dicts"}
            ``"arrays"``: one ``(T, n_classes)`` array per sequence, columns
            in the order of ``classes_``. ``"dicts"``: sklearn-crfsuite's
            layout, one list per sequence of one ``{label: probability}``
            dict per token (labels and probabilities as Python objects).

        Returns
        -------
        list of ndarray (T, n_classes), or list of list of dict
            Rows (dicts) sum to 1.

        Examples
        --------
        >>> X = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"]]]
        >>> tagger = ChainTagger(l2=0.1, progress=False).fit(X, [["DET", "NOUN"]] * 2)
        >>> tagger.predict_marginals([[["w=the"], ["w=dog"]]])[0].round(3)
        array([[0.916, 0.084],
               [0.084, 0.916]])
        >>> tokens = tagger.predict_marginals([[["w=the"], ["w=dog"]]], layout="dicts")[0]
        >>> [{label: round(p, 3) for label, p in token.items()} for token in tokens]
        [{'DET': 0.916, 'NOUN': 0.084}, {'DET': 0.084, 'NOUN': 0.916}]
        """
        check_choice(layout, "layout", ("arrays", "dicts"), error=InferenceError)
        beta = check_beta(self.beta if beta is None else beta)
        self._check_fitted()
        weights = self._chain_weights() if np.isfinite(beta) else None
        if weights is not None:
            stacked, ptr = self._stacked_features(self._check_X(X))
            marg = _chain.marginals(stacked, ptr, *weights, beta)
        else:
            result, ptr = self._infer(X, beta)
            marg = result.marginal_array.reshape(-1, len(self.classes_))
        arrays = [marg[ptr[g]:ptr[g + 1]] for g in range(len(ptr) - 1)]
        if layout == "arrays":
            return arrays
        labels = self.classes_.tolist()
        return [[dict(zip(labels, row)) for row in m.tolist()] for m in arrays]

    def score(self, X, y):
        """Token accuracy of :meth:`predict` against ``y`` (all positions pooled).

        A label that training never saw counts as a wrong prediction (as in
        scikit-learn's ``accuracy_score``), so a held-out fold with a rare
        label scores instead of failing.

        Examples
        --------
        >>> X = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"]]]
        >>> tagger = ChainTagger(l2=0.1, progress=False).fit(X, [["DET", "NOUN"]] * 2)
        >>> tagger.score([[["w=the"], ["w=dog"], ["w=runs"]]], [["DET", "NOUN", "VERB"]])   # VERB: unseen
        0.6666666666666666
        """
        self._check_fitted()
        X = self._check_X(X)
        truth = np.concatenate(self._encode(y, X, unseen=-1))
        return float(np.mean(np.concatenate(self._predict_states(X)) == truth))

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted tagger to ``path``: one versioned ``.npz`` file with JSON metadata, no pickle.

        The file holds the constructor arguments, ``classes_``, the feature
        index (token taggers), ``n_features_in_``, ``n_iter_`` and the
        parameters bit for bit, so :meth:`load` in another process predicts
        exactly the same labels and marginals. The training run itself
        (``trainer_``: history, stop reason) is not saved.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        DeclarationTypeError
            When something cannot be written without pickle (``loss_options``
            or ``random_state`` that are not JSON values, labels or feature
            names of other types than str, int, float or bool); nothing is
            dropped silently.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> X, y = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"]]], [["DET", "NOUN"]] * 2
        >>> tagger = ChainTagger(l2=0.1, progress=False).fit(X, y)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tagger.npz"
        >>> tagger.save(path)
        >>> loaded = ChainTagger.load(path)
        >>> loaded
        ChainTagger(l2=0.1, progress=False)
        >>> loaded.predict([[["w=the"], ["w=cat"]]])
        [array(['DET', 'NOUN'], dtype='<U4')]
        """
        self._check_fitted()
        _tagger_io.save_tagger(self, path)

    @classmethod
    def load(cls, path):
        """A tagger written by :meth:`save`, ready to predict (it has no ``trainer_``).

        Every field is validated before the tagger is built (format and
        version, settings, the random generator's state, labels, the feature
        index, counts, parameter names, shapes and finite values). Raises
        :class:`~factorgraph_ebm.ParseError` naming the file and the field
        when it is not such a file, was written in an unknown format version,
        or is damaged.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from factorgraph_ebm import Parameters
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "params.npz"
        >>> Parameters(w=[1.0]).save(path)
        >>> ChainTagger.load(path)                               # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        factorgraph_ebm.exceptions.ParseError: .../params.npz: not a ChainTagger file: format 'factorgraph_ebm.parameters', expected 'factorgraph_ebm.chain_tagger'
        """
        return _tagger_io.load_tagger(cls, path)
