"""Exact forest sampling: draws per second on a 100k-variable chain and a random tree, against NumPy FFBS.

Usage (from the repository root)::

    python benchmarks/forest_sampling.py            # a few minutes on 2 cores, Numba cache warm
    python benchmarks/forest_sampling.py --out benchmarks/results/forest_sampling --draws 100

Models: a chain of T = 100000 variables with K = 2, 8, 32 states (random
unaries per position, one shared random K x K transition table, as a tagger
declares it), and a random tree of 100000 variables with K = 8 (each variable
joined to a uniformly chosen earlier one by a pairwise factor with the shared
table). Ours: ``sample.forest.forest_draws`` (one inward tree pass, then the
draws in parallel) with 1 and 2 Numba threads. Peer (chain only): a vectorised
NumPy forward-filtering backward-sampling (``numpy_ffbs``: the forward pass over
the chain with one (K,) x (K, K) product per position, normalised; backward
sampling vectorised over the draws, one (draws, K) weight matrix per position).

Counted work: the inward pass touches K^2 (T - 1) table entries (once per
call); a draw reads K entries per variable (``K T``). Times: ``setup`` is one
call with one draw (the inward pass, the exp-space tables and weights);
``per draw`` is ``(t(n) - t(1)) / (n - 1)``, medians of repeated runs; the ns per
counted entry say how far each is from its floor (a vectorised multiply-add:
about 0.1-0.3 ns per entry on one core of this machine).
"""

import argparse
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine, write_report  # noqa: E402

from factorgraph_ebm import FactorGraph, compile_graph  # noqa: E402
from factorgraph_ebm.sample.forest import forest_draws  # noqa: E402


def chain_model(t_len, k, rng):
    unary = rng.uniform(0, 2, size=(t_len, k))
    pair = rng.uniform(0, 2, size=(k, k))
    fg = FactorGraph()
    x = fg.add_variables("x", shape=t_len, states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), unary, name="unary")
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), pair, name="pair")
    return fg, unary, pair


def tree_model(n, k, rng):
    fg = FactorGraph()
    x = fg.add_variables("x", shape=n, states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), rng.uniform(0, 2, size=(n, k)), name="unary")
    parent = (rng.random(n - 1) * np.arange(1, n)).astype(np.int64)
    fg.add_factor_group(np.stack([x.ids[parent], x.ids[1:]], 1), rng.uniform(0, 2, size=(k, k)), name="pair")
    return fg


def numpy_ffbs(unary, pair, beta, n_draws, rng):
    """Exact chain samples (n_draws, T) by forward filtering and vectorised backward sampling."""
    t_len, k = unary.shape
    trans = np.exp(-beta * (pair - pair.min()))
    emit = np.exp(-beta * (unary - unary.min(axis=1, keepdims=True)))
    alpha = np.empty((t_len, k))
    a = emit[0] / emit[0].sum()
    alpha[0] = a
    for t in range(1, t_len):
        a = (a @ trans) * emit[t]
        a /= a.sum()
        alpha[t] = a
    out = np.empty((n_draws, t_len), dtype=np.int32)
    u = rng.random((t_len, n_draws))
    cdf = np.cumsum(alpha[-1])
    out[:, -1] = np.minimum(np.searchsorted(cdf / cdf[-1], u[-1], side="right"), k - 1)
    for t in range(t_len - 2, -1, -1):
        w = alpha[t][None, :] * trans[:, out[:, t + 1]].T       # (draws, K): p(x_t | x_{t+1}) unnormalised
        c = np.cumsum(w, axis=1)
        pick = (c < (u[t] * c[:, -1])[:, None]).sum(axis=1)
        out[:, t] = np.minimum(pick, k - 1)
    return out


def timed(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure_ours(compiled, n_draws, threads, repeats):
    numba.set_num_threads(threads)
    forest_draws(compiled, 2, seed=0)     # warm-up (compilation excluded)
    t1 = timed(lambda: forest_draws(compiled, 1, seed=0), repeats)
    tn = timed(lambda: forest_draws(compiled, n_draws, seed=0), repeats)
    return t1, (tn - t1) / (n_draws - 1), tn


def measure_numpy(unary, pair, n_draws, repeats):
    rng = np.random.default_rng(0)
    t1 = timed(lambda: numpy_ffbs(unary, pair, 1.0, 1, rng), repeats)
    tn = timed(lambda: numpy_ffbs(unary, pair, 1.0, n_draws, rng), repeats)
    return t1, (tn - t1) / (n_draws - 1), tn


def rows(n_draws, repeats, t_len, threads):
    out = []
    rng = np.random.default_rng(2026)
    for k in (2, 8, 32):
        fg, unary, pair = chain_model(t_len, k, rng)
        compiled = compile_graph(fg)
        pass_entries = k * k * (t_len - 1)
        draw_entries = k * t_len
        cases = [(f"ours {th}T", lambda th=th: measure_ours(compiled, n_draws, th, repeats)) for th in threads]
        cases.append(("numpy-ffbs", lambda: measure_numpy(unary, pair, n_draws, repeats)))
        for engine, run in cases:
            setup, per_draw, total = run()
            out.append({"model": f"chain T={t_len}", "K": k, "engine": engine, "draws": n_draws, "setup_s": setup,
                        "per_draw_s": per_draw, "total_s": total, "draws_per_s": n_draws / total,
                        "marginal_draws_per_s": 1.0 / per_draw if per_draw > 0 else float("inf"),
                        "ns_per_pass_entry": 1e9 * setup / pass_entries,
                        "ns_per_draw_entry": 1e9 * per_draw / draw_entries})
    k = 8
    compiled = compile_graph(tree_model(t_len, k, rng))
    for th in threads:
        setup, per_draw, total = measure_ours(compiled, n_draws, th, repeats)
        out.append({"model": f"random tree V={t_len}", "K": k, "engine": f"ours {th}T", "draws": n_draws,
                    "setup_s": setup, "per_draw_s": per_draw, "total_s": total, "draws_per_s": n_draws / total,
                    "marginal_draws_per_s": 1.0 / per_draw if per_draw > 0 else float("inf"),
                    "ns_per_pass_entry": 1e9 * setup / (k * k * (t_len - 1)),
                    "ns_per_draw_entry": 1e9 * per_draw / (k * t_len)})
    return out


def markdown(report):
    lines = ["# Exact forest sampling (`benchmarks/forest_sampling.py`)", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average before "
             f"{report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f} (1 min). Shared machine: "
             f"the ratios of one run are what to read, not the absolute times.", "",
             "setup = one call with one draw (inward pass + weights); per draw = (t(n) - t(1)) / (n - 1); "
             "ns/entry: setup per K^2 (T-1) pass entry, per draw per K T entry.", "",
             "| model | K | engine | draws | setup s | per draw ms | draws/s (call of n) | marginal draws/s | "
             "ns / pass entry | ns / draw entry | vs numpy (call of n) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {(r["model"], r["K"]): r for r in report["rows"] if r["engine"] == "numpy-ffbs"}
    for r in report["rows"]:
        ref = base.get((r["model"], r["K"]))
        ratio = f"{ref['total_s'] / r['total_s']:.1f}x" if ref is not None and r is not ref else ""
        lines.append(f"| {r['model']} | {r['K']} | {r['engine']} | {r['draws']} | {r['setup_s']:.4f} | "
                     f"{1e3 * r['per_draw_s']:.3f} | {r['draws_per_s']:.1f} | {r['marginal_draws_per_s']:.1f} | "
                     f"{r['ns_per_pass_entry']:.2f} | {r['ns_per_draw_entry']:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--length", type=int, default=100000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default="benchmarks/results/forest_sampling")
    args = parser.parse_args(argv)
    report = {"machine": machine(), "load_before": os.getloadavg(), "draws": args.draws,
              "rows": rows(args.draws, args.repeats, args.length, args.threads)}
    write_report(report, args.out, markdown)


if __name__ == "__main__":
    main()
