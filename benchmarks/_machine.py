"""The machine a benchmark ran on, recorded next to its results."""

import json
import os
import pathlib
import platform
from importlib.metadata import version

import numba
import numpy as np


def machine(*packages):
    """CPU model, cores, numba threads and versions (Python, numpy, numba, then ``packages`` by name)."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    info.update({name: version(name) for name in packages})
    return info


def write_report(report, out, markdown):
    """Record the load average after the run, write ``out.json`` and ``out.md`` (``markdown(report)``), print the table."""
    report["load_after"] = os.getloadavg()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
