"""Feature helpers name the bad argument (and the sequence and token) instead of leaking numpy / Python errors."""

import numpy as np
import pytest

from factorgraph_ebm import FactorGraphError
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.models import FeatureIndex, image_features, token_features


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: token_features(3), DeclarationTypeError, "sentence as a sequence of words, got int"),
        (lambda: token_features("The dog"), FactorGraphError, "not a string"),
        (lambda: token_features(["a", 3]), FactorGraphError, "word 1 of the sentence must be a non-empty str, got 3"),
        (lambda: token_features([3, "a"]), FactorGraphError, "word 0 of the sentence must be a non-empty str, got 3"),
        (lambda: token_features(["a"], window=-1), FactorGraphError, "window must be >= 0, got -1"),
        (lambda: token_features(["a"], window="1"), FactorGraphError, "window must be an int, got '1'"),
        (lambda: token_features(["a"], affixes=1.5), FactorGraphError, "affixes must be an integer, got 1.5"),
        (lambda: image_features("ab"), DeclarationTypeError, "pixels must be an array of numbers, got the str 'ab'"),
        (lambda: image_features(np.full((1, 2, 2), np.nan)), FactorGraphError, "pixels must be finite"),
        (lambda: FeatureIndex(True).fit([[["a"]]]), FactorGraphError, "min_count must be an int, got True"),
        (lambda: FeatureIndex(0).fit([[["a"]]]), FactorGraphError, "min_count must be >= 1, got 0"),
        (lambda: FeatureIndex().fit(3), DeclarationTypeError, "sequences must be a list of sequences of tokens, got int"),
        (lambda: FeatureIndex().fit([None]), DeclarationTypeError, "sequence 0 must be a sequence of tokens .* got NoneType"),
        (lambda: FeatureIndex().fit([[["a"]], "ab"]), DeclarationTypeError, "sequence 1 must be a sequence of tokens .* got str"),
        (lambda: FeatureIndex().fit([[{"a": "x"}]]), FactorGraphError,
         "sequence 0, token 0: feature 'a' has value 'x'; feature values must be finite numbers"),
        (lambda: FeatureIndex().fit([[["a"]]]).transform([[["a"]], [{"a": np.nan}]]), FactorGraphError,
         "sequence 1, token 0: feature 'a' has value nan"),
    ],
)
def test_feature_helpers_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_transform_reads_a_generator_of_sequences():
    index = FeatureIndex().fit([[["a"], ["b"]]])
    rows = index.transform(seq for seq in [[["a"], ["b"]]])
    assert len(rows) == 1 and rows[0].toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]
