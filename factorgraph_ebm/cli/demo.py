"""The quick-start demo: denoise a small binary image with a Potts grid.

Runs on a fresh install, no data download: the image is drawn by the demo.
"""

import time

import numpy as np

from ..inference.api import infer
from ..models.potts import potts_grid
from .warmup import cold_groups, warmup

__all__ = ["run_demo"]


def _image(size):
    yy, xx = np.mgrid[:size, :size]
    ring = np.abs(np.hypot(yy - size / 2, xx - size / 2) - size / 3) < size / 10
    bar = (np.abs(yy - xx) < size / 12) & (yy < size / 2)
    return (ring | bar).astype(np.int64)


def _show(img):
    return "\n".join("".join("#" if p else "." for p in row) for row in img)


def run_demo(size=24, flip=0.2, coupling=1.2, seed=0, out=print, compile_first=True):
    """Denoise a binary picture: MAP by min-sum, marginals by sum-product.

    With ``compile_first`` (the command line's demo), kernels not yet in the
    disk cache are compiled first, with a progress bar on standard error.

    Examples
    --------
    >>> acc = run_demo(size=20, out=lambda *a: None, compile_first=False)
    >>> acc["map"] > acc["noisy"]
    True
    """
    rng = np.random.default_rng(seed)
    clean = _image(size)
    noisy = np.where(rng.random(clean.shape) < flip, 1 - clean, clean)
    # unary energy: -log likelihood of the observed pixel under each label
    unary = np.where(noisy[..., None] == np.arange(2), -np.log(1 - flip), -np.log(flip))
    fg = potts_grid(unary, coupling)
    if compile_first and cold_groups(["loopy"]):
        out("factorgraph-ebm demo: first run on this machine, compiling the loopy BP kernels "
            "(once; cached afterwards; `python -m factorgraph_ebm warmup` compiles every kernel)")
        warmup(["loopy"])
    t0 = time.perf_counter()
    # flooding loopy BP (the grid is too wide for exact inference); `infer(fg)` would also try the other schedules
    map_res = infer(fg, beta=np.inf, method="bp", schedule="flood")
    marg_res = infer(fg, beta=1.0, method="bp", schedule="flood")
    seconds = time.perf_counter() - t0
    denoised = map_res.map_assignment()["x"]
    p_on = marg_res.marginal("x")[..., 1]
    acc = {"noisy": float((noisy == clean).mean()), "map": float((denoised == clean).mean())}
    out(f"factorgraph-ebm demo: {size}x{size} binary image, {int(flip * 100)}% pixels flipped")
    out(f"Potts grid: {fg.n_vars} variables, {fg.n_factors} factors; method {map_res.method}")
    side = [a + "   " + b for a, b in zip(_show(noisy).splitlines(), _show(denoised).splitlines())]
    out("noisy" + " " * (size - 2) + "MAP (min-sum)")
    out("\n".join(side))
    out(f"pixel accuracy: noisy {acc['noisy']:.3f} -> MAP {acc['map']:.3f}")
    out(f"MAP energy {map_res.map_energy:.3f} after {map_res.n_iter} min-sum iterations "
        f"(converged={map_res.converged}, damping {map_res.damping:g})")
    out(f"sum-product at beta=1: free energy {marg_res.free_energy:.3f} (Bethe), "
        f"{int((np.abs(p_on - 0.5) < 0.25).sum())} pixels with P(on) between 0.25 and 0.75")
    out(f"inference took {seconds:.2f} s")
    return acc
