"""Exact inference on the Bayesian networks of the bnlearn repository, converted to UAI, against pgmpy.

Usage (from the repository root)::

    python benchmarks/bnlearn_exact.py                      # BIF files from an installed pgmpy
    python benchmarks/bnlearn_exact.py --bif DIR            # or a folder of *.bif / *.bif.gz
    python benchmarks/bnlearn_exact.py --pgmpy-wheel pgmpy-1.1.2-py3-none-any.whl

pgmpy ships the bnlearn networks offline (``pgmpy/utils/example_models/*.bif.gz``;
``pip download --no-deps pgmpy`` fetches the wheel that holds them). Each network
is read from BIF (``_bif.py``), written as a UAI ``BAYES`` file and read back with
``read_uai`` (the conversion is part of what is measured: a user brings the UAI
file), then, with evidence on a few seeded random variables:

- ``infer(model, evidence, method="auto")``: which method ran and why, process
  seconds, log10 P(evidence), and the marginals;
- the same query with pgmpy's ``VariableElimination`` when pgmpy is importable
  (in its own environment: ``pip install pgmpy``), for the P(evidence) and the
  marginals of up to ``--check`` variables, with its seconds per query.

Target: networks whose min-fill junction tree holds <= 1e8 entries run exactly
in <= 2 s each. Writes ``benchmarks/results/bnlearn_exact.{json,md}``.
"""

import argparse
import glob
import json
import math
import os
import pathlib
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bif import STATES_KEY, read_bif  # noqa: E402
from _machine import machine, write_report  # noqa: E402

from factorgraph_ebm import compile_graph, infer  # noqa: E402
from factorgraph_ebm.exceptions import ConvergenceWarning  # noqa: E402
from factorgraph_ebm.inference.elimination import exact_cost  # noqa: E402
from factorgraph_ebm.io.uai import read_uai, write_uai  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Networks larger than this are left out (the bnlearn "very large" ones).
MAX_VARS = 1100


def bif_files(args, scratch):
    if args.bif:
        return sorted(glob.glob(os.path.join(args.bif, "*.bif*")))
    if args.pgmpy_wheel:
        with zipfile.ZipFile(args.pgmpy_wheel) as z:
            names = [n for n in z.namelist() if n.endswith(".bif.gz")]
            for n in names:
                (pathlib.Path(scratch) / os.path.basename(n)).write_bytes(z.read(n))
        return sorted(glob.glob(os.path.join(scratch, "*.bif.gz")))
    import importlib.util
    spec = importlib.util.find_spec("pgmpy")
    if spec is None:
        sys.exit("no BIF files: pass --bif DIR or --pgmpy-wheel FILE, or install pgmpy")
    return sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "utils", "example_models", "*.bif.gz")))


def pgmpy_check(bif_path, labels, evidence, free):
    """pgmpy's VariableElimination: median seconds per query, P(evidence), marginals of ``free`` given ``evidence``."""
    try:
        from pgmpy.inference import VariableElimination
        from pgmpy.readwrite import BIFReader
    except ImportError:
        return None
    import gzip
    text = gzip.open(bif_path, "rt").read() if bif_path.endswith(".gz") else open(bif_path).read()
    named = {v: labels[v][s] for v, s in evidence.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BIFReader(string=text).get_model()
        ve = VariableElimination(model)
        start = time.process_time()
        joint = ve.query(list(evidence), joint=True, show_progress=False)
        seconds = [time.process_time() - start]
        p_evidence = float(joint.get_value(**named))
        marginals = {}
        for v in free:
            start = time.process_time()
            q = ve.query([v], evidence=named, show_progress=False)
            seconds.append(time.process_time() - start)
            marginals[v] = np.asarray(q.values)[[q.state_names[v].index(s) for s in labels[v]]]
    return {"seconds_per_query": float(np.median(seconds)), "p_evidence": p_evidence, "marginals": marginals}


def run(bif_path, scratch, rng, n_evidence, n_check):
    name = os.path.basename(bif_path).split(".")[0]
    start = time.process_time()
    fg_bif = read_bif(bif_path)
    uai = os.path.join(scratch, f"{name}.uai")
    write_uai(fg_bif, uai)
    fg = read_uai(uai)
    convert = time.process_time() - start
    labels = dict(zip(range(fg.n_vars), fg_bif.graph.graph[STATES_KEY].values()))
    names = list(fg_bif.graph.graph[STATES_KEY])
    row = {"network": name, "variables": fg.n_vars, "max_states": int(max(len(s) for s in labels.values())),
           "convert_s": round(convert, 3)}
    if fg.n_vars > MAX_VARS:
        row["status"] = "skipped (too large)"
        return row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        prior = infer(fg, method="auto", beta=1.0)
        # observed: seeded random variables, each in its most probable state without evidence (never impossible)
        observed = sorted(rng.choice(fg.n_vars, size=min(n_evidence, fg.n_vars), replace=False).tolist())
        evidence = {v: int(np.argmax(prior.marginal(v))) for v in observed}
        start = time.process_time()
        result = infer(fg, evidence, method="auto", beta=1.0)
        seconds = time.process_time() - start
    cost = exact_cost(compile_graph(fg, evidence=evidence))
    row.update(entries=float(cost.entries), width=int(cost.width))
    row.update(method=result.method, reason=getattr(result, "reason", None), seconds=round(seconds, 3),
               log10_pe=result.log_partition / math.log(10.0), prior_log10_z=prior.log_partition / math.log(10.0),
               converged=bool(result.converged))
    free = [v for v in range(fg.n_vars) if v not in evidence][:n_check]
    peer = pgmpy_check(bif_path, {names[v]: labels[v] for v in labels}, {names[v]: s for v, s in evidence.items()},
                       [names[v] for v in free])
    if peer is not None:
        row["pgmpy_seconds_per_query"] = round(peer["seconds_per_query"], 4)
        row["pgmpy_log10_pe"] = math.log10(peer["p_evidence"]) if peer["p_evidence"] > 0 else -math.inf
        row["max_abs_diff_vs_pgmpy"] = float(max(np.max(np.abs(result.marginal(v) - peer["marginals"][names[v]]))
                                                 for v in free))
    return row


def markdown(report):
    lines = [f"# bnlearn networks, exact inference: {report['date']}", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average "
             f"{report['load_before'][0]:.2f} before, {report['load_after'][0]:.2f} after. Process seconds of one "
             f"`infer(method=\"auto\")` call with evidence on {report['n_evidence']} variables, warm kernel cache.", "",
             "| network | vars | max states | junction-tree entries | width | method | s | log10 Z (no evidence) | "
             "log10 P(e) | pgmpy log10 P(e) | max abs diff of marginals vs pgmpy | pgmpy s per query |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "method" not in r:
            lines.append(f"| {r['network']} | {r['variables']} | {r['max_states']} | | | {r['status']} | | | | | | |")
            continue
        lines.append(f"| {r['network']} | {r['variables']} | {r['max_states']} | {r.get('entries', float('nan')):.3g} | "
                     f"{r.get('width', '')} | {r['method']} | {r['seconds']:.3f} | {r['prior_log10_z']:.2e} | "
                     f"{r['log10_pe']:.6f} | {r.get('pgmpy_log10_pe', float('nan')):.6f} | "
                     f"{r.get('max_abs_diff_vs_pgmpy', float('nan')):.1e} | {r.get('pgmpy_seconds_per_query', float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bif", help="folder of *.bif / *.bif.gz files")
    parser.add_argument("--pgmpy-wheel", help="a pgmpy wheel holding utils/example_models/*.bif.gz")
    parser.add_argument("--evidence", type=int, default=3, help="observed variables per network (default 3)")
    parser.add_argument("--check", type=int, default=5, help="variables compared with pgmpy (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bnlearn_exact"))
    args = parser.parse_args(argv)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "load_before": os.getloadavg(),
              "n_evidence": args.evidence, "rows": []}
    with tempfile.TemporaryDirectory() as scratch:
        for path in bif_files(args, scratch):
            row = run(path, scratch, np.random.default_rng(args.seed), args.evidence, args.check)
            report["rows"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "reason"}), flush=True)
    write_report(report, args.out, markdown)


if __name__ == "__main__":
    main()
