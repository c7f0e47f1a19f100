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

from ..exceptions import DeclarationError, DeclarationTypeError, FactorGraphError, ParseError
from ..utils.npz import read_npz_json, write_npz_json
from ..utils.saved import (check_count, check_dict, check_fields, check_format, check_names, check_parameter_arrays,
                           check_rng_state, check_shape, saved_error)
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
        if name == "cluster":               # where training ran, not part of the model
            settings[name] = None
        elif name == "random_state" and isinstance(value, np.random.Generator):
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
    infinite = [k for k in names if not np.isfinite(params[k]).all()]
    if infinite:
        raise DeclarationError(f"cannot save parameter {infinite[0]!r}: it is not finite (only finite parameters "
                               "are saved)")
    meta = {"format": FORMAT, "version": VERSION, "class": type(tagger).__name__, "settings": settings,
            "random_state_generator": generator, "n_features_in": int(tagger.n_features_in_),
            "n_iter": int(tagger.n_iter_), "feature_index": index, "parameters": names,
            "shapes": [list(params[k].shape) for k in names]}
    arrays = {"classes": classes, **{PARAMETER + k: params[k] for k in names}}
    write_npz_json(path, arrays, meta)


FIELDS = ("format", "version", "class", "settings", "random_state_generator", "n_features_in", "n_iter",
          "feature_index", "parameters", "shapes")


def _check_feature_index(path, index, n_features):
    """The saved feature index as a fitted :class:`FeatureIndex` (or None)."""
    if index is None:
        return None
    check_fields(path, index, ("min_count", "names"), what="field 'feature_index'")
    min_count = index["min_count"]
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise saved_error(path, "feature_index.min_count", f"expected an int >= 1, got {min_count!r:.40}")
    names = index["names"]
    if not isinstance(names, list) or len(names) != n_features:
        raise saved_error(path, "feature_index.names", f"expected a list of {n_features} feature names "
                                                       "(field 'n_features_in')")
    if not all(isinstance(n, (str, int, float)) for n in names):
        bad = next(n for n in names if not isinstance(n, (str, int, float)))
        raise saved_error(path, "feature_index.names", f"a feature name is {bad!r:.40}, expected str, int or float")
    columns = {name: i for i, name in enumerate(names)}
    if len(columns) != len(names):
        raise saved_error(path, "feature_index.names", f"{len(names)} names but only {len(columns)} distinct")
    feature_index = FeatureIndex(min_count)
    feature_index.columns_ = columns
    feature_index.n_features_ = len(columns)
    return feature_index


def load_tagger(cls, path):
    """Read a tagger written by :func:`save_tagger` as an instance of ``cls`` (see :meth:`ChainTagger.load`).

    Every field is validated before the tagger is built (see the module
    docstring for the fields); a damaged file raises
    :class:`~factorgraph_ebm.ParseError` naming the file and the field.
    """
    arrays, meta = read_npz_json(path)
    check_format(path, meta, FORMAT, VERSION, "ChainTagger")
    check_fields(path, meta, FIELDS)
    if not isinstance(meta["class"], str):
        raise saved_error(path, "class", f"expected a class name, got {meta['class']!r:.40}")
    settings = dict(check_dict(path, "settings", meta["settings"]))
    unknown = sorted(str(k) for k in set(settings) - set(cls._get_param_names()))
    if unknown:
        raise ParseError(path, None, f"setting {unknown[0]!r} is not an argument of {cls.__name__}")
    if meta["random_state_generator"] is not None:
        settings["random_state"] = check_rng_state(path, "random_state_generator", meta["random_state_generator"])
    tagger = cls(**settings)
    try:
        tagger._check_settings()
    except FactorGraphError as exc:        # a setting the constructor's checks refuse (DeclarationError, ...)
        raise saved_error(path, "settings", str(exc)) from None
    if "classes" not in arrays:
        raise saved_error(path, "classes", "the array of labels is missing")
    classes = arrays["classes"]
    if classes.ndim != 1 or classes.size == 0 or classes.dtype.kind not in "biufUS":
        raise saved_error(path, "classes", f"expected a non-empty 1-D array of labels, got dtype {classes.dtype} "
                                           f"of shape {classes.shape}")
    if np.unique(classes).size != classes.size or (classes.dtype.kind in "fc" and np.isnan(classes).any()):
        raise saved_error(path, "classes", "labels must be distinct (and not NaN)")
    n_features = check_count(path, "n_features_in", meta["n_features_in"])
    n_iter = check_count(path, "n_iter", meta["n_iter"])
    index = _check_feature_index(path, meta["feature_index"], n_features)
    names = check_names(path, "parameters", meta["parameters"])
    expected = tagger._parameter_shapes(n_features, len(classes))
    if sorted(names) != sorted(expected):
        raise ParseError(path, None, f"parameters {names} do not match the settings (expected "
                                     f"{sorted(expected)})")
    shapes = meta["shapes"]
    if not isinstance(shapes, list) or len(shapes) != len(names):
        raise saved_error(path, "shapes", f"expected a list of {len(names)} shapes (one per parameter)")
    for i, (name, shape) in enumerate(zip(names, shapes)):
        if check_shape(path, f"shapes[{i}]", shape) != expected[name]:
            raise saved_error(path, f"shapes[{i}]", f"parameter {name!r}: expected shape {expected[name]}, got "
                                                    f"{tuple(shape)}")
    extra = sorted(k for k in arrays if k != "classes" and not k.startswith(PARAMETER))
    if extra:
        raise ParseError(path, None, f"unexpected entry {extra[0]!r}")
    params = check_parameter_arrays(path, PARAMETER, {k[len(PARAMETER):]: v for k, v in arrays.items()
                                                        if k.startswith(PARAMETER)}, expected)
    tagger.classes_ = classes
    tagger.feature_index_ = index
    tagger.n_features_in_ = n_features
    tagger.parameters_ = params
    tagger.n_iter_ = n_iter
    return tagger
