"""CD / PCD losses: gradient error against the exact NLL gradient, and the cost of one evaluation.

Usage (from the repository root)::

    python benchmarks/sampling_losses.py            # about a minute on 2 cores, Numba cache warm
    python benchmarks/sampling_losses.py --out benchmarks/results/sampling_losses

1. Gradient error: on a small loopy model with latent variables (an output y
   with 3 states, 3 binary latents on a chain, two examples; exact NLL by the
   junction tree), the rms error of the CD-k and PCD gradient estimates
   against the exact NLL gradient for 64 .. 4096 samples per example
   (``n_chains``), over 8 seeds, next to ``rms(64) * sqrt(64 / n)`` (what an
   unbiased estimate's error would be).
2. Cost: one CD-1 evaluation (one chain per example) vs one NLL evaluation
   with loopy BP (``method="bp"`` with its defaults: schedule "auto", tol 1e-9;
   and flooding only at tol 1e-4) on a batch of 4 grid CRFs
   of 64 x 64 binary pixels (unary features of a noisy image, one shared 2 x 2
   coupling), median of 5 after a warm-up call.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _machine import machine, write_report  # noqa: E402
from ebm_models import latent_graph, latent_parameters  # noqa: E402

from factorgraph_ebm import FactorGraph, LinearEnergy  # noqa: E402
from factorgraph_ebm.losses import CDLoss, NLLLoss, PCDLoss, make_batch  # noqa: E402
from factorgraph_ebm.models import grid_edges  # noqa: E402

SIZES = (64, 256, 1024, 4096)


def gradient_error(seeds=8):
    rng = np.random.default_rng(2026)
    graph = latent_graph(rng, loopy=True)
    params = latent_parameters(rng, loopy=True)
    params = params.unflatten(0.7 * params.flatten())
    batch = make_batch(graph, [0, 2], parameters=params)
    exact = NLLLoss(method="exact")(batch, parameters=params).gradient.flatten()
    rows = []
    for label, make, evaluations in (
            ("CD-1", lambda n, s: CDLoss(k=1, n_chains=n, seed=s, method="exact"), 1),
            ("CD-20", lambda n, s: CDLoss(k=20, n_chains=n, seed=s, method="exact"), 1),
            ("PCD-1 (pool, 30 evaluations burn-in)", lambda n, s: PCDLoss(k=1, n_chains=n, chains="pool", seed=s,
                                                                          method="exact"), 31)):
        errors = []
        for n in SIZES:
            est = []
            for s in range(seeds):
                loss = make(n, s)
                for _ in range(evaluations):
                    g = loss(batch, parameters=params).gradient.flatten()
                est.append(g)
            errors.append(float(np.sqrt(np.mean((np.array(est) - exact) ** 2))))
        rows.append({"estimator": label, "rms": errors})
    return {"exact_norm": float(np.sqrt(np.mean(exact ** 2))), "rows": rows}


def grid_batch(rng, side=64, n_grids=4, flip=0.2):
    """4 grid CRFs: y a smooth binary image, x its noisy copy; E = -feat(x_i) . U[:, y_i] - P[y_i, y_j]."""
    graphs, targets = [], []
    ids = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate(grid_edges(ids))
    for _ in range(n_grids):
        yy, xx = np.mgrid[:side, :side]
        cx, cy = rng.uniform(0.3, 0.7, size=2) * side
        r = rng.uniform(0.2, 0.35) * side
        image = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.int64)
        noisy = np.where(rng.random(image.shape) < flip, 1 - image, image)
        feats = np.stack([noisy.ravel(), 1.0 - noisy.ravel(), np.ones(side * side)], axis=1)
        fg = FactorGraph()
        fg.add_variables("y", shape=(side, side), states=2)
        fg.add_factor_group(ids.reshape(-1, 1), LinearEnergy("U", features=feats), name="unary")
        fg.add_factor_group(pairs, LinearEnergy("P"), name="pair")
        graphs.append(fg)
        targets.append(image.ravel())
    params = {"U": np.array([[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]]), "P": np.array([[0.5, -0.5], [-0.5, 0.5]])}
    return make_batch(graphs, targets, parameters=params), params


def cost(repeats=5):
    batch, params = grid_batch(np.random.default_rng(7))
    out = {"n_vars": int(batch.compiled.n_vars), "n_factors": int(batch.compiled.n_factors)}
    for label, loss in (("CD-1 (1 chain)", CDLoss(k=1, seed=0)), ("CD-5 (1 chain)", CDLoss(k=5, seed=0)),
                        ("PCD-1 (per-example, 1 chain)", PCDLoss(k=1, seed=0)),
                        ("NLL, loopy BP (flood, tol 1e-4)", NLLLoss(method="bp", infer_options={"schedule": "flood",
                                                                                              "tol": 1e-4})),
                        ("NLL, loopy BP", NLLLoss(method="bp"))):
        loss(batch, parameters=params)                  # warm-up (compiles, caches the batch's plans)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            loss(batch, parameters=params)
            times.append(time.perf_counter() - t0)
        out[label] = float(np.median(times))
    return out


def markdown(report):
    lines = ["# CD / PCD losses: gradient error and cost", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
             f"numba threads {report['machine']['numba_threads']}; load average before "
             f"{tuple(round(x, 2) for x in report['load_before'])}, after "
             f"{tuple(round(x, 2) for x in report['load_after'])}.", "",
             "## Gradient rms error vs the exact NLL gradient", "",
             f"Small loopy latent model (exact NLL by junction tree), 8 seeds; rms of the exact gradient "
             f"{report['error']['exact_norm']:.3f}. In brackets: rms(64) * sqrt(64 / n).", "",
             "| estimator | " + " | ".join(f"n = {n}" for n in SIZES) + " |",
             "|---|" + "---|" * len(SIZES)]
    for row in report["error"]["rows"]:
        base = row["rms"][0]
        cells = [f"{e:.4f} ({base * np.sqrt(SIZES[0] / n):.4f})" for e, n in zip(row["rms"], SIZES)]
        lines.append(f"| {row['estimator']} | " + " | ".join(cells) + " |")
    c = report["cost"]
    lines += ["", "## Cost of one loss evaluation", "",
              f"Batch of 4 grid CRFs 64 x 64 ({c['n_vars']} variables, {c['n_factors']} factors), median of 5.", "",
              "| loss | seconds | NLL (BP, defaults) / this | NLL (BP, flood 1e-4) / this |", "|---|---|---|---|"]
    nll, flood = c["NLL, loopy BP"], c["NLL, loopy BP (flood, tol 1e-4)"]
    for key, value in c.items():
        if key in ("n_vars", "n_factors"):
            continue
        lines.append(f"| {key} | {value:.4f} | {nll / value:.1f} | {flood / value:.1f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/sampling_losses")
    args = parser.parse_args()
    report = {"machine": machine(), "load_before": os.getloadavg()}
    report["cost"] = cost()
    report["error"] = gradient_error()
    write_report(report, args.out, markdown)


if __name__ == "__main__":
    main()
