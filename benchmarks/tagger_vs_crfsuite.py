"""ChainTagger against CRFsuite (python-crfsuite): a CRF part-of-speech tagger on UD English EWT, in one run.

Usage (from the repository root; python-crfsuite is in the ``bench`` extra)::

    python benchmarks/tagger_vs_crfsuite.py                                   # full EWT
    python benchmarks/tagger_vs_crfsuite.py --sentences 300 --max-iter 10     # quick look

What is compared
----------------
* The same model: a first-order linear-chain CRF over the 17 UPOS tags, the
  same feature strings (:func:`~factorgraph_ebm.models.token_features`,
  extracted once per process and excluded from every timing), a weight for
  every (feature, tag) pair and every (tag, tag) transition (CRFsuite's
  ``feature.possible_states`` and ``feature.possible_transitions``), no start
  or end weights on either side.
* The same objective: CRFsuite minimises ``sum_n -log p(y_n | x_n) + c2 ||w||^2``;
  ChainTagger the mean NLL plus ``l2/2 ||W||^2``, so ``l2 = 2 c2 / n``. Our
  objective is reported in CRFsuite's scale (``n`` times ours), so the two
  final objectives can be compared directly.
* The same optimiser budget: L-BFGS with 10 correction pairs and a More-Thuente
  line search on both sides (CRFsuite's libLBFGS, scipy's L-BFGS-B for us),
  ``--max-iter`` iterations; ``--tol 0`` (the default) switches off every other
  stopping test, so both run the full budget unless a line search fails.
  Each side's iterations, function evaluations and final objective are reported.
* Training seconds: CRFsuite's ``Trainer.append`` (feature strings to ids) plus
  ``train`` (feature generation and L-BFGS); our ``ChainTagger.fit`` (feature
  index, graph declaration, compilation, L-BFGS). Numba compilation is excluded
  by a warm-up fit on a few sentences first (its seconds are in the JSON).
* Prediction: tokens per second tagging the test set (CRFsuite: ``Tagger.tag``
  per sentence; ours: ``predict`` on the whole set, graph building and
  compilation included); opening CRFsuite's model file is not timed.
* Accuracy on the dev and test sets, and the fraction of test tokens on which
  the two taggers agree.
* Peak memory: each engine runs in its own fresh process (one after the other,
  never at the same time), which reports its peak RSS (``getrusage``) after
  loading the data and features, after training and at the end.

Writes a JSON file and a Markdown table (``--out``, default
``benchmarks/results/tagger_vs_crfsuite``) and prints the table.
"""

import argparse
import json
import multiprocessing
import os
import importlib.util
import resource
import sys
import tempfile
import time

import numpy as np

from factorgraph_ebm.io import read_conllu
from factorgraph_ebm.models import ChainTagger, token_features
from factorgraph_ebm.train.optimizers import LBFGS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine  # noqa: E402

DATA = "/work/shared/data/ud_english_ewt"
SPLITS = ("train", "dev", "test")
ENGINES = ("crfsuite", "ours")
MEMORY = 10  # L-BFGS correction pairs, both sides (scipy's default; CRFsuite's is 6)
WARMUP_SENTENCES = 50


# ------------------------------------------------------------------ data

def load_split(split, data_dir, limit):
    """Words and tags of the first ``limit`` sentences (all when None) of one EWT split."""
    path = os.path.join(data_dir, f"en_ewt-ud-{split}.conllu.gz")
    words, tags = read_conllu(path)
    return words[:limit], tags[:limit]


def load_data(data_dir, limit):
    """``{split: (features, tags)}`` with the feature strings of every token."""
    out = {}
    for split in SPLITS:
        words, tags = load_split(split, data_dir, limit)
        out[split] = ([token_features(w) for w in words], tags)
    return out


def accuracy(predicted, tags):
    """Token accuracy, all positions pooled."""
    pred = np.concatenate([np.asarray(p, dtype=object) for p in predicted])
    gold = np.concatenate([np.asarray(t, dtype=object) for t in tags])
    return float(np.mean(pred == gold))


def peak_rss_mb():
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------- CRFsuite

def crfsuite_params(args):
    return {"c1": 0.0, "c2": args.c2, "max_iterations": args.max_iter, "num_memories": MEMORY,
            "epsilon": args.tol, "delta": args.tol, "linesearch": "MoreThuente",
            "feature.possible_states": True, "feature.possible_transitions": True}


def _timed_trainer():
    """A pycrfsuite Trainer that stamps the wall time of the end of every L-BFGS iteration.

    (CRFsuite's own per-iteration seconds are CPU clock time, ours are wall time.)
    """
    import pycrfsuite

    class TimedTrainer(pycrfsuite.Trainer):
        def message(self, message):
            event = self.logparser.feed(message)
            if event in ("featgen_end", "iteration"):
                self.stamps.append(time.perf_counter())

    trainer = TimedTrainer(algorithm="lbfgs", verbose=False)
    trainer.stamps = []
    return trainer


def crfsuite_fit(X, y, args, model_path):
    """Train CRFsuite; returns (seconds of append, seconds of train, its log parser, wall time stamps)."""
    trainer = _timed_trainer()
    trainer.set_params(crfsuite_params(args))
    t0 = time.perf_counter()
    for xs, ys in zip(X, y):
        trainer.append(xs, ys)
    t1 = time.perf_counter()
    trainer.train(model_path)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, trainer.logparser, trainer.stamps


def run_crfsuite(data, args, out):
    import pycrfsuite

    X, y = data["train"]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.crfsuite")
        cpu = time.process_time()
        append_s, train_s, log, stamps = crfsuite_fit(X, y, args, model_path)
        out["train_cpu_s"] = time.process_time() - cpu
        out["rss_after_train_mb"] = peak_rss_mb()
        tagger = pycrfsuite.Tagger()
        tagger.open(model_path)
        out["model_file_mb"] = os.path.getsize(model_path) / 2**20
        predictions = {}
        for split in ("test", "dev"):
            t = time.perf_counter()
            predictions[split] = [tagger.tag(xs) for xs in data[split][0]]
            if split == "test":
                out["predict_s"] = time.perf_counter() - t
        tagger.close()
    losses = [it["loss"] for it in log.iterations if "loss" in it]
    # wall seconds of each iteration (the first also holds the initial evaluation) per evaluation
    trials = [it.get("linesearch_trials", 1) for it in log.iterations]
    trials[:1] = [t + 1 for t in trials[:1]]
    per_eval = [dt / k for dt, k in zip(np.diff(stamps), trials)]
    out.update({"append_s": append_s, "optimise_s": train_s, "train_s": append_s + train_s,
                "n_iter": len(log.iterations), "n_eval": sum(trials),
                "objective": losses[-1] if losses else None, "objective_curve": losses,
                "eval_s": float(np.median(per_eval)) if per_eval else None, "eval_times_s": per_eval,
                # from the end of feature generation to the end of the last iteration
                "loop_s": stamps[-1] - stamps[0] if len(stamps) > 1 else None,
                "n_weights": log.featgen_num_features})
    return predictions


# ------------------------------------------------------------------- ours

class _RecordingLBFGS(LBFGS):
    """LBFGS that keeps scipy's result and the objective after every iteration."""

    def minimize(self, fun, theta, callback=None):
        last = {}

        def recorded(x):
            t = time.perf_counter()
            value, grad = fun(x)
            self.eval_s_.append(time.perf_counter() - t)
            last["value"] = value
            return value, grad

        def step(*a):
            self.curve_.append(last["value"])
            if callback is not None:
                callback(*a)

        self.curve_, self.eval_s_ = [], []
        t = time.perf_counter()
        self.result_ = super().minimize(recorded, theta, callback=step)
        self.minimize_s_ = time.perf_counter() - t
        return self.result_


class _BenchTagger(ChainTagger):
    """ChainTagger whose L-BFGS records its iterations (nothing else changes)."""

    def _trainer(self):
        trainer = super()._trainer()
        opt = trainer.optimizer
        if isinstance(opt, LBFGS):
            trainer.optimizer = _RecordingLBFGS(opt.max_iter, opt.tol, opt.memory)
        return trainer


def ours_tagger(args, n_sentences):
    return _BenchTagger(loss="nll", optimizer="lbfgs", l2=2.0 * args.c2 / n_sentences,
                        max_iter=args.max_iter, tol=args.tol, progress=False)


def run_ours(data, args, out):
    X, y = data["train"]
    t = time.perf_counter()  # numba compilation (or cache loading), excluded below
    warm = ours_tagger(args, WARMUP_SENTENCES).set_params(max_iter=2)
    warm.fit(X[:WARMUP_SENTENCES], y[:WARMUP_SENTENCES]).predict(data["test"][0][:WARMUP_SENTENCES])
    out["warmup_s"] = time.perf_counter() - t
    tagger = ours_tagger(args, len(X))
    t, cpu = time.perf_counter(), time.process_time()
    tagger.fit(X, y)
    out["train_s"] = time.perf_counter() - t
    out["train_cpu_s"] = time.process_time() - cpu
    opt = tagger.trainer_.optimizer_
    out["loop_s"] = opt.minimize_s_ - opt.eval_s_[0] + float(np.median(opt.eval_s_[1:] or opt.eval_s_))
    out["lbfgs_update_s"] = opt.minimize_s_ - sum(opt.eval_s_)  # scipy's L-BFGS-B outside the evaluations
    out["rss_after_train_mb"] = peak_rss_mb()
    predictions = {}
    for split in ("test", "dev"):
        t = time.perf_counter()
        predictions[split] = [p.tolist() for p in tagger.predict(data[split][0])]
        if split == "test":
            out["predict_s"] = time.perf_counter() - t
    n = len(X)
    out.update({"n_iter": int(tagger.n_iter_), "n_eval": int(opt.result_.nfev),
                "objective": n * tagger.trainer_.history_[-1]["objective"],
                "objective_curve": [n * v for v in opt.curve_],
                "stop": str(opt.result_.message), "l2": tagger.l2,
                # the first evaluation also compiles the training graphs: the L-BFGS loop counts it
                # at the median evaluation's time, the rest goes to setup
                "eval_s": float(np.median(opt.eval_s_[1:] or opt.eval_s_)), "eval_times_s": opt.eval_s_,
                "first_eval_s": opt.eval_s_[0],
                "n_weights": int(sum(np.size(v) for v in tagger.parameters_.values()))})
    return predictions


# -------------------------------------------------------------- the runs

def engine_worker(engine, args, path):
    """Run one engine in this (fresh) process; write its figures and predictions to ``path``."""
    data = load_data(args.data, args.sentences)
    out = {"rss_after_data_mb": peak_rss_mb(), "train_sentences": len(data["train"][0])}
    predictions = (run_crfsuite if engine == "crfsuite" else run_ours)(data, args, out)
    n_test = sum(len(t) for t in data["test"][1])
    if out.get("loop_s") is not None:  # training seconds outside the L-BFGS loop
        out["setup_s"] = out["train_s"] - out["loop_s"]
    out.update({"predict_tokens_per_s": n_test / out["predict_s"], "peak_rss_mb": peak_rss_mb(),
                "dev_accuracy": accuracy(predictions["dev"], data["dev"][1]),
                "test_accuracy": accuracy(predictions["test"], data["test"][1])})
    with open(path, "w") as fh:
        json.dump({"figures": out, "test_predictions": predictions["test"]}, fh)


def run_isolated(engine, args):
    """``engine_worker`` in a fresh process, so that peak RSS is the engine's own."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, engine + ".json")
        proc = multiprocessing.get_context("spawn").Process(target=engine_worker, args=(engine, args, path))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            return {"failed": f"process died (exit code {proc.exitcode}; -9: out of memory)"}, None
        with open(path) as fh:
            result = json.load(fh)
    return result["figures"], result["test_predictions"]


def path_difference(ours, theirs):
    """Largest relative difference of the two objective curves, iteration by iteration (common length)."""
    n = min(len(ours), len(theirs))
    if n == 0:
        return None
    a, b = np.asarray(ours[:n]), np.asarray(theirs[:n])
    return float(np.max(np.abs(a - b) / np.abs(b)))


def compare(result, predictions, targets):
    """Ratios, agreement and the issue's targets (met or missed, never adjusted)."""
    c, o = result["crfsuite"], result["ours"]
    if "failed" in c or "failed" in o:
        return {}
    agree = accuracy(predictions["ours"], predictions["crfsuite"])
    out = {"train_time_ratio": o["train_s"] / c["train_s"],
           "predict_speed_ratio": o["predict_tokens_per_s"] / c["predict_tokens_per_s"],
           "test_accuracy_diff_points": 100 * (o["test_accuracy"] - c["test_accuracy"]),
           "objective_rel_diff": (o["objective"] - c["objective"]) / c["objective"],
           "objective_path_max_rel_diff": path_difference(o["objective_curve"], c["objective_curve"]),
           "test_agreement": agree}
    acc_points = targets["accuracy_points_below_crfsuite"]
    out["targets"] = [
        {"target": f"test accuracy >= CRFsuite's - {acc_points} points",
         "value": f"{o['test_accuracy']:.2%} vs {c['test_accuracy']:.2%}",
         "met": out["test_accuracy_diff_points"] >= -acc_points},
        {"target": f"test accuracy >= {targets['accuracy']:.1%}", "value": f"{o['test_accuracy']:.2%}",
         "met": o["test_accuracy"] >= targets["accuracy"]},
        {"target": f"training time <= {targets['time_ratio']}x CRFsuite's",
         "value": f"{out['train_time_ratio']:.2f}x", "met": out["train_time_ratio"] <= targets["time_ratio"]},
        {"target": f"prediction >= {targets['predict_ratio']}x CRFsuite's tokens/s",
         "value": f"{out['predict_speed_ratio']:.2f}x", "met": out["predict_speed_ratio"] >= targets["predict_ratio"]},
        {"target": f"peak RSS <= {targets['rss_ratio']}x CRFsuite's",
         "value": f"{o['peak_rss_mb'] / c['peak_rss_mb']:.2f}x",
         "met": o["peak_rss_mb"] <= targets["rss_ratio"] * c["peak_rss_mb"]},
    ]
    return out


# ------------------------------------------------------------- reporting

def markdown(result):
    rows = [("test accuracy", "test_accuracy", "{:.2%}"), ("dev accuracy", "dev_accuracy", "{:.2%}"),
            ("training s", "train_s", "{:.1f}"), ("training CPU s (all threads)", "train_cpu_s", "{:.1f}"),
            ("L-BFGS iterations", "n_iter", "{}"), ("function evaluations", "n_eval", "{}"),
            ("s per evaluation (median)", "eval_s", "{:.3f}"), ("L-BFGS loop s", "loop_s", "{:.1f}"),
            ("training s outside the loop", "setup_s", "{:.1f}"),
            ("L-BFGS s outside evaluations", "lbfgs_update_s", "{:.1f}"),
            ("final objective (CRFsuite scale)", "objective", "{:.3f}"), ("weights", "n_weights", "{:,}"),
            ("prediction tokens/s (test)", "predict_tokens_per_s", "{:,.0f}"), ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
            ("RSS after loading the data MB", "rss_after_data_mb", "{:.0f}")]
    lines = ["| | CRFsuite | ChainTagger |", "|---|---|---|"]
    for label, key, fmt in rows:
        cells = []
        for engine in ENGINES:
            r = result[engine]
            v = r.get(key)
            cells.append(r["failed"] if "failed" in r else "n/a" if v is None else fmt.format(v))
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    cmp_ = result["comparison"]
    if cmp_:
        lines += ["", f"Training time ours / CRFsuite: {cmp_['train_time_ratio']:.2f}x; "
                      f"prediction speed ours / CRFsuite: {cmp_['predict_speed_ratio']:.2f}x; "
                      f"test accuracy ours - CRFsuite: {cmp_['test_accuracy_diff_points']:+.2f} points; "
                      f"final objective ours vs CRFsuite: {cmp_['objective_rel_diff']:+.2e} (relative; "
                      f"at most {cmp_['objective_path_max_rel_diff']:.2e} apart at any common iteration); "
                      f"the two agree on {cmp_['test_agreement']:.2%} of test tokens.", "",
                  "| target (ours) | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |" for t in cmp_["targets"]]
    s, m = result["settings"], result["machine"]
    lines += ["", "Outside the loop: CRFsuite's feature ids (append), feature generation and model file; "
                  "our feature index, graph declaration and the compilation of the training graphs (the first "
                  "evaluation's excess over the median evaluation).",
              "", f"{s['train_sentences']} training sentences, c2 = {s['c2']} (ours: l2 = {s['l2']:.3g}), "
                  f"at most {s['max_iter']} L-BFGS iterations, tol = {s['tol']}, {s['lbfgs_memory']} correction "
                  f"pairs. {m['cpu']}, {m['cores']} cores ({m['numba_threads']} numba threads; CRFsuite uses one), "
                  f"load average {m['load_average_start'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} "
                  "at the end."]
    return "\n".join(lines) + "\n"


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=positive_int, default=None,
                        help="use the first N sentences of each split (default: all)")
    parser.add_argument("--max-iter", type=positive_int, default=150, help="L-BFGS iterations, both engines")
    parser.add_argument("--c2", type=float, default=0.3,
                        help="CRFsuite's L2 coefficient (ours: l2 = 2 c2 / n); the default is the best dev "
                             "accuracy of CRFsuite among 0.1, 0.3, 1 and 3 on full EWT (see README.md)")
    parser.add_argument("--tol", type=float, default=0.0,
                        help="stopping tolerance (CRFsuite epsilon and delta, scipy gtol and ftol); "
                             "0 runs the full --max-iter budget")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--data", default=DATA, help="directory of en_ewt-ud-{train,dev,test}.conllu.gz")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results", "tagger_vs_crfsuite"))
    args = parser.parse_args(argv)
    if args.c2 <= 0:
        parser.error(f"--c2 must be > 0, got {args.c2}")
    if args.tol < 0:
        parser.error(f"--tol must be >= 0, got {args.tol}")
    if "crfsuite" in args.engines and importlib.util.find_spec("pycrfsuite") is None:
        parser.error("python-crfsuite is not installed (pip install -e '.[bench]'), or pass --engines ours")
    missing = [s for s in SPLITS if not os.path.exists(os.path.join(args.data, f"en_ewt-ud-{s}.conllu.gz"))]
    if missing:
        parser.error(f"--data {args.data}: no en_ewt-ud-{missing[0]}.conllu.gz")

    info = machine("scipy", "python-crfsuite")
    info["load_average_start"] = os.getloadavg()
    print(f"machine: {info}", flush=True)
    result = {"machine": info, "targets": {"accuracy": 0.944, "accuracy_points_below_crfsuite": 0.2,
                                           "time_ratio": 0.8, "predict_ratio": 1.0, "rss_ratio": 1.5}}
    predictions = {}
    for engine in ENGINES:
        if engine not in args.engines:
            result[engine] = {"failed": "not run"}
            continue
        t = time.perf_counter()
        result[engine], predictions[engine] = run_isolated(engine, args)
        print(f"{engine}: {time.perf_counter() - t:.1f} s in all; "
              + json.dumps({k: v for k, v in result[engine].items() if k != "objective_curve"}), flush=True)
    train_n = next((r["train_sentences"] for r in (result["crfsuite"], result["ours"]) if "train_sentences" in r),
                   None)
    result["settings"] = {"train_sentences": train_n, "c2": args.c2, "l2": 2 * args.c2 / train_n if train_n else None,
                          "max_iter": args.max_iter, "tol": args.tol, "lbfgs_memory": MEMORY,
                          "crfsuite_params": crfsuite_params(args), "sentences_option": args.sentences}
    info["load_average_end"] = os.getloadavg()
    result["comparison"] = compare(result, predictions, result["targets"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump(result, fh, indent=1)
    table = markdown(result)
    with open(args.out + ".md", "w") as fh:
        fh.write(table)
    print(table)
    return result


if __name__ == "__main__":
    main()
