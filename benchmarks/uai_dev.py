"""Inference on real models: the UAI 2014 development set (``../shared/data/uai2014_dev``) against the official answers.

Usage (from the repository root, in an environment with the package installed)::

    python benchmarks/uai_dev.py                     # PR and MAR, about 5 minutes on 2 cores
    python benchmarks/uai_dev.py --tasks PR --only DBN_12,Grids_13

Three runs, each instance in this process after a warm-up (Numba kernels
loaded from the disk cache, so the seconds are what a warm process spends):

- PR, ``infer(model, evidence, method="exact")``: log10 Z against the official
  value; a refusal (the elimination's tables exceed the memory budget) is
  reported with the time it took to refuse. Target: within
  ``1e-4 * max(1, |official|)`` in <= 2 s of process time wherever the min-fill
  cliques fit in 4 GB (``memory_budget=4e9``), refusals in < 1 s.
- MAR, ``infer(model, method="bp")``: loopy BP only (no exact shortcut), mean
  Hellinger distance to the official marginals (over the variables, then the
  mean over instances and per family), converged or not, the schedule and
  damping that ran. Targets: mean <= 0.09, no family worse than libDAI's BP
  (about 0.10 on these families; DBN <= 0.3), converged on >= 85%.
- MAR, ``infer(model, method="auto")``: which method ``auto`` chose and why, and
  its error (exact: < 1e-8).

Seconds are process (CPU) seconds of the ``infer`` call; reading the file is not
included. Writes ``benchmarks/results/uai_dev.{json,md}`` (``--out``).
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine, write_report  # noqa: E402

from factorgraph_ebm import infer  # noqa: E402
from factorgraph_ebm.exceptions import ConvergenceWarning, InferenceError, ZeroPartitionError  # noqa: E402
from factorgraph_ebm.io.evidence import read_evidence  # noqa: E402
from factorgraph_ebm.io.results import read_result  # noqa: E402
from factorgraph_ebm.io.uai import read_uai  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("FGEBM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "uai2014_dev"
#: Mean Hellinger distance of libDAI 0.3's loopy BP on these families (the data set's README).
LIBDAI_MEAN_HELLINGER = 0.10
#: Memory exact inference may use on the PR instances (the target's 4 GB).
PR_BUDGET = 4e9
#: Process seconds allowed per PR instance, and per refusal.
PR_SECONDS, REFUSAL_SECONDS = 2.0, 1.0


def family(name):
    """``DBN_12`` -> ``DBN``; ``log-1.cnf`` -> ``cnf``."""
    return "cnf" if name.endswith(".cnf") else name.split("_")[0]


def instances(folder, only):
    names = sorted(p.name[:-len(".uai")] for p in folder.glob("*.uai"))
    return [n for n in names if not only or n in only]


def load(folder, name):
    fg = read_uai(folder / f"{name}.uai")
    evid = folder / f"{name}.uai.evid"
    evidence = read_evidence(evid, fg) if evid.exists() else None
    if evidence is not None and not (np.asarray(evidence) >= 0).any():
        evidence = None
    return fg, evidence


def timed(func):
    start = time.process_time()
    value = func()
    return value, time.process_time() - start


def hellinger(marginals, official):
    """Mean over the variables of ``sqrt(0.5 * sum_x (sqrt p - sqrt q)^2)``."""
    d = [math.sqrt(0.5 * float(np.sum((np.sqrt(np.clip(p, 0, None)) - np.sqrt(np.clip(q, 0, None))) ** 2)))
         for p, q in zip(marginals, official)]
    return float(np.mean(d))


def split_marginals(result):
    return np.split(result.marginal_array, result.compiled.wiring.var_state_ptr[1:-1])


def run_pr(name):
    fg, evidence = load(DATA / "PR", name)
    official = read_result(DATA / "PR" / f"{name}.uai.PR")[1]
    row = {"instance": name, "family": family(name), "variables": fg.n_vars, "factors": fg.n_factors,
           "official": official}

    def solve():
        try:
            return infer(fg, evidence, method="exact", beta=1.0, memory_budget=PR_BUDGET)
        except ZeroPartitionError:
            return None
        except InferenceError as exc:
            return exc

    result, seconds = timed(solve)
    row["seconds"] = round(seconds, 3)
    if isinstance(result, InferenceError):
        row.update(status="refused", message=str(result).splitlines()[0][:400])
        row["ok"] = seconds <= REFUSAL_SECONDS
        return row
    log10z = -math.inf if result is None else result.log_partition / math.log(10.0)
    error = abs(log10z - official) if math.isfinite(official) or math.isfinite(log10z) else 0.0
    row.update(status="solved", log10z=log10z, error=error, reason=getattr(result, "reason", None))
    row["ok"] = bool(error <= 1e-4 * max(1.0, abs(official)) and seconds <= PR_SECONDS)
    return row


def run_mar(name, method):
    fg, evidence = load(DATA / "MAR", name)
    official = read_result(DATA / "MAR" / f"{name}.uai.MAR")[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result, seconds = timed(lambda: infer(fg, evidence, method=method, beta=1.0))
    marginals = split_marginals(result)
    row = {"instance": name, "family": family(name), "variables": fg.n_vars, "factors": fg.n_factors,
           "method": result.method, "schedule": result.schedule, "damping": result.damping,
           "converged": bool(result.converged), "n_iter": int(result.n_iter), "delta": float(result.delta),
           "hellinger": hellinger(marginals, official),
           "max_abs_error": float(max(np.max(np.abs(p - q)) for p, q in zip(marginals, official))),
           "seconds": round(seconds, 3), "reason": getattr(result, "reason", None)}
    return row


def warm_up():
    """Load the kernels the runs use (from the disk cache, or compile them) in this process, outside the timings."""
    from factorgraph_ebm.models import potts_grid

    grid = potts_grid(np.random.default_rng(0).uniform(0, 1, (3, 3, 2)), 0.5)
    chain = potts_grid(np.random.default_rng(0).uniform(0, 1, (1, 3, 2)), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for fg in (grid, chain):
            for method in ("exact", "bp", "auto"):
                for beta in (1.0, np.inf):
                    res = infer(fg, method=method, beta=beta)
                    res.factor_marginal_array(), res.map_state


def mar_summary(rows):
    by_family = {}
    for r in rows:
        by_family.setdefault(r["family"], []).append(r["hellinger"])
    return {"mean_hellinger": float(np.mean([r["hellinger"] for r in rows])),
            "converged_fraction": float(np.mean([r["converged"] for r in rows])),
            "family_mean_hellinger": {k: float(np.mean(v)) for k, v in sorted(by_family.items())},
            "seconds": float(sum(r["seconds"] for r in rows))}


def markdown(report):
    lines = [f"# UAI 2014 development set: {report['date']}", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, numba "
             f"{report['machine']['numba']}; load average {report['load_before'][0]:.2f} before, "
             f"{report['load_after'][0]:.2f} after. Process seconds of each `infer` call, warm kernel cache.", ""]
    if "PR" in report:
        lines += ["## PR, `method=\"exact\"`", "",
                  "| instance | vars | factors | official log10 Z | ours | error | s | target met | note |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in report["PR"]:
            ours = f"{r['log10z']:.6f}" if r["status"] == "solved" else "refused"
            err = f"{r['error']:.1e}" if r["status"] == "solved" else ""
            note = r.get("message", "") if r["status"] == "refused" else (r.get("reason") or "")
            lines.append(f"| {r['instance']} | {r['variables']} | {r['factors']} | {r['official']:.6g} | {ours} | "
                         f"{err} | {r['seconds']:.2f} | {'yes' if r['ok'] else 'NO'} | {note} |")
        lines.append("")
    for key, title in (("MAR-bp", "MAR, `method=\"bp\"` (loopy BP only)"), ("MAR-auto", "MAR, `method=\"auto\"`")):
        if key not in report:
            continue
        s = report[key + "-summary"]
        lines += [f"## {title}", "",
                  f"Mean Hellinger {s['mean_hellinger']:.4f} (libDAI's BP: about {LIBDAI_MEAN_HELLINGER}); converged "
                  f"{100 * s['converged_fraction']:.0f}%; {s['seconds']:.1f} s in all. Per family: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in s["family_mean_hellinger"].items()) + ".", "",
                  "| instance | vars | factors | method | schedule | damping | converged | iterations | Hellinger | "
                  "max abs error | s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in report[key]:
            lines.append(f"| {r['instance']} | {r['variables']} | {r['factors']} | {r['method']} | {r['schedule']} | "
                         f"{r['damping']:g} | {'yes' if r['converged'] else 'no'} | {r['n_iter']} | "
                         f"{r['hellinger']:.2e} | {r['max_abs_error']:.2e} | {r['seconds']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="PR,MAR-bp,MAR-auto", help="comma-separated: PR, MAR-bp, MAR-auto")
    parser.add_argument("--only", default="", help="comma-separated instance names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "uai_dev"))
    args = parser.parse_args(argv)
    if not DATA.exists():
        parser.error(f"{DATA} not found (set FGEBM_SHARED_DATA to the folder holding uai2014_dev)")
    only = set(filter(None, args.only.split(",")))
    tasks = [t.strip() for t in args.tasks.split(",")]
    warm_up()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "load_before": os.getloadavg()}
    for task in tasks:
        if task == "PR":
            rows = [run_pr(n) for n in instances(DATA / "PR", only)]
            report["PR"] = rows
            for r in rows:
                print(f"PR {r['instance']:22s} {r['status']:8s} {r['seconds']:6.2f} s "
                      f"{'ok' if r['ok'] else 'MISSED'} {r.get('error', r.get('message', ''))}", flush=True)
        elif task in ("MAR-bp", "MAR-auto"):
            method = task.split("-")[1]
            rows = []
            for n in instances(DATA / "MAR", only):
                rows.append(run_mar(n, method))
                r = rows[-1]
                print(f"{task} {n:22s} {r['method']:14s} {str(r['schedule']):10s} conv={r['converged']!s:5s} "
                      f"H={r['hellinger']:.4f} {r['seconds']:6.2f} s", flush=True)
            report[task] = rows
            if rows:
                report[task + "-summary"] = mar_summary(rows)
                print(task, json.dumps(report[task + "-summary"]), flush=True)
        else:
            parser.error(f"unknown task {task!r}")
    write_report(report, args.out, markdown)


if __name__ == "__main__":
    main()
