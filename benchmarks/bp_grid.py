"""Seconds per flooding BP iteration on N x N grids, on a quiet and on a busy machine, with 1 and 2 threads,
for factorgraph-ebm, a fully vectorised NumPy BP and PGMax (CPU), side by side in one run; and exact chains.

Usage (from the repository root; see benchmarks/README.md for the environment)::

    python benchmarks/bp_grid.py                                   # full table (about 40 min on 2 cores)
    python benchmarks/bp_grid.py --sizes 100 --states 2 8 --peers numpy-vec --no-chain   # quick look

What is measured
----------------
* Grids: ``E(x) = sum_i unary[i, x_i] + sum_<ij> T_ij(x_i, x_j)`` with random
  unaries uniform in [0, 2), flooding schedule, no damping, zero initial
  messages, at beta = inf (min-sum) and beta = 1 (sum-product). Two kinds of
  pairwise tables: ``potts`` (one shared table, coupling 0.5 off the diagonal,
  as ``models.potts_grid`` declares it) and ``general`` (a distinct random K x
  K table per edge, uniform in [0, 1): every engine reads E K^2 table entries
  per iteration).
* Conditions: ``quiet`` (nothing else running but the machine's own load) and
  ``busy`` (one competing CPU-bound process, ``python -c "while True: pass"``,
  started for the measurement), each with 1 and 2 Numba threads for ours
  (``numba.set_num_threads``; calls below ``kernels._jit.PARALLEL_MIN_ENTRIES``
  run on one thread anyway). The peers run with their own defaults in both
  conditions. Ratios against the peers use ours at 2 threads (the default on
  this machine) in the same condition.
* Seconds per iteration: ``(median t(n + 1) - median t(1)) / n`` of our
  flooding kernel (``kernels.bp._flood``, as ``belief_propagation`` calls it;
  the fixed cost of a call, exp-space tables, marginals and the Bethe free
  energy, is recorded apart as ``ours_call_s``), ``(median t(2n) - median
  t(n)) / n`` for PGMax (runs alternated, so its dispatch cancels; it compiles
  one program per iteration count) and ``median t(n) / n`` for NumPy (which
  has no fixed cost). Numba warm-up and PGMax's XLA compile are excluded; PGMax's
  compile time is recorded apart.
* Agreement: all engines run the same schedule from the same messages, so
  after the same iterations sum-product marginals agree to round-off and
  min-sum decoded states coincide (checked against the vectorised NumPy BP).
* Work and floor: factor-to-variable messages x K^2 multiply-adds per
  iteration; the floor is that work at :data:`FLOOR_RATE` (the two cores'
  scalar rate, 1.25e9 a second each), and the table gives ours (quiet, 2
  threads) as a multiple of it.
* Chains: exact inference (one inward and one outward pass) on a chain of
  T = 100000 variables with K = 50 states: ours (tree schedule) against
  forward-backward / Viterbi in NumPy (Python loop over t).

Writes a JSON file (after every row) and a Markdown table (``--out``,
default ``benchmarks/results/bp_grid``) and prints the table.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numba
import numpy as np

from factorgraph_ebm import FactorGraph, belief_propagation, compile_graph
from factorgraph_ebm.models import chain_graph, potts_grid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine  # noqa: E402
from _numpy_bp import numpy_bp_run, grid_beliefs  # noqa: E402
from _numpy_bp_vec import VectorisedBP, grid_model  # noqa: E402
from _numpy_chain import numpy_chain_marginals, numpy_chain_viterbi  # noqa: E402

COUPLING = 0.5
#: Multiply-adds per second the floor is counted at: two cores at 1.25e9 each.
FLOOR_RATE = 2.5e9
CONDITIONS = ("quiet", "busy")


@contextlib.contextmanager
def condition(name):
    """``busy``: one competing CPU-bound process for the duration; ``quiet``: nothing."""
    if name != "busy":
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def median_time(fn, repeats):
    """Median wall time of ``repeats`` calls of ``fn`` and the last call's value."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def per_iteration(run, lo, hi, repeats):
    """``(median t(hi) - median t(lo)) / (hi - lo)`` over alternated runs, and the last ``hi``-iteration result."""
    run(lo)  # warm-up
    t_lo, t_hi, out = [], [], None
    for _ in range(repeats):
        t = time.perf_counter()
        run(lo)
        t_lo.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = run(hi)
        t_hi.append(time.perf_counter() - t)
    return max(statistics.median(t_hi) - statistics.median(t_lo), 1e-12) / (hi - lo), out


def grid_edges_ab(size):
    """Edge ends of an N x N grid (row-major ids): horizontal edges, then vertical, as ``_numpy_bp_vec`` orders them."""
    ids = np.arange(size * size).reshape(size, size)
    return (np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()]),
            np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()]))


def declare(unary, tables):
    """Our factor graph: ``potts_grid`` for a shared (K, K) table, one factor group of per-edge tables otherwise."""
    if tables.ndim == 2:
        return potts_grid(unary, tables)
    size, _, k = unary.shape
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(size, size), states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), unary.reshape(-1, k), name="unary")
    a, b = grid_edges_ab(size)
    fg.add_factor_group(np.stack([x.ids.ravel()[a], x.ids.ravel()[b]], axis=1), tables, name="pairs")
    return fg


def ours_run(cg, beta, iters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: never "converged"
        return belief_propagation(cg, beta, schedule="flood", damping=0.0, tol=0.0, max_iter=iters)


def ours_grid(cg, beta, n, repeats, threads):
    """Our seconds per flooding iteration at ``threads`` Numba threads: the flooding kernel itself.

    A ``belief_propagation`` call adds fixed costs around the iterations (exp-space tables, marginals,
    the Bethe free energy: :func:`ours_call_overhead`); they are timed apart, since on a 100 x 100 grid
    they are 10-100 iterations' worth and their noise would swamp the difference of two calls.
    """
    from factorgraph_ebm.kernels import _jit
    from factorgraph_ebm.kernels import bp as kernels

    w = cg.wiring
    etables, block_min = kernels._exp_tables(w, beta)
    f2v, v2f = np.zeros(cg.n_messages), np.zeros(cg.n_messages)
    belief = np.zeros(int(w.var_state_ptr[-1]))

    def run(iters):
        f2v[:] = 0.0
        with _jit.threads_for(cg.n_messages):   # as belief_propagation runs it; tol < 0: every iteration
            kernels._flood(w, cg.unary, beta, etables, block_min, 0.0, -1.0, iters, _jit.num_threads(), f2v, v2f,
                           belief)

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        sec, _ = per_iteration(run, 1, n + 1, repeats)
    finally:
        numba.set_num_threads(before)
    return sec


def ours_call_overhead(cg, beta, repeats):
    """Seconds of a one-iteration ``belief_propagation`` call (its fixed cost, at the default threads)."""
    ours_run(cg, beta, 1)
    return median_time(lambda: ours_run(cg, beta, 1), repeats)[0]


def ours_answer(cg, ids, k, beta, iters):
    """Our decoded states (min-sum: lowest belief, as the peers decode) or marginals after ``iters`` iterations."""
    marg = ours_run(cg, beta, iters).marginal_array.reshape(-1, k)[ids]
    return np.argmax(marg, axis=-1) if np.isinf(beta) else marg


def numpy_grid(unary, pair, beta, n, repeats):
    t, msgs = median_time(lambda: numpy_bp_run(unary, pair, beta, n), repeats)
    b = grid_beliefs(unary, msgs)
    if np.isinf(beta):
        return t / n, np.argmin(b, axis=-1)
    p = np.exp(-beta * (b - b.min(axis=-1, keepdims=True)))
    return t / n, p / p.sum(axis=-1, keepdims=True)


def numpy_vec_grid(unary, tables, beta, n, repeats):
    """The fully vectorised NumPy baseline (``_numpy_bp_vec.py``), per-edge tables, the same iterations."""
    if tables.ndim == 2:
        model = grid_model(unary, tables)
    else:
        model = (unary.reshape(-1, unary.shape[-1]), *grid_edges_ab(unary.shape[0]), tables)
    t, bp = median_time(lambda: VectorisedBP(*model, beta).run(n), repeats)
    marg = bp.marginals().reshape(unary.shape)
    if np.isinf(beta):
        return t / n, np.argmin(marg, axis=-1)
    return t / n, marg


def pgmax_grid(unary, tables, beta, n, repeats, x64, conditions):
    from _pgmax_bp import PGMaxGridBP

    size, _, k = unary.shape
    model = PGMaxGridBP(size, k, tables, beta, damping=0.0, x64=x64)
    arrs = model.init_arrays(unary)
    compile_s = model.compile(n, arrs) + model.compile(2 * n, arrs)
    info = {"build_s": model.build_seconds, "compile_s": compile_s}
    for name in conditions:
        with condition(name):
            info[name], out = per_iteration(lambda iters: model.run(arrs, iters), n, 2 * n, repeats)
    marg = model.marginals(out)
    if np.isinf(beta):
        return info, np.argmin(marg, axis=-1)
    return info, marg


def _pgmax_worker(path, beta, n, repeats, x64, conditions):
    unary = np.load(path + ".unary.npy")
    tables = np.load(path + ".tables.npy")
    info, out = pgmax_grid(unary, tables, beta, n, repeats, x64, conditions)
    np.save(path + ".out.npy", out)
    with open(path + ".json", "w") as fh:
        json.dump(info, fh)


def pgmax_isolated(unary, tables, beta, n, repeats, x64, conditions):
    """``pgmax_grid`` in a fresh process, so that running out of memory costs one row, not the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pgmax")
        np.save(path + ".unary.npy", unary)
        np.save(path + ".tables.npy", tables)
        proc = multiprocessing.get_context("spawn").Process(
            target=_pgmax_worker, args=(path, beta, n, repeats, x64, conditions))
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


def table_bytes(size, k):
    """Bytes of one float64 K x K table per edge of an N x N grid."""
    return 2 * size * (size - 1) * k * k * 8


def pgmax_fits(size, k, budget_bytes):
    # PGMax keeps one K*K log-potential row per factor, and XLA's temporaries are several times that
    # (300 x 300, K = 32 took more than 24 GB), plus message temporaries that grow with E K (1000 x 1000,
    # K = 8 went past 24 GB in an earlier run; K = 2 fitted)
    edges = 2 * size * (size - 1)
    return 12 * table_bytes(size, k) + 2000 * edges * k <= budget_bytes


def numpy_vec_fits(size, k, budget_bytes):
    # tables, their exp and its transpose (or the transposed tables), each (E, K, K), and (E, K, K) temporaries
    return 5 * table_bytes(size, k) <= budget_bytes


def ours_fits(size, k, kind, budget_bytes):
    # general tables: two copies (C order and transposed) and their exp-space copies
    return kind == "potts" or 4 * table_bytes(size, k) <= budget_bytes


ITERATIONS = {100: (20, 5), 300: (6, 3)}   # (n, repeats) per grid side; larger grids: (2, 1)


def run_grids(args, peers, log, save):
    rows = []
    rng = np.random.default_rng(0)
    budget = args.memory * 2**30
    for size in args.sizes:
        n, repeats = ITERATIONS.get(size, (2, 1))
        for k in args.states:
            unary = rng.uniform(0.0, 2.0, (size, size, k))
            for kind in args.tables:
                if not ours_fits(size, k, kind, budget):
                    log(f"{size} {k} {kind}: skipped (tables need more than {args.memory} GiB)")
                    continue
                if kind == "potts":
                    tables = COUPLING * (1.0 - np.eye(k))
                else:
                    tables = rng.uniform(0.0, 1.0, (2 * size * (size - 1), k, k))
                fg = declare(unary, tables)
                cg = compile_graph(fg)
                ids = fg.variable_array("x").ids
                del fg
                for mode in args.modes:
                    beta = np.inf if mode == "min-sum" else 1.0
                    row = {"N": size, "K": k, "tables": kind, "mode": mode, "iterations": n, "repeats": repeats,
                           "messages": int(cg.n_messages), "work_per_iter": 2 * 2 * size * (size - 1) * k * k,
                           "load_before": os.getloadavg()[0], "ours": {}}
                    for cond in args.conditions:
                        with condition(cond):
                            for threads in args.threads:
                                row["ours"][f"{cond}_{threads}"] = ours_grid(cg, beta, n, repeats, threads)
                    row["ours_call_s"] = ours_call_overhead(cg, beta, repeats)
                    for peer in peers:
                        fits = {"pgmax": pgmax_fits, "numpy-vec": numpy_vec_fits}.get(peer, lambda *a: True)
                        if not fits(size, k, budget):
                            row[peer] = {"skipped": f"needs more than {args.memory} GiB"}
                            continue
                        if peer == "pgmax" and kind == "potts" and "general" in args.tables:
                            # PGMax has no Potts path: a shared table costs it what per-edge tables do, so
                            # its time is measured once, on the general row (the table repeats it here)
                            row[peer] = {"skipped": "same work as the general row"}
                            continue
                        if peer == "pgmax":
                            row[peer], out = pgmax_isolated(unary, tables, beta, n, repeats, args.x64,
                                                            args.conditions)
                            if out is None:
                                continue
                        else:
                            row[peer] = {}
                            for cond in args.conditions:
                                with condition(cond):
                                    if peer == "numpy-vec":
                                        row[peer][cond], out = numpy_vec_grid(unary, tables, beta, n, repeats)
                                    elif kind == "potts":
                                        row[peer][cond], out = numpy_grid(unary, tables, beta, n, repeats)
                                    else:
                                        row[peer] = {"skipped": "shared tables only"}
                                        break
                            if "skipped" in row[peer]:
                                continue
                        same = ours_answer(cg, ids, k, beta, 2 * n if peer == "pgmax" else n)
                        row[peer].update(agreement(beta, same, out))
                    rows.append(row)
                    log(format_grid_row(row, peers, args))
                    save(rows)
                del cg
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
        def ours():
            # the tree pass runs its outward half when marginals are first read: read them in the timed call
            res = belief_propagation(cg, beta, schedule="tree")
            return res, (res.map_energy if np.isinf(beta) else res.marginal_array)

        ours()  # warm-up
        t_ours, (res, _) = median_time(ours, args.chain_repeats)
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


def _ms(sec):
    return f"{sec * 1e3:.2f}"


def ours_default(row, cond):
    """Ours at the most threads measured (the default on this machine) in condition ``cond``."""
    runs = {int(key.split("_")[1]): sec for key, sec in row["ours"].items() if key.startswith(cond + "_")}
    return runs[max(runs)] if runs else None


def format_grid_row(row, peers, args):
    parts = [f"{row['N']:>5} {row['K']:>3} {row['tables']:<7} {row['mode']:<11} ours "
             + " ".join(f"{key} {_ms(sec)}" for key, sec in row["ours"].items())]
    for peer in peers:
        r = row.get(peer, {})
        if "skipped" in r:
            parts.append(f"{peer} skipped")
            continue
        parts.append(f"{peer} " + " ".join(f"{c} {_ms(r[c])} ({r[c] / ours_default(row, c):.1f}x)"
                                           for c in args.conditions if c in r))
    return " | ".join(parts)


def _agreement_cell(row, peers):
    ran = [row[p] for p in peers if p in row and "skipped" not in row[p]]
    if not ran:
        return "n/a"
    if row["mode"] == "min-sum":
        return f"same states: {min(r['map_agree'] for r in ran):.1%}"
    return f"within {max(r['max_marginal_diff'] for r in ran):.0e}"


def _peer_times(result, row, peer):
    """The peer's measurements for ``row``; PGMax on a Potts row: those of the general row of the same N, K, mode."""
    r = row.get(peer, {})
    if r.get("skipped") != "same work as the general row":
        return r, ""
    for other in result["grids"]:
        if other["tables"] == "general" and all(other[key] == row[key] for key in ("N", "K", "mode")):
            return other.get(peer, {}), " (g)"
    return r, ""


def markdown(result):
    peers, conditions, threads = result["peers"], result["conditions"], result["threads"]
    ours_cols = [f"ours {c} {t}T" for c in conditions for t in threads]
    peer_cols = [f"{p} {c}" for p in peers for c in conditions]
    ratio_cols = [f"ours vs {p} {c}" for p in peers for c in conditions]
    extra = []
    if "busy" in conditions and len(threads) > 1:
        extra.append(f"busy {max(threads)}T / {min(threads)}T")
    extra += ["x floor", "ours call ms", "agreement"]
    head = ["N", "K", "tables", "mode"] + ours_cols + peer_cols + ratio_cols + extra
    lines = ["ms per iteration; \"ours vs X\" = X's time / ours (ours at the most threads), same condition; "
             "(g): PGMax on a Potts row is its time on the general row (it does the same work for both); "
             "ours call ms: a one-iteration belief_propagation call (tables, marginals, free energy).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["grids"]:
        cells = [str(row["N"]), str(row["K"]), row["tables"], row["mode"]]
        cells += [_ms(row["ours"][f"{c}_{t}"]) if f"{c}_{t}" in row["ours"] else "" for c in conditions
                  for t in threads]
        for p in peers:
            r, mark = _peer_times(result, row, p)
            cells += [r["skipped"] if "skipped" in r else (_ms(r[c]) + mark if c in r else "") for c in conditions]
        for p in peers:
            r, mark = _peer_times(result, row, p)
            cells += ["" if "skipped" in r or c not in r else f"{r[c] / ours_default(row, c):.1f}x{mark}"
                      for c in conditions]
        if "busy" in conditions and len(threads) > 1:
            cells.append(f"{row['ours'][f'busy_{max(threads)}'] / row['ours'][f'busy_{min(threads)}']:.2f}")
        quiet = ours_default(row, conditions[0])
        cells += [f"{quiet / (row['work_per_iter'] / FLOOR_RATE):.1f}", _ms(row["ours_call_s"]),
                  _agreement_cell(row, peers)]
        lines.append("| " + " | ".join(cells) + " |")
    if result["chains"]:
        lines += ["", "| chain T | K | mode | ours s | numpy s | ours faster |", "|---|---|---|---|---|---|"]
        for c in result["chains"]:
            lines.append(f"| {c['T']} | {c['K']} | {c['mode']} | {c['ours_s']:.3f} | {c['numpy_s']:.3f} "
                         f"| {c['speedup']:.0f}x |")
    m = result["machine"]
    lines += ["", f"{m['cpu']}, {m['cores']} cores, numba {m['numba']} ({m.get('threading_layer', '?')} threads, "
              f"OMP_WAIT_POLICY={m.get('omp_wait_policy', '?')}), numpy {m['numpy']}"
              + (f", jax {m['jax']} / pgmax {m['pgmax']}" if "pgmax" in m else "")
              + f"; load average {result['load_before']:.2f} before, {result['load_after']:.2f} after."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 300, 1000], help="grid sides (none: chains only)")
    parser.add_argument("--states", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--tables", nargs="+", default=["potts", "general"], choices=["potts", "general"])
    parser.add_argument("--modes", nargs="+", default=["min-sum", "sum-product"], choices=["min-sum", "sum-product"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--peers", nargs="*", default=["numpy-vec", "pgmax"], choices=["numpy", "numpy-vec", "pgmax"])
    parser.add_argument("--chain", type=int, nargs=2, default=[100000, 50], metavar=("T", "K"))
    parser.add_argument("--chain-repeats", type=int, default=3)
    parser.add_argument("--no-chain", action="store_true")
    parser.add_argument("--float32-pgmax", dest="x64", action="store_false",
                        help="run PGMax in float32 (its default); float64 otherwise, like the others")
    parser.add_argument("--memory", type=float, default=14.0, help="GiB an engine's tables may take (else skipped)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results", "bp_grid"))
    args = parser.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    info = machine()
    numba.set_num_threads(numba.get_num_threads())     # starts the pool, so the threading layer is known
    info["threading_layer"] = numba.threading_layer()
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    log(f"machine: {info}")
    result = {"machine": info, "peers": args.peers, "conditions": args.conditions, "threads": args.threads,
              "coupling": COUPLING, "pgmax_x64": args.x64, "floor_rate": FLOOR_RATE,
              "load_before": os.getloadavg()[0]}
    if "pgmax" in args.peers:
        import jax
        import pgmax

        info["jax"], info["pgmax"] = jax.__version__, getattr(pgmax, "__version__", "0.6.1")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)

    def save(rows):  # after every row: a crash later loses nothing
        with open(args.out + ".json", "w") as fh:
            json.dump(dict(result, grids=rows, chains=[]), fh, indent=1)

    result["grids"] = run_grids(args, args.peers, log, save)
    result["chains"] = [] if args.no_chain else run_chain(args, log)
    result["load_after"] = os.getloadavg()[0]
    with open(args.out + ".json", "w") as fh:
        json.dump(result, fh, indent=1)
    table = markdown(result)
    with open(args.out + ".md", "w") as fh:
        fh.write(table)
    print(table)


if __name__ == "__main__":
    main()
