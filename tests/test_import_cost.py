"""``import factorgraph_ebm`` loads neither Numba nor SciPy: they come with the first computation that needs them."""

import subprocess
import sys

HEAVY = ("numba", "scipy", "llvmlite", "tqdm", "sklearn", "matplotlib", "dask", "distributed")


def _loaded_after(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {name for name in HEAVY if name in out}


def test_import_loads_no_heavy_dependency():
    assert _loaded_after("import factorgraph_ebm") == set()


def test_declaring_a_graph_loads_no_heavy_dependency():
    code = ("import numpy as np\nfrom factorgraph_ebm import FactorGraph, compile_graph, LinearEnergy\n"
            "fg = FactorGraph()\nx = fg.add_variables('x', shape=3, states=2)\n"
            "fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), LinearEnergy('T'))\n"
            "compile_graph(fg, parameters={'T': np.zeros((2, 2))})")
    assert _loaded_after(code) == set()


def test_inference_loads_numba():
    code = ("from factorgraph_ebm import FactorGraph, infer\nfg = FactorGraph()\nfg.add_variable('a', 2)\n"
            "fg.add_factor(['a'], [0.0, 1.0])\ninfer(fg)")
    assert "numba" in _loaded_after(code)
