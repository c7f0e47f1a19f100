"""Denoising binary digits with a grid CRF trained by persistent contrastive divergence (PCD) vs loopy-BP NLL.

The images are scikit-learn's 8 x 8 digits (bundled, no download), upsampled
``--upsample`` times (bilinear) and thresholded at half intensity: binary
32 x 32 shapes by default. Each pixel of a clean image ``y`` is flipped with
probability ``--flip`` to give the noisy image ``x``. The model is a
conditional random field on the pixel grid, one graph shared by every image
(the noisy pixels are evidence):

* ``x`` (role ``observed``) and ``y`` (role ``output``): ``H x W`` binary variables each;
* ``obs``: one factor ``(x_i, y_i)`` per pixel, ``E = -obs[x_i, y_i]``
  (``LinearEnergy("obs")``, a 2 x 2 table: the unary feature of the noisy pixel);
* ``horizontal`` / ``vertical``: one factor per pair of neighbouring output
  pixels, ``E = -h[y_i, y_j]`` / ``-v[y_i, y_j]`` (2 x 2 tables, Potts-like once trained).

Twelve parameters in all, shared by every pixel. The grid has loops: the
exact log partition of a 32 x 32 grid needs a junction tree of width 32
(2**32 states per clique), so the exact NLL is out of reach. The script trains
the same model, from the same start and with the same optimizer, batches and
epochs, with three losses through ``Trainer``:

* ``PCDLoss(k, chains="per-example")``: the negative phase is sampled by the
  package's chromatic Gibbs sampler, one persistent chain per training image
  (its noisy image clamped), continued by ``k`` sweeps at every visit;
* ``CDLoss(k)``: chains restarted at the clean image at every step;
* ``NLLLoss(method="bp")``: the negative phase from loopy sum-product BP (Bethe
  marginals), the usual approximate-likelihood training of a grid CRF.

On held-out images it reports the pixel accuracy of the MAP image (loopy
min-sum), of the maximiser of the marginals ``P(y_i | x)`` (loopy sum-product,
and Gibbs-sampled marginals from ``gibbs_sample``), against the noisy input
itself, and the training seconds of each loss. The flip noise is known, so the
ideal unary is ``log((1 - flip) / flip)``: the script prints the learned one.

Run ``python examples/denoising_pcd.py`` (a few minutes: loopy BP dominates) or
``--quick`` (seconds); ``--plot DIR`` writes ``denoising_pcd.png`` (test images:
clean, noisy, denoised by each model, the PCD model's marginals; accuracies)
into DIR (needs matplotlib). The last line printed is ``RESULT key=value ...``.
"""

import argparse
import contextlib
import importlib.util
import pathlib
import time
import warnings

import numpy as np

from factorgraph_ebm import ConvergenceWarning, FactorGraph, LinearEnergy, Trainer, compile_graph, gibbs_sample, infer
from factorgraph_ebm.losses import CDLoss, NLLLoss, PCDLoss
from factorgraph_ebm.models import grid_edges
from factorgraph_ebm.train import Adam

#: The PNG file ``--plot DIR`` writes.
FIGURES = ("denoising_pcd.png",)
#: The training losses compared (``--losses``), in the order of the table.
LOSS_NAMES = ("pcd", "cd", "nll")
#: Loopy BP for training (NLL's negative phase) and for the answers: flooding with damping 0.5
#: (``max_iter`` is ``--bp-iterations``).
BP_OPTIONS = {"schedule": "flood", "damping": 0.5, "tol": 1e-3}
#: Settings of the full run and of ``--quick`` (each can be changed on the command line).
SIZES = {
    "full": dict(upsample=4, train_images=200, test_images=100, epochs=8, batch_size=10),
    "quick": dict(upsample=2, train_images=30, test_images=30, epochs=3, batch_size=10),
}
#: Test images shown in the figure.
N_SHOWN = 6


# ---------------------------------------------------------------- data
def binary_digits(upsample):
    """The 1797 scikit-learn digits upsampled ``upsample`` times (bilinear) and thresholded: (n, 8u, 8u) int.

    Examples
    --------
    >>> images = binary_digits(2)
    >>> images.shape, sorted(np.unique(images).tolist())
    ((1797, 16, 16), [0, 1])
    """
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits().images / 16.0
    if upsample > 1:
        digits = zoom(digits, (1, upsample, upsample), order=1)
    return (digits > 0.5).astype(np.int64)


def flip_noise(images, flip, rng):
    """Each pixel flipped independently with probability ``flip``.

    Examples
    --------
    >>> noisy = flip_noise(np.zeros((100, 10, 10), dtype=int), 0.2, np.random.default_rng(0))
    >>> round(float(noisy.mean()), 2)
    0.2
    """
    return np.where(rng.random(images.shape) < flip, 1 - images, images)


def split(n_images, n_train, n_test, rng):
    """Disjoint random training and test indices."""
    order = rng.permutation(n_images)
    return order[:n_train], order[n_train:n_train + n_test]


# ---------------------------------------------------------------- the model
def denoising_graph(height, width):
    """The grid CRF: observed ``x``, output ``y``, factor groups ``obs``, ``horizontal``, ``vertical``.

    Examples
    --------
    >>> fg = denoising_graph(4, 5)
    >>> fg.n_vars, fg.n_factors         # 20 + 20 variables; 20 obs + 4 * 4 horizontal + 3 * 5 vertical
    (40, 51)
    """
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(height, width), states=2, role="observed")
    y = fg.add_variables("y", shape=(height, width), states=2, role="output")
    fg.add_factor_group(np.stack([x.ids.ravel(), y.ids.ravel()], axis=1), LinearEnergy("obs"), name="obs")
    horizontal, vertical = grid_edges(y.ids)
    fg.add_factor_group(horizontal, LinearEnergy("h"), name="horizontal")
    fg.add_factor_group(vertical, LinearEnergy("v"), name="vertical")
    return fg


def initial_parameters():
    """All-zero 2 x 2 tables: every image equally likely, whatever the noisy input."""
    return {"obs": np.zeros((2, 2)), "h": np.zeros((2, 2)), "v": np.zeros((2, 2))}


def unary_log_odds(params):
    """How much a noisy pixel favours its own value: ``(obs[0,0] + obs[1,1] - obs[0,1] - obs[1,0]) / 2``.

    The ideal value for flip noise (with no neighbours) is ``log((1 - flip) / flip)``.

    Examples
    --------
    >>> unary_log_odds({"obs": np.array([[1.0, -1.0], [-0.5, 0.5]])})
    1.5
    """
    w = np.asarray(params["obs"])
    return float((w[0, 0] + w[1, 1] - w[0, 1] - w[1, 0]) / 2.0)


def coupling(params, name):
    """Reward for neighbours that agree: ``w[0,0] + w[1,1] - w[0,1] - w[1,0]`` of table ``name``."""
    w = np.asarray(params[name])
    return float(w[0, 0] + w[1, 1] - w[0, 1] - w[1, 0])


def make_loss(name, args, seed):
    """The training loss ``name`` (see :data:`LOSS_NAMES`)."""
    if name == "pcd":
        return PCDLoss(args.k, n_chains=args.chains, chains="per-example", seed=seed)
    if name == "cd":
        return CDLoss(args.k, n_chains=args.chains, seed=seed)
    return NLLLoss(method="bp", infer_options=dict(BP_OPTIONS, max_iter=args.bp_iterations))


def train(name, graph, clean, noisy, args, seed):
    """Fit the model with loss ``name`` through ``Trainer``; returns ``(parameters, seconds, trainer)``."""
    targets = [{"y": image} for image in clean]
    evidence = [{"x": image} for image in noisy]
    trainer = Trainer(make_loss(name, args, seed), Adam(learning_rate=args.learning_rate),
                      batch_size=args.batch_size, max_epochs=args.epochs, random_state=seed, progress=False)
    start = time.perf_counter()
    trainer.fit(graph, targets, evidence, parameters=initial_parameters())
    return trainer.parameters_, time.perf_counter() - start, trainer


# ---------------------------------------------------------------- answers on the test images
def denoise(graph, noisy, params, *, seed, gibbs_draws, bp_iterations=100):
    """MAP images, marginals ``P(y_i = 1 | x)`` (loopy BP) and Gibbs-sampled marginals of every noisy image.

    The test images are compiled as one batch (the noisy pixels clamped), so
    each inference and the sampler run once for all of them. The Gibbs chains
    start at the noisy image (``y = x``): with strong couplings a random start
    would leave domains of the wrong colour for many sweeps.

    Returns
    -------
    dict with ``map`` (n, H, W) int, ``p_bp`` (n, H, W) float and ``p_gibbs`` (n, H, W) float
    """
    compiled = compile_graph([graph] * len(noisy), evidence=[{"x": image} for image in noisy], parameters=params)
    n = len(noisy)
    map_result = infer(compiled, beta=np.inf, method="bp", max_iter=bp_iterations, **BP_OPTIONS)
    sum_result = infer(compiled, beta=1.0, method="bp", max_iter=bp_iterations, **BP_OPTIONS)
    start = np.concatenate([np.concatenate([image.ravel(), image.ravel()]) for image in noisy])  # x, then y = x
    samples = gibbs_sample(compiled, n_chains=2, n_draws=gibbs_draws, burn_in=gibbs_draws // 2, init=start,
                           seed=seed)
    return {
        "map": np.stack([map_result.map_assignment(graph=i)["y"] for i in range(n)]),
        "p_bp": np.stack([sum_result.marginal("y", graph=i)[..., 1] for i in range(n)]),
        "p_gibbs": np.stack([samples.marginal("y", graph=i)[..., 1] for i in range(n)]),
    }


def accuracies(answers, clean):
    """Pixel accuracy of the MAP image and of the maximisers of the BP and Gibbs marginals."""
    return {
        "map": float(np.mean(answers["map"] == clean)),
        "marginal_bp": float(np.mean((answers["p_bp"] > 0.5) == clean)),
        "marginal_gibbs": float(np.mean((answers["p_gibbs"] > 0.5) == clean)),
    }


@contextlib.contextmanager
def counting_bp_warnings(counts, key):
    """Count the ConvergenceWarnings of loopy BP under ``counts[key]`` instead of printing each one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield
    counts[key] = counts.get(key, 0) + sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# ---------------------------------------------------------------- main
def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    full = SIZES["full"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upsample", type=int, default=None,
                        help=f"upsampling factor of the 8 x 8 digits (default {full['upsample']}: 32 x 32)")
    parser.add_argument("--flip", type=float, default=0.2, help="probability of flipping a pixel (default 0.2)")
    parser.add_argument("--train-images", type=int, default=None,
                        help=f"training images (default {full['train_images']})")
    parser.add_argument("--test-images", type=int, default=None, help=f"test images (default {full['test_images']})")
    parser.add_argument("--epochs", type=int, default=None, help=f"passes over the training images "
                                                                   f"(default {full['epochs']})")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"images per step (default {full['batch_size']})")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="Adam step (default 0.1)")
    parser.add_argument("--k", type=int, default=5, help="Gibbs sweeps per step of PCD-k and CD-k (default 5)")
    parser.add_argument("--chains", type=int, default=1, help="chains per training image (default 1)")
    parser.add_argument("--losses", default=",".join(LOSS_NAMES),
                        help=f"comma-separated losses to train, of {', '.join(LOSS_NAMES)} (default all)")
    parser.add_argument("--bp-iterations", type=int, default=100,
                        help="loopy BP iterations at most, in NLL training and in the answers (default 100)")
    parser.add_argument("--gibbs-draws", type=int, default=200,
                        help="draws per chain of the Gibbs marginals on the test images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): 16 x 16 images, 30 training and 30 test "
                             "images, 3 epochs")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}: test images clean, noisy and denoised, "
                             f"marginals, accuracies) into DIR, created if missing (needs matplotlib)")
    return parser


def parse_args(argv):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in SIZES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name in ("upsample", "train_images", "test_images", "epochs", "batch_size", "k", "chains", "bp_iterations",
                 "gibbs_draws"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.train_images + args.test_images > 1797:
        parser.error(f"--train-images + --test-images must be <= 1797 (the digits), "
                     f"got {args.train_images + args.test_images}")
    if not 0.0 < args.flip < 0.5:
        parser.error(f"--flip must be in (0, 0.5), got {args.flip}")
    if not args.learning_rate > 0:
        parser.error(f"--learning-rate must be > 0, got {args.learning_rate}")
    losses = [name.strip() for name in args.losses.split(",") if name.strip()]
    bad = [name for name in losses if name not in LOSS_NAMES]
    if not losses or bad or len(set(losses)) != len(losses):
        parser.error(f"--losses must be distinct names of {', '.join(LOSS_NAMES)}, got {args.losses!r}")
    args.losses = [name for name in LOSS_NAMES if name in losses]
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    return args


def main(argv=None):
    """Train the models, denoise the test images; returns a dict of the numbers in the RESULT line."""
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    clean = binary_digits(args.upsample)
    noisy = flip_noise(clean, args.flip, rng)
    train_idx, test_idx = split(len(clean), args.train_images, args.test_images, rng)
    height, width = clean.shape[1:]
    graph = denoising_graph(height, width)
    seeds = rng.integers(0, 2 ** 62, size=len(LOSS_NAMES) + 1)
    print(f"grid CRF: {height} x {width} binary digits, flip noise {args.flip:g}, {len(train_idx)} training and "
          f"{len(test_idx)} test images; Adam {args.learning_rate:g}, {args.epochs} epochs of batches of "
          f"{args.batch_size}; PCD-{args.k} / CD-{args.k} with {args.chains} chain(s) per image")
    out = {"noisy_accuracy": float(np.mean(noisy[test_idx] == clean[test_idx]))}
    print(f"{'model':10s} {'train s':>8s} {'MAP acc':>8s} {'BP marg':>8s} {'Gibbs marg':>10s} "
          f"{'unary':>7s} {'J horiz':>8s} {'J vert':>7s}")
    print(f"{'noisy x':10s} {'':>8s} {out['noisy_accuracy']:8.4f} {'':>8s} {'':>10s} "
          f"{np.log((1 - args.flip) / args.flip):7.3f}   (ideal unary log((1 - flip) / flip))")
    models, shown, unconverged, bp_steps = {}, {}, {}, 0
    for i, name in enumerate(LOSS_NAMES):
        if name not in args.losses:
            continue
        with counting_bp_warnings(unconverged, "training"):
            params, seconds, trainer = train(name, graph, clean[train_idx], noisy[train_idx], args, int(seeds[i]))
        with counting_bp_warnings(unconverged, "answers"):
            answers = denoise(graph, noisy[test_idx], params, seed=int(seeds[-1]), gibbs_draws=args.gibbs_draws,
                              bp_iterations=args.bp_iterations)
        if name == "nll":
            bp_steps = trainer.n_iter_
        acc = accuracies(answers, clean[test_idx])
        models[name], shown[name] = params, answers
        out.update({f"{name}_seconds": seconds, f"{name}_map_accuracy": acc["map"],
                    f"{name}_marginal_accuracy": acc["marginal_bp"], f"{name}_gibbs_accuracy": acc["marginal_gibbs"],
                    f"{name}_unary": unary_log_odds(params), f"{name}_coupling": coupling(params, "h")})
        print(f"{name.upper() + (f'-{args.k}' if name != 'nll' else ' (BP)'):10s} {seconds:8.2f} {acc['map']:8.4f} "
              f"{acc['marginal_bp']:8.4f} {acc['marginal_gibbs']:10.4f} {unary_log_odds(params):7.3f} "
              f"{coupling(params, 'h'):8.3f} {coupling(params, 'v'):7.3f}")
    print(f"loopy BP ({args.bp_iterations} flooding iterations at most, tol {BP_OPTIONS['tol']:g}) did not "
          f"converge in {unconverged.get('training', 0)} of the {bp_steps} NLL training steps and in "
          f"{unconverged.get('answers', 0)} of the {2 * len(models)} answer runs (MAP and marginals of each model)")
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot(args.plot / FIGURES[0], clean[test_idx], noisy[test_idx], shown, out)
        print(f"plot saved to {args.plot / FIGURES[0]}")
    print("RESULT " + " ".join(f"{k}={v:.6g}" for k, v in out.items()))
    return out


def plot(path, clean, noisy, shown, out):
    """Test images (clean, noisy, each model's MAP, the PCD model's marginals) and the accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(shown)
    rows = [("clean y", clean, "gray_r"), ("noisy x", noisy, "gray_r")]
    rows += [(f"MAP, {name.upper()}", shown[name]["map"], "gray_r") for name in names]
    first = "pcd" if "pcd" in shown else names[0]
    rows.append((f"P(y = 1 | x), {first.upper()}", shown[first]["p_bp"], "viridis"))
    n = min(N_SHOWN, len(clean))
    fig = plt.figure(figsize=(1.5 * n + 4.5, 1.45 * len(rows)), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.5 * n, 4.5])
    axes = left.subplots(len(rows), n, squeeze=False)
    for r, (label, images, cmap) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    ax = right.subplots()
    kinds = [("map", "MAP"), ("marginal", "BP marginals"), ("gibbs", "Gibbs marginals")]
    width = 0.8 / len(kinds)
    for j, (key, label) in enumerate(kinds):
        values = [out[f"{name}_{key}_accuracy"] for name in names]
        ax.bar(np.arange(len(names)) + (j - 1) * width, values, width, label=label)
    ax.axhline(out["noisy_accuracy"], color="k", ls="--", lw=1, label="noisy input")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels([f"{name.upper()}\n{out[f'{name}_seconds']:.1f} s" for name in names], fontsize=8)
    low = min(out["noisy_accuracy"], *(out[f"{name}_map_accuracy"] for name in names))
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_ylabel("test pixel accuracy"), ax.legend(fontsize=7, loc="lower right")
    ax.set_title("accuracy (and training seconds)", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
