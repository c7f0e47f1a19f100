"""Declare, compile and run a large Potts grid; report seconds and peak memory.

Usage::

    python benchmarks/grid_scale.py                 # 1000 x 1000, K = 8
    python benchmarks/grid_scale.py --size 2000 --states 4

Checks the budget of issue 2: the 1000 x 1000, K = 8 grid is declared and
compiled in under a minute and declared, compiled and run within 8 GB.
Peak memory is the process's maximum resident set size (``ru_maxrss``), which
includes Python, NumPy, Numba and LLVM themselves.
"""

import argparse
import json
import resource
import time
import warnings

import numpy as np

from factorgraph_ebm import belief_propagation, compile_graph
from factorgraph_ebm.models import potts_grid


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    n, k = args.size, args.states
    rng = np.random.default_rng(0)
    unary = rng.uniform(0.0, 2.0, (n, n, k))
    out = {"N": n, "K": k, "iterations": args.iterations, "peak_before_gib": peak_gib()}
    t0 = time.perf_counter()
    fg = potts_grid(unary, 0.5)
    t1 = time.perf_counter()
    cg = compile_graph(fg)
    t2 = time.perf_counter()
    out.update(declare_s=t1 - t0, compile_s=t2 - t1, peak_after_compile_gib=peak_gib())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for beta in (np.inf, 1.0):
            t = time.perf_counter()
            res = belief_propagation(cg, beta, schedule="flood", tol=0.0, max_iter=args.iterations)
            key = "min_sum" if beta == np.inf else "sum_product"
            out[f"{key}_s"] = time.perf_counter() - t
            out[f"{key}_free_energy"] = float(res.free_energy)
    out["peak_gib"] = peak_gib()
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
