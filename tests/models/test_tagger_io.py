"""ChainTagger.save / ChainTagger.load: one versioned .npz file, no pickle, identical predictions after loading."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from factorgraph_ebm import NotFittedError, Parameters, ParseError
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.models import ChainTagger, token_features
from factorgraph_ebm.utils.npz import read_npz_json, write_npz_json


def numeric_data(rng, n_seq=12, n_feat=4, k=3):
    W = rng.normal(size=(n_feat, k))
    X = [rng.normal(size=(rng.integers(1, 6), n_feat)) for _ in range(n_seq)]
    return X, [np.argmax(x @ W, axis=1) for x in X]


def assert_same_tagger(a, b, X):
    assert a.get_params() == b.get_params() or "random_state" in a.get_params()
    assert a.classes_.dtype == b.classes_.dtype and np.array_equal(a.classes_, b.classes_)
    assert a.parameters_.keys() == b.parameters_.keys()
    for name in a.parameters_:
        assert a.parameters_[name].tobytes() == b.parameters_[name].tobytes()
    assert a.n_features_in_ == b.n_features_in_ and a.n_iter_ == b.n_iter_
    for pa, pb in zip(a.predict(X), b.predict(X)):
        np.testing.assert_array_equal(pa, pb)
    for ma, mb in zip(a.predict_marginals(X), b.predict_marginals(X)):
        np.testing.assert_array_equal(ma, mb)
    assert a.predict_marginals(X, layout="dicts") == b.predict_marginals(X, layout="dicts")


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("order", [1, 2])
def test_numeric_taggers_round_trip(tmp_path, kind, order):
    rng = np.random.default_rng(order)
    X, y = numeric_data(rng)
    if kind == "sparse":
        X = [sp.csr_matrix(np.where(np.abs(x) > 0.5, x, 0.0)) for x in X]
    tagger = ChainTagger("hinge", "adam", l2=0.01, max_iter=3, learning_rate=0.05, batch_size=4, order=order,
                         beta=2.0, loss_options={"offending": "hamming", "margin": 1.5}, random_state=3,
                         progress=False).fit(X, y)
    tagger.save(tmp_path / "tagger.npz")
    loaded = ChainTagger.load(tmp_path / "tagger.npz")
    assert loaded.feature_index_ is None and not hasattr(loaded, "trainer_")
    assert loaded.get_params() == tagger.get_params()
    assert_same_tagger(tagger, loaded, X)
    assert loaded.score(X, y) == tagger.score(X, y)


def test_token_tagger_round_trip_keeps_the_feature_index_and_string_labels(tmp_path):
    sentences = [["The", "dog", "barks"], ["A", "cat", "sleeps"], ["The", "cat", "barks"]]
    X = [token_features(s) for s in sentences] + [[{"w=dog": 2.0, "bias": 1.0}]]
    y = [["DET", "NOUN", "VERB"]] * 3 + [["NOUN"]]
    tagger = ChainTagger(l2=0.05, min_count=2, progress=False).fit(X, y)
    path = tmp_path / "tagger.model"                     # any file name: nothing is appended
    tagger.save(path)
    assert path.exists() and not (tmp_path / "tagger.model.npz").exists()
    loaded = ChainTagger.load(path)
    assert loaded.feature_index_.columns_ == tagger.feature_index_.columns_
    assert loaded.feature_index_.min_count == 2 and loaded.feature_index_.n_features_ == tagger.n_features_in_
    assert_same_tagger(tagger, loaded, X + [token_features(["A", "dog", "sleeps"])])
    assert loaded.predict([token_features(["A", "dog", "sleeps"])])[0].tolist() == ["DET", "NOUN", "VERB"]


def test_int_labels_and_a_generator_random_state_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X, y = numeric_data(rng)
    tagger = ChainTagger("perceptron", max_iter=2, random_state=np.random.default_rng(5), progress=False).fit(X, y)
    tagger.save(tmp_path / "t.npz")
    loaded = ChainTagger.load(tmp_path / "t.npz")
    assert loaded.classes_.dtype == tagger.classes_.dtype == np.int64
    assert isinstance(loaded.random_state, np.random.Generator)
    assert loaded.random_state.bit_generator.state == tagger.random_state.bit_generator.state
    assert_same_tagger(tagger, loaded, X)


def test_the_file_is_an_npz_with_json_metadata_and_no_pickle(tmp_path):
    rng = np.random.default_rng(1)
    X, y = numeric_data(rng)
    ChainTagger(max_iter=2, progress=False).fit(X, y).save(tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["__meta__", "classes", "parameter/emission", "parameter/transition"]
        assert all(data[k].dtype != object for k in data.files)
    arrays, meta = read_npz_json(tmp_path / "t.npz")
    assert meta["format"] == "factorgraph_ebm.chain_tagger" and meta["version"] == 1
    assert meta["settings"]["max_iter"] == 2 and meta["shapes"] == [[4, 3], [3, 3]]


FRESH_PROCESS = textwrap.dedent("""
    import sys
    import numpy as np
    from factorgraph_ebm.io import read_conllu
    from factorgraph_ebm.models import ChainTagger, token_features

    model, data, out = sys.argv[1:]
    words, _ = read_conllu(data)
    X = [token_features(s) for s in words[150:200]]
    tagger = ChainTagger.load(model)
    pred = tagger.predict(X)
    marg = tagger.predict_marginals(X)
    np.savez(out, pred=np.concatenate(pred), marg=np.concatenate(marg), lengths=[len(p) for p in pred])
""")


def test_a_fresh_process_predicts_exactly_the_same_on_real_sentences(tmp_path, ewt):
    path, words, tags = ewt
    X = [token_features(s) for s in words]
    tagger = ChainTagger(l2=1e-2, max_iter=15, progress=False).fit(X[:150], tags[:150])
    tagger.save(tmp_path / "ewt.npz")
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "ewt.npz"), str(path),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    with np.load(tmp_path / "out.npz", allow_pickle=False) as there:
        pred, marg = tagger.predict(X[150:]), tagger.predict_marginals(X[150:])
        np.testing.assert_array_equal(there["lengths"], [len(p) for p in pred])
        np.testing.assert_array_equal(there["pred"], np.concatenate(pred))
        # the same parameters and the same kernels, but this process may have compiled them itself while the fresh
        # one loads them from the disk cache: with fastmath reassociation the two can round differently (1 ulp)
        np.testing.assert_allclose(there["marg"], np.concatenate(marg), rtol=1e-13, atol=0)
    assert tagger.score(X[150:], tags[150:]) > 0.7


# ---------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def fitted():
    X, y = numeric_data(np.random.default_rng(2))
    return ChainTagger(max_iter=2, progress=False).fit(X, y)


def test_an_unfitted_tagger_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ChainTagger().save(tmp_path / "t.npz")


@pytest.mark.parametrize("settings, message", [
    ({"loss_options": {"margin": 1.0, "offending": lambda y: y}},
     r"cannot save loss_options\['offending'\]: <function .*> is a function; a saved tagger holds None, bool, "
     r"int, float, str, list and dict with str keys \(no pickle\)"),
    ({"loss_options": {1: 2.0}}, r"cannot save loss_options: key 1 is not a str"),
    ({"loss_options": {"margin": (1.0, 2.0)}}, r"cannot save loss_options\['margin'\]: \(1.0, 2.0\) is a tuple"),
    ({"random_state": np.random.RandomState(0)}, r"cannot save random_state: RandomState.* is a RandomState"),
])
def test_settings_that_json_cannot_hold_raise_instead_of_being_dropped(fitted, tmp_path, settings, message):
    tagger = ChainTagger.load(_saved(fitted, tmp_path)).set_params(**settings)
    with pytest.raises(DeclarationTypeError, match=message):
        tagger.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_labels_that_need_pickle_raise(tmp_path):
    from fractions import Fraction
    X = [np.eye(2), np.eye(2)]
    tagger = ChainTagger(max_iter=2, progress=False).fit(X, [[Fraction(1, 2), Fraction(1, 3)]] * 2)
    with pytest.raises(DeclarationTypeError, match=r"cannot save classes_ of dtype object \(labels \[Fraction\(1, 3\), "
                                               r"Fraction\(1, 2\)\]...\): labels must be str, int, float or bool"):
        tagger.save(tmp_path / "t.npz")


def _saved(tagger, tmp_path):
    path = tmp_path / "good.npz"
    tagger.save(path)
    return path


def _rewrite(path, tmp_path, edit):
    arrays, meta = read_npz_json(path)
    edit(arrays, meta)
    out = tmp_path / "edited.npz"
    write_npz_json(out, arrays, meta)
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda a, m: m.update(version=2), r"ChainTagger file format version 2 is not supported \(this "
                                       r"factorgraph_ebm reads version 1\)"),
    (lambda a, m: m.update(format="factorgraph_ebm.checkpoint"),
     r"not a ChainTagger file: format 'factorgraph_ebm.checkpoint', expected 'factorgraph_ebm.chain_tagger'"),
    (lambda a, m: m["settings"].update(colour="red"), r"setting 'colour' is not an argument of ChainTagger"),
    (lambda a, m: a.pop("parameter/transition"), r"field 'parameter/transition': the array is missing"),
    (lambda a, m: a.update({"parameter/emission": np.zeros((3, 3))}),
     r"field 'parameter/emission': expected shape \(4, 3\), got \(3, 3\)"),
    (lambda a, m: m["settings"].update(order=2), r"parameters \['emission', 'transition'\] do not match the "
                                                 r"settings \(expected \['emission', 'transition', 'transition2'\]\)"),
])
def test_a_damaged_or_other_file_raises_a_parse_error_naming_it(fitted, tmp_path, edit, message):
    path = _rewrite(_saved(fitted, tmp_path), tmp_path, edit)
    with pytest.raises(ParseError, match=message) as err:
        ChainTagger.load(path)
    assert err.value.path == str(path) and str(err.value).startswith(str(path))


def test_files_of_another_kind_raise_a_parse_error(tmp_path):
    Parameters(w=[1.0]).save(tmp_path / "params.npz")
    with pytest.raises(ParseError, match=r"params.npz: not a ChainTagger file: format 'factorgraph_ebm.parameters'"):
        ChainTagger.load(tmp_path / "params.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ParseError, match=r"text.npz: not a readable .npz file"):
        ChainTagger.load(tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ParseError, match=r"plain.npz: no '__meta__' entry"):
        ChainTagger.load(tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "pickled.npz", "w") as zf:          # an object array needs pickle
        with zf.open("__meta__.npy", "w") as fh:
            np.lib.format.write_array(fh, np.frombuffer(json.dumps({}).encode(), dtype=np.uint8))
        with zf.open("classes.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ParseError, match=r"pickled.npz"):
        ChainTagger.load(tmp_path / "pickled.npz")
