"""Where the real data sets of ``../shared/data`` are, for tests that use them.

The data live next to the repository (``<repo>/../shared/data``, see its
README), or wherever ``FGEBM_SHARED_DATA`` points. A test that needs a file
that is not there is skipped with the path in the reason, rather than failing
on a checkout without the data.
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("FGEBM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts):
    """Path of ``parts`` under the shared data folder; skips the calling test when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (the data set folder; set FGEBM_SHARED_DATA to its location)")
    return path


#: The PR models of the UAI 2014 development set the bound tests run on: all but the three large ones
#: (BN_69, BN_71, relational_1).
UAI_PR_MODELS = ["DBN_12", "DBN_14", "Grids_12", "Grids_13", "ObjectDetection_33", "ObjectDetection_34",
                 "Promedus_15", "Promedus_16", "Segmentation_14", "linkage_11", "log-1.cnf", "logistics.a.cnf"]


def uai_pr_model(name):
    """``(compiled, task, log10_z, rounding)`` of a UAI dev PR model with its evidence and official answer.

    ``rounding`` is half a unit of the last digit the answer file prints (log10 units).
    """
    from factorgraph_ebm import compile_graph
    from factorgraph_ebm.io import read_evidence, read_result, read_uai

    path = shared_data("uai2014_dev", "PR", name + ".uai")
    fg = read_uai(path)
    cg = compile_graph(fg, evidence=read_evidence(str(path) + ".evid", fg))
    task, log10_z = read_result(str(path) + ".PR")
    text = open(str(path) + ".PR").read().split()[-1]
    digits = len(text.split(".")[1]) if "." in text else 0
    return cg, task, log10_z, 0.5 * 10.0 ** -digits
