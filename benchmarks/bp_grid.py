"""Seconds per loopy-BP iteration on N x N Potts grids, and exact chain inference,
for factorgraph-ebm, a plain vectorized NumPy BP and PGMax (CPU), in one run.

Usage (from the repository root; see benchmarks/README.md for the environment)::

    python benchmarks/bp_grid.py                      # full table (about 75 min on 2 cores)
    python benchmarks/bp_grid.py --sizes 100 --states 2 8 --peers numpy   # quick look

What is measured
----------------
* Grids: ``E(x) = sum_i unary[i, x_i] + coupling * sum_<ij> [x_i != x_j]`` with
  random unaries, flooding schedule, no damping, zero initial messages, at
  beta = inf (min-sum) and beta = 1 (sum-product). Seconds per iteration is
  ``(median t(2n) - median t(n)) / n`` for factorgraph-ebm (n >= 10) and PGMax
  (so the fixed cost of a call, marginals and free energy included, cancels out) and
  ``median t(n) / n`` for NumPy (which has no fixed cost). Numba warm-up and
  PGMax's JIT compile are excluded; PGMax's compile time is reported apart.
* Agreement: after the same ``n`` iterations all engines run the same
  schedule from the same messages, so their marginals must agree to round-off
  (sum-product: largest absolute difference) and their decoded states must be
  the same (min-sum: fraction of variables that agree).
* Work: factor-to-variable messages x K^2 per iteration (the table entries a
  pairwise message update has to visit), and the bytes of message traffic per
  iteration (each message entry is read and written about four times:
  f2v read, v2f written, v2f read, f2v written) against this machine's
  memory bandwidth (a large NumPy copy, measured in the same run).
* Chains: exact inference (one inward and one outward pass) on a chain of
  T = 100000 variables with K = 50 states: ours (tree schedule) against
  forward-backward / Viterbi in NumPy (Python loop over t). PGMax has no tree
  schedule (flooding needs T iterations to be exact), so it is not run there.

Writes a JSON file and a Markdown table (``--out``, default
``benchmarks/results/bp_grid``) and prints the table.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

from factorgraph_ebm import belief_propagation, compile_graph
from factorgraph_ebm.models import chain_graph, potts_grid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine  # noqa: E402
from _numpy_bp import numpy_bp_run, grid_beliefs  # noqa: E402
from _numpy_bp_vec import VectorisedBP, grid_model  # noqa: E402
from _numpy_chain import numpy_chain_marginals, numpy_chain_viterbi  # noqa: E402

COUPLING = 0.5


def median_time(fn, repeats):
    """Median wall time of ``repeats`` calls of ``fn`` and the last call's value."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def per_iteration(run, n, repeats):
    """``(median t(2n) - median t(n)) / n`` and the result of the n-iteration run."""
    run(n)  # warm-up
    t_n, out = median_time(lambda: run(n), repeats)
    t_2n, _ = median_time(lambda: run(2 * n), repeats)
    return max(t_2n - t_n, 1e-12) / n, out


def memory_bandwidth(n_bytes=1 << 29, repeats=5):
    """Bytes per second of a large NumPy copy (one read and one write per byte)."""
    a = np.ones(n_bytes // 8)
    b = np.empty_like(a)
    t, _ = median_time(lambda: np.copyto(b, a), repeats)
    return 2 * a.nbytes / t


def ours_grid(unary, pair, beta, n, repeats):
    t0 = time.perf_counter()
    fg = potts_grid(unary, pair)
    t1 = time.perf_counter()
    cg = compile_graph(fg)
    t2 = time.perf_counter()
    ids = fg.variable_array("x").ids

    def run(iters):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0: never "converged"
            return belief_propagation(cg, beta, schedule="flood", tol=0.0, max_iter=iters)

    # at least 10 iterations between the two timed runs, so that the fixed cost
    # (larger than an iteration on big grids) cancels without swamping the difference
    sec, res = per_iteration(run, max(n, 10), repeats)
    if n < 10:
        res = run(n)  # the same iteration count as the peers, for the agreement check
    k = unary.shape[-1]
    out = {"per_iter_s": sec, "declare_s": t1 - t0, "compile_s": t2 - t1,
           "messages": int(cg.n_messages)}
    marg = res.marginal_array.reshape(-1, k)[ids]
    if np.isinf(beta):  # lowest-belief state, as the peers decode (res.map_state decodes along a tree)
        return out, np.argmax(marg, axis=-1)
    return out, marg


def numpy_grid(unary, pair, beta, n, repeats):
    t, msgs = median_time(lambda: numpy_bp_run(unary, pair, beta, n), repeats)
    b = grid_beliefs(unary, msgs)
    if np.isinf(beta):
        return {"per_iter_s": t / n}, np.argmin(b, axis=-1)
    p = np.exp(-beta * (b - b.min(axis=-1, keepdims=True)))
    return {"per_iter_s": t / n}, p / p.sum(axis=-1, keepdims=True)


def numpy_vec_grid(unary, pair, beta, n, repeats):
    """The fully vectorised NumPy baseline (``_numpy_bp_vec.py``), per-edge tables, the same iterations."""
    model = grid_model(unary, pair)
    t, bp = median_time(lambda: VectorisedBP(*model, beta).run(n), repeats)
    marg = bp.marginals().reshape(unary.shape)
    if np.isinf(beta):
        return {"per_iter_s": t / n}, np.argmin(marg, axis=-1)
    return {"per_iter_s": t / n}, marg


def pgmax_grid(unary, pair, beta, n, repeats, x64):
    from _pgmax_bp import PGMaxGridBP

    size, _, k = unary.shape
    model = PGMaxGridBP(size, k, pair, beta, damping=0.0, x64=x64)
    arrs = model.init_arrays(unary)
    compile_s = model.compile(n, arrs) + model.compile(2 * n, arrs)
    sec, out = per_iteration(lambda iters: model.run(arrs, iters), n, repeats)
    marg = model.marginals(out)
    info = {"per_iter_s": sec, "build_s": model.build_seconds, "compile_s": compile_s}
    if np.isinf(beta):
        return info, np.argmin(marg, axis=-1)
    return info, marg


def _pgmax_worker(path, pair, beta, n, repeats, x64):
    unary = np.load(path + ".unary.npy")
    info, out = pgmax_grid(unary, pair, beta, n, repeats, x64)
    np.save(path + ".out.npy", out)
    with open(path + ".json", "w") as fh:
        json.dump(info, fh)


def pgmax_isolated(unary, pair, beta, n, repeats, x64):
    """``pgmax_grid`` in a fresh process, so that running out of memory costs one row, not the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pgmax")
        np.save(path + ".unary.npy", unary)
        proc = multiprocessing.get_context("spawn").Process(
            target=_pgmax_worker, args=(path, pair, beta, n, repeats, x64))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            return {"skipped": f"PGMax process died (exit code {proc.exitcode}; -9: out of memory)"}, None
        with open(path + ".json") as fh:
            return json.load(fh), np.load(path + ".out.npy")


def agreement(beta, ours, other):
    if np.isinf(beta):
        return {"map_agree": float(np.mean(ours == other))}
    return {"max_marginal_diff": float(np.max(np.abs(ours - other)))}


def pgmax_fits(size, k, budget_bytes):
    # PGMax keeps one K*K log-potential row per factor, and XLA's temporaries are
    # several times that (300 x 300, K = 32 took more than 24 GB).
    return 12 * 2 * size * (size - 1) * k * k * 8 <= budget_bytes


def run_grids(args, peers, bandwidth, log, save):
    rows = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        n, repeats = {100: (10, 5), 300: (4, 3)}.get(size, (1, 3))
        for k in args.states:
            unary = rng.uniform(0.0, 2.0, (size, size, k))
            pair = COUPLING * (1.0 - np.eye(k))
            for beta in (np.inf, 1.0):
                mode = "min-sum" if np.isinf(beta) else "sum-product"
                row = {"N": size, "K": k, "mode": mode, "iterations": n, "repeats": repeats}
                row["ours"], ours_out = ours_grid(unary, pair, beta, n, repeats)
                work = 2 * 2 * size * (size - 1) * k * k  # pairwise f2v messages x K^2
                row["work_per_iter"] = work
                row["ours"]["work_rate"] = work / row["ours"]["per_iter_s"]
                traffic = 4 * 8 * row["ours"]["messages"]
                row["ours"]["bandwidth_fraction"] = traffic / row["ours"]["per_iter_s"] / bandwidth
                for peer in peers:
                    if peer == "pgmax" and not pgmax_fits(size, k, args.pgmax_memory * 2**30):
                        row[peer] = {"skipped": f"needs more than {args.pgmax_memory} GiB"}
                        continue
                    if peer == "numpy":
                        row[peer], out = numpy_grid(unary, pair, beta, n, repeats)
                    elif peer == "numpy-vec":
                        row[peer], out = numpy_vec_grid(unary, pair, beta, n, repeats)
                    else:
                        row[peer], out = pgmax_isolated(unary, pair, beta, n, repeats, args.x64)
                        if out is None:
                            continue
                    row[peer].update(agreement(beta, ours_out, out))
                    row[peer]["speedup"] = row[peer]["per_iter_s"] / row["ours"]["per_iter_s"]
                rows.append(row)
                log(format_grid_row(row, peers))
                save(rows)
    return rows


def run_chain(args, log):
    rng = np.random.default_rng(1)
    t_len, k = args.chain
    unary = rng.uniform(0.0, 2.0, (t_len, k))
    pair = rng.uniform(0.0, 1.0, (k, k))
    t0 = time.perf_counter()
    cg = compile_graph(chain_graph(unary, pair))
    compile_s = time.perf_counter() - t0
    rows = []
    for beta in (np.inf, 1.0):
        mode = "min-sum" if np.isinf(beta) else "sum-product"
        belief_propagation(cg, beta, schedule="tree")  # warm-up
        t_ours, res = median_time(lambda: belief_propagation(cg, beta, schedule="tree"), args.chain_repeats)
        if np.isinf(beta):
            t_np, (y, e) = median_time(lambda: numpy_chain_viterbi(unary, pair), args.chain_repeats)
            check = {"map_energy_diff": abs(res.map_energy - e)}
        else:
            t_np, (p, log_z) = median_time(lambda: numpy_chain_marginals(unary, pair, beta), args.chain_repeats)
            check = {"max_marginal_diff": float(np.max(np.abs(res.marginal_array.reshape(-1, k) - p))),
                     "log_z_diff": abs(res.log_partition - log_z)}
        row = {"T": t_len, "K": k, "mode": mode, "ours_s": t_ours, "numpy_s": t_np,
               "speedup": t_np / t_ours, "compile_s": compile_s, **check}
        rows.append(row)
        log(f"chain T={t_len} K={k} {mode}: ours {t_ours:.3g} s, numpy {t_np:.3g} s "
            f"({t_np / t_ours:.0f}x) {check}")
    return rows


def format_grid_row(row, peers):
    o = row["ours"]
    parts = [f"{row['N']:>5} {row['K']:>3} {row['mode']:<11} ours {o['per_iter_s'] * 1e3:9.2f} ms"]
    for peer in peers:
        r = row[peer]
        if "skipped" in r:
            parts.append(f"{peer} skipped")
        else:
            parts.append(f"{peer} {r['per_iter_s'] * 1e3:9.2f} ms ({r['speedup']:5.1f}x)")
    return " | ".join(parts)


def _agreement_cell(row, peers):
    ran = [row[p] for p in peers if "skipped" not in row[p]]
    if not ran:
        return "n/a"
    if row["mode"] == "min-sum":
        return f"same states: {min(r['map_agree'] for r in ran):.1%}"
    return f"marginals within {max(r['max_marginal_diff'] for r in ran):.0e}"


def markdown(result):
    peers = result["peers"]
    head = "| N | K | mode | ours ms/iter | " + " | ".join(
        f"{p} ms/iter | ours faster" for p in peers) + " | work rate (K^2 updates/s) | of memory bandwidth | agreement |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in result["grids"]:
        o = row["ours"]
        cells = [str(row["N"]), str(row["K"]), row["mode"], f"{o['per_iter_s'] * 1e3:.2f}"]
        for p in peers:
            r = row[p]
            cells += (["n/a", r["skipped"]] if "skipped" in r
                      else [f"{r['per_iter_s'] * 1e3:.2f}", f"{r['speedup']:.1f}x"])
        cells += [f"{o['work_rate']:.2e}", f"{o['bandwidth_fraction']:.0%}", _agreement_cell(row, peers)]
        lines.append("| " + " | ".join(cells) + " |")
    if result["chains"]:
        lines += ["", "| chain T | K | mode | ours s | numpy s | ours faster |", "|---|---|---|---|---|---|"]
        for c in result["chains"]:
            lines.append(f"| {c['T']} | {c['K']} | {c['mode']} | {c['ours_s']:.3f} | {c['numpy_s']:.3f} "
                         f"| {c['speedup']:.0f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--states", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--peers", nargs="*", default=["numpy", "pgmax"], choices=["numpy", "numpy-vec", "pgmax"])
    parser.add_argument("--chain", type=int, nargs=2, default=[100000, 50], metavar=("T", "K"))
    parser.add_argument("--chain-repeats", type=int, default=3)
    parser.add_argument("--no-chain", action="store_true")
    parser.add_argument("--float32-pgmax", dest="x64", action="store_false",
                        help="run PGMax in float32 (its default); float64 otherwise, like the others")
    parser.add_argument("--pgmax-memory", type=float, default=14.0, help="GiB PGMax may use (else skipped)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results", "bp_grid"))
    args = parser.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    bandwidth = memory_bandwidth()
    info = machine()
    info["memory_bandwidth_GBps"] = bandwidth / 1e9
    log(f"machine: {info}")
    result = {"machine": info, "peers": args.peers, "coupling": COUPLING, "pgmax_x64": args.x64}
    if "pgmax" in args.peers:
        import jax
        import pgmax

        info["jax"], info["pgmax"] = jax.__version__, getattr(pgmax, "__version__", "0.6.1")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)

    def save(rows):  # after every row: a crash later loses nothing
        with open(args.out + ".json", "w") as fh:
            json.dump(dict(result, grids=rows, chains=[]), fh, indent=1)

    result["grids"] = run_grids(args, args.peers, bandwidth, log, save)
    result["chains"] = [] if args.no_chain else run_chain(args, log)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump(result, fh, indent=1)
    table = markdown(result)
    with open(args.out + ".md", "w") as fh:
        fh.write(table)
    print(table)


if __name__ == "__main__":
    main()
