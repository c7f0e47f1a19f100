"""Gibbs site updates per second: ours (1 and 2 threads) against a vectorised NumPy checkerboard sampler.

Usage (from the repository root)::

    python benchmarks/gibbs_speed.py                 # every model (about 3 minutes on 2 cores)
    python benchmarks/gibbs_speed.py --models b c    # some of them

Models (energies ``E = sum_i unary_i(x_i) + sum_f T_f(x_f)``, unaries uniform in [0, 1), beta = 1):

* ``a``: 1000 x 1000 binary Potts grid (``models.potts_grid``, coupling 0.5);
* ``b``: 300 x 300 binary Potts grid;
* ``c``: 300 x 300 grid, K = 8, one random (non-Potts) 8 x 8 table per direction, uniform in [0, 1);
* ``c-edge``: the same with a distinct random table per edge (184 MB of tables: memory-bound);
* ``d``: a random loopy graph, K = 8: 50,000 variables, 100,000 random pairs and 5,000 random triples, tables
  drawn from 16 random pair tables and 4 random triple tables (tied parameters, as templates give);
* ``d-edge``: the same with a distinct table per factor (memory-bound).

What is measured: wall seconds of ``n`` chromatic sweeps of one chain (``run_chains``, the per-call work
included; Numba compilation excluded by a warm-up call), best of ``--repeats``, as site updates per second;
ours with 1 and 2 Numba threads, the NumPy sampler (``_numpy_gibbs.py``) on the same model for the same
number of sweeps. The load average before and after is recorded: on a shared machine the figures are only
comparable within one run. Ours also gets CPU seconds per update (``time.process_time``, less sensitive to
other processes), and the floor: bytes of sweep data streamed per update (site arrays, neighbour lists,
field; table rows read from a table too large for the caches count 64 B each) at the STREAM-like bandwidth
measured in the same run (a NumPy sum over 256 MB).

Writes ``benchmarks/results/gibbs_speed.{json,md}`` (``--out``) and prints the table.
"""

import argparse
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine, write_report  # noqa: E402
from _numpy_gibbs import NumpyCheckerboard, NumpyGridCheckerboard  # noqa: E402

from factorgraph_ebm import FactorGraph, compile_graph  # noqa: E402
from factorgraph_ebm.models import potts_grid  # noqa: E402
from factorgraph_ebm.sample import run_chains  # noqa: E402
from factorgraph_ebm.sample.colouring import sweep_values  # noqa: E402
from factorgraph_ebm.sample.gibbs import random_states  # noqa: E402

MODELS = ("a", "b", "c", "c-edge", "d", "d-edge")


def _grid(n, k, rng, tables):
    """(graph, description, grid peer): the grid declared for us and the same arrays for the slicing peer."""
    unary = rng.uniform(0, 1, (n, n, k))
    if tables == "potts":
        pair = 0.5 * (1.0 - np.eye(k))
        th = tv = pair
        return potts_grid(unary, 0.5), f"{n} x {n} grid, K = {k}, Potts", NumpyGridCheckerboard(unary, th, tv)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(n, n), states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), unary.reshape(-1, k), name="unary")
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], 1)
    v = np.stack([x.ids[:-1, :].ravel(), x.ids[1:, :].ravel()], 1)
    if tables == "shared":
        th, tv = rng.uniform(0, 1, (k, k)), rng.uniform(0, 1, (k, k))
        fg.add_factor_group(h, th, name="h")
        fg.add_factor_group(v, tv, name="v")
    else:
        th, tv = rng.uniform(0, 1, (n, n - 1, k, k)), rng.uniform(0, 1, (n - 1, n, k, k))
        fg.add_factor_group(h, th.reshape(-1, k, k), name="h")
        fg.add_factor_group(v, tv.reshape(-1, k, k), name="v")
    what = "one random table per direction" if tables == "shared" else "a random table per edge"
    return fg, f"{n} x {n} grid, K = {k}, {what}", NumpyGridCheckerboard(unary, th, tv)


def _loopy(rng, distinct, n=50_000, n_pairs=100_000, n_triples=5_000, k=8):
    fg = FactorGraph()
    x = fg.add_variables("x", shape=n, states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), rng.uniform(0, 1, (n, k)), name="unary")
    pairs = rng.integers(0, n, (n_pairs * 2, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]][:n_pairs]
    triples = rng.integers(0, n, (n_triples * 2, 3))
    ok = (triples[:, 0] != triples[:, 1]) & (triples[:, 0] != triples[:, 2]) & (triples[:, 1] != triples[:, 2])
    triples = triples[ok][:n_triples]
    if distinct:
        fg.add_factor_group(pairs, rng.uniform(0, 1, (len(pairs), k, k)), name="pairs")
        fg.add_factor_group(triples, rng.uniform(0, 1, (len(triples), k, k, k)), name="triples")
        what = "a random table per factor"
    else:
        which = rng.integers(0, 16, len(pairs))
        for t in range(16):
            fg.add_factor_group(pairs[which == t], rng.uniform(0, 1, (k, k)), name=f"pairs{t}")
        which = rng.integers(0, 4, len(triples))
        for t in range(4):
            fg.add_factor_group(triples[which == t], rng.uniform(0, 1, (k, k, k)), name=f"triples{t}")
        what = "16 pair and 4 triple tables, tied"
    return fg, f"random loopy graph, K = {k}, {n} variables, {len(pairs)} pairs, {len(triples)} triples, {what}", None


def build(name, rng):
    return {"a": lambda: _grid(1000, 2, rng, "potts"), "b": lambda: _grid(300, 2, rng, "potts"),
            "c": lambda: _grid(300, 8, rng, "shared"), "c-edge": lambda: _grid(300, 8, rng, "edge"),
            "d": lambda: _loopy(rng, False), "d-edge": lambda: _loopy(rng, True)}[name]()


def bandwidth():
    """Bytes per second of a NumPy sum over 256 MB (best of 3)."""
    a = np.ones(1 << 25)
    best = min(_timed(a.sum) for _ in range(3))
    return a.nbytes / best


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def floor_bytes(cg):
    """Bytes of sweep data streamed per site update (see the module docstring) and table rows from memory."""
    plan, class_ptr, kmax, tables, sfield, d, delta, mode = sweep_values(cg, "chromatic")
    n = len(plan.sites)
    pairs = len(plan.pair_nb) / n
    highs = len(plan.high_edges) / n
    # distinct pairwise tables beyond the caches: every row read is a memory read
    big = 8 * len(np.unique(plan.pair_off)) * kmax * kmax > (8 << 20)
    if int(mode) != 0:       # binary: sites, pptr, d, (neighbour, difference offset) per pair
        per = 8 + 8 + 8 + 8 * pairs
        rows = 0.0
    else:
        k = kmax
        per = 8 * 4 + 8 * k + 12 * pairs + 8 * highs + 8 * highs * 3    # ptrs, field, pairs, high edges
        rows = pairs + highs if big else 0.0
    return per + 8 * kmax * rows, pairs, highs


def measure(name, sweeps, repeats, threads, rng):
    fg, what, grid_peer = build(name, rng)
    cg = compile_graph(fg)
    n_vars = cg.n_vars
    row = {"model": name, "what": what, "n_vars": n_vars, "sweeps": sweeps, "load_before": os.getloadavg()}
    st0 = random_states(cg, 1, 0)
    st = st0.copy()
    run_chains(cg, st, beta=1.0, n_sweeps=1, seed=0)           # compile / warm the caches
    for th in threads:
        numba.set_num_threads(th)
        wall, cpu = [], []
        for r in range(repeats):
            st = st0.copy()
            t, c = time.perf_counter(), time.process_time()
            run_chains(cg, st, beta=1.0, n_sweeps=sweeps, seed=r)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        row[f"ours_{th}t_updates_per_s"] = sweeps * n_vars / min(wall)
        row[f"ours_{th}t_cpu_ns_per_update"] = min(cpu) / (sweeps * n_vars) * 1e9
    numba.set_num_threads(max(threads))
    np_sweeps = max(1, sweeps // 4)
    gen = np.random.default_rng(0)
    row["ours_mean_state"] = float(st.mean())
    peers = [("numpy", NumpyCheckerboard(cg), lambda s: s)]
    if grid_peer is not None:
        side = int(round(np.sqrt(n_vars)))
        peers.append(("numpy_grid", grid_peer, lambda s: s.reshape(side, side)))
    for key, peer, shape in peers:
        times = []
        with np.errstate(over="ignore"):
            for _ in range(repeats):
                s = shape(st0[0].astype(np.int64))
                times.append(_timed(lambda: [peer.sweep(s, gen) for _ in range(np_sweeps)]))
        row[f"{key}_updates_per_s"] = np_sweeps * n_vars / min(times)
        # the same distribution, different draws: the mean state after the sweeps should be close to ours
        row[f"{key}_mean_state"] = float(s.mean())
    row["numpy_best_updates_per_s"] = max(row.get("numpy_grid_updates_per_s", 0.0), row["numpy_updates_per_s"])
    per, pairs, highs = floor_bytes(cg)
    row.update(bytes_per_update=per, pairs_per_site=pairs, high_edges_per_site=highs)
    row["load_after"] = os.getloadavg()
    best = max(th for th in threads)
    row["ratio_vs_numpy"] = row[f"ours_{best}t_updates_per_s"] / row["numpy_best_updates_per_s"]
    print(f"{name}: ours {best}T {row[f'ours_{best}t_updates_per_s']:.3g}/s, numpy {row['numpy_best_updates_per_s']:.3g}/s",
          flush=True)
    return row


def markdown(report):
    bw = report["bandwidth_bytes_per_s"]
    lines = [
        "# Gibbs sampling speed",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; numba {report['machine']['numba']}, "
        f"numpy {report['machine']['numpy']}. Load average before {tuple(round(x, 2) for x in report['load_before'])}, "
        f"after {tuple(round(x, 2) for x in report['load_after'])}. Measured bandwidth (NumPy sum): "
        f"{bw / 1e9:.1f} GB/s.",
        "",
        "Site updates per second (one chain, chromatic sweeps, wall clock, best of "
        f"{report['repeats']}); CPU ns per update of ours with 1 thread; floor = bytes streamed per update at "
        "the measured bandwidth (one core).",
        "",
        "| model | sites | ours 1T | ours 2T | NumPy (gathers) | NumPy (grid slicing) | ours 2T / best NumPy | "
        "ours 1T CPU ns | bytes / update | floor ns | load before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        floor_ns = r["bytes_per_update"] / bw * 1e9
        lines.append(
            f"| {r['model']}: {r['what']} | {r['n_vars']:,} | {r.get('ours_1t_updates_per_s', float('nan')):.3g} | "
            f"{r.get('ours_2t_updates_per_s', float('nan')):.3g} | {r['numpy_updates_per_s']:.3g} | "
            f"{r.get('numpy_grid_updates_per_s', float('nan')):.3g} | "
            f"{r['ratio_vs_numpy']:.1f}x | {r.get('ours_1t_cpu_ns_per_update', float('nan')):.1f} | "
            f"{r['bytes_per_update']:.0f} | {floor_ns:.1f} | {r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f} |")
    lines += ["", "Targets (issue 15): a >= 5e7 updates/s with both cores; c/d (K = 8, loopy) >= 1e7 updates/s; "
              "faster than the NumPy checkerboard sampler in the same run.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      "gibbs_speed"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    report = {"machine": machine(), "load_before": os.getloadavg(), "repeats": args.repeats,
              "bandwidth_bytes_per_s": bandwidth(), "rows": []}
    for name in args.models:
        sweeps = args.sweeps if name != "a" else max(2, args.sweeps // 4)
        report["rows"].append(measure(name, sweeps, args.repeats, args.threads, rng))
    write_report(report, args.out, markdown)
    return report


if __name__ == "__main__":
    main()
