"""What a newcomer waits for: import time, the demo with a cold and a warm kernel cache, compile time per kernel group.

Usage (from the repository root, in an environment with the package installed)::

    python benchmarks/first_use.py                 # about 2 minutes on 2 cores
    python benchmarks/first_use.py --repeats 5

Every figure comes from fresh processes (``python -c ...``, ``python -m
factorgraph_ebm demo``), as a user would start them; a cold cache is a new,
empty ``NUMBA_CACHE_DIR``. Wall and CPU seconds (children's user + system) are
both reported, with the load average before and after: on a shared machine
wall time is what a user waits, CPU time is what the work costs.

Writes ``benchmarks/results/first_use.{json,md}`` (``--out``) and prints the table.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine  # noqa: E402

from factorgraph_ebm.cli.warmup import GROUPS  # noqa: E402


def timed(args, env):
    """Wall and CPU seconds of one child process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def median_of(runs):
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each warm measurement (median; default 3)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      "first_use"))
    args = parser.parse_args(argv)
    py = sys.executable
    load_before = os.getloadavg()
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        def fresh_env():
            return dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp(dir=scratch))

        warm_env = fresh_env()
        rows["import factorgraph_ebm"] = median_of(
            [timed([py, "-c", "import factorgraph_ebm"], warm_env) for _ in range(args.repeats)])
        rows["demo, cold cache"] = timed([py, "-m", "factorgraph_ebm", "demo"], warm_env)
        rows["demo, warm cache"] = median_of(
            [timed([py, "-m", "factorgraph_ebm", "demo"], warm_env) for _ in range(args.repeats)])
        for group in GROUPS:   # each alone, one process, empty cache: what its first use costs
            rows[f"compile group {group}, one process"] = timed(
                [py, "-m", "factorgraph_ebm", "warmup", "--quiet", "--jobs", "1", "--group", group], fresh_env())
        rows["warmup, all groups, cold"] = timed([py, "-m", "factorgraph_ebm", "warmup", "--quiet"], fresh_env())
        env = fresh_env()
        timed([py, "-m", "factorgraph_ebm", "warmup", "--quiet"], env)
        rows["warmup, all groups, warm"] = median_of(
            [timed([py, "-m", "factorgraph_ebm", "warmup", "--quiet"], env) for _ in range(args.repeats)])
    result = {"machine": machine(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "rows": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump(result, fh, indent=2)
    lines = [f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, Python "
             f"{result['machine']['python']}, numba {result['machine']['numba']}; load average "
             f"{load_before[0]:.2f} before, {result['load_average_after'][0]:.2f} after.", "",
             "| what | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} |" for name, r in rows.items()]
    with open(args.out + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
