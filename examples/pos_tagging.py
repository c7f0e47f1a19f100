"""Part-of-speech tagging of UD English-EWT with a linear-chain CRF on the factor-graph engine.

Train on the training split, select the L2 strength on dev, report UPOS accuracy
on test, training time and prediction speed::

    python examples/pos_tagging.py                 # full run (a few minutes on 2 cores)
    python examples/pos_tagging.py --quick         # a few hundred sentences, seconds

The model is :class:`factorgraph_ebm.models.ChainTagger`: every sentence is a
chain of output variables (17 UPOS tags), with an emission factor per word
(``LinearEnergy`` over the word's sparse features from
:func:`~factorgraph_ebm.models.token_features`) and one transition matrix
shared by every neighbouring pair. Training minimises the mean negative
log-likelihood + ``l2/2 ||W||^2`` with L-BFGS; every loss evaluation is one
forward-backward pass over all training sentences compiled as one block.

Data: ``--data DIR``, the UD English-EWT folder (default
``../shared/data/ud_english_ewt`` next to the repository; CC BY-SA 4.0, see its
README). ``--plot DIR`` writes ``pos_tagging_confusion.png`` (the test-set tag
confusion matrix and per-tag accuracy; needs matplotlib). The final line is
``RESULT accuracy=<test accuracy> train_seconds=<s>``.
"""

import argparse
import importlib.util
import pathlib
import time

import numpy as np

#: Default ``--data``: the UD English-EWT folder (``<repo>/../shared/data/ud_english_ewt``).
DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ud_english_ewt"
SPLITS = ("train", "dev", "test")
LOSSES = ("nll", "perceptron", "hinge")
#: The PNG file ``--plot DIR`` writes.
FIGURES = ("pos_tagging_confusion.png",)


def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", metavar="DIR", type=pathlib.Path, default=DATA,
                        help=f"folder of the UD English-EWT data set, with en_ewt-ud-{{train,dev,test}}.conllu.gz "
                             f"(default {DATA})")
    parser.add_argument("--loss", default="nll", help=f"training loss, one of {LOSSES}")
    parser.add_argument("--l2", type=float, nargs="+", default=None,
                        help="L2 strengths to try (chosen on dev); default 2 c2 / n for c2 in {0.25, 1}")
    parser.add_argument("--max-iter", type=int, default=150, help="L-BFGS iterations (epochs for other losses)")
    parser.add_argument("--sentences", type=int, default=None, help="use only the first N training sentences")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): 300 training sentences, 200 dev/test, "
                             "one l2, 25 iterations")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}) into DIR, created if missing "
                             f"(needs matplotlib)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar while training")
    return parser


def parse_args(argv=None):
    """Parse and check the command line (errors exit with status 2 and a one-line message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.loss not in LOSSES:
        parser.error(f"--loss must be one of {', '.join(LOSSES)}, got {args.loss!r}")
    if args.max_iter < 1:
        parser.error(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.sentences is not None and args.sentences < 2:
        parser.error(f"--sentences must be >= 2, got {args.sentences}")
    if args.l2 is not None and any(not v > 0 for v in args.l2):
        parser.error(f"--l2 values must be > 0, got {args.l2}")
    for split in SPLITS:
        path = args.data / f"en_ewt-ud-{split}.conllu.gz"
        if not path.is_file():
            parser.error(f"missing data file {path}")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    if args.quick:
        args.sentences = args.sentences or 300
        args.max_iter = min(args.max_iter, 25)
        args.l2 = args.l2 or [2.0 / args.sentences]
    return args


def load(args):
    """Words and tags of each split, and the token features of every sentence."""
    from factorgraph_ebm.io import read_conllu
    from factorgraph_ebm.models import token_features

    out = {}
    for split in SPLITS:
        words, tags = read_conllu(args.data / f"en_ewt-ud-{split}.conllu.gz")
        limit = args.sentences if split == "train" else (200 if args.quick else None)
        words, tags = words[:limit], tags[:limit]
        out[split] = ([token_features(s) for s in words], tags)
    return out


def main(argv=None):
    """Train, select on dev, evaluate on test; returns a dict of the figures."""
    args = parse_args(argv)
    from factorgraph_ebm.models import ChainTagger

    data = load(args)
    X, y = data["train"]
    n = len(X)
    n_tokens = sum(map(len, X))
    grid = args.l2 or [2 * c2 / n for c2 in (0.25, 1.0)]
    print(f"train: {n} sentences, {n_tokens} tokens; dev: {len(data['dev'][0])}; test: {len(data['test'][0])}")
    best = None
    for l2 in grid:
        optimizer = "lbfgs" if args.loss == "nll" else "adam"
        tagger = ChainTagger(args.loss, optimizer, l2=l2, max_iter=args.max_iter, learning_rate=0.05,
                             batch_size=None if optimizer == "lbfgs" else 64, random_state=0,
                             progress=args.progress)
        start = time.perf_counter()
        tagger.fit(X, y)
        seconds = time.perf_counter() - start
        dev = tagger.score(*data["dev"])
        print(f"l2={l2:.3g}: {tagger.n_iter_} iterations, {seconds:.1f} s, {tagger.n_features_in_} features, "
              f"dev accuracy {dev:.4f}")
        if best is None or dev > best[1]:
            best = (tagger, dev, seconds, l2)
    tagger, dev, seconds, l2 = best
    Xt, yt = data["test"]
    test_tokens = sum(map(len, Xt))
    start = time.perf_counter()
    predicted = tagger.predict(Xt)
    predict_seconds = time.perf_counter() - start
    truth = np.concatenate([np.asarray(t) for t in yt])
    accuracy = float(np.mean(np.concatenate(predicted) == truth))
    speed = test_tokens / predict_seconds
    print(f"chosen l2={l2:.3g} (dev {dev:.4f}); test accuracy {accuracy:.4f} on {test_tokens} tokens; "
          f"prediction {speed:,.0f} tokens/s (graphs built and decoded)")
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot_confusion(args.plot / FIGURES[0], truth, np.concatenate(predicted), tagger.classes_,
                       f"{n} training sentences, l2={l2:.3g}")
        print(f"figure written to {args.plot / FIGURES[0]}")
    print(f"RESULT accuracy={accuracy:.4f} train_seconds={seconds:.1f}")
    return {"accuracy": accuracy, "dev_accuracy": dev, "train_seconds": seconds, "l2": l2,
            "tokens_per_second": speed, "n_iter": tagger.n_iter_, "n_train_tokens": n_tokens}


def confusion_matrix(truth, predicted, classes):
    """Counts ``C[i, j]`` of tokens with gold tag ``classes[i]`` tagged ``classes[j]``.

    Examples
    --------
    >>> confusion_matrix(np.array(["A", "B", "B"]), np.array(["A", "A", "B"]), np.array(["A", "B"])).tolist()
    [[1, 0], [1, 1]]
    """
    index = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    rows = np.array([index[t] for t in np.asarray(truth).tolist()], dtype=np.int64)
    cols = np.array([index[t] for t in np.asarray(predicted).tolist()], dtype=np.int64)
    counts = np.zeros((len(index), len(index)), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    return counts


def plot_confusion(path, truth, predicted, classes, title):
    """Save a PNG: the row-normalised test confusion matrix (errors only) and the per-tag accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    classes = np.union1d(classes, truth)          # a test tag unseen in training (small runs) gets a row
    counts = confusion_matrix(truth, predicted, classes)
    support = counts.sum(axis=1)
    rates = counts / np.maximum(support, 1)[:, None]
    errors = np.where(np.eye(len(classes), dtype=bool) | (counts == 0), np.nan, rates)
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(13, 5.6), gridspec_kw={"width_ratios": [1.25, 1.0]})
    shown = ax.imshow(errors, cmap="magma_r", norm=LogNorm(vmin=1e-3, vmax=1.0))
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted tag")
    ax.set_ylabel("gold tag")
    for i, j in zip(*np.nonzero(np.nan_to_num(errors) >= 0.02)):
        ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", fontsize=6,
                color="white" if rates[i, j] > 0.1 else "black")
    fig.colorbar(shown, ax=ax, fraction=0.046, label="fraction of the gold tag's tokens (off-diagonal)")
    ax.set_title("Test confusions (numbers: % of the row, shown from 2%)", fontsize=10)
    order = np.argsort(support)[::-1]
    accuracy = np.diag(rates)[order]
    bar.barh(range(len(classes)), accuracy, color="tab:blue")
    bar.set_yticks(range(len(classes)), [f"{classes[i]} ({support[i]})" for i in order], fontsize=8)
    bar.invert_yaxis()
    bar.set_xlim(0.0, 1.0)
    bar.set_xlabel("per-tag accuracy (recall) on test")
    bar.set_title("Tags by test frequency (token count)", fontsize=10)
    for y, (a, n) in enumerate(zip(accuracy, support[order])):
        bar.text(a, y, f" {a:.3f}" if n else " no test token", va="center", fontsize=7)
    fig.suptitle(f"ChainTagger (CRF) on UD English-EWT: {title}, test accuracy "
                 f"{np.trace(counts) / counts.sum():.4f}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
