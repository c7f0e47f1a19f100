"""Fuzz run of issue 14: 10,000 mutated model / evidence / result files and 1,000 mutated saved-state files.

Every variant is built by ``tests/fuzzing.py`` (the same generator as the fuzz
test in the suite, seeded by the variant's number, so a finding is rebuilt with
``fuzzing.make_variant(seeds, number)``), loaded by the public loader, and for
model and evidence files run through ``fgebm infer`` / ``info`` / ``convert`` in
the worker process. Counted: outcomes per kind of file, exceptions of
undocumented classes, tracebacks or unexpected exit statuses of the command
line, variants above 5 s or 1 GiB (peak resident memory of the worker above
what it held before the variant).

Usage::

    python benchmarks/fuzz_files.py                       # 10,000 + 1,000 variants, 2 workers
    python benchmarks/fuzz_files.py --models 500 --states 100 --jobs 1
    python benchmarks/fuzz_files.py --only 4711           # rebuild and run one model variant, verbose

Writes ``benchmarks/results/fuzz_files.{md,json}`` (``--out`` to change).
"""

import argparse
import collections
import json
import multiprocessing
import os
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from _machine import machine, write_report  # noqa: E402

#: A variant still running after this many seconds is reported as hung and the run stops.
HANG_SECONDS = 300

_SEEDS = {}


def _worker_seeds(group):
    import fuzzing

    if group not in _SEEDS:
        if group == "models":
            _SEEDS[group] = fuzzing.model_seeds()
        else:
            _SEEDS[group] = fuzzing.state_seeds(tempfile.mkdtemp(prefix="fuzz-seeds-"))
    return _SEEDS[group]


def _run(job):
    import warnings

    import fuzzing

    group, number, folder = job
    warnings.simplefilter("ignore")  # ConvergenceWarning etc.: the outcome is what is counted
    return group, fuzzing.run_variant(_worker_seeds(group), number, os.path.join(folder, str(os.getpid())))


def _summary(results, seconds, args):
    counts = collections.Counter()
    statuses = collections.Counter()
    findings, over = [], []
    for group, r in results:
        counts[r["kind"], r["outcome"]] += 1
        if r["cli"] is not None:
            statuses[r["cli"]] += 1
        findings += [{"group": group, "number": r["number"], "seed": r["seed"], "finding": f} for f in r["findings"]]
        over += [{"group": group, "number": r["number"], "seed": r["seed"], "over": o} for o in r["over"]]
    slowest = max((r for _, r in results), key=lambda r: r["seconds"], default=None)
    largest = max((r for _, r in results), key=lambda r: r["peak_bytes"], default=None)
    return {
        "machine": machine(),
        "variants": {"models": args.models, "states": args.states},
        "wall_seconds": round(seconds, 1),
        "outcomes": sorted([[kind, outcome, n] for (kind, outcome), n in counts.items()]),
        "cli_exit_statuses": dict(sorted(statuses.items())),
        "findings": findings,
        "over_limits": over,
        "slowest": None if slowest is None else {k: slowest[k] for k in ("number", "seed", "seconds")},
        "largest": None if largest is None else {k: largest[k] for k in ("number", "seed", "peak_bytes")},
    }


def _markdown(s):
    lines = [
        "# Fuzz run (issue 14)",
        "",
        f"{s['machine']['cpu']}, {s['machine']['cores']} cores, load {s['load_before'][0]:.2f} before and "
        f"{s['load_after'][0]:.2f} after. {s['variants']['models']} model/evidence/result variants and {s['variants']['states']} "
        f"saved-state variants in {s['wall_seconds']} s (`python benchmarks/fuzz_files.py`).",
        "",
        f"- findings (undocumented exception classes, tracebacks, unexpected exit statuses): **{len(s['findings'])}**",
        f"- variants above 5 s or 1 GiB: **{len(s['over_limits'])}**",
        f"- slowest: {s['slowest']}",
        f"- largest peak memory above the worker's baseline: {s['largest']}",
        f"- `fgebm` exit statuses: {s['cli_exit_statuses']}",
        "",
        "| kind | outcome | variants |",
        "|---|---|---:|",
    ]
    lines += [f"| {kind} | {outcome} | {n} |" for kind, outcome, n in s["outcomes"]]
    if s["findings"] or s["over_limits"]:
        lines += ["", "## Findings", ""]
        lines += [f"- {f['group']} #{f['number']} ({f['seed']}): {f['finding']}" for f in s["findings"][:50]]
        lines += [f"- {f['group']} #{f['number']} ({f['seed']}): {f['over']}" for f in s["over_limits"][:50]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10_000, help="model, evidence and result variants")
    parser.add_argument("--states", type=int, default=1_000, help="saved-state variants")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--only", type=int, help="run this one model variant and print its record")
    parser.add_argument("--out", default=str(HERE / "results" / "fuzz_files"), help="results path without suffix")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="fuzz-")
    if args.only is not None:
        print(json.dumps(_run(("models", args.only, folder))[1], indent=1))
        return 0
    jobs = [("models", n, folder) for n in range(args.models)] + [("states", n, folder) for n in range(args.states)]
    load = os.getloadavg()
    start = time.perf_counter()
    results = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        stream = pool.imap_unordered(_run, jobs)  # chunksize 1: an iterator with next(timeout)
        for k in range(len(jobs)):
            try:
                results.append(stream.next(timeout=HANG_SECONDS))
            except multiprocessing.TimeoutError:
                print(f"a variant ran over {HANG_SECONDS} s; stopping (see the records so far)", file=sys.stderr)
                break
            if (k + 1) % 500 == 0:
                bad = sum(len(r["findings"]) + len(r["over"]) for _, r in results)
                print(f"{k + 1}/{len(jobs)} variants, {bad} findings, {time.perf_counter() - start:.0f} s",
                      file=sys.stderr, flush=True)
    summary = _summary(results, time.perf_counter() - start, args)
    summary["load_before"] = load
    write_report(summary, args.out, _markdown)
    return 1 if summary["findings"] or summary["over_limits"] else 0


if __name__ == "__main__":
    sys.exit(main())
