"""ChainTagger's errors: the package's exception classes (all ValueErrors), messages naming the culprit."""

import numpy as np
import pytest
import scipy.sparse as sp

from factorgraph_ebm import (
    DeclarationError,
    FactorGraphError,
    InferenceError,
    NotFittedError,
    TargetError,
)
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.models import ChainTagger

X = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])]
Y = [[0, 1], [1, 0, 1]]


def fit(**settings):
    return lambda: ChainTagger(**{"max_iter": 2, "progress": False, **settings}).fit(X, Y)


def fit_on(X, y=Y):
    return lambda: ChainTagger(max_iter=2, progress=False).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    return ChainTagger(max_iter=5, progress=False).fit(X, Y)


SETTINGS = [
    (fit(loss="crossentropy"), DeclarationError,
     r"loss must be one of \['cd', 'energy', .*\], got 'crossentropy'; did you mean 'nll'\?"),
    (fit(loss="hindge"), DeclarationError, r"got 'hindge'; did you mean 'hinge'\?"),
    (fit(optimizer="L-BFGS"), DeclarationError,
     r"optimizer must be one of \['adam', 'auto', 'lbfgs', 'sgd'\], got 'L-BFGS'; did you mean 'lbfgs'\?"),
    (fit(order=3), DeclarationError, r"order must be one of \[1, 2\], got 3"),
    (fit(max_iter=0), FactorGraphError, r"max_iter must be >= 1, got 0"),
    (fit(max_iter=2.5), FactorGraphError, r"max_iter must be an integer, got 2.5"),
    (fit(loss_options=["margin", 1.0]), DeclarationTypeError,
     r"loss_options must be None or a dict of options for the 'nll' loss, got the list \['margin', 1.0\]"),
    (fit(beta=0.0), InferenceError, r"beta must be > 0 \(np.inf for min-sum\), got 0.0"),
]

X_ERRORS = [
    (fit_on("abc"), r"X must be a list of sequences \(each a \(tokens, features\) matrix or a list of tokens\), "
                    r"got the str 'abc'"),
    (fit_on(np.zeros((5, 2))), r"X must be a list of sequences .*, got one 2-D array of shape \(5, 2\)\. "
                               r"Reshape your data: \[X\] is one sequence"),
    (fit_on(sp.csr_matrix(np.eye(3))), r"got one scipy.sparse matrix of shape \(3, 3\)"),
    (fit_on(np.zeros(4)), r"got a 1-D array of shape \(4,\)\. Reshape your data"),
    (fit_on([], []), r"X is empty: expected a list of sequences, got no sequence"),
    (fit_on([X[0], 7]), r"sequence 1 of X must be a sequence of tokens \(a list, or a \(tokens, features\) "
                        r"matrix\), got the int 7"),
    (fit_on([X[0], np.zeros((0, 2))]), r"sequence 1 of X is empty: expected at least one token"),
    (fit_on([X[0], np.zeros((3, 2, 1))]), r"sequence 1 of X: a numeric sequence must be 2-D \(tokens, features\), "
                                          r"got shape \(3, 2, 1\)"),
    (fit_on([np.zeros((2, 0)), np.zeros((3, 0))]), r"sequence 0 of X has 0 feature\(s\) \(shape=\(2, 0\)\)"),
    (fit_on([X[0], X[1] * 1j]), r"sequence 1 of X has dtype complex128: Complex data not supported"),
    (fit_on([X[0], X[1] * np.nan]), r"sequence 1 of X has non-finite feature values \(NaN or inf\)"),
    (fit_on([X[0], [["w=a"], ["w=b"], ["w=c"]]]), r"X mixes numeric feature matrices and token feature lists "
                                                  r"\(sequence 0 is a matrix, sequence 1 is not\)"),
]

Y_ERRORS = [
    (fit_on(X, None), r"ChainTagger requires y to be passed, but the target y is None"),
    (fit_on(X, "ab"), r"y must be a list of label sequences \(one per sequence of X\), got the str 'ab'"),
    (fit_on(X, Y[:1]), r"X has 2 sequences but y has 1"),
    (fit_on(X, [[0, 1], [1, 0]]), r"sequence 1: 3 tokens in X but 2 labels in y"),
    (fit_on(X, [[0, 0], [0, 0, 0]]), r"y needs at least 2 distinct labels, got 1 class: \[0\]"),
]


@pytest.mark.parametrize("call, cls, message", SETTINGS)
def test_bad_settings_raise_in_fit_naming_the_argument(call, cls, message):
    with pytest.raises(cls, match=message) as err:
        call()
    assert isinstance(err.value, FactorGraphError) and isinstance(err.value, ValueError)


#: X of the wrong type (not a list, a sequence that is not a sequence) is also a TypeError.
WRONG_TYPE = (r"got the str 'abc'", r"got the int 7")


@pytest.mark.parametrize("call, message", X_ERRORS)
def test_bad_X_raises_a_declaration_error_naming_the_sequence(call, message):
    with pytest.raises(DeclarationError, match=message) as err:
        call()
    assert isinstance(err.value, ValueError)
    assert isinstance(err.value, DeclarationTypeError) == message.endswith(WRONG_TYPE)


@pytest.mark.parametrize("call, message", Y_ERRORS)
def test_bad_y_raises_a_target_error(call, message):
    with pytest.raises(TargetError, match=message) as err:
        call()
    assert isinstance(err.value, ValueError)


def test_prediction_input_that_does_not_match_the_fit(fitted):
    with pytest.raises(DeclarationError, match=r"sequence 0 of X has 3 features, but ChainTagger is expecting 2 "
                                               r"features as input \(per token, as in fit\)"):
        fitted.predict([np.zeros((4, 3))])
    with pytest.raises(DeclarationError, match=r"fitted on numeric feature matrices; pass matrices, not token "
                                               r"lists \(sequence 0 of X is a token list\)"):
        fitted.predict([[["w=a"]]])
    tokens = ChainTagger(max_iter=2, progress=False).fit([[["w=a"], ["w=b"]]], [["A", "B"]])
    with pytest.raises(TargetError, match=r"sequence 0: 1 tokens in X but 2 labels in y"):
        tokens.score([[["w=a"]]], [["A", "B"]])


def test_bad_marginal_requests_raise_an_inference_error(fitted):
    with pytest.raises(InferenceError, match=r"layout must be one of \['arrays', 'dicts'\], got 'dict'; "
                                             r"did you mean 'dicts'\?"):
        fitted.predict_marginals(X, layout="dict")
    with pytest.raises(InferenceError, match=r"beta must be a positive real number or inf, got 'hot'"):
        fitted.predict_marginals(X, beta="hot")


@pytest.mark.parametrize("method", ["predict", "predict_marginals", "score", "save"])
def test_every_method_of_an_unfitted_tagger_raises_not_fitted(method, tmp_path):
    args = {"predict": (X,), "predict_marginals": (X,), "score": (X, Y), "save": (tmp_path / "t.npz",)}[method]
    with pytest.raises(NotFittedError, match=r"this ChainTagger is not fitted yet; call fit\(X, y\) first"):
        getattr(ChainTagger(), method)(*args)
    assert not (tmp_path / "t.npz").exists()


def test_set_params_rejects_an_unknown_name_with_the_valid_ones_and_the_closest():
    with pytest.raises(DeclarationError, match=r"invalid parameter 'max_iters' for ChainTagger; valid: \['loss', "
                                               r"'optimizer', 'l2', .*\]; did you mean 'max_iter'\?"):
        ChainTagger().set_params(max_iters=1)
