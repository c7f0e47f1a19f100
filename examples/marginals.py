"""Distributions over Y: calibrated tag marginals on a chain, and loopy-grid marginals for image denoising.

An energy-based model answers two kinds of questions about its outputs Y:
"which Y is best?" (MAP, min-sum, ``beta = inf``) and "how sure is it?"
(the Gibbs distribution ``P(y | x) = exp(-beta E(x, y)) / Z``, sum-product at
``beta``). This script looks at the second question twice.

(a) Tag marginals of a linear-chain tagger. A ``ChainTagger`` trained with the
    NLL loss on part of UD English-EWT gives per-token posterior marginals
    ``P(y_t | x)`` (forward-backward on the chain, exact). The script measures
    their calibration: the expected calibration error (ECE, equal-width bins)
    of the max-marginal confidence against token accuracy, a reliability
    diagram, and how the inverse temperature ``beta`` sharpens (``beta > 1``)
    or flattens (``beta < 1``) the marginals. ``beta = inf`` is the one-hot MAP
    answer, whose ECE is ``1 - accuracy``. A last beta is fitted on the dev
    set by minimising the token NLL (temperature scaling).

(b) Marginals on a loopy grid. A real photograph (scikit-learn's
    ``china.jpg``) is downscaled, binarised at its median grey level and
    corrupted by flipping each pixel with probability ``flip``. A Potts grid
    (observation factor ``-log P(x | y)`` per pixel, smoothness
    ``coupling * [y_i != y_j]``) is solved by loopy min-sum (the MAP image)
    and loopy sum-product at ``beta = 1`` (the marginal map ``P(y = 1 | x)``).
    On a small crop the same model is also solved exactly (junction tree) to
    show the error of the loopy BP marginals.

Run ``python examples/marginals.py`` (two to three minutes on two cores) or ``--quick`` (seconds);
``--data DIR`` is the UD English-EWT folder (default ``../shared/data/ud_english_ewt``
next to the repository); ``--plot DIR`` writes ``marginals_reliability.png`` (tag
marginals per beta), ``marginals_denoise.png`` and ``marginals_pixel_reliability.png``
into DIR (matplotlib). Part (b) reads ``china.jpg`` through scikit-learn, which needs
Pillow (both come with ``pip install -e ".[examples]"``); ``--part a`` runs without it.
The last line printed is ``RESULT key=value ...``.
"""

import argparse
import importlib.util
import math
import pathlib

import numpy as np
from scipy.optimize import minimize_scalar

from factorgraph_ebm import infer
from factorgraph_ebm.io import read_conllu
from factorgraph_ebm.models import ChainTagger, potts_grid, token_features

#: Default ``--data``: the UD English-EWT folder (``<repo>/../shared/data/ud_english_ewt``).
DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ud_english_ewt"
TRAIN_FILE = "en_ewt-ud-train.conllu.gz"
DEV_FILE = "en_ewt-ud-dev.conllu.gz"
TEST_FILE = "en_ewt-ud-test.conllu.gz"

#: Belief-propagation options for the loopy grid (damping keeps flooding BP from oscillating).
BP_OPTIONS = {"method": "bp", "damping": 0.5, "max_iter": 2000}
#: Largest crop side solved exactly: the junction tree's greedy elimination order on a 9 x 9
#: grid already needs ~1e8 table entries (over the engine's 2**24 limit).
MAX_CROP = 8
#: The PNG files ``--plot DIR`` writes (the first with part (a), the other two with part (b)).
FIGURES = ("marginals_reliability.png", "marginals_denoise.png", "marginals_pixel_reliability.png")


# ----------------------------------------------------------------------------------------------
# Calibration
# ----------------------------------------------------------------------------------------------

def reliability_bins(confidence, correct, n_bins=10):
    """Reliability-diagram data over ``n_bins`` equal-width confidence bins on ``[0, 1]``.

    Bin ``b`` holds the confidences in ``[b / n_bins, (b + 1) / n_bins)``; the
    last bin also holds ``1.0``.

    Parameters
    ----------
    confidence : array (n,)
        Predicted probability of the predicted answer, in ``[0, 1]``.
    correct : array (n,) of bool
        Whether each prediction was right.
    n_bins : int
        Number of equal-width bins.

    Returns
    -------
    dict with ``edges`` (n_bins + 1,), ``count`` (n_bins,) int, and
    ``confidence`` and ``accuracy`` (n_bins,): the mean confidence and the
    fraction correct in each bin (NaN for an empty bin).

    Examples
    --------
    >>> bins = reliability_bins([0.05, 0.15, 0.95, 1.0], [False, True, True, True], n_bins=10)
    >>> bins["count"].tolist()
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    >>> float(bins["accuracy"][9]), float(bins["confidence"][9])
    (1.0, 0.975)
    """
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if confidence.shape != correct.shape:
        raise ValueError(f"confidence and correct must have the same length, "
                         f"got {confidence.size} and {correct.size}")
    which = np.clip(np.floor(confidence * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "count": count,
            "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(confidence, correct, n_bins=10):
    """Expected calibration error: ``sum_b (n_b / n) |accuracy_b - confidence_b|`` over equal-width bins.

    Examples
    --------
    >>> expected_calibration_error([0.9, 0.9, 0.9, 0.9], [True, True, True, False])   # 0.9 said, 0.75 right
    0.15
    >>> expected_calibration_error([1.0, 1.0], [True, False])                        # one-hot MAP: 1 - accuracy
    0.5
    """
    bins = reliability_bins(confidence, correct, n_bins)
    used = bins["count"] > 0
    gap = np.abs(bins["accuracy"][used] - bins["confidence"][used])
    return round(float(np.sum(bins["count"][used] * gap) / np.sum(bins["count"])), 12)


def entropy(p, axis=-1):
    """Shannon entropy in nats along ``axis`` (``0 log 0 = 0``).

    Examples
    --------
    >>> round(float(entropy([0.5, 0.5])), 6), float(entropy([1.0, 0.0]))
    (0.693147, 0.0)
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axis)


def confidence_and_correct(marginals, truth):
    """Max-marginal confidence and correctness of the argmax, for stacked ``(n, K)`` marginals.

    Examples
    --------
    >>> conf, ok = confidence_and_correct(np.array([[0.2, 0.8], [0.6, 0.4]]), [1, 1])
    >>> conf.tolist(), ok.tolist()
    ([0.8, 0.6], [True, False])
    """
    marginals = np.asarray(marginals, dtype=np.float64)
    return marginals.max(axis=-1), marginals.argmax(axis=-1) == np.asarray(truth)


# ----------------------------------------------------------------------------------------------
# (b) Binary image denoising on a loopy grid
# ----------------------------------------------------------------------------------------------

def binary_photo(factor):
    """scikit-learn's ``china.jpg`` as a 0/1 image: grey levels, ``factor x factor`` block means, median threshold."""
    from sklearn.datasets import load_sample_image

    grey = load_sample_image("china.jpg").astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    h, w = grey.shape[0] // factor, grey.shape[1] // factor
    small = grey[:h * factor, :w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
    return (small > np.median(small)).astype(np.int64)


def flip_noise(clean, flip, rng):
    """``clean`` with each pixel flipped independently with probability ``flip``."""
    return np.where(rng.random(clean.shape) < flip, 1 - clean, clean)


def denoising_model(noisy, flip, coupling):
    """Potts grid over the clean image ``x``: unary ``-log P(noisy | x)``, smoothness ``coupling [x_i != x_j]``."""
    unary = np.where(noisy[..., None] == np.arange(2), -np.log1p(-flip), -np.log(flip))
    return potts_grid(unary, coupling)


def uncertain_crop(p_on, size):
    """Top-left corner of the ``size x size`` window centred (within the borders) on the most uncertain pixel."""
    i, j = np.unravel_index(np.argmax(entropy(np.stack([1 - p_on, p_on], -1))), p_on.shape)
    top = int(np.clip(i - size // 2, 0, p_on.shape[0] - size))
    left = int(np.clip(j - size // 2, 0, p_on.shape[1] - size))
    return top, left


def crop_gap(noisy, flip, coupling, window):
    """Loopy BP vs the exact junction tree on a crop of the noisy image (the same model, smaller)."""
    top, left, size = window
    fg = denoising_model(noisy[top:top + size, left:left + size], flip, coupling)
    bp, exact = infer(fg, beta=1.0, **BP_OPTIONS), infer(fg, beta=1.0, method="exact")
    bp_map, exact_map = infer(fg, beta=np.inf, **BP_OPTIONS), infer(fg, beta=np.inf, method="exact")
    gap = np.abs(bp.marginal("x") - exact.marginal("x"))[..., 1]
    return {"crop_marginal_max_gap": float(gap.max()), "crop_marginal_mean_gap": float(gap.mean()),
            "crop_free_energy_gap": float(bp.free_energy - exact.free_energy),
            "crop_map_energy_gap": float(bp_map.map_energy - exact_map.map_energy),
            "crop_exact_method": exact.method,
            "crop_bp": bp.marginal("x")[..., 1], "crop_exact": exact.marginal("x")[..., 1]}


def denoise(args, rng):
    """Part (b): MAP image, marginal map and their accuracy and uncertainty; BP vs exact on a crop."""
    clean = binary_photo(args.downscale)
    noisy = flip_noise(clean, args.flip, rng)
    fg = denoising_model(noisy, args.flip, args.coupling)
    map_res = infer(fg, beta=np.inf, **BP_OPTIONS)
    marg_res = infer(fg, beta=1.0, **BP_OPTIONS)
    denoised = map_res.map_assignment()["x"]
    marginals = marg_res.marginal("x")
    p_on = marginals[..., 1]
    conf, correct = confidence_and_correct(marginals, clean)
    uncertain = conf < 0.9
    out = {
        "image_shape": clean.shape, "clean": clean, "noisy": noisy, "map": denoised, "p_on": p_on,
        "noisy_accuracy": float(np.mean(noisy == clean)),
        "map_accuracy": float(np.mean(denoised == clean)),
        "marginal_accuracy": float(np.mean(correct)),
        "map_iterations": map_res.n_iter, "map_converged": bool(map_res.converged),
        "marginal_iterations": marg_res.n_iter, "marginal_converged": bool(marg_res.converged),
        "pixel_entropy": float(entropy(marginals).mean()),
        "uncertain_fraction": float(uncertain.mean()),
        "uncertain_error": float(np.mean(~correct[uncertain])) if uncertain.any() else float("nan"),
        "confident_error": float(np.mean(~correct[~uncertain])) if (~uncertain).any() else float("nan"),
        "pixel_ece": expected_calibration_error(conf, correct, args.bins),
        "pixel_bins": reliability_bins(conf, correct, args.bins),
        "marginals_sum_to_one": bool(np.allclose(marginals.sum(-1), 1.0)),
    }
    window = (*uncertain_crop(p_on, args.crop), args.crop)
    out["crop_window"] = window
    out.update(crop_gap(noisy, args.flip, args.coupling, window))
    return out


def report_denoise(res, args):
    """Print part (b)'s figures."""
    h, w = res["image_shape"]
    print(f"(b) denoising: china.jpg -> {h}x{w} binary image, {args.flip:.0%} pixels flipped, "
          f"Potts coupling {args.coupling}")
    print(f"  pixel accuracy: noisy {res['noisy_accuracy']:.4f}, min-sum MAP {res['map_accuracy']:.4f} "
          f"({res['map_iterations']} sweeps, converged={res['map_converged']}), "
          f"thresholded marginals {res['marginal_accuracy']:.4f} "
          f"({res['marginal_iterations']} sweeps, converged={res['marginal_converged']})")
    print(f"  uncertainty: mean entropy {res['pixel_entropy']:.4f} nats; "
          f"{res['uncertain_fraction']:.2%} pixels with max marginal < 0.9 "
          f"(error rate {res['uncertain_error']:.3f} there vs {res['confident_error']:.4f} elsewhere); "
          f"pixel ECE {res['pixel_ece']:.4f}")
    top, left, size = res["crop_window"]
    print(f"  {size}x{size} crop at ({top}, {left}), loopy BP vs exact ({res['crop_exact_method']}): "
          f"max |P_bp - P_exact| {res['crop_marginal_max_gap']:.4f}, mean {res['crop_marginal_mean_gap']:.4f}; "
          f"Bethe - exact free energy {res['crop_free_energy_gap']:.4f}; "
          f"MAP energy gap {res['crop_map_energy_gap']:.4f}")


# ----------------------------------------------------------------------------------------------
# (a) Tag marginals of a chain tagger
# ----------------------------------------------------------------------------------------------

def load_tagging_data(args, rng):
    """EWT sentences: a random subset of train, the first sentences of dev and test (``0`` = all).

    Returns a dict ``split -> (words, tags)`` for ``"train"``, ``"dev"`` and ``"test"``.
    """
    words, tags = read_conllu(args.data / TRAIN_FILE)
    pick = np.sort(rng.permutation(len(words))[:args.train_sentences])
    splits = {"train": ([words[i] for i in pick], [tags[i] for i in pick])}
    for split, name, n in (("dev", DEV_FILE, args.dev_sentences), ("test", TEST_FILE, args.test_sentences)):
        words, tags = read_conllu(args.data / name)
        splits[split] = (words[:n or len(words)], tags[:n or len(tags)])
    return splits


def one_hot(labels, classes):
    """``(T, K)`` one-hot rows of ``labels`` in ``classes`` order (the ``beta = inf`` marginals)."""
    return (np.asarray(labels)[:, None] == np.asarray(classes)[None, :]).astype(np.float64)


def tag_marginals(tagger, X, beta):
    """Stacked ``(n_tokens, K)`` token marginals at ``beta``; ``beta = inf`` is the one-hot MAP tagging."""
    if np.isinf(beta):
        return np.concatenate([one_hot(tags, tagger.classes_) for tags in tagger.predict(X)])
    return np.concatenate(tagger.predict_marginals(X, beta=beta))


def tag_indices(tagger, tags):
    """Flat state indices of label sequences in ``tagger.classes_`` (``-1`` for a label unseen in training)."""
    index = {c: i for i, c in enumerate(tagger.classes_.tolist())}
    return np.array([index.get(t, -1) for seq in tags for t in seq], dtype=np.int64)


def token_nll(marginals, truth):
    """Mean ``-log P(y_t = truth_t | x)`` over the tokens whose label the tagger knows (``inf`` if one has P = 0)."""
    known = truth >= 0
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(marginals[known, truth[known]])))


def fit_beta(tagger, X, truth):
    """Temperature scaling: the beta that minimises the token NLL of held-out marginals (bounded 1-D search)."""
    found = minimize_scalar(lambda log_beta: token_nll(tag_marginals(tagger, X, np.exp(log_beta)), truth),
                            bounds=(np.log(0.1), np.log(10.0)), method="bounded", options={"xatol": 1e-2})
    return float(np.exp(found.x))


def calibration_row(marginals, truth, beta, n_bins):
    """Accuracy of the argmax, mean confidence, ECE, reliability bins and mean entropy of stacked marginals."""
    conf, correct = confidence_and_correct(marginals, truth)
    return {"beta": beta, "argmax_accuracy": float(correct.mean()), "confidence": float(conf.mean()),
            "ece": expected_calibration_error(conf, correct, n_bins), "bins": reliability_bins(conf, correct, n_bins),
            "entropy": float(entropy(marginals).mean()), "nll": token_nll(marginals, truth),
            "sums_to_one": bool(np.allclose(marginals.sum(axis=1), 1.0))}


def tag_calibration(args, rng):
    """Part (a): train a chain tagger, measure its test accuracy and the calibration of its marginals per beta."""
    data = load_tagging_data(args, rng)
    X = {split: [token_features(s) for s in words] for split, (words, _) in data.items()}
    tagger = ChainTagger(loss="nll", l2=args.l2, max_iter=args.max_iter, progress=False)
    tagger.fit(X["train"], data["train"][1])
    truth = tag_indices(tagger, data["test"][1])
    beta_fit = fit_beta(tagger, X["dev"], tag_indices(tagger, data["dev"][1]))
    out = {"tagger": tagger, "n_train": len(X["train"]), "n_dev": len(X["dev"]), "n_test": len(X["test"]),
           "n_tokens": truth.size, "beta_fitted": beta_fit, "tag_rows": []}
    # a test tag unseen in the training subset (possible with --quick) counts as an error
    out["accuracy"] = float(np.mean(np.concatenate(tagger.predict(X["test"])) == np.concatenate(data["test"][1])))
    for beta in sorted(set(args.beta_list) | {1.0, beta_fit}):      # 1 = the trained model
        marginals = tag_marginals(tagger, X["test"], beta)
        row = calibration_row(marginals, truth, beta, args.bins)
        key = "fitted" if beta == beta_fit else "inf" if np.isinf(beta) else f"{beta:g}"
        out[f"ece_beta_{key}"], out[f"entropy_beta_{key}"] = row["ece"], row["entropy"]
        out["tag_rows"].append(row)
        if beta == 1.0:
            out["tag_marginals"], out["tag_truth"] = marginals, truth
    out["tag_marginals_sum_to_one"] = all(row["sums_to_one"] for row in out["tag_rows"])
    out["ece"] = out["ece_beta_1"]
    return out


def report_tagging(res, args):
    """Print part (a)'s figures."""
    print(f"(a) tagging: ChainTagger (NLL, {res['tagger'].n_iter_} L-BFGS iterations) "
          f"on {res['n_train']} EWT train sentences, "
          f"{res['n_test']} test sentences ({res['n_tokens']} tokens): token accuracy {res['accuracy']:.4f}")
    print(f"  beta fitted on {res['n_dev']} dev sentences (min token NLL): {res['beta_fitted']:.3f}")
    print("  beta    argmax acc  mean conf  ECE      token NLL  mean entropy (nats)")
    for row in res["tag_rows"]:
        label = f"{row['beta']:.3f}*" if row["beta"] == res["beta_fitted"] else f"{row['beta']:g}"
        print(f"  {label:<7} {row['argmax_accuracy']:<11.4f} {row['confidence']:<10.4f} {row['ece']:<8.4f} "
              f"{row['nll']:<10.4f} {row['entropy']:.4f}")


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------

def plot_denoise(res, path):
    """Clean, noisy, MAP and marginal-map images side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("clean (binarised china.jpg)", res["clean"], "gray"),
              (f"noisy (accuracy {res['noisy_accuracy']:.3f})", res["noisy"], "gray"),
              (f"min-sum MAP (accuracy {res['map_accuracy']:.3f})", res["map"], "gray"),
              ("sum-product marginal P(y=1 | x)", res["p_on"], "viridis")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (title, img, cmap) in zip(axes, panels):
        shown = ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    top, left, size = res["crop_window"]
    axes[3].add_patch(matplotlib.patches.Rectangle((left - 0.5, top - 0.5), size, size, fill=False,
                                                   edgecolor="red", linewidth=1.2))
    fig.colorbar(shown, ax=axes[3], fraction=0.035)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(curves, path, title):
    """Reliability diagram (accuracy vs mean confidence per bin, one curve per label) over the bin occupancy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, occ) = plt.subplots(2, 1, figsize=(5.2, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for label, (bins, ece) in curves.items():
        used = bins["count"] > 0
        line, = ax.plot(bins["confidence"][used], bins["accuracy"][used], marker="o",
                        label=f"{label}: ECE {ece:.3f}")
        centres = (bins["edges"][:-1] + bins["edges"][1:]) / 2
        occ.plot(centres[used], bins["count"][used] / bins["count"].sum(), marker=".", color=line.get_color())
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    occ.set_yscale("log")
    occ.set_ylabel("fraction in bin")
    occ.set_xlabel("confidence (max marginal)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def parse_betas(text):
    """``"0.5,1,2,inf"`` -> ``[0.5, 1.0, 2.0, inf]``; every beta must be > 0."""
    betas = [float(part) for part in text.split(",") if part.strip()]
    if not betas or any(math.isnan(b) or b <= 0 for b in betas):
        raise ValueError(text)
    return betas


def build_parser():
    """The command-line options (sizes default to None and are filled by :func:`check_args`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): 100 train / 100 dev / 150 test sentences, "
                             "10 L-BFGS iterations, a 42 x 64 image")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both", help="which part to run")
    parser.add_argument("--data", metavar="DIR", type=pathlib.Path, default=DEFAULT_DATA,
                        help=f"folder of the UD English-EWT data set, with en_ewt-ud-{{train,dev,test}}.conllu.gz "
                             f"(part a; default {DEFAULT_DATA})")
    parser.add_argument("--train-sentences", type=int, default=None,
                        help="training sentences taken from EWT train (default 3000, --quick 100)")
    parser.add_argument("--test-sentences", type=int, default=None,
                        help="test sentences taken from EWT test (default all, --quick 150)")
    parser.add_argument("--dev-sentences", type=int, default=None,
                        help="dev sentences used to fit beta (default all, --quick 100)")
    parser.add_argument("--betas", default="0.5,1,2,inf",
                        help="inverse temperatures for the tag marginals (1 is always included)")
    parser.add_argument("--l2", type=float, default=None, help="L2 penalty of the tagger (default 1e-3)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="L-BFGS iterations of the tagger (default 100, --quick 10)")
    parser.add_argument("--bins", type=int, default=10, help="equal-width bins for ECE (default 10)")
    parser.add_argument("--downscale", type=int, default=None,
                        help="block size used to shrink china.jpg (default 4 -> 106x160, --quick 10 -> 42x64)")
    parser.add_argument("--flip", type=float, default=0.15, help="pixel flip probability (default 0.15)")
    parser.add_argument("--coupling", type=float, default=1.0, help="Potts smoothness (default 1.0)")
    parser.add_argument("--crop", type=int, default=None, help="side of the crop solved exactly (default 8, at most 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figures ({', '.join(FIGURES)}) into DIR, created if missing "
                             f"(needs matplotlib)")
    return parser


def check_args(parser, args):
    """Fill the size defaults (full run or --quick) and reject bad values with parser.error (exit 2)."""
    quick = args.quick
    defaults = {"train_sentences": 100 if quick else 3000, "test_sentences": 150 if quick else 0,
                "dev_sentences": 100 if quick else 0,
                "downscale": 10 if quick else 4, "crop": 8,
                "l2": 1e-3, "max_iter": 10 if quick else 100}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        args.beta_list = parse_betas(args.betas)
    except ValueError:
        parser.error(f"--betas must be a comma-separated list of numbers > 0 (inf allowed), got {args.betas!r}")
    if not 0.0 < args.flip < 0.5:
        parser.error(f"--flip must be in (0, 0.5), got {args.flip}")
    if args.coupling < 0:
        parser.error(f"--coupling must be >= 0, got {args.coupling}")
    if args.l2 < 0 or args.max_iter < 1:
        parser.error(f"--l2 must be >= 0 and --max-iter >= 1, got {args.l2} and {args.max_iter}")
    if args.bins < 1:
        parser.error(f"--bins must be >= 1, got {args.bins}")
    if not 1 <= args.downscale <= 100:
        parser.error(f"--downscale must be in [1, 100], got {args.downscale}")
    if not 2 <= args.crop <= MAX_CROP or args.crop > 427 // args.downscale:
        parser.error(f"--crop must be in [2, {MAX_CROP}] and fit in the image, got {args.crop}")
    if args.train_sentences < 1 or args.test_sentences < 0 or args.dev_sentences < 0:
        parser.error("--train-sentences must be >= 1, --dev-sentences and --test-sentences >= 0 (0 = all)")
    if args.part in ("a", "both"):
        for name in (TRAIN_FILE, DEV_FILE, TEST_FILE):
            if not (args.data / name).is_file():
                parser.error(f"data file not found: {args.data / name}")
    check_plot(parser, args.plot)
    if args.part in ("b", "both") and importlib.util.find_spec("PIL") is None:
        parser.error("part (b) reads china.jpg with scikit-learn, which needs Pillow "
                     "(pip install -e \".[examples]\"); --part a runs without it")


def check_plot(parser, plot):
    """``--plot DIR``: DIR must not be a file, and matplotlib must be importable (exit 2 otherwise)."""
    if plot is None:
        return
    if plot.exists() and not plot.is_dir():
        parser.error(f"--plot must be a directory, got the file {plot}")
    if importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")


def result_line(out):
    """The final ``RESULT key=value ...`` line from the scalar results."""
    keys = ["ece", "accuracy", "beta_fitted", *[k for k in out if k.startswith(("ece_beta", "entropy_beta"))],
            "noisy_accuracy", "map_accuracy", "marginal_accuracy", "pixel_entropy", "pixel_ece",
            "crop_marginal_max_gap", "crop_marginal_mean_gap"]
    return "RESULT " + " ".join(f"{k}={out[k]:.6g}" for k in keys if k in out)


def main(argv=None):
    """Run parts (a) and (b); returns a dict of results (arrays included) and prints ``RESULT ...`` last."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    out = {}
    if args.part in ("a", "both"):
        out.update(tag_calibration(args, np.random.default_rng(args.seed)))
        report_tagging(out, args)
    if args.part in ("b", "both"):
        den = denoise(args, np.random.default_rng(args.seed))
        report_denoise(den, args)
        out.update(den)
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        if "tag_rows" in out:
            plot_reliability({f"beta={r['beta']:.3g}" + (" (fitted)" if r["beta"] == out["beta_fitted"] else ""):
                              (r["bins"], r["ece"]) for r in out["tag_rows"]},
                             args.plot / FIGURES[0], "Reliability of the tagger's token marginals")
        if "clean" in out:
            plot_denoise(out, args.plot / FIGURES[1])
            plot_reliability({"pixels, beta=1": (out["pixel_bins"], out["pixel_ece"])},
                             args.plot / FIGURES[2], "Reliability of the loopy-BP pixel marginals")
        print(f"figures written to {args.plot}")
    print(result_line(out))
    return out


if __name__ == "__main__":
    main()
