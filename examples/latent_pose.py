"""Invariant recognition with a latent pose: 8x8 digits at unknown offsets in a larger canvas.

Each image is a scikit-learn 8x8 digit (``load_digits``, bundled, no download)
pasted at a random offset inside a ``canvas x canvas`` image with a faint
uniform background noise. The model has two variables per image:

* ``y`` (10 states, role ``output``): the digit class;
* ``z`` (``(canvas - 7) ** 2`` states, role ``latent``): the pose, i.e. the
  offset of the 8x8 window that holds the digit.

One factor over ``[z, y]`` compares the class template of ``y`` with the window
of the canvas selected by ``z``::

    E(x, y, z) = -(window_z(x) . W[:64, y] + W[64, y])

declared as ``LinearEnergy("W", features=windows)`` with ``windows`` of shape
``(n_poses, 65)`` (the 64 window pixels and a constant 1 for the class bias),
so the energy table is ``-(windows @ W)``, shape ``(n_poses, 10)``, and the
class templates are the columns of ``W``.

Inference at ``beta = inf`` finds the class and the pose of lowest energy
jointly, ``argmin_{y, z} E``; at a finite ``beta`` it gives the pose marginal
``P(z | x)`` (the class summed out) and the class marginal ``P(y | x)`` (the
pose summed out). Training uses the latent hinge or latent perceptron loss
(the correct answer's energy is ``min_z E(x, y_i, z)``) or the negative
log-likelihood, which sums the pose out at ``beta``. The baseline without a
latent pose is a linear classifier on the whole canvas (one factor over ``y``,
features = the canvas pixels and a 1), trained with the same loss,
regularization and optimizer.

Run ``python examples/latent_pose.py --loss nll --plot DIR`` (``--plot`` writes
``latent_pose.png`` into DIR; needs matplotlib) or ``--quick`` (seconds); the
last line is ``RESULT latent_accuracy=... no_latent_accuracy=...``.
"""

import argparse
import importlib.util
import math
import pathlib

import numpy as np

from factorgraph_ebm import FactorGraph, LinearEnergy, Trainer, compile_graph, infer
from factorgraph_ebm.losses import HingeLoss, NLLLoss, PerceptronLoss
from factorgraph_ebm.train import Adam

#: Side of a digit image (scikit-learn's digits are 8x8, values 0..16).
WINDOW = 8
N_CLASSES = 10
#: Fraction of the images held out for testing.
TEST_FRACTION = 0.3
#: Settings of the full run and of ``--quick``.
SIZES = {
    "full": dict(n_images=None, epochs=10, batch_size=50),
    "quick": dict(n_images=300, epochs=20, batch_size=30),
}
LEARNING_RATE = 0.05
L2 = 1e-3
#: Test images whose pose marginal is printed (and plotted).
N_SHOWN = 5
#: The PNG file ``--plot DIR`` writes.
FIGURES = ("latent_pose.png",)


# ---------------------------------------------------------------- data
def n_pose_side(canvas):
    """Offsets along one axis of an 8x8 window inside a ``canvas x canvas`` image."""
    return canvas - WINDOW + 1


def place_digits(digits, canvas, noise, rng):
    """Paste each 8x8 digit at a uniform random offset in a noisy canvas.

    Parameters
    ----------
    digits : ndarray, shape (n, 8, 8)
        Pixel values in [0, 1].
    canvas : int
        Side of the output images (>= 8).
    noise : float
        Background pixels are uniform on ``[0, noise)``; the digit is pasted
        over them with a pixelwise maximum.
    rng : numpy.random.Generator

    Returns
    -------
    images : ndarray, shape (n, canvas, canvas)
    poses : ndarray of int, shape (n,)
        Flat pose index ``row * n_pose_side + col`` of each digit's top-left corner.

    Examples
    --------
    >>> images, poses = place_digits(np.ones((1, 8, 8)), 9, 0.0, np.random.default_rng(0))
    >>> images.shape, int(images.sum()), int(poses[0]) in range(4)
    ((1, 9, 9), 64, True)
    """
    n, side = len(digits), n_pose_side(canvas)
    rows, cols = rng.integers(0, side, n), rng.integers(0, side, n)
    images = noise * rng.random((n, canvas, canvas))
    for image, digit, r, c in zip(images, digits, rows, cols):
        patch = image[r:r + WINDOW, c:c + WINDOW]
        np.maximum(patch, digit, out=patch)
    return images, rows * side + cols


def load_data(n_images, canvas, noise, rng):
    """Shuffled scikit-learn digits placed in canvases: ``images, labels, poses`` (see :func:`place_digits`)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = rng.permutation(len(digits.target))[:n_images]
    images, poses = place_digits(digits.images[order] / 16.0, canvas, noise, rng)
    return images, digits.target[order], poses


def pose_windows(image):
    """The 8x8 window at every pose, flattened, with a constant 1 column: shape ``(n_poses, 65)``.

    Row ``z = row * n_pose_side + col`` is the window whose top-left corner is ``(row, col)``.

    Examples
    --------
    >>> w = pose_windows(np.arange(81.0).reshape(9, 9))
    >>> w.shape, w[1, :3].tolist(), float(w[2, 0]), float(w[0, -1])
    ((4, 65), [1.0, 2.0, 3.0], 9.0, 1.0)
    """
    windows = np.lib.stride_tricks.sliding_window_view(image, (WINDOW, WINDOW)).reshape(-1, WINDOW * WINDOW)
    return np.hstack([windows, np.ones((len(windows), 1))])


# --------------------------------------------------------------- models
def latent_pose_graph(image):
    """Factor graph of one image: class ``y``, latent pose ``z``, one template factor over ``[z, y]``.

    The factor's table is ``-(pose_windows(image) @ W)``, shape ``(n_poses, 10)``.

    Examples
    --------
    >>> fg = latent_pose_graph(np.zeros((9, 9)))
    >>> fg.var_states.tolist(), fg.factor_spec("template").energy.table({"W": np.ones((65, 10))}).shape
    ([10, 4], (4, 10))
    """
    fg = FactorGraph()
    fg.add_variable("y", N_CLASSES)
    fg.add_variable("z", n_pose_side(image.shape[0]) ** 2, role="latent")
    fg.add_factor(["z", "y"], LinearEnergy("W", features=pose_windows(image)), name="template")
    return fg


def whole_canvas_graph(image):
    """Factor graph of the baseline: class ``y`` scored by a linear function of every canvas pixel.

    Examples
    --------
    >>> fg = whole_canvas_graph(np.zeros((9, 9)))
    >>> fg.var_states.tolist(), fg.factor_spec("linear").energy.table({"V": np.ones((82, 10))}).shape
    ([10], (10,))
    """
    fg = FactorGraph()
    fg.add_variable("y", N_CLASSES)
    fg.add_factor(["y"], LinearEnergy("V", features=np.append(image.ravel(), 1.0)), name="linear")
    return fg


def class_mean_init(features, labels):
    """Initial ``W`` (n_features, 10): each class's mean feature vector, centred across classes.

    ``features`` holds one row per training image (for the latent model, its
    windows averaged over all poses: no pose information is used). Starting
    from zeros would make every pose tie, and the min over ``z`` would pick
    pose 0 for every image.

    Examples
    --------
    >>> W = class_mean_init(np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]), np.array([0, 0, 1]))
    >>> W.shape, W[:, :2].tolist()
    ((2, 10), [[1.8, -0.2], [-0.2, 1.8]])
    """
    onehot = np.eye(N_CLASSES)[labels]
    means = (features.T @ onehot) / np.maximum(onehot.sum(axis=0), 1.0)   # a class with no image: 0
    return means - means.mean(axis=1, keepdims=True)


def make_loss(name, beta):
    """The training loss: latent hinge / perceptron (min over z) or NLL (z summed out at ``beta``)."""
    if name == "hinge":
        return HingeLoss(latent_beta=np.inf)
    if name == "perceptron":
        return PerceptronLoss()
    return NLLLoss(beta=beta)


def fit(graphs, labels, parameter, init, loss, size, seed):
    """Train one model with Adam, L2 and the given loss; returns the fitted :class:`Trainer`."""
    trainer = Trainer(loss, Adam(learning_rate=LEARNING_RATE), batch_size=size["batch_size"],
                      max_epochs=size["epochs"], l2=L2, random_state=seed, progress=False)
    return trainer.fit(graphs, labels, parameters={parameter: init})


# ------------------------------------------------------------ inference
def map_class_and_pose(graphs, parameters):
    """``argmin_{y, z} E`` of every image (one batch, min-sum): arrays ``classes, poses``."""
    compiled = compile_graph(graphs, parameters=parameters)
    state = infer(compiled, beta=np.inf).map_state
    base = compiled.graph_var_ptr[:-1]
    y, z = graphs[0].variable_id("y"), graphs[0].variable_id("z")
    return state[base + y], state[base + z]


def posterior_marginals(graphs, parameters, beta):
    """``P(y | x)`` and ``P(z | x)`` at ``beta`` (sum-product over one batch): arrays (n, 10), (n, n_poses)."""
    result = infer(compile_graph(graphs, parameters=parameters), beta=beta)
    p_class = np.stack([result.marginal("y", graph=i) for i in range(len(graphs))])
    p_pose = np.stack([result.marginal("z", graph=i) for i in range(len(graphs))])
    return p_class, p_pose


def pose_accuracy(found, true, canvas):
    """Fractions of poses found exactly, and within one pixel along each axis."""
    side = n_pose_side(canvas)
    drow, dcol = found // side - true // side, found % side - true % side
    return float(np.mean(found == true)), float(np.mean((np.abs(drow) <= 1) & (np.abs(dcol) <= 1)))


def sklearn_baseline(train_images, train_labels, test_images, test_labels):
    """Accuracy of scikit-learn's LogisticRegression on the same canvases (same L2): a check on the baseline."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0 / (L2 * len(train_labels)), max_iter=2000)
    model.fit(train_images.reshape(len(train_images), -1), train_labels)
    return float(model.score(test_images.reshape(len(test_images), -1), test_labels))


# ----------------------------------------------------------------- plot
def plot_poses(path, images, labels, poses, found_classes, found_poses, p_pose, templates):
    """Save a PNG: test canvases with the true (dashed) and MAP (solid) windows, P(z | x), the templates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n, side = len(images), n_pose_side(images.shape[1])
    fig = plt.figure(figsize=(2.0 * max(n, 5), 6.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.0, 0.8])
    axes = top.subplots(2, n, squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0)
        for pose, style, colour in ((found_poses[i], "-", "tab:red"), (poses[i], "--", "tab:green")):
            r, c = divmod(int(pose), side)
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), WINDOW, WINDOW, fill=False, ls=style, lw=1.8,
                                   edgecolor=colour))
        ax.set_title(f"true {labels[i]}, found {found_classes[i]}", fontsize=9)
        ax = axes[1, i]
        shown = ax.imshow(p_pose[i].reshape(side, side), cmap="viridis", vmin=0.0, vmax=1.0)
        r, c = divmod(int(poses[i]), side)
        ax.plot(c, r, "x", color="white", ms=8, mew=2)
        ax.set_title(f"P(z | x), max {p_pose[i].max():.2f}", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    top.colorbar(shown, ax=axes[1, :], shrink=0.8, label="pose probability (x = true)")
    top.suptitle("Test canvases: true window (dashed green), MAP window (red); pose marginal below")
    tax = bottom.subplots(1, N_CLASSES)
    for k, ax in enumerate(tax):
        template = templates[:-1, k].reshape(WINDOW, WINDOW)
        limit = np.abs(template).max()
        ax.imshow(template, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(k), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    bottom.suptitle("Learned class templates (columns of W, red = positive weight)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ main
def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="nll", help="hinge, perceptron or nll (default nll)")
    parser.add_argument("--beta", type=float, default=1.0,
                        help="inverse temperature of the NLL loss and of the pose marginals (default 1)")
    parser.add_argument("--canvas", type=int, default=12, help="side of the canvas in pixels, >= 9 (default 12)")
    parser.add_argument("--noise", type=float, default=0.1, help="background noise amplitude in [0, 1) (default 0.1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes, seconds (what the tests run): {SIZES['quick']['n_images']} images, "
                             f"{SIZES['quick']['epochs']} epochs")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}: recovered poses, pose marginals, "
                             f"templates) into DIR, created if missing (needs matplotlib)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the placement, split and shuffles")
    return parser


def parse_args(argv):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.loss not in ("hinge", "perceptron", "nll"):
        parser.error(f"--loss must be one of hinge, perceptron, nll; got {args.loss!r}")
    if not args.beta > 0:  # also rejects NaN
        parser.error(f"--beta must be > 0, got {args.beta}")
    if not WINDOW < args.canvas <= 32:
        parser.error(f"--canvas must be in [{WINDOW + 1}, 32] (the digits are {WINDOW}x{WINDOW}), got {args.canvas}")
    if not 0.0 <= args.noise < 1.0:
        parser.error(f"--noise must be in [0, 1), got {args.noise}")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    return args


def main(argv=None):
    """Train the latent-pose model and the whole-canvas baseline; returns a dict of the printed figures."""
    args = parse_args(argv)
    size = SIZES["quick" if args.quick else "full"]
    rng = np.random.default_rng(args.seed)
    images, labels, poses = load_data(size["n_images"], args.canvas, args.noise, rng)
    n_test = math.ceil(TEST_FRACTION * len(labels))
    train, test = slice(n_test, None), slice(None, n_test)
    n_poses = n_pose_side(args.canvas) ** 2
    print(f"data: {len(labels)} digits in {args.canvas}x{args.canvas} canvases ({n_poses} poses), "
          f"{len(labels) - n_test} train / {n_test} test, loss {args.loss}, beta {args.beta:g}")

    loss = make_loss(args.loss, args.beta)
    latent = [latent_pose_graph(image) for image in images]
    pooled = np.stack([pose_windows(image).mean(axis=0) for image in images[train]])
    latent_fit = fit(latent[train], labels[train], "W", class_mean_init(pooled, labels[train]), loss, size,
                     args.seed)
    W = latent_fit.parameters_
    found_classes, found_poses = map_class_and_pose(latent[test], W)
    p_class, p_pose = posterior_marginals(latent[test], W, args.beta)

    flat = [whole_canvas_graph(image) for image in images]
    canvases = np.hstack([images.reshape(len(images), -1), np.ones((len(images), 1))])
    flat_fit = fit(flat[train], labels[train], "V", class_mean_init(canvases[train], labels[train]), loss, size,
                   args.seed)
    flat_classes = np.concatenate(flat_fit.predict(flat[test]))

    exact, near = pose_accuracy(found_poses, poses[test], args.canvas)
    out = {
        "latent_accuracy": float(np.mean(found_classes == labels[test])),
        "no_latent_accuracy": float(np.mean(flat_classes == labels[test])),
        "latent_train_accuracy": latent_fit.score(latent[train], labels[train]),
        "no_latent_train_accuracy": flat_fit.score(flat[train], labels[train]),
        "marginal_accuracy": float(np.mean(p_class.argmax(axis=1) == labels[test])),
        "pose_accuracy": exact,
        "pose_accuracy_within_1": near,
        "chance_pose_accuracy": 1.0 / n_poses,
        "mean_max_pose_probability": float(p_pose.max(axis=1).mean()),
        "sklearn_no_latent_accuracy": sklearn_baseline(images[train], labels[train], images[test], labels[test]),
    }
    print(f"latent pose model: test accuracy {out['latent_accuracy']:.3f} (train {out['latent_train_accuracy']:.3f}), "
          f"argmax_y P(y | x) at beta {args.beta:g}: {out['marginal_accuracy']:.3f}")
    print(f"  pose found exactly {exact:.3f}, within 1 pixel {near:.3f} (chance exactly {1.0 / n_poses:.3f}); "
          f"mean max P(z | x) {out['mean_max_pose_probability']:.3f}")
    print(f"whole-canvas linear model: test accuracy {out['no_latent_accuracy']:.3f} "
          f"(train {out['no_latent_train_accuracy']:.3f}); scikit-learn LogisticRegression on the same "
          f"canvases: {out['sklearn_no_latent_accuracy']:.3f}")
    side = n_pose_side(args.canvas)
    for i in range(min(N_SHOWN, n_test)):
        top = np.argsort(p_pose[i])[::-1][:3]
        ranked = ", ".join(f"{divmod(int(z), side)}: {p_pose[i, z]:.2f}" for z in top)
        print(f"  test image {i}: class {labels[test][i]} at {divmod(int(poses[test][i]), side)}; found "
              f"{found_classes[i]} at {divmod(int(found_poses[i]), side)}; P(z | x) top poses {ranked}")

    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        shown = slice(0, min(N_SHOWN, n_test))
        plot_poses(args.plot / FIGURES[0], images[test][shown], labels[test][shown], poses[test][shown],
                   found_classes[shown], found_poses[shown], p_pose[shown], W["W"])
        print(f"plot written to {args.plot / FIGURES[0]}")
    print(f"RESULT latent_accuracy={out['latent_accuracy']:.4f} no_latent_accuracy={out['no_latent_accuracy']:.4f}")
    return out


if __name__ == "__main__":
    main()
