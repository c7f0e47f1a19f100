"""Quick start: denoise a tiny binary image and check belief propagation against exact inference.

The model has one observed variable ``x[i, j]`` (the noisy pixel) and one output
variable ``y[i, j]`` (the clean pixel) per pixel, with

* an observation factor per pixel, ``E(y, x) = -log P(x | y)`` (each pixel flips
  with probability ``flip``), declared as one factor group;
* a Potts smoothness factor per pair of neighbouring outputs, ``coupling * [y_i != y_j]``.

The noisy image is clamped as evidence on ``x``. The script then asks for

* the MAP image (min-sum, ``beta = inf``);
* the marginals ``P(y[i, j] = 1 | x)`` (sum-product at ``beta = 1``);

and compares loopy belief propagation with the exact junction tree on the same
question. Run ``python examples/quickstart.py`` (a 6 x 6 image, seconds),
``--quick`` (4 x 4, what the tests run) or ``--size 24`` (no exact comparison
above 7 x 7); ``--plot DIR`` writes ``quickstart_denoise.png`` (clean, noisy,
MAP image and marginals) into DIR (needs matplotlib). The last line printed is
``RESULT key=value ...``.
"""

import argparse
import importlib.util
import pathlib

import numpy as np

from factorgraph_ebm import FactorGraph, InferenceError, infer
from factorgraph_ebm.models import grid_edges

#: Largest side for which the script also runs exact inference (junction tree).
MAX_EXACT_SIZE = 7
#: Image side of a full run and of ``--quick``.
SIZE, QUICK_SIZE = 6, 4
#: The PNG file ``--plot DIR`` writes.
FIGURES = ("quickstart_denoise.png",)


def make_image(size):
    """Two regions split by a vertical edge (0 on the left, 1 on the right), as a 0/1 int array."""
    return np.repeat((np.arange(size) >= size // 2)[None, :], size, axis=0).astype(np.int64)


def build_model(size, flip, coupling):
    """Declare the denoising model: observed ``x``, output ``y``, both ``size x size``."""
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(size, size), states=2, role="observed")
    y = fg.add_variables("y", shape=(size, size), states=2, role="output")
    # table[y, x]: -log P(x | y)
    keep, change = -np.log(1.0 - flip), -np.log(flip)
    observation = np.array([[keep, change], [change, keep]])
    fg.add_factor_group(np.stack([y.ids.ravel(), x.ids.ravel()], axis=1), observation, name="observation")
    h, v = grid_edges(y.ids)
    fg.add_factor_group(np.concatenate([h, v]), coupling * (1.0 - np.eye(2)), name="smoothness")
    return fg


def show(*images):
    """The images side by side, ``#`` for 1 and ``.`` for 0."""
    rows = zip(*(["".join("#" if p else "." for p in row) for row in img] for img in images))
    return "\n".join("   ".join(parts) for parts in rows)


def plot(path, clean, noisy, denoised, p_on, exact_p_on=None):
    """Save a PNG: the clean, noisy and MAP images, the BP marginals P(y = 1 | x) and (if given) the exact ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("clean", clean, "gray_r"), (f"noisy ({np.mean(noisy == clean):.0%} right)", noisy, "gray_r"),
              (f"MAP, min-sum BP ({np.mean(denoised == clean):.0%} right)", denoised, "gray_r"),
              ("P(y = 1 | x), sum-product BP", p_on, "viridis")]
    if exact_p_on is not None:
        panels.append(("P(y = 1 | x), exact", exact_p_on, "viridis"))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels), 3.2), layout="constrained")
    for ax, (title, image, cmap) in zip(axes, panels):
        shown = ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes[-1], fraction=0.046)
    fig.suptitle(f"Potts-grid denoising of a {clean.shape[0]} x {clean.shape[1]} image", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help=f"image side in pixels (default {SIZE})")
    parser.add_argument("--flip", type=float, default=0.1, help="probability a pixel is flipped (default 0.1)")
    parser.add_argument("--coupling", type=float, default=1.2, help="Potts smoothness strength (default 1.2)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes, seconds (what the tests run): a {QUICK_SIZE} x {QUICK_SIZE} image")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}) into DIR, created if missing "
                             f"(needs matplotlib)")
    return parser


def parse_args(argv=None):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = QUICK_SIZE if args.quick else SIZE
    if args.size < 2:
        parser.error("--size must be >= 2")
    if not 0.0 < args.flip < 0.5:
        parser.error("--flip must be in (0, 0.5)")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    return args


def result_line(out):
    """The final ``RESULT key=value ...`` line."""
    return "RESULT " + " ".join(f"{key}={value:.6g}" for key, value in out.items())


def main(argv=None):
    """Run the quick start; returns a dict of the numbers it printed (those of the RESULT line)."""
    args = parse_args(argv)

    rng = np.random.default_rng(args.seed)
    clean = make_image(args.size)
    noisy = np.where(rng.random(clean.shape) < args.flip, 1 - clean, clean)
    fg = build_model(args.size, args.flip, args.coupling)
    evidence = {"x": noisy}
    print(f"model: {args.size}x{args.size} image, {fg.n_vars} variables "
          f"({noisy.size} observed, {noisy.size} output), {fg.n_factors} factors")

    # MAP by min-sum BP (loopy: the smoothness factors form a grid).
    bp_map = infer(fg, evidence, method="bp", beta=np.inf, damping=0.5)
    denoised = bp_map.map_assignment()["y"]
    print(f"MAP by {bp_map.method}: energy {bp_map.map_energy:.4f}, {bp_map.n_iter} iterations, "
          f"converged={bp_map.converged}")
    print(f"pixel accuracy: noisy {np.mean(noisy == clean):.3f} -> MAP {np.mean(denoised == clean):.3f}")
    if args.size <= 16:
        print("noisy" + " " * (args.size - 2) + "MAP")
        print(show(noisy, denoised))

    # Marginals P(y = 1 | x) by sum-product BP at beta = 1.
    bp = infer(fg, evidence, method="bp", beta=1.0, damping=0.5)
    p_on = bp.marginal("y")[..., 1]
    print(f"sum-product ({bp.method}): free energy {bp.free_energy:.4f} (Bethe), "
          f"{int(np.sum(np.abs(p_on - 0.5) < 0.25))} pixels with 0.25 < P(y=1) < 0.75")
    out = {"bp_map_energy": float(bp_map.map_energy), "noisy_accuracy": float(np.mean(noisy == clean)),
           "accuracy": float(np.mean(denoised == clean))}

    exact = compare_with_exact(fg, evidence, bp_map, bp, args.size, out)
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot(args.plot / FIGURES[0], clean, noisy, denoised, p_on,
             None if exact is None else exact.marginal("y")[..., 1])
        print(f"figure written to {args.plot / FIGURES[0]}")
    print(result_line(out))
    return out


def compare_with_exact(fg, evidence, bp_map, bp, size, out):
    """Exact MAP and marginals (junction tree) against BP's, added to ``out``; the exact result (None if skipped)."""
    if size > MAX_EXACT_SIZE:
        print(f"exact comparison skipped (--size > {MAX_EXACT_SIZE}: junction tree too large)")
        return None
    try:
        exact_map = infer(fg, evidence, method="exact", beta=np.inf)
        exact = infer(fg, evidence, method="exact", beta=1.0)
    except InferenceError as exc:
        print(f"exact comparison skipped ({exc})")
        return None
    out["map_energy_gap"] = bp_map.map_energy - exact_map.map_energy
    out["marginal_gap"] = float(np.abs(bp.marginal("y") - exact.marginal("y")).max())
    out["free_energy_gap"] = bp.free_energy - exact.free_energy
    print(f"BP vs exact ({exact.method}):")
    print(f"  MAP energy gap (BP - exact): {out['map_energy_gap']:.6f}")
    print(f"  max marginal gap |P_bp - P_exact|: {out['marginal_gap']:.6f}")
    print(f"  free energy gap (Bethe - exact): {out['free_energy_gap']:.6f}")
    return exact


if __name__ == "__main__":
    main()
