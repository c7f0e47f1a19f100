"""Feature extraction for sequence models: token features, image features, a feature index.

A chain model scores each position with ``features . W[:, label]``. These
helpers turn raw inputs into those feature rows:

* :func:`token_features` gives every word of a sentence a list of feature
  strings (the word, its lowercase, prefixes and suffixes, its shape,
  digit / hyphen / capital flags, neighbouring words), the classic feature set
  of CRF and perceptron part-of-speech taggers;
* :func:`image_features` flattens small binary images (OCR letters) into pixel
  features, optionally with products of neighbouring pixels;
* :class:`FeatureIndex` maps feature strings (or ``{name: value}`` dicts) to
  columns and builds one sparse matrix per sequence.
"""

import itertools
import math
import numbers
from collections import Counter

import numpy as np
import scipy.sparse as sp

from ..exceptions import DeclarationTypeError, FactorGraphError
from ..utils.validation import as_float_array, check_scalar

__all__ = ["token_features", "word_shape", "image_features", "FeatureIndex"]


def word_shape(word):
    """Shape of a word: capitals -> ``X``, lowercase -> ``x``, digits -> ``d``, runs collapsed.

    Examples
    --------
    >>> word_shape("McDonald's"), word_shape("2024-11-25"), word_shape("U.S.")
    ("XxXx'x", 'd-d-d', 'X.X.')
    """
    if not isinstance(word, str):
        raise DeclarationTypeError(f"word_shape: word must be a str, got {type(word).__name__}")
    out = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def _word_features(word, affixes):
    low = word.lower()
    feats = ["w=" + word, "lw=" + low, "shape=" + word_shape(word)]
    for k in range(1, affixes + 1):
        if len(low) >= k:
            feats.append(f"p{k}=" + low[:k])
            feats.append(f"s{k}=" + low[-k:])
    if word.isupper():
        feats.append("upper")
    if word[:1].isupper():
        feats.append("cap")
    if any(ch.isdigit() for ch in word):
        feats.append("digit")
    if "-" in word:
        feats.append("hyphen")
    return feats


def token_features(words, *, window=1, affixes=3):
    """Feature strings of every word of a sentence (one list per word).

    Each word gets ``bias``, its form ``w=`` and lowercase ``lw=``, its shape
    (:func:`word_shape`), prefixes and suffixes of 1..``affixes`` letters,
    the flags ``upper``, ``cap`` (first letter capital), ``digit`` and
    ``hyphen`` when they hold, and the lowercase words within ``window``
    positions (``lw-1=``, ``lw+1=``, ...) with ``BOS`` / ``EOS`` beyond the
    sentence.

    Parameters
    ----------
    words : sequence of str
        One sentence.
    window : int
        Neighbouring words on each side.
    affixes : int
        Longest prefix / suffix.

    Returns
    -------
    list of list of str

    Examples
    --------
    >>> feats = token_features(["The", "2", "dogs"], affixes=2)
    >>> feats[2]
    ['bias', 'w=dogs', 'lw=dogs', 'shape=x', 'p1=d', 's1=s', 'p2=do', 's2=gs', 'lw-1=2', 'lw+1=EOS']
    >>> feats[1][:4], "digit" in feats[1], "cap" in feats[0]
    (['bias', 'w=2', 'lw=2', 'shape=d'], True, True)
    """
    if isinstance(words, str):
        raise FactorGraphError("token_features takes a sentence as a sequence of words, not a string")
    if not hasattr(words, "__iter__"):
        raise DeclarationTypeError(f"token_features takes a sentence as a sequence of words, got {type(words).__name__}")
    window = check_scalar(window, "window", int, low=0)
    affixes = check_scalar(affixes, "affixes", int, low=0)
    words = list(words)
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word:
            raise FactorGraphError(f"word {i} of the sentence must be a non-empty str, got {word!r}")
    lower = [w.lower() for w in words]
    n = len(words)
    out = []
    for i, word in enumerate(words):
        feats = ["bias"] + _word_features(word, affixes)
        for d in range(1, window + 1):
            feats.append(f"lw-{d}=" + (lower[i - d] if i - d >= 0 else "BOS"))
            feats.append(f"lw+{d}=" + (lower[i + d] if i + d < n else "EOS"))
        out.append(feats)
    return out


def image_features(pixels, *, pairwise=False):
    """Feature rows of small images: the pixels, a bias, and optionally neighbouring pixel products.

    Parameters
    ----------
    pixels : array (n, height, width)
        One image per row (e.g. the 16 x 8 binary OCR letters).
    pairwise : bool
        Also add ``p[i, j] * p[i, j + 1]`` and ``p[i, j] * p[i + 1, j]`` for every
        horizontal and vertical neighbour pair.

    Returns
    -------
    ndarray (n, n_features) float64
        ``height * width`` pixels, then the pair products, then a constant 1.

    Examples
    --------
    >>> img = np.array([[[1, 0], [1, 1]]])
    >>> image_features(img)
    array([[1., 0., 1., 1., 1.]])
    >>> image_features(img, pairwise=True)            # right pairs (0, 1), down pairs (1, 0)
    array([[1., 0., 1., 1., 0., 1., 1., 0., 1.]])
    """
    p = as_float_array(pixels, "pixels", copy=False)
    if p.ndim != 3:
        raise FactorGraphError(f"pixels must have shape (n, height, width), got {p.shape}")
    if not np.isfinite(p).all():
        raise FactorGraphError("pixels must be finite (found NaN or inf)")
    parts = [p.reshape(len(p), -1)]
    if pairwise:
        parts.append((p[:, :, :-1] * p[:, :, 1:]).reshape(len(p), -1))
        parts.append((p[:, :-1, :] * p[:, 1:, :]).reshape(len(p), -1))
    parts.append(np.ones((len(p), 1)))
    return np.concatenate(parts, axis=1)


def _items(token, where):
    """(name, value) pairs of one token's features: a dict name -> value or an iterable of names."""
    if isinstance(token, dict):
        return token.items()
    if isinstance(token, str):
        raise FactorGraphError(f"{where}: a token's features must be a list of str or a dict, got the str {token!r}")
    try:
        return ((name, 1.0) for name in token)
    except TypeError:
        raise FactorGraphError(f"{where}: a token's features must be a list of str or a dict, "
                               f"got {type(token).__name__}") from None


def _as_sequences(sequences):
    """``sequences`` as a list, each item a list of tokens; wrong types name the culprit."""
    if isinstance(sequences, (str, dict)) or not hasattr(sequences, "__iter__"):
        raise DeclarationTypeError(f"sequences must be a list of sequences of tokens, got {type(sequences).__name__}")
    sequences = list(sequences)
    for s, seq in enumerate(sequences):
        if isinstance(seq, (str, dict)) or not hasattr(seq, "__iter__"):
            raise DeclarationTypeError(f"sequence {s} must be a sequence of tokens (lists of feature names or dicts), "
                                       f"got {type(seq).__name__}")
    return [seq if isinstance(seq, list) else list(seq) for seq in sequences]


def _flatten(sequences):
    """All feature names in token order, their values (None when every token is a list of names), nnz per token.

    Lists of names (the common case) take a fast path with no per-name Python
    call; dicts and other iterables go through :func:`_items`.
    """
    tokens = list(itertools.chain.from_iterable(sequences))
    if all(map(list.__instancecheck__, tokens)):  # C-level loops: no Python frame per token or name
        return list(itertools.chain.from_iterable(tokens)), None, list(map(len, tokens))
    names, values, token_nnz = [], [], []
    for s, seq in enumerate(sequences):
        for t, token in enumerate(seq):
            where = f"sequence {s}, token {t}"
            pairs = list(_items(token, where))
            for name, value in pairs:
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                    raise FactorGraphError(f"{where}: feature {name!r} has value {value!r}; "
                                           "feature values must be finite numbers")
            names.extend(name for name, _ in pairs)
            values.extend(value for _, value in pairs)
            token_nnz.append(len(pairs))
    return names, values, token_nnz


class FeatureIndex:
    """Columns for feature names, and sparse feature rows for sequences of tokens.

    A token is a list of feature names (each worth 1) or a dict
    ``{name: value}``. :meth:`fit` numbers every name seen at least
    ``min_count`` times (in order of first appearance); :meth:`transform`
    ignores names it has not numbered (unseen words at prediction time).

    Parameters
    ----------
    min_count : int
        Keep features seen at least this many times in training.

    Attributes
    ----------
    columns_ : dict str -> int
    n_features_ : int

    Examples
    --------
    >>> index = FeatureIndex().fit([[["bias", "w=a"], ["bias", "w=b"]]])
    >>> index.n_features_
    3
    >>> index.transform([[["bias", "w=b", "w=unseen"]]])[0].toarray()
    array([[1., 0., 1.]])
    """

    def __init__(self, min_count=1):
        self.min_count = min_count

    def fit(self, sequences):
        """Number the features of ``sequences`` (sequence of sequences of tokens); returns self."""
        min_count = check_scalar(self.min_count, "min_count", int, low=1)
        names, _, _ = _flatten(_as_sequences(sequences))
        counts = Counter(names)
        self.columns_ = {}
        for name, c in counts.items():
            if c >= min_count:
                self.columns_[name] = len(self.columns_)
        if not self.columns_:
            raise FactorGraphError(f"no feature is seen {min_count} times or more")
        self.n_features_ = len(self.columns_)
        return self

    def transform(self, sequences):
        """One CSR matrix ``(len(sequence), n_features_)`` per sequence."""
        stacked, lengths = self.transform_stacked(sequences)
        ends = np.cumsum(lengths)
        return [stacked[e - n:e] for e, n in zip(ends, lengths)]

    def transform_stacked(self, sequences):
        """The rows of every token of ``sequences`` as one CSR matrix, and the length of every sequence.

        The same rows as :meth:`transform`, without a matrix per sequence
        (column indices are int32 when they fit).

        Examples
        --------
        >>> index = FeatureIndex().fit([[["bias", "w=a"], ["bias", "w=b"]]])
        >>> rows, lengths = index.transform_stacked([[["w=b"]], [["bias"], ["w=a", "w=c"]]])
        >>> rows.toarray(), lengths
        (array([[0., 0., 1.],
               [1., 0., 0.],
               [0., 1., 0.]]), array([1, 2]))
        """
        if not hasattr(self, "columns_"):
            raise FactorGraphError("this FeatureIndex is not fitted yet; call fit() first")
        sequences = _as_sequences(sequences)
        names, values, token_nnz = _flatten(sequences)
        get = self.columns_.get
        index_type = np.int32 if self.n_features_ < 2**31 else np.int64
        cols = np.fromiter(map(get, names, itertools.repeat(-1)), dtype=index_type, count=len(names))
        del names
        data = None if values is None else as_float_array(values, "feature values")
        if data is not None and not np.isfinite(data).all():
            raise FactorGraphError("feature values must be finite")
        keep = cols >= 0
        token_nnz = np.asarray(token_nnz, dtype=np.int64)
        kept = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept[1:])
        ends = np.zeros(len(token_nnz) + 1, dtype=np.int64)
        np.cumsum(token_nnz, out=ends[1:])
        indptr = kept[ends]                              # kept entries before each token's row
        cols = cols[keep]
        data = np.ones(len(cols)) if data is None else data[keep]
        stacked = sp.csr_matrix((data, cols, indptr), shape=(len(token_nnz), self.n_features_))
        lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64, count=len(sequences))
        return stacked, lengths

    def fit_transform(self, sequences):
        """:meth:`fit` then :meth:`transform`."""
        sequences = list(sequences)
        return self.fit(sequences).transform(sequences)
