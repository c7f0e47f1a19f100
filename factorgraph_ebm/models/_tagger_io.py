"""Saving and loading a fitted :class:`~factorgraph_ebm.models.ChainTagger` (one ``.npz`` file, no pickle).

The file is written by :func:`~factorgraph_ebm.utils.npz.write_npz_json`:

* arrays: ``classes`` (the labels, a str / int / float / bool array) and one
  ``parameter/<name>`` float64 array per parameter, stored bit for bit;
* JSON metadata: ``format`` (``"factorgraph_ebm.chain_tagger"``) and
  ``version`` (1), the constructor arguments (``settings``), the state of a
  Generator passed as ``random_state``, ``n_features_in``, ``n_iter``, the
  parameter names and shapes, and for token taggers the feature index (its
  ``min_count`` and the feature names in column order).

Nothing is dropped: a setting, label or feature name that JSON (or a
non-object array) cannot hold exactly raises at save time.
"""

import numbers

import numpy as np

from ..exceptions import DeclarationTypeError, ParseError
from ..graph.parameters import Parameters
from ..train.checkpoint import rng_from_state
from ..utils.npz import read_npz_json, write_npz_json
from .features import FeatureIndex

__all__ = ["save_tagger", "load_tagger", "FORMAT", "VERSION"]

FORMAT = "factorgraph_ebm.chain_tagger"
VERSION = 1
PARAMETER = "parameter/"


def _to_json(value, where):
    """``value`` as JSON that reads back equal (and of the same kind); raises DeclarationTypeError otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)                   # inf and nan too (Python's json writes and reads them)
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise DeclarationTypeError(f"cannot save {where}: key {bad[0]!r} is not a str (JSON keys are str)")
        return {k: _to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise DeclarationTypeError(f"cannot save {where}: {value!r} is a {type(value).__name__}; a saved tagger holds "
                           "None, bool, int, float, str, list and dict with str keys (no pickle)")


def _settings(tagger):
    """The constructor arguments as JSON, and the state of a Generator ``random_state`` (else None)."""
    settings, generator = {}, None
    for name, value in tagger.get_params(deep=False).items():
        if name == "random_state" and isinstance(value, np.random.Generator):
            settings[name], generator = None, value.bit_generator.state
        else:
            settings[name] = _to_json(value, name)
    return settings, generator


def save_tagger(tagger, path):
    """Write a fitted tagger to ``path`` (see :meth:`ChainTagger.save`)."""
    settings, generator = _settings(tagger)
    classes = np.asarray(tagger.classes_)
    if classes.dtype.kind not in "biufUS":
        raise DeclarationTypeError(f"cannot save classes_ of dtype {classes.dtype} (labels "
                               f"{classes.tolist()[:3]}...): labels must be str, int, float or bool (no pickle)")
    index = None
    if tagger.feature_index_ is not None:
        names = sorted(tagger.feature_index_.columns_, key=tagger.feature_index_.columns_.__getitem__)
        bad = [n for n in names if not isinstance(n, (str, numbers.Integral, numbers.Real))]
        if bad:
            raise DeclarationTypeError(f"cannot save feature name {bad[0]!r} (a {type(bad[0]).__name__}): feature "
                                   "names must be str, int, float or bool (no pickle)")
        index = {"min_count": _to_json(tagger.feature_index_.min_count, "feature_index_.min_count"),
                 "names": [_to_json(n, "feature name") for n in names]}
    params = tagger.parameters_
    names = sorted(params)
    meta = {"format": FORMAT, "version": VERSION, "class": type(tagger).__name__, "settings": settings,
            "random_state_generator": generator, "n_features_in": int(tagger.n_features_in_),
            "n_iter": int(tagger.n_iter_), "feature_index": index, "parameters": names,
            "shapes": [list(params[k].shape) for k in names]}
    arrays = {"classes": classes, **{PARAMETER + k: params[k] for k in names}}
    write_npz_json(path, arrays, meta)


def load_tagger(cls, path):
    """Read a tagger written by :func:`save_tagger` as an instance of ``cls`` (see :meth:`ChainTagger.load`)."""
    arrays, meta = read_npz_json(path)
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != FORMAT:
        raise ParseError(path, None, f"not a ChainTagger file: format {fmt!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise ParseError(path, None, f"ChainTagger file format version {meta.get('version')!r} is not supported "
                                     f"(this factorgraph_ebm reads version {VERSION})")
    try:
        settings = dict(meta["settings"])
        if meta["random_state_generator"] is not None:
            settings["random_state"] = rng_from_state(meta["random_state_generator"])
        unknown = sorted(set(settings) - set(cls._get_param_names()))
        if unknown:
            raise ParseError(path, None, f"setting {unknown[0]!r} is not an argument of {cls.__name__}")
        tagger = cls(**settings)
        classes = arrays["classes"]
        n_features = int(meta["n_features_in"])
        expected = tagger._parameter_shapes(n_features, len(classes))
        if sorted(meta["parameters"]) != sorted(expected):
            raise ParseError(path, None, f"parameters {meta['parameters']} do not match the settings (expected "
                                         f"{sorted(expected)})")
        params = Parameters()
        for name in meta["parameters"]:
            arr = arrays[PARAMETER + name]
            if arr.dtype != np.float64 or arr.shape != expected[name]:
                raise ParseError(path, None, f"parameter {name!r}: expected float64 of shape {expected[name]}, "
                                             f"got {arr.dtype} of shape {arr.shape}")
            params[name] = arr
        index = meta["feature_index"]
        if index is not None:
            feature_index = FeatureIndex(index["min_count"])
            feature_index.columns_ = {name: i for i, name in enumerate(index["names"])}
            feature_index.n_features_ = len(feature_index.columns_)
            if feature_index.n_features_ != len(index["names"]) or feature_index.n_features_ != n_features:
                raise ParseError(path, None, f"the feature index has {len(index['names'])} names "
                                             f"({feature_index.n_features_} distinct), expected {n_features}")
            index = feature_index
        n_iter = int(meta["n_iter"])
    except (KeyError, TypeError) as exc:
        raise ParseError(path, None, f"ChainTagger file is incomplete or malformed ({type(exc).__name__}: "
                                     f"{exc})") from None
    tagger.classes_ = classes
    tagger.feature_index_ = index
    tagger.n_features_in_ = n_features
    tagger.parameters_ = params
    tagger.n_iter_ = n_iter
    return tagger
