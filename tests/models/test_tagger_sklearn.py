"""ChainTagger with scikit-learn: clone, cross_val_score, GridSearchCV, Pipeline, and scikit-learn's estimator checks.

scikit-learn is optional, so every test here skips without it. The model
selection tests run on 200 real sentences (UD English-EWT) and compare each
score with a fit / score by hand on the same KFold folds: the scores must be
identical, not close.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from factorgraph_ebm.models import ChainTagger, token_features

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (it is optional)")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, check_cv, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402


def small_tagger(**settings):
    """A CRF that fits 100 sentences in a fraction of a second (3 L-BFGS iterations, features seen twice)."""
    return ChainTagger(**{"l2": 1e-2, "max_iter": 3, "min_count": 2, "progress": False, **settings})


def featurize(sentences):
    return [token_features(s) for s in sentences]


def take(items, indices):
    return [items[i] for i in indices]


def by_hand(tagger, X, y, folds):
    """The score of every fold, fitting a fresh copy of ``tagger`` on the other folds."""
    return [clone(tagger).fit(take(X, train), take(y, train)).score(take(X, test), take(y, test))
            for train, test in folds]


@pytest.fixture(scope="module")
def data(ewt):
    _, words, tags = ewt
    X = featurize(words)
    folds = list(KFold(2).split(X))
    return words, X, tags, folds, by_hand(small_tagger(), X, tags, folds)


def test_clone_gives_an_unfitted_tagger_with_the_same_arguments(data):
    _, X, tags, _, _ = data
    tagger = small_tagger(loss_options={"beta": 1.0}).fit(X[:20], tags[:20])
    copy = clone(tagger)
    assert copy.get_params() == tagger.get_params() and repr(copy) == repr(tagger)
    assert copy.loss_options is not tagger.loss_options                  # deep-copied
    assert not hasattr(copy, "parameters_")
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(copy)
    check_is_fitted(tagger)                                              # __sklearn_is_fitted__


def test_cross_val_score_equals_a_fit_and_score_by_hand_on_the_same_folds(data):
    _, X, tags, folds, manual = data
    assert isinstance(check_cv(2, tags, classifier=is_classifier(small_tagger())), KFold)
    scores = cross_val_score(small_tagger(), X, tags, cv=2, error_score="raise")
    np.testing.assert_array_equal(scores, manual)
    assert 0.5 < scores.min()                                            # 17 tags: learned something


def test_grid_search_scores_every_setting_as_by_hand_and_refits_the_best(data):
    _, X, tags, folds, manual = data
    grid = GridSearchCV(small_tagger(), {"l2": [1e-2, 10.0]}, cv=2, error_score="raise").fit(X, tags)
    expected = {1e-2: manual, 10.0: by_hand(small_tagger(l2=10.0), X, tags, folds)}
    for i, params in enumerate(grid.cv_results_["params"]):
        got = [grid.cv_results_[f"split{k}_test_score"][i] for k in range(2)]
        assert got == expected[params["l2"]], params
    assert grid.best_params_ == {"l2": 1e-2}                             # strong L2 underfits
    best = grid.best_estimator_
    check_is_fitted(best)
    assert best.l2 == 1e-2 and len(best.classes_) == len(set(np.concatenate(tags)))
    assert grid.score(X[:10], tags[:10]) == best.score(X[:10], tags[:10])


def test_pipeline_from_words_equals_the_tagger_on_features(data):
    words, _, tags, _, manual = data
    pipe = Pipeline([("features", FunctionTransformer(featurize)), ("tagger", small_tagger())])
    np.testing.assert_array_equal(cross_val_score(pipe, words, tags, cv=2, error_score="raise"), manual)
    pipe.set_params(tagger__max_iter=2)
    assert pipe.named_steps["tagger"].max_iter == 2


def test_tags_say_not_a_classifier_y_required_and_no_2d_arrays():
    tags = sklearn.utils.get_tags(ChainTagger()) if hasattr(sklearn.utils, "get_tags") else None
    if tags is None:
        pytest.skip(f"scikit-learn {sklearn.__version__} has no get_tags (before 1.6)")
    assert tags.estimator_type is None and not is_classifier(ChainTagger())
    assert tags.target_tags.required and tags.requires_fit
    assert not tags.input_tags.two_d_array and tags.input_tags.sparse and tags.input_tags.string


# ------------------------------------------------------------------ scikit-learn's estimator checks
#: Checks of the estimator API itself: they need no data, and run on ChainTagger as it is.
API_CHECKS = ["check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
              "check_estimator_repr", "check_no_attributes_set_in_init",
              "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
              "check_parameters_default_constructible", "check_get_params_invariance", "check_set_params"]

#: Checks that fit 2-D arrays; they run on RowsAsSequences, which only reshapes the data.
DATA_CHECKS = ["check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
               "check_estimators_fit_returns_self", "check_readonly_memmap_input",
               "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit", "check_estimators_dtypes",
               "check_complex_data", "check_estimators_empty_data_messages", "check_pipeline_consistency",
               "check_estimators_nan_inf", "check_estimator_sparse_tag", "check_estimator_sparse_array",
               "check_estimator_sparse_matrix", "check_estimators_pickle", "check_f_contiguous_array_estimator",
               "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1sample",
               "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
               "check_n_features_in", "check_fit1d", "check_fit2d_predict1d", "check_requires_y_none"]

#: Checks that fail, and why (docs/models.md lists them too).
FAILING = {
    "check_estimators_unfitted": "predict before fit raises factorgraph_ebm.NotFittedError (a ValueError and an "
                                 "AttributeError, like scikit-learn's), which cannot subclass scikit-learn's "
                                 "NotFittedError while scikit-learn is optional",
    "check_dtype_object": "a token holding an unhashable feature name (a dict) raises a TypeError from "
                          "FeatureIndex, not scikit-learn's message",
}


class RowsAsSequences(ChainTagger):
    """ChainTagger on scikit-learn's test data: each row of a 2-D array is a sequence of one token.

    Only the data are reshaped (a 2-D array becomes a list of (1, n_features)
    matrices, 1-D labels become one-label sequences, predictions are
    concatenated); validation, fitting and state are ChainTagger's.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = tags.input_tags.dict = False
        return tags

    def _more_tags(self):                                # scikit-learn < 1.6
        return {**super()._more_tags(), "X_types": ["2darray", "sparse"]}

    @staticmethod
    def _rows(X):
        X = X.tocsr() if sp.issparse(X) else np.asarray(X)
        return [X[i:i + 1] for i in range(X.shape[0])] if X.ndim == 2 else X

    @staticmethod
    def _labels(y):
        return None if y is None else [[label] for label in np.asarray(y)]

    def fit(self, X, y):
        return super().fit(self._rows(X), self._labels(y))

    def predict(self, X):
        return np.concatenate(super().predict(self._rows(X)))

    def score(self, X, y):
        return super().score(self._rows(X), self._labels(y))


def run_check(name, estimator):
    check = getattr(estimator_checks, name, None)
    if check is None:
        pytest.skip(f"scikit-learn {sklearn.__version__} has no {name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("name", API_CHECKS)
def test_sklearn_api_check_passes(name):
    run_check(name, ChainTagger(max_iter=5, progress=False))


@pytest.mark.parametrize("name", DATA_CHECKS)
def test_sklearn_data_check_passes_on_one_token_sequences(name):
    run_check(name, RowsAsSequences(max_iter=5, progress=False))


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xfail(reason=reason, strict=False))
                                  for name, reason in sorted(FAILING.items())])
def test_sklearn_check_known_to_fail(name):
    """Expected to fail (with scikit-learn 1.9; older versions check less and may pass)."""
    run_check(name, RowsAsSequences(max_iter=5, progress=False))


def test_check_estimator_skips_the_array_checks_for_a_sequence_tagger():
    """``X`` is a list of sequences, so check_estimator itself declines to feed it 2-D arrays."""
    with pytest.warns(estimator_checks.SkipTestWarning, match="Can't test estimator ChainTagger"):
        estimator_checks.check_estimator(ChainTagger(max_iter=5, progress=False))
