"""Answers with guarantees (issue 16): TRW-S against min-sum BP (ours and PGMax) on MAP, TRW / mean field /
Bethe against the exact log Z, and the cost of a TRW-S iteration against a flooding one, side by side in one run.

Usage (from the repository root; PGMax needs the benchmark environment of benchmarks/README.md)::

    ../venv-bench/bin/python benchmarks/bounds.py                  # everything (about 30 min on 2 cores)
    python benchmarks/bounds.py --tasks grids --sizes 30 --seeds 1  # quick look, without PGMax if absent

What is measured
----------------
* ``grids``: MAP on N x N grids (default N = 100), K = 2, 4, 8, 16, several
  seeds. ``potts``: unaries uniform in [0, 2), one shared Potts table (coupling
  :data:`POTTS_COUPLING` off the diagonal). ``nonsub``: unaries uniform in [0,
  2), a distinct random K x K table per edge uniform in [0, 2) (not submodular,
  frustrated cycles). ``trunclin``: unaries uniform in [0, 2), per-edge
  truncated linear tables ``w_e min(|a - b|, 2)``, w_e uniform in [0, 2) (a
  metric, not submodular for K > 2; the smoothness prior of stereo). Engines, each with the same iteration budget
  ``--max-iter``: our min-sum BP (``infer(method="bp", beta=inf)``, its
  default schedule, damping and decode), PGMax 0.6.1 min-sum BP (flooding, its
  default damping 0.5, float64, states decoded by the lowest min-marginal
  energy), and TRW-S (``infer(method="trws")``: the decoded energy, the proven
  lower bound and the relative gap). The energies of all three labellings are
  computed by one NumPy function. Counted: the fraction of instances where
  TRW-S's energy <= ours BP's and <= PGMax's (target >= 95%).
* ``submodular``: binary grids with attractive per-edge tables ``[[0, w], [w,
  0]]``, w uniform in [0, 2): the LP relaxation is tight, so TRW-S's relative
  gap must close (target 1e-6).
* ``uai-mpe``: the UAI 2014 development models (the MAR folder, with their
  evidence): the exact minimum energy where the junction tree fits, BP's and
  TRW-S's decoded energies, TRW-S's lower bound and gap.
* ``uai-pr``: the PR folder at beta = 1: the official ln Z, ours exact where it
  fits, TRW's upper bound, mean field's lower bound, BP's Bethe approximation
  (no guarantee), with seconds, iterations and convergence; every bound is
  checked against the exact value (1e-9) where it fits, else the official one
  (printed to 6 digits: 1e-5 relative).
* ``speed``: 300 x 300, K = 8, Potts and per-edge tables: seconds per TRW-S
  iteration (one forward and one backward sweep: each directed message once,
  the messages of one flooding iteration) against one flooding min-sum
  iteration of ``kernels.bp._flood``, at 1 and 2 Numba threads, quiet and next
  to one busy process; ``(median t(n+1) - median t(1)) / n`` of each kernel.
  TRW-S is sequential within a graph (the graphs of a batch run in parallel),
  so its threads do not matter for one grid. Target: TRW-S <= 1.5x a flooding
  iteration.

Writes ``--out`` .json (after every task) and .md (default ``benchmarks/results/bounds``) and prints the table.
"""

import argparse
import datetime
import math
import os
import sys
import time
import warnings

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine, write_report  # noqa: E402
from bp_grid import condition, declare, grid_edges_ab, ours_grid, per_iteration  # noqa: E402
from uai_dev import DATA, ROOT, family, instances, load, timed  # noqa: E402

from factorgraph_ebm import compile_graph, infer  # noqa: E402
from factorgraph_ebm.exceptions import ConvergenceWarning, InferenceError  # noqa: E402
from factorgraph_ebm.io.results import read_result  # noqa: E402

POTTS_COUPLING = 1.0
#: ``trunclin`` tables: ``w_e min(|a - b|, TRUNCATION)``.
TRUNCATION = 2
STATES = (2, 4, 8, 16)
#: Memory exact inference may use on the UAI models.
EXACT_BUDGET = 4e9
SUBMODULAR_GAP = 1e-6


def quiet(func):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return func()


def grid_problem(kind, size, k, seed):
    """``(unary (N, N, K), tables)``: a shared (K, K) Potts table, or one (E, K, K) table per edge."""
    rng = np.random.default_rng([seed, k, size, {"potts": 0, "nonsub": 1, "submodular": 2, "trunclin": 3}[kind]])
    unary = rng.uniform(0.0, 2.0, (size, size, k))
    n_edges = 2 * size * (size - 1)
    if kind == "potts":
        return unary, np.where(np.eye(k, dtype=bool), 0.0, POTTS_COUPLING)
    if kind == "nonsub":
        return unary, rng.uniform(0.0, 2.0, (n_edges, k, k))
    if kind == "trunclin":
        labels = np.arange(k)
        dist = np.minimum(np.abs(labels[:, None] - labels[None, :]), TRUNCATION)
        return unary, rng.uniform(0.0, 2.0, n_edges)[:, None, None] * dist[None]
    w = rng.uniform(0.0, 2.0, n_edges)
    return unary, w[:, None, None] * (1.0 - np.eye(2))[None]


def grid_energy(unary, tables, state):
    """``E(x)`` of a row-major labelling of the grid (horizontal edges, then vertical, as ``declare``)."""
    size, _, k = unary.shape
    x = np.asarray(state).reshape(-1)
    a, b = grid_edges_ab(size)
    t = tables[x[a], x[b]] if tables.ndim == 2 else tables[np.arange(len(a)), x[a], x[b]]
    return float(unary.reshape(-1, k)[np.arange(size * size), x].sum() + t.sum())


def relative_gap(result):
    """``(energy - lower bound) / max(1, |energy|)`` of a TRW-S result."""
    return float(result.gap) / max(1.0, abs(float(result.map_energy)))


def pgmax_map(unary, tables, iters):
    """PGMax min-sum BP (its default damping 0.5): ``(state, seconds)``, or None without PGMax."""
    try:
        from _pgmax_bp import PGMaxGridBP
    except ImportError:
        return None
    size, _, k = unary.shape
    start = time.perf_counter()
    model = PGMaxGridBP(size, k, tables, np.inf, damping=0.5, x64=True)
    out = model.run(model.init_arrays(unary), iters)
    state = np.argmin(model.marginals(out), axis=-1).reshape(-1)
    return state, time.perf_counter() - start


def run_grid(kind, size, k, seed, max_iter):
    unary, tables = grid_problem(kind, size, k, seed)
    cg = compile_graph(declare(unary, tables))
    row = {"kind": kind, "size": size, "states": k, "seed": seed}
    start = time.perf_counter()
    bp = quiet(lambda: infer(cg, method="bp", beta=np.inf, max_iter=max_iter))
    row.update(bp_s=time.perf_counter() - start, bp_energy=grid_energy(unary, tables, bp.map_state),
               bp_converged=bool(bp.converged), bp_iter=int(bp.n_iter), bp_schedule=bp.schedule)
    start = time.perf_counter()
    tr = quiet(lambda: infer(cg, method="trws", beta=np.inf, max_iter=max_iter))
    row.update(trws_s=time.perf_counter() - start, trws_energy=grid_energy(unary, tables, tr.map_state),
               trws_bound=float(tr.energy_lower_bound), trws_gap=relative_gap(tr), trws_iter=int(tr.n_iter),
               trws_converged=bool(tr.converged))
    assert abs(row["trws_energy"] - float(tr.map_energy)) <= 1e-6 * max(1.0, abs(row["trws_energy"]))
    if kind != "submodular":
        peer = pgmax_map(unary, tables, max_iter)
        if peer is not None:
            row.update(pgmax_energy=grid_energy(unary, tables, peer[0]), pgmax_s=peer[1])
    return row


def run_grids(args, kinds, log):
    rows = []
    for kind in kinds:
        for k in (2,) if kind == "submodular" else args.states:
            for seed in range(args.seeds):
                rows.append(run_grid(kind, args.size, k, seed, args.max_iter))
                log(rows[-1])
    return rows


def grid_summary(rows):
    """Fractions of instances where TRW-S's energy <= BP's (ours, PGMax's), in all and per kind."""
    def fractions(sel):
        out = {"instances": len(sel),
               "trws_le_bp": float(np.mean([r["trws_energy"] <= r["bp_energy"] + 1e-9 for r in sel]))}
        peer = [r for r in sel if "pgmax_energy" in r]
        if peer:
            out["trws_le_pgmax"] = float(np.mean([r["trws_energy"] <= r["pgmax_energy"] + 1e-9 for r in peer]))
        return out

    out = fractions(rows)
    out["by_kind"] = {kind: fractions([r for r in rows if r["kind"] == kind]) for kind in dict.fromkeys(
        r["kind"] for r in rows)}
    return out


def run_uai_mpe(name, max_iter):
    fg, evidence = load(DATA / "MAR", name)
    row = {"instance": name, "family": family(name), "variables": fg.n_vars, "factors": fg.n_factors}
    cg = compile_graph(fg, evidence)
    try:
        exact, row["exact_s"] = timed(lambda: infer(cg, method="exact", beta=np.inf, memory_budget=EXACT_BUDGET))
        row["exact_energy"] = float(exact.map_energy)
    except InferenceError as exc:
        row["exact"] = str(exc).splitlines()[0][:200]
    bp, row["bp_s"] = timed(lambda: quiet(lambda: infer(cg, method="bp", beta=np.inf, max_iter=max_iter)))
    row.update(bp_energy=float(bp.map_energy), bp_converged=bool(bp.converged))
    tr, row["trws_s"] = timed(lambda: quiet(lambda: infer(cg, method="trws", beta=np.inf, max_iter=max_iter)))
    row.update(trws_energy=float(tr.map_energy), trws_bound=float(tr.energy_lower_bound), trws_gap=relative_gap(tr),
               trws_iter=int(tr.n_iter), trws_converged=bool(tr.converged))
    if "exact_energy" in row:
        row["bound_holds"] = bool(row["trws_bound"] <= row["exact_energy"] + 1e-6 * max(1, abs(row["exact_energy"])))
    return row


def run_uai_pr(name, max_iter):
    fg, evidence = load(DATA / "PR", name)
    official = read_result(DATA / "PR" / f"{name}.uai.PR")[1] * math.log(10.0)
    row = {"instance": name, "family": family(name), "variables": fg.n_vars, "factors": fg.n_factors,
           "official_lnz": official}
    cg = compile_graph(fg, evidence)
    try:
        exact, row["exact_s"] = timed(lambda: infer(cg, method="exact", beta=1.0, memory_budget=EXACT_BUDGET))
        row["exact_lnz"] = float(exact.log_partition)
    except InferenceError as exc:
        row["exact"] = str(exc).splitlines()[0][:200]
    for key, method, attr in (("trw", "trw", "log_partition_bound"), ("mf", "mean-field", "log_partition_lower_bound"),
                              ("bethe", "bp", "log_partition")):
        res, row[key + "_s"] = timed(lambda: quiet(lambda: infer(cg, method=method, beta=1.0, max_iter=max_iter)))
        row.update({key + "_lnz": float(getattr(res, attr)), key + "_iter": int(res.n_iter),
                    key + "_converged": bool(res.converged)})
    row["bounds_hold"] = bounds_hold(row)
    return row


def bounds_hold(row):
    """TRW's bound >= ln Z >= mean field's: against the exact ln Z (within 1e-9) where known, else the official
    value (printed to 6 significant digits of log10 Z, so within 1e-5 relative)."""
    ref = row.get("exact_lnz", row["official_lnz"])
    slack = (1e-9 if "exact_lnz" in row else 1e-5) * max(1.0, abs(ref))
    return bool(row["trw_lnz"] >= ref - slack and row["mf_lnz"] <= ref + slack)


def run_speed(args, log):
    """Seconds per TRW-S iteration and per flooding min-sum iteration, same grid, same run."""
    from factorgraph_ebm.inference.reweighted import _Run

    rows = []
    for kind in ("potts", "nonsub"):
        unary, tables = grid_problem(kind, args.speed_size, 8, 0)
        cg = compile_graph(declare(unary, tables))
        run = _Run(cg, np.inf)
        active = np.ones(1, dtype=np.bool_)
        iters, delta = np.zeros(1, dtype=np.int64), np.full(1, np.inf)
        trws = lambda n: run.iterate(n, -1.0, active, iters, delta)  # noqa: E731 - tol < 0: every iteration
        entries = cg.n_messages * 8  # messages x K^2 multiply-adds: n_messages counts K slots per message
        for name in ("quiet", "busy"):
            with condition(name):
                row = {"kind": kind, "size": args.speed_size, "states": 8, "condition": name,
                       "load": os.getloadavg()[0], "work_entries": entries,
                       "trws_s": per_iteration(trws, 1, args.speed_iters + 1, args.repeats)[0]}
                for threads in (1, 2):
                    row[f"flood_{threads}t_s"] = ours_grid(cg, np.inf, args.speed_iters, args.repeats, threads)
            row["ratio_1t"] = row["trws_s"] / row["flood_1t_s"]
            row["ratio_2t"] = row["trws_s"] / row["flood_2t_s"]
            rows.append(row)
            log(row)
    return rows


def _f(x, digits=6):
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _yes(flag):
    return "yes" if flag else "no"


def markdown(report):
    m = report["machine"]
    lines = [f"# Bounds and TRW-S: {report['date']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']}; load average "
             f"{report['load_before'][0]:.2f} before, {report['load_after'][0]:.2f} after. Iteration budget "
             f"{report['args']['max_iter']} for every engine. Seconds are wall time of one call (warm kernel cache).", ""]
    if "grids" in report:
        s = report["grids-summary"]
        peer = f", <= PGMax's in {100 * s['trws_le_pgmax']:.0f}%" if "trws_le_pgmax" in s else " (PGMax not installed)"
        lines += ["## MAP on grids", "",
                  f"TRW-S's energy <= our BP's in {100 * s['trws_le_bp']:.0f}% of {s['instances']} instances{peer} "
                  "(target 95%); per kind: " + "; ".join(
                      f"{kind} {100 * v['trws_le_bp']:.0f}% / {100 * v.get('trws_le_pgmax', math.nan):.0f}%"
                      for kind, v in s["by_kind"].items()) + " (ours / PGMax). "
                  "Gap = (energy - bound) / max(1, |energy|).", "",
                  "| kind | N | K | seed | BP energy | BP s | BP conv | PGMax energy | PGMax s | TRW-S energy | "
                  "TRW-S bound | gap | TRW-S its | TRW-S s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in report["grids"]:
            lines.append(f"| {r['kind']} | {r['size']} | {r['states']} | {r['seed']} | {r['bp_energy']:.2f} | "
                         f"{r['bp_s']:.2f} | {_yes(r['bp_converged'])} | {_f(r.get('pgmax_energy'), 7)} | "
                         f"{_f(r.get('pgmax_s'), 3)} | {r['trws_energy']:.2f} | {r['trws_bound']:.2f} | "
                         f"{r['trws_gap']:.2e} | {r['trws_iter']} | {r['trws_s']:.2f} |")
        lines.append("")
    if "submodular" in report:
        worst = max(r["trws_gap"] for r in report["submodular"])
        lines += ["## Binary submodular grids", "",
                  f"Largest relative gap {worst:.2e} (target {SUBMODULAR_GAP:g}).", "",
                  "| N | seed | BP energy | TRW-S energy | bound | gap | its | s |", "|---|---|---|---|---|---|---|---|"]
        for r in report["submodular"]:
            lines.append(f"| {r['size']} | {r['seed']} | {r['bp_energy']:.4f} | {r['trws_energy']:.4f} | "
                         f"{r['trws_bound']:.4f} | {r['trws_gap']:.2e} | {r['trws_iter']} | {r['trws_s']:.2f} |")
        lines.append("")
    if "uai-mpe" in report:
        rows = report["uai-mpe"]
        le = np.mean([r["trws_energy"] <= r["bp_energy"] + 1e-9 for r in rows])
        lines += ["## MAP on the UAI 2014 development models (MAR folder, with evidence)", "",
                  f"TRW-S's energy <= BP's in {100 * le:.0f}% of {len(rows)}; the bound is below the exact minimum "
                  f"wherever it is known: {_yes(all(r.get('bound_holds', True) for r in rows))}.", "",
                  "| instance | vars | factors | exact min | BP energy | BP s | TRW-S energy | TRW-S bound | relative gap | "
                  "its | conv | TRW-S s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['instance']} | {r['variables']} | {r['factors']} | "
                         f"{_f(r.get('exact_energy'), 8) or 'too large'} | {r['bp_energy']:.6g} | {r['bp_s']:.2f} | "
                         f"{r['trws_energy']:.6g} | {r['trws_bound']:.6g} | {r['trws_gap']:.2e} | {r['trws_iter']} | "
                         f"{_yes(r['trws_converged'])} | {r['trws_s']:.2f} |")
        lines.append("")
    if "uai-pr" in report:
        rows = report["uai-pr"]
        lines += ["## ln Z on the UAI 2014 development models (PR folder), beta = 1", "",
                  f"TRW's upper bound >= ln Z >= mean field's lower bound on every instance (against the exact "
                  "value where it fits, else the official one): "
                  f"{_yes(all(r['bounds_hold'] for r in rows))}. Bethe (loopy BP) has no guarantee.", "",
                  "| instance | vars | factors | official ln Z | exact | TRW (upper) | its | conv | s | MF (lower) | s | "
                  "Bethe | conv | s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['instance']} | {r['variables']} | {r['factors']} | {r['official_lnz']:.6g} | "
                         f"{_f(r.get('exact_lnz'), 8) or 'too large'} | {r['trw_lnz']:.6g} | {r['trw_iter']} | "
                         f"{_yes(r['trw_converged'])} | {r['trw_s']:.2f} | {r['mf_lnz']:.6g} | {r['mf_s']:.2f} | "
                         f"{r['bethe_lnz']:.6g} | {_yes(r['bethe_converged'])} | {r['bethe_s']:.2f} |")
        lines.append("")
    if "speed" in report:
        lines += ["## TRW-S iteration against a flooding min-sum iteration", "",
                  "Milliseconds per iteration of the kernels; `ns/entry`: TRW-S's time per counted multiply-add "
                  "(messages x K^2). Target: TRW-S <= 1.5x a flooding iteration.", "",
                  "| tables | N | K | condition | load | TRW-S ms | flood 1 thread ms | flood 2 threads ms | "
                  "TRW-S / flood 1t | TRW-S / flood 2t | TRW-S ns/entry |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in report["speed"]:
            lines.append(f"| {r['kind']} | {r['size']} | {r['states']} | {r['condition']} | {r['load']:.2f} | "
                         f"{1e3 * r['trws_s']:.1f} | {1e3 * r['flood_1t_s']:.1f} | {1e3 * r['flood_2t_s']:.1f} | "
                         f"{r['ratio_1t']:.2f} | {r['ratio_2t']:.2f} | {1e9 * r['trws_s'] / r['work_entries']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="grids,submodular,uai-mpe,uai-pr,speed")
    parser.add_argument("--size", type=int, default=100, help="grid side N of the MAP grids")
    parser.add_argument("--states", type=int, nargs="+", default=list(STATES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=300, help="iteration budget of every engine")
    parser.add_argument("--speed-size", type=int, default=300)
    parser.add_argument("--speed-iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated UAI instance names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bounds"))
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",")
    only = [n for n in args.only.split(",") if n]
    packages = ["pgmax", "jax"] if _has("pgmax") else []
    report = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(*packages),
              "load_before": os.getloadavg(), "args": vars(args)}

    def log(row):
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)

    def save():
        write_report(dict(report), args.out, markdown)

    warm = compile_graph(declare(*grid_problem("nonsub", 4, 2, 0)))
    for method in ("bp", "trws", "exact"):
        quiet(lambda: infer(warm, method=method, beta=np.inf))
    for method in ("bp", "trw", "mean-field", "exact"):
        quiet(lambda: infer(warm, method=method, beta=1.0))
    if "grids" in tasks:
        report["grids"] = run_grids(args, ("potts", "trunclin", "nonsub"), log)
        report["grids-summary"] = grid_summary(report["grids"])
        save()
    if "submodular" in tasks:
        report["submodular"] = run_grids(args, ("submodular",), log)
        save()
    if "uai-mpe" in tasks:
        report["uai-mpe"] = [run_uai_mpe(n, args.max_iter) for n in instances(DATA / "MAR", only)]
        for r in report["uai-mpe"]:
            log(r)
        save()
    if "uai-pr" in tasks:
        report["uai-pr"] = []
        for n in instances(DATA / "PR", only):
            report["uai-pr"].append(run_uai_pr(n, args.max_iter))
            log(report["uai-pr"][-1])
        save()
    if "speed" in tasks:
        report["speed"] = run_speed(args, log)
        save()
    report["numba_threads"] = numba.get_num_threads()
    save()


def _has(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
