"""Mutated files for the fuzz test (tests/test_fuzz_files.py) and the long fuzz run (benchmarks/fuzz_files.py).

A *seed* is a valid file: model files (``.uai`` MARKOV and BAYES, libDAI
``.fg``, gzip-compressed or not), evidence (``.evid``), UAI results (MAR,
MPE, PR) and saved state (``Parameters``, training checkpoints, saved
taggers). A *variant* is a seed after one to three mutations, drawn from a
generator seeded by the variant's number, so every run of the same number
builds the same file. UAI models also get mutations that keep them
consistent (a variable's states changed and its tables rebuilt, tables of
zeros or of extreme potentials such as 1e300 and subnormals, constant
factors, factors repeated, removed or added, the preamble switched), so that
inference runs on odd models, not only the parser on broken ones. Text
mutations work on tokens (a count off by one or
multiplied by a power of ten, a huge or odd number, a token deleted,
duplicated, swapped or inserted, a line deleted or repeated, the file cut
short) and on bytes (bit flips, inserted bytes that are not UTF-8 or are
NUL); saved-state mutations rewrite one JSON field or one array of the
``.npz`` (deleted, renamed, None, a wrong type, negative, huge, NaN, a wrong
shape or dtype) or corrupt the zip bytes.

:func:`run_variant` writes the variant, reads it with the public loader,
and for model and evidence files runs ``fgebm`` in this process on it
(``infer`` for a task, ``info`` or ``convert``), and reports what happened:
``ok``, a documented error, or a finding (an exception of another class, a
traceback or an unexpected exit status from the command line, a result file
that does not read back or whose marginals do not sum to one, more than the
time or memory target). Peak memory is read from ``/proc/self/status``
(``VmHWM``, reset through ``/proc/self/clear_refs`` before each variant).
"""

import contextlib
import gzip
import io
import json
import os
import re
import time

import numpy as np

from factorgraph_ebm import FactorGraph, LinearEnergy, Parameters, Trainer
from factorgraph_ebm.exceptions import MemoryBudgetError, ParseError, TrainingError, ZeroPartitionError
from factorgraph_ebm.io import read_evidence, read_model, read_result, write_evidence, write_libdai, write_uai
from factorgraph_ebm.io.results import format_result
from shared_data import SHARED_DATA

__all__ = ["Seed", "model_seeds", "state_seeds", "make_variant", "run_variant", "MEMORY_LIMIT", "TIME_LIMIT"]

#: Targets of issue 14: no variant above these.
MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 5.0

#: Tokens a mutation may put in place of another.
ODD_TOKENS = ["0", "1", "2", "-1", "3", "7", "255", "65536", "1048577", "99999999", "4294967296", "1000000000000",
              "1" + "0" * 30, "1e308", "1e-320", "nan", "inf", "-inf", "-0", "0.5", "-0.5", "x", "9" * 40,
              "MARKOV", "BAYES", "-BEGIN-", "MAR", "MPE", "PR", "0x10", "1_0", "١"]
SHARED = os.fspath(SHARED_DATA / "uai2014_dev")
#: Real models whose inference takes well under a second (the time target applies to their variants too).
REAL_MODELS = ["MAR/Grids_12", "MAR/Promedus_11", "MAR/Segmentation_14", "MAR/linkage_11", "PR/log-1.cnf"]


class Seed:
    """A valid file: ``kind`` (model, evidence, result, parameters, checkpoint, tagger), a file name, its bytes.

    ``model`` is the model text an evidence seed refers to (with its name).
    """

    def __init__(self, kind, name, data, model=None):
        self.kind, self.name, self.data, self.model = kind, name, data, model


# ------------------------------------------------------------------ seeds
def _small_graph(rng, n_vars=5, max_states=3):
    fg = FactorGraph()
    states = rng.integers(1, max_states + 1, size=n_vars)
    for v, k in enumerate(states.tolist()):
        fg.add_variable(v, k)
    for v in range(n_vars):
        fg.add_factor([v], rng.exponential(size=int(states[v])))
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2)][: n_vars + 1]:
        table = rng.exponential(size=(int(states[a]), int(states[b])))
        table[rng.random(table.shape) < 0.2] = np.inf
        fg.add_factor([a, b], table)
    fg.add_factor([1, 3, 4], rng.exponential(size=tuple(int(states[v]) for v in (1, 3, 4))))
    # a variable with one factor: a mutated cardinality keeps a .fg file consistent (a sparse table grows)
    fg.add_variable(n_vars, 2)
    fg.add_factor([n_vars], [0.0, 1.0])
    return fg


def _bayes_text():
    return ("BAYES\n3\n2 3 2\n3\n1 0\n2 0 1\n2 1 2\n\n2\n0.4 0.6\n\n6\n0.2 0.3 0.5 0.6 0.3 0.1\n\n"
            "6\n0.9 0.1 0.5 0.5 0.0 1.0\n")


def _written(write, fg):
    out = io.StringIO()
    write(fg, out)
    return out.getvalue()


def model_seeds(real=REAL_MODELS):
    """Model and evidence seeds: small generated models in both formats (plain and gzip) and the ``real``
    models of ``../shared/data/uai2014_dev`` (names as in :data:`REAL_MODELS`) with their evidence."""
    rng = np.random.default_rng(14)
    seeds = []
    for i in range(2):
        fg = _small_graph(rng)
        uai, fgtext = _written(write_uai, fg), _written(write_libdai, fg)
        seeds += [Seed("model", f"gen{i}.uai", uai.encode()), Seed("model", f"gen{i}.fg", fgtext.encode())]
        if i == 0:
            seeds += [Seed("model", f"gen{i}.uai.gz", gzip.compress(uai.encode(), mtime=0)),
                      Seed("model", f"gen{i}.fg.gz", gzip.compress(fgtext.encode(), mtime=0))]
        evid = io.StringIO()
        write_evidence(evid, [1 if v == 2 else -1 for v in range(fg.n_vars)] if fg.var_states[2] > 1 else [-1] * 5)
        seeds.append(Seed("evidence", f"gen{i}.uai.evid", evid.getvalue().encode(), model=(f"gen{i}.uai", uai)))
    seeds.append(Seed("model", "bayes.uai", _bayes_text().encode()))
    seeds.append(Seed("evidence", "bayes.uai.evid", b"1\n2 1 0 2 1\n", model=("bayes.uai", _bayes_text())))
    for task, value in [("MAR", [np.array([0.25, 0.75]), np.array([0.1, 0.2, 0.7])]), ("MPE", np.array([1, 0, 2])),
                        ("PR", -1.25)]:
        text = format_result(task, value)
        seeds.append(Seed("result", f"answer.{task}", (text + "-BEGIN-\n" + text.split("\n", 1)[1]).encode()))
    for name in real:
        path = os.path.join(SHARED, name + ".uai")
        if not os.path.exists(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        base = os.path.basename(path)
        seeds.append(Seed("model", base, data))
        with open(path + ".evid", "rb") as fh:
            seeds.append(Seed("evidence", base + ".evid", fh.read(), model=(base, data.decode())))
    return seeds


def _classifier():
    clf = FactorGraph()
    clf.add_variable("x", 3, role="observed")
    clf.add_variable("y", 2)
    clf.add_factor(["x", "y"], LinearEnergy("W"), name="xy")
    clf.add_factor(["y"], LinearEnergy("b"), name="bias")
    targets = [0, 1, 1, 0, 1, 0]
    evidence = [{"x": i % 3} for i in range(len(targets))]
    return clf, targets, evidence


#: The trainer configuration of the checkpoint seed (a resume must use the same).
TRAINER = {"loss": "nll", "optimizer": "adam", "learning_rate": 0.1, "batch_size": 2, "progress": False,
           "random_state": 3}


def _trainer(epochs, checkpoint=None):
    return Trainer(max_epochs=epochs, checkpoint=checkpoint, **TRAINER)


def _initial():
    return {"W": np.zeros((3, 2)), "b": np.zeros(2)}


def state_seeds(folder):
    """Saved-state seeds written into ``folder``: Parameters, a training checkpoint, a saved ChainTagger."""
    from factorgraph_ebm.models import ChainTagger

    os.makedirs(folder, exist_ok=True)
    seeds = []
    path = os.path.join(folder, "params.npz")
    Parameters({"W": np.arange(6.0).reshape(3, 2), "b": np.array([0.5, -0.5])}).save(path)
    seeds.append(Seed("parameters", "params.npz", _read(path)))
    path = os.path.join(folder, "checkpoint.npz")
    clf, targets, evidence = _classifier()
    _trainer(2, checkpoint=path).fit([clf] * len(targets), targets, evidence, parameters=_initial())
    seeds.append(Seed("checkpoint", "checkpoint.npz", _read(path)))
    path = os.path.join(folder, "tagger.npz")
    X, y = [[["w=the"], ["w=dog"]], [["w=a"], ["w=cat"]]], [["DET", "NOUN"]] * 2
    ChainTagger(l2=0.1, max_iter=3, progress=False).fit(X, y).save(path)
    seeds.append(Seed("tagger", "tagger.npz", _read(path)))
    return seeds


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


# -------------------------------------------------------------- mutations
_SPLIT = re.compile(r"(\s+)")


def _tokens(text):
    parts = _SPLIT.split(text)
    return parts, [i for i, p in enumerate(parts) if p and not p.isspace()]


def _mutate_tokens(text, rng):
    parts, words = _tokens(text)
    if not words:
        return text + rng.choice(ODD_TOKENS)
    i = int(rng.choice(words))
    op = rng.integers(9)
    word = parts[i]
    if op == 0:
        parts[i] = str(rng.choice(ODD_TOKENS))
    elif op in (1, 2) and re.fullmatch(r"-?\d+", word):
        value = int(word)
        parts[i] = str(value + int(rng.choice([-2, -1, 1, 2]))) if op == 1 else str(value * 10 ** int(rng.integers(1, 13)))
    elif op == 3:
        parts[i] = ""
    elif op == 4:
        parts[i] = word + " " + word
    elif op == 5:
        j = int(rng.choice(words))
        parts[i], parts[j] = parts[j], parts[i]
    elif op == 6:
        parts[i] = word + " " + str(rng.choice(ODD_TOKENS))
    elif op == 7:
        lines = "".join(parts).split("\n")
        k = int(rng.integers(len(lines)))
        lines[k:k + 1] = [] if rng.random() < 0.5 else [lines[k], lines[k]]
        return "\n".join(lines)
    else:
        parts[i] = str(rng.choice(ODD_TOKENS))
    return "".join(parts)


def _mutate_bytes(data, rng):
    data = bytearray(data)
    op = rng.integers(4)
    if not data:
        return bytes(rng.integers(0, 256, size=4, dtype=np.uint8))
    k = int(rng.integers(len(data)))
    if op == 0:
        data[k] ^= 1 << int(rng.integers(8))
    elif op == 1:
        data[k:k] = bytes(rng.choice([b"\x00", b"\xff", b"\xc3", b"\n", b"\r", b"\t", b"\x1f\x8b"]))
    elif op == 2:
        del data[k:]
    else:
        data[k:k + 8] = bytes(rng.integers(0, 256, size=8, dtype=np.uint8))
    return bytes(data)


def _parse_uai(text):
    """``(network, cards, scopes, tables)`` of a UAI model without comments (tables as token lists)."""
    w = text.split()
    n = int(w[1])
    cards = [int(c) for c in w[2:2 + n]]
    i = 2 + n
    scopes = []
    for _ in range(int(w[i])):
        size = int(w[i + 1])
        scopes.append([int(v) for v in w[i + 2:i + 2 + size]])
        i += 1 + size
    i += 1
    tables = []
    for _ in scopes:
        size = int(w[i])
        tables.append(w[i + 1:i + 1 + size])
        i += 1 + size
    return w[0], cards, scopes, tables


def _format_uai(network, cards, scopes, tables):
    lines = [network, str(len(cards)), " ".join(map(str, cards)), str(len(scopes))]
    lines += [" ".join(map(str, [len(scope), *scope])) for scope in scopes]
    for table in tables:
        lines += ["", str(len(table)), " ".join(table)]
    return "\n".join(lines) + "\n"


#: Potentials a structural mutation writes: ordinary, zero, tiny, huge, subnormal.
_EXTREME = ["0", "1", "0.5", "1e-300", "1e300", "1.7e308", "4.9e-324", "1e-320", "3"]


def _random_table(rng, size, extreme):
    if extreme:
        return [str(rng.choice(_EXTREME)) for _ in range(size)]
    values = rng.exponential(size=size)
    values[rng.random(size) < 0.2] = 0.0
    return [repr(float(v)) for v in values]


def _mutate_uai_structure(text, rng):
    """A mutation that keeps a UAI model consistent: cardinalities, scopes, tables, constants, the preamble."""
    network, cards, scopes, tables = _parse_uai(text)
    op = rng.integers(6)
    if op == 0 and cards:  # a variable gets another number of states; its factors new tables
        v = int(rng.integers(len(cards)))
        cards[v] = int(rng.choice([1, 2, 3, 7, 50]))
        for f, scope in enumerate(scopes):
            if v in scope:
                size = int(np.prod([cards[u] for u in scope]))
                tables[f] = _random_table(rng, size, False) if size <= 200_000 else tables[f]
    elif op == 1 and tables:  # a table of extreme values (all zero, tiny, huge, subnormal)
        f = int(rng.integers(len(tables)))
        tables[f] = ["0"] * len(tables[f]) if rng.random() < 0.3 else _random_table(rng, len(tables[f]), True)
    elif op == 2:  # a constant factor
        scopes.append([])
        tables.append([str(rng.choice(_EXTREME))])
    elif op == 3 and scopes:  # a factor repeated or removed
        f = int(rng.integers(len(scopes)))
        if rng.random() < 0.5:
            scopes.append(list(scopes[f]))
            tables.append(list(tables[f]))
        else:
            del scopes[f], tables[f]
    elif op == 4 and cards:  # a new factor over random variables (up to 4)
        scope = sorted(rng.choice(len(cards), size=min(len(cards), int(rng.integers(1, 5))), replace=False).tolist())
        size = int(np.prod([cards[u] for u in scope]))
        if size <= 200_000:
            scopes.append(scope)
            tables.append(_random_table(rng, size, rng.random() < 0.5))
    else:
        network = "BAYES" if network == "MARKOV" else "MARKOV"
    return _format_uai(network, cards, scopes, tables)


def _mutate_text_file(data, name, rng):
    if name.endswith(".uai") and rng.random() < 0.4:
        for _ in range(int(rng.integers(1, 3))):
            data = _mutate_uai_structure(data.decode("utf-8"), rng).encode("utf-8")
        return data
    packed = name.endswith(".gz")
    if packed and rng.random() < 0.3:
        return _mutate_bytes(data, rng)  # the compressed stream itself
    raw = gzip.decompress(data) if packed else data
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.8:
            try:
                raw = _mutate_tokens(raw.decode("utf-8"), rng).encode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
        raw = _mutate_bytes(raw, rng)
    return gzip.compress(raw, mtime=0) if packed else raw


_ODD_VALUES = [None, -1, 0, 10 ** 30, "x", "", [], {}, True, 1.5, float("nan"), [None], {"x": 1}]


def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, path + (key,))
    elif isinstance(value, list):
        for k, item in enumerate(value[:20]):
            yield from _json_paths(item, path + (k,))


def _mutate_meta(meta, rng):
    paths = [p for p in _json_paths(meta) if p]
    if not paths:
        return _ODD_VALUES[int(rng.integers(len(_ODD_VALUES)))]
    path = paths[int(rng.integers(len(paths)))]
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.25:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _ODD_VALUES[int(rng.integers(len(_ODD_VALUES)))]
    return meta


def _mutate_array(arrays, rng):
    names = sorted(arrays)
    name = names[int(rng.integers(len(names)))] if names else "extra"
    value = np.asarray(arrays.get(name, np.zeros(1)))
    op = rng.integers(8)
    if op == 0:
        arrays.pop(name, None)
    elif op == 1:
        arrays[name + "_renamed"] = arrays.pop(name, value)
    elif op == 2 and value.size and value.dtype.kind == "f":
        value = value.copy()
        value.flat[int(rng.integers(value.size))] = rng.choice([np.nan, np.inf, -np.inf, 1e308])
        arrays[name] = value
    elif op == 3:
        arrays[name] = value.ravel()[: max(0, value.size - 1)]
    elif op == 4:
        arrays[name] = np.concatenate([value.ravel(), value.ravel()]) if value.size else np.zeros(3)
    elif op == 5:
        try:
            arrays[name] = value.astype(rng.choice(["int8", "bool", "float32", "complex128", "U3"]))
        except (TypeError, ValueError):  # e.g. text that is no number
            arrays[name] = value.astype("U3")
    elif op == 6:
        arrays[name] = value.reshape(1, *value.shape) if value.ndim < 6 else value
    else:
        arrays["extra/" + name] = value
    return arrays


def _mutate_state_file(data, rng):
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 3))):
            data = _mutate_bytes(data, rng)
        return data
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(arrays.pop("__meta__")).decode())
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() < 0.5:
            meta = _mutate_meta(meta, rng)
        else:
            arrays = _mutate_array(arrays, rng)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def make_variant(seeds, number):
    """``(seed, bytes)`` of variant ``number``: a seed chosen and mutated by a generator seeded with ``number``."""
    rng = np.random.default_rng([14, number])
    seed = seeds[int(rng.integers(len(seeds)))]
    if seed.kind in ("parameters", "checkpoint", "tagger"):
        return seed, _mutate_state_file(seed.data, rng)
    return seed, _mutate_text_file(seed.data, seed.name, rng)


# ---------------------------------------------------------------- running
def _rss_reset():
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover


#: Exceptions a loader or a command may end with (docs/errors.md), by the kind of file.
DOCUMENTED = {
    "model": (ParseError,),
    "evidence": (ParseError,),
    "result": (ParseError,),
    "parameters": (ParseError,),
    "tagger": (ParseError,),
    "checkpoint": (ParseError, TrainingError),
}
#: Exceptions inference may end with on a model that was read.
INFERENCE = (ZeroPartitionError, MemoryBudgetError)
#: Exit statuses ``fgebm`` may end with on a bad file (docs/cli.md): ok, bad input, out of resources.
CLI_STATUSES = (0, 1, 3)


def _load(seed, path, folder):
    if seed.kind == "model":
        return read_model(path)
    if seed.kind == "evidence":
        return read_evidence(path, read_model(os.path.join(folder, seed.model[0])))
    if seed.kind == "result":
        return read_result(path)
    if seed.kind == "parameters":
        return Parameters.load(path)
    if seed.kind == "tagger":
        from factorgraph_ebm.models import ChainTagger

        return ChainTagger.load(path)
    clf, targets, evidence = _classifier()
    return _trainer(3, checkpoint=path).fit([clf] * len(targets), targets, evidence, resume=path)


def _command(seed, path, folder, rng):
    """The ``fgebm`` arguments run on a model or evidence variant."""
    if seed.kind == "evidence":
        model = os.path.join(folder, seed.model[0])
        return ["infer", model, "--evidence", path, "--task", str(rng.choice(["MAR", "MPE", "PR"])),
                "--out", os.path.join(folder, "answer.txt")]
    pick = rng.integers(5)
    if pick == 3:
        return ["info", path]
    if pick == 4:
        target = os.path.join(folder, "converted" + (".uai" if ".fg" in seed.name else ".fg"))
        return ["convert", path, target]
    return ["infer", path, "--task", ["MAR", "MPE", "PR"][pick], "--out", os.path.join(folder, "answer.txt")]


def _cli(args):
    """``(exit status, standard error, the exception the command ended with or None)``."""
    from factorgraph_ebm.cli import main as cli

    err, out, caught = io.StringIO(), io.StringIO(), []
    failure = cli._failure

    def record(command, exc):
        caught.append(exc)
        return failure(command, exc)

    cli._failure = record
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = cli.main(args + ["--quiet"])
    finally:
        cli._failure = failure
    return status, err.getvalue(), (caught or [None])[0]


def _check_answer(path, task):
    """What is wrong with the result file ``fgebm infer`` wrote (an empty list when it reads back as an answer)."""
    try:
        found, value = read_result(path)
    except ParseError as exc:
        return [f"fgebm infer wrote a result that does not read back: {exc}"]
    if found != task:
        return [f"fgebm infer --task {task} wrote a {found} result"]
    if task == "MAR":
        sums = np.array([m.sum() for m in value])
        if len(sums) and not np.allclose(sums, 1.0, atol=1e-6):
            return [f"MAR marginals sum to {sums.min()} .. {sums.max()}"]
    return []


def run_variant(seeds, number, folder):
    """Write variant ``number`` into ``folder``, load it (and run ``fgebm`` on models and evidence).

    Returns a dict: ``number``, ``seed``, ``kind``, ``outcome`` (``"ok"`` or
    the class of the exception the loader raised), ``cli`` (exit status or
    None), ``findings`` (what breaks the documented behaviour: another
    exception class, a traceback, an unexpected exit status), ``over`` (above
    :data:`TIME_LIMIT` or :data:`MEMORY_LIMIT`), ``seconds`` and
    ``peak_bytes`` (above the memory in use before the variant).
    """
    seed, data = make_variant(seeds, number)
    os.makedirs(folder, exist_ok=True)
    if seed.model is not None:
        with open(os.path.join(folder, seed.model[0]), "w", encoding="utf-8") as fh:
            fh.write(seed.model[1])
    path = os.path.join(folder, "variant_" + seed.name)
    with open(path, "wb") as fh:
        fh.write(data)
    rng = np.random.default_rng([41, number])
    base = _status("VmRSS")
    _rss_reset()
    start = time.perf_counter()
    findings = []
    try:
        _load(seed, path, folder)
        outcome = "ok"
    except DOCUMENTED[seed.kind] as exc:
        outcome = type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - any other class is what the fuzzing looks for
        outcome = type(exc).__name__
        findings.append(f"{type(exc).__name__} from the loader: {' '.join(str(exc).split())[:300]}")
    status = None
    if seed.kind in ("model", "evidence"):
        args = _command(seed, path, folder, rng)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, "answer.txt"))
        status, err, exc = _cli(args)
        lines = err.strip().splitlines()
        if exc is not None and not isinstance(exc, DOCUMENTED[seed.kind] + INFERENCE):
            findings.append(f"fgebm {args[0]} ended with {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        if status not in CLI_STATUSES:
            findings.append(f"fgebm {' '.join(args[:1])} exit status {status}: {err.strip()[:300]}")
        if "Traceback" in err or len(lines) > 3 or any(not line.startswith("fgebm") for line in lines):
            findings.append(f"fgebm {args[0]} printed more than one-line messages: {err.strip()[:300]}")
        if status == 0 and outcome != "ok":
            findings.append(f"fgebm {args[0]} succeeded where the loader raised {outcome}")
        if status == 0 and args[0] == "infer" and "--out" in args:
            findings += _check_answer(args[args.index("--out") + 1], args[args.index("--task") + 1])
    seconds = time.perf_counter() - start
    peak = max(0, _status("VmHWM") - base)
    over = [f"took {seconds:.1f} s"] * (seconds > TIME_LIMIT) + [f"used {peak / 2**20:.0f} MiB"] * (peak > MEMORY_LIMIT)
    return {"number": number, "seed": seed.name, "kind": seed.kind, "outcome": outcome, "cli": status,
            "findings": findings, "over": over, "seconds": round(seconds, 3), "peak_bytes": peak}
