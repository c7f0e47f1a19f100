"""Saved state on load: every field validated (ParseError naming file and field), nothing changed by a failed
load or resume, atomic writes whose leftovers from killed writers are removed (issue 14)."""

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import factorgraph_ebm
from ebm_models import binary_classifier
from factorgraph_ebm import Parameters, ParseError, Trainer, TrainingError
from factorgraph_ebm.models import ChainTagger
from factorgraph_ebm.train import SGD, Adam, load_checkpoint
from factorgraph_ebm.train.checkpoint import rng_from_state
from factorgraph_ebm.utils.npz import STALE_SECONDS, read_npz_json, remove_stale_temporaries, write_npz_json


@pytest.fixture(scope="module")
def line():
    x = np.array([[1.0, 1.0], [2.0, 1.0], [-1.0, 1.0], [-2.0, 1.0]])
    return [binary_classifier(row) for row in x], np.array([1, 1, 0, 0])


def _trainer(**kw):
    settings = dict(loss="hinge", optimizer=Adam(learning_rate=0.1), max_epochs=2, patience=5, progress=False)
    settings.update(kw)
    return Trainer(**settings)


@pytest.fixture(scope="module")
def checkpoint(line, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "c.npz"
    _trainer(checkpoint=path).fit(*line, parameters={"w": np.zeros(2)})
    return path


@pytest.fixture(scope="module")
def tagger_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(rng.integers(1, 6), 3)) for _ in range(6)]
    y = [rng.integers(0, 2, size=len(s)) for s in X]
    path = tmp_path_factory.mktemp("tagger") / "t.npz"
    ChainTagger(max_iter=2, progress=False, random_state=np.random.default_rng(1)).fit(X, y).save(path)
    return path


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "p.npz"
    Parameters(w=np.arange(3.0), b=[[1.0, 2.0]]).save(path)
    return path


def _edit(path, tmp_path, edit, name="edited.npz"):
    arrays, meta = read_npz_json(path)
    edit(arrays, meta)
    out = tmp_path / name
    write_npz_json(out, arrays, meta)
    return out


def _raises(load, path, match):
    with pytest.raises(ParseError, match=match) as err:
        load(path)
    assert err.value.path == str(path)
    return err.value


# ------------------------------------------------------------------ damaged bytes
def _entries(raw):
    """Offsets of the local headers, the central directory records and the end record of a zip file."""
    with zipfile.ZipFile(__import__("io").BytesIO(bytes(raw))) as zf:
        infos = zf.infolist()
    end = raw.rfind(b"PK\x05\x06")
    central = raw.rfind(b"PK\x01\x02")
    return [i.header_offset for i in infos], central, end


@pytest.mark.parametrize("where, offset, value", [
    ("local", 2, 0x07),      # signature of the first entry
    ("local", 26, 0xFF),     # file name length
    ("local", 28, 0x40),     # extra field length (shifts the data)
    ("central", 10, 12),     # compression method in the central directory (bzip2: NotImplementedError before)
    ("central", 24, 0xFF),   # uncompressed size
    ("central", 42, 0x55),   # offset of the local header
    ("end", 1, 0x4C),        # signature of the end record
    ("end", 16, 0x33),       # offset of the central directory
])
def test_byte_flips_in_the_zip_headers_raise_a_parse_error(params_file, tmp_path, where, offset, value):
    raw = bytearray(params_file.read_bytes())
    locals_, central, end = _entries(raw)
    start = {"local": locals_[0], "central": central, "end": end}[where]
    raw[start + offset] = value
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(raw)
    _raises(Parameters.load, bad, "not a readable .npz file")


@pytest.mark.parametrize("keep", [0, 10, 100, 400, -30, -1])
def test_a_truncated_file_raises_a_parse_error(checkpoint, tmp_path, keep):
    raw = checkpoint.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(raw[:keep] if keep >= 0 else raw[:len(raw) + keep])
    _raises(load_checkpoint, bad, "not a readable .npz file")


def test_an_npy_header_announcing_a_huge_array_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    Parameters(w=np.zeros(4)).save(path)
    raw = path.read_bytes().replace(b"'shape': (4,), }", b"'shape': (9**9,),}")
    assert raw != path.read_bytes()
    path.write_bytes(raw)
    _raises(Parameters.load, path, "not a readable .npz file")
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as zf:       # a well-formed header that lies about its size
        with zf.open("__meta__.npy", "w") as fh:
            np.lib.format.write_array(fh, np.frombuffer(b"{}", dtype=np.uint8))
        with zf.open("p0.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (10 ** 12,)})
    _raises(Parameters.load, tmp_path / "big.npz", r"header announces 8000000000000 bytes")


def test_an_entry_marked_encrypted_raises_a_parse_error(params_file, tmp_path):
    raw = bytearray(params_file.read_bytes())
    _, central, _ = _entries(raw)
    raw[central + 8] |= 0x1                       # general purpose flags: encrypted (RuntimeError before)
    (tmp_path / "locked.npz").write_bytes(raw)
    _raises(Parameters.load, tmp_path / "locked.npz", r"entry '.*' is marked encrypted")


def test_duplicate_entries_raise_a_parse_error(params_file, tmp_path):
    path = tmp_path / "dup.npz"
    with zipfile.ZipFile(params_file) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            dst.writestr("p0.npy", src.read("p1.npy"))
    _raises(Parameters.load, path, r"entry 'p0' appears twice")


# ------------------------------------------------------------------ Parameters files
@pytest.mark.parametrize("edit, match", [
    (lambda a, m: m.pop("names"), r"field 'names' is missing"),
    (lambda a, m: m.update(names=None), r"field 'names': expected a list of names, got None"),
    (lambda a, m: m.update(names=[None, "w"]), r"field 'names': names must be non-empty str, got None"),
    (lambda a, m: m.update(names=[1, "w"]), r"field 'names': names must be non-empty str, got int 1"),
    (lambda a, m: m.update(names=["w", "w"]), r"field 'names': name 'w' appears twice"),
    (lambda a, m: m.update(names=["", "w"]), r"field 'names': names must be non-empty str"),
    (lambda a, m: m.update(shapes=[[1, 2]]), r"field 'shapes': expected a list of 2 shapes"),
    (lambda a, m: m.update(shapes=[[1, -2], [3]]), r"field 'shapes\[0\]': expected a shape"),
    (lambda a, m: m.update(colour="red"), r"unknown field 'colour'"),
    (lambda a, m: m.update(version=2), r"parameters file format version 2 is not supported"),
    (lambda a, m: a.update(p0=np.full((1, 2), np.nan)), r"field 'p0 \(parameter 'b'\)': contains NaN"),
    (lambda a, m: a.update(p1=np.array([0.0, np.inf, 1.0])), r"field 'p1 \(parameter 'w'\)': contains an infin"),
    (lambda a, m: a.update(p1=np.arange(3)), r"field 'p1 \(parameter 'w'\)': expected a float64 array, got dtype"),
    (lambda a, m: a.update(p1=np.zeros(1)), r"field 'p1 \(parameter 'w'\)': expected shape \(3,\), got \(1,\)"),
    (lambda a, m: a.pop("p1"), r"field 'p1 \(parameter 'w'\)': the array is missing"),
    (lambda a, m: a.update(p7=np.zeros(1)), r"field 'p7': unexpected array"),
])
def test_a_damaged_parameters_file_raises_a_parse_error_naming_the_field(params_file, tmp_path, edit, match):
    _raises(Parameters.load, _edit(params_file, tmp_path, edit), match)


def test_a_parameters_file_round_trips_and_only_finite_values_are_saved(params_file, tmp_path):
    assert Parameters.load(params_file) == Parameters(w=np.arange(3.0), b=[[1.0, 2.0]])
    with pytest.raises(factorgraph_ebm.DeclarationError, match="parameter 'w' is not finite"):
        Parameters(w=[np.inf]).save(tmp_path / "inf.npz")
    assert not (tmp_path / "inf.npz").exists()


# ------------------------------------------------------------------ checkpoints
def _set(meta, key, value):
    meta[key] = value


@pytest.mark.parametrize("edit, match", [
    (lambda a, m: m.pop("epoch"), r"field 'epoch' is missing"),
    (lambda a, m: _set(m, "epoch", -1), r"field 'epoch': expected a non-negative int, got int -1"),
    (lambda a, m: _set(m, "n_iter", -3), r"field 'n_iter': expected a non-negative int, got int -3"),
    (lambda a, m: _set(m, "n_iter", 2.5), r"field 'n_iter': expected a non-negative int, got float 2.5"),
    (lambda a, m: _set(m, "wait", True), r"field 'wait': expected a non-negative int, got bool True"),
    (lambda a, m: _set(m, "epoch", 5), r"field 'history': expected a list of 5 epochs"),
    (lambda a, m: m["rng"].update(bit_generator="Mersenne"), r"field 'rng.bit_generator': expected one of \['PCG64'"),
    (lambda a, m: m["rng"].update(bit_generator=None), r"field 'rng.bit_generator': expected one of"),
    (lambda a, m: m["rng"]["state"].pop("inc"), r"field 'rng.state': keys \['state'\], expected \['inc', 'state'\]"),
    (lambda a, m: m["rng"]["state"].update(inc="7"), r"field 'rng.state.inc': expected a non-negative int"),
    (lambda a, m: _set(m, "rng", [1, 2]), r"field 'rng': expected a JSON object"),
    (lambda a, m: _set(m, "has_best", 1), r"field 'has_best': expected true or false, got int 1"),
    (lambda a, m: a.pop("best/w"), r"field 'best/w': the array is missing"),
    (lambda a, m: (_set(m, "has_best", False)), r"field 'has_best': is false but best_value is"),
    (lambda a, m: (_set(m, "has_best", False), _set(m, "best_value", None)),
     r"field 'has_best': is false but the file holds best/w"),
    (lambda a, m: _set(m, "best_value", float("nan")), r"field 'best_value': expected a finite number or null"),
    (lambda a, m: a.update({"param/w": np.array([np.nan, 0.0])}), r"field 'param/w': contains NaN"),
    (lambda a, m: a.update({"best/w": np.zeros(3)}), r"field 'best/w': expected shape \(2,\), got \(3,\)"),
    (lambda a, m: a.update({"opt/m/w": np.zeros(1)}), r"field 'opt/m/w': expected shape \(2,\), got \(1,\)"),
    (lambda a, m: a.update({"opt/m/w": np.zeros((1, 2))}), r"field 'opt/m/w': expected shape \(2,\), got \(1, 2\)"),
    (lambda a, m: a.update({"opt/v/w": np.array([np.nan, 1.0])}), r"field 'opt/v/w': contains NaN"),
    (lambda a, m: a.update({"opt/v/b": np.zeros(2)}), r"field 'opt/v/b': unexpected array"),
    (lambda a, m: a.update({"extra": np.zeros(2)}), r"unexpected entry 'extra'"),
    (lambda a, m: m["history"][0].pop("loss"), r"field 'loss' is missing from the entry 0 of the history"),
    (lambda a, m: m["history"][1].update(epoch=7), r"field 'history\[1\].epoch': expected 2, got 7"),
    (lambda a, m: m["history"][0].update(val_score=2.0), r"field 'history\[0\].val_score'"),
    (lambda a, m: _set(m, "stop_reason", "bored"), r"field 'stop_reason': expected one of \['max_epochs'"),
    (lambda a, m: _set(m, "fingerprint", None), r"field 'fingerprint': expected a JSON object, got None"),
    (lambda a, m: m["fingerprint"].update(parameters={"w": [3]}), r"field 'fingerprint.parameters': records the "
                                                                  r"shapes \{'w': \[3\]\}"),
    (lambda a, m: _set(m, "format", "factorgraph_ebm.parameters"), r"not a training checkpoint file: format"),
])
def test_a_damaged_checkpoint_raises_a_parse_error_naming_the_field(checkpoint, tmp_path, edit, match):
    _raises(load_checkpoint, _edit(checkpoint, tmp_path, edit), match)


def _state(trainer):
    return (dict(trainer.parameters_), trainer.theta_.copy(), trainer.n_iter_, trainer.n_epochs_,
            list(trainer.history_), trainer.stop_reason_)


def _same(a, b):
    assert a[0].keys() == b[0].keys() and all(np.array_equal(a[0][k], b[0][k]) for k in a[0])
    assert np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("edit, error, match", [
    (lambda a, m: a.update({"opt/m/w": np.zeros(1)}), ParseError, r"field 'opt/m/w': expected shape \(2,\)"),
    (lambda a, m: m["optimizer"].update(t=-1), ParseError, r"field 'optimizer.t': expected a non-negative int"),
    (lambda a, m: m["optimizer"].pop("t"), ParseError, r"field 'optimizer': keys \[\], expected \['t'\]"),
    (lambda a, m: (a.update({"opt/velocity/w": a.pop("opt/m/w")}), a.pop("opt/v/w")), ParseError,
     r"field 'opt': the optimizer state has entries \['m/w'\]|field 'opt': the optimizer state has entries"),
    (lambda a, m: a.pop("opt/v/w"), ParseError, r"field 'opt': the optimizer state has entries \['m/w'\], this "
                                                r"optimizer keeps \['m/w', 'v/w'\]"),
    (lambda a, m: m["rng"].update(bit_generator="Mersenne"), ParseError, r"field 'rng.bit_generator'"),
    (lambda a, m: m.pop("epoch"), ParseError, r"field 'epoch' is missing"),
    (lambda a, m: m["fingerprint"]["optimizer"].update(name="sgd", learning_rate=0.5), TrainingError,
     r"different configuration: optimizer 'sgd' \(checkpoint\) != 'adam' \(now\), learning_rate 0.5 != 0.1; "),
])
def test_a_failed_resume_leaves_a_fitted_trainer_unchanged(line, checkpoint, tmp_path, edit, error, match):
    path = _edit(checkpoint, tmp_path, edit)
    trainer = _trainer(max_epochs=1)
    trainer.fit(*line, parameters={"w": np.ones(2)})
    before = _state(trainer)
    with pytest.raises(error, match=match):
        trainer.fit(*line, resume=path)
    _same(_state(trainer), before)


def test_a_resume_with_another_configuration_names_every_value_that_differs(line, checkpoint):
    fresh = _trainer(optimizer=SGD(learning_rate=0.01), batch_size=2, max_epochs=3)
    with pytest.raises(TrainingError, match=r"different configuration: batch_size 4 \(checkpoint\) != 2 \(now\), "
                                            r"optimizer 'adam' != 'sgd', learning_rate 0.1 != 0.01; resume with"):
        fresh.fit(*line, resume=checkpoint)
    assert not hasattr(fresh, "parameters_")
    more = _trainer(l2=0.5, max_epochs=3)
    with pytest.raises(TrainingError, match=r"configuration: l2\['w'\] 0.0 \(checkpoint\) != 0.5 \(now\)"):
        more.fit(*line, resume=checkpoint)
    resumed = _trainer(max_epochs=3).fit(*line, resume=checkpoint)    # the same configuration resumes
    assert resumed.n_epochs_ == 3


def test_an_unknown_generator_name_raises_a_parse_error_everywhere(tagger_file, tmp_path):
    state = np.random.default_rng(0).bit_generator.state
    with pytest.raises(ParseError, match=r"<random state>: field 'rng.bit_generator'"):
        rng_from_state({**state, "bit_generator": "Mersenne"})
    with pytest.raises(ParseError, match=r"field 'rng.state.state': expected a non-negative int"):
        rng_from_state({**state, "state": {"state": -5, "inc": 1}})
    path = _edit(tagger_file, tmp_path, lambda a, m: m["random_state_generator"].update(bit_generator="Mt"))
    _raises(ChainTagger.load, path, r"field 'random_state_generator.bit_generator': expected one of")
    mt = np.random.MT19937(5).state                                 # generators whose state holds arrays
    mt["state"]["key"] = mt["state"]["key"].tolist()
    assert rng_from_state(mt).integers(1 << 30) == np.random.Generator(np.random.MT19937(5)).integers(1 << 30)


# ------------------------------------------------------------------ saved taggers
@pytest.mark.parametrize("edit, match", [
    (lambda a, m: m.pop("n_iter"), r"field 'n_iter' is missing"),
    (lambda a, m: m.update(n_iter=-1), r"field 'n_iter': expected a non-negative int"),
    (lambda a, m: m.update(n_features_in=None), r"field 'n_features_in': expected a non-negative int, got None"),
    (lambda a, m: m.update(parameters=["emission", "emission"]), r"field 'parameters': name 'emission' appears"),
    (lambda a, m: m.update(parameters=[None, "emission"]), r"field 'parameters': names must be non-empty str"),
    (lambda a, m: m.update(shapes=[[3, 2], [9, 9]]), r"field 'shapes\[1\]': parameter 'transition'"),
    (lambda a, m: m["settings"].update(max_iter=float("nan")), r"field 'settings': max_iter must be an integer"),
    (lambda a, m: m["settings"].update(order=3), r"field 'settings': order"),
    (lambda a, m: m.update(settings=None), r"field 'settings': expected a JSON object"),
    (lambda a, m: a.update({"parameter/emission": np.full((3, 2), np.nan)}), r"'parameter/emission': contains NaN"),
    (lambda a, m: a.update(classes=np.array([1, 1])), r"field 'classes': labels must be distinct"),
    (lambda a, m: a.update(classes=np.zeros((1, 2))), r"field 'classes': expected a non-empty 1-D array"),
    (lambda a, m: a.pop("classes"), r"field 'classes': the array of labels is missing"),
    (lambda a, m: a.update(junk=np.zeros(1)), r"unexpected entry 'junk'"),
])
def test_a_damaged_tagger_file_raises_a_parse_error_naming_the_field(tagger_file, tmp_path, edit, match):
    _raises(ChainTagger.load, _edit(tagger_file, tmp_path, edit), match)


# ------------------------------------------------------------------ seeded fuzz
def _mutate_json(meta, rng):
    node = meta
    for _ in range(4):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = keys[rng.integers(len(keys))]
        if not isinstance(node[key], (dict, list)) or not node[key] or rng.random() < 0.4:
            if isinstance(node, dict) and rng.random() < 0.2:
                del node[key]
            else:
                node[key] = [None, -1, "x", float("nan"), 1.5, [1], {"a": 1}, True, 10 ** 40][rng.integers(9)]
            return
        node = node[key]


def _mutant(path, out, rng):
    raw = bytearray(path.read_bytes())
    kind = rng.integers(4)
    if kind == 0:                                 # flips anywhere
        for _ in range(rng.integers(1, 6)):
            raw[rng.integers(len(raw))] ^= 1 << int(rng.integers(8))
    elif kind == 1:                               # flips in the first local header or the central directory
        for _ in range(rng.integers(1, 4)):
            pos = rng.integers(64) if rng.random() < 0.5 else len(raw) - 1 - rng.integers(300)
            raw[pos] = rng.integers(256)
    elif kind == 2:
        raw = raw[:rng.integers(len(raw))]
    else:                                         # a valid file with damaged contents
        arrays, meta = read_npz_json(path)
        if rng.random() < 0.6:
            _mutate_json(meta, rng)
        else:
            keys = sorted(arrays)
            key = keys[rng.integers(len(keys))]
            choice = rng.integers(4)
            if choice == 0:
                del arrays[key]
            elif choice == 1:
                arrays[key] = arrays[key].reshape(-1)[:1]
            elif choice == 2 and arrays[key].dtype.kind == "f":
                arrays[key] = np.full(arrays[key].shape, np.nan)
            else:
                other = keys[rng.integers(len(keys))]
                arrays[key], arrays[other] = arrays[other], arrays[key]
        write_npz_json(out, arrays, meta)
        return
    out.write_bytes(bytes(raw))


def test_seeded_fuzz_gives_a_clean_load_or_a_parse_error(params_file, checkpoint, tagger_file, tmp_path):
    rng = np.random.default_rng(14)
    cases = [(params_file, Parameters.load), (checkpoint, load_checkpoint), (tagger_file, ChainTagger.load)]
    outcomes = {"clean": 0, "ParseError": 0}
    for i in range(450):
        path, load = cases[i % 3]
        out = tmp_path / f"mutant{i % 3}.npz"
        _mutant(path, out, rng)
        try:
            load(out)
            outcomes["clean"] += 1
        except ParseError as exc:
            assert exc.path == str(out)
            outcomes["ParseError"] += 1
    assert outcomes["ParseError"] > 300


# ------------------------------------------------------------------ temporary files
def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "c.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        files = {name: tmp_path / name for name in [
            f"c.npz.tmp{dead.pid}", f"c.npz.tmp{sleeper.pid}", f"c.npz.tmp{os.getpid()}", "c.npz.tmp12ab",
            f"d.npz.tmp{dead.pid}", f"c.npz.tmp{dead.pid}.bak", "c.npz.tmp"]}
        for file in files.values():
            file.write_bytes(b"partial")
        Parameters(w=[1.0]).save(target)
        assert not files[f"c.npz.tmp{dead.pid}"].exists()                # its writer is gone
        assert files[f"c.npz.tmp{sleeper.pid}"].exists()                 # a live writer is left alone
        assert not files[f"c.npz.tmp{os.getpid()}"].exists()             # ours: overwritten, then renamed
        for name in ["c.npz.tmp12ab", f"d.npz.tmp{dead.pid}", f"c.npz.tmp{dead.pid}.bak", "c.npz.tmp"]:
            assert files[name].exists()                                  # not our pattern for this path
        old = time.time() - STALE_SECONDS - 5                            # a live PID but untouched for long
        os.utime(files[f"c.npz.tmp{sleeper.pid}"], (old, old))
        assert remove_stale_temporaries(target) == [str(files[f"c.npz.tmp{sleeper.pid}"])]
        assert Parameters.load(target) == Parameters(w=[1.0])
    finally:
        sleeper.kill()
        sleeper.wait()


_WRITER = """
import sys
import numpy as np
from factorgraph_ebm.utils.npz import write_npz_json
big = np.random.default_rng(0).normal(size=1_000_000)
while True:
    write_npz_json(sys.argv[1], {"param/w": big}, {"n": 1})
"""


def test_a_writer_killed_mid_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "big.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(factorgraph_ebm.__file__).parents[1])}
    leftover = []
    for _ in range(10):                       # until a kill lands inside a write (almost always the first)
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], env=env)
        temporary = tmp_path / f"big.npz.tmp{child.pid}"
        deadline = time.monotonic() + 60
        while not temporary.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait()
        leftover = sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name)
        if leftover:
            break
    assert leftover, "no kill landed inside a write"
    write_npz_json(target, {"param/w": np.zeros(3)}, {"n": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]
    arrays, meta = read_npz_json(target)
    assert meta == {"n": 2} and np.array_equal(arrays["param/w"], np.zeros(3))


def test_seeded_fuzz_of_resumes_gives_a_run_a_parse_error_or_a_configuration_error(line, checkpoint, tmp_path):
    rng = np.random.default_rng(41)
    outcomes = {"clean": 0, "ParseError": 0, "TrainingError": 0}
    for i in range(90):
        out = tmp_path / "mutant.npz"
        _mutant(checkpoint, out, rng)
        try:
            _trainer(max_epochs=3).fit(*line, resume=out)
            outcomes["clean"] += 1
        except (ParseError, TrainingError) as exc:
            outcomes[type(exc).__name__] += 1
    assert outcomes["ParseError"] > 50


def test_two_concurrent_writers_never_remove_each_others_file_and_leave_a_loadable_one(tmp_path):
    target = tmp_path / "big.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(factorgraph_ebm.__file__).parents[1])}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], env=env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(20):                       # both write in a loop: every read sees a whole file
            arrays, meta = read_npz_json(target)
            assert meta == {"n": 1} and arrays["param/w"].shape == (1_000_000,)
        assert all(w.poll() is None for w in writers)   # neither failed (e.g. its temporary removed under it)
    finally:
        for w in writers:
            w.send_signal(signal.SIGKILL)
            w.wait()
    write_npz_json(target, {"param/w": np.ones(2)}, {"n": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]
    assert read_npz_json(target)[1] == {"n": 3}
