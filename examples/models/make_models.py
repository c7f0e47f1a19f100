"""Write the small model files of ``examples/models/`` that the README's command-line example uses.

``python examples/models/make_models.py`` rewrites them in place (from any
working directory); ``tests/test_example_models.py`` checks that the files in
the repository are what this script writes and runs the README's ``fgebm``
lines on them.

* ``chain.uai``: the README's three-variable chain, written out by hand as the
  README shows it (potentials 1 2 3 4 and 0.2 0.3 0.5 0.1 0 0.9);
  ``chain.uai.evid`` observes ``z = 2`` (docs/cli.md: ``PR`` = log10 7.4).
* ``grid.uai``: a 3 x 3 Potts grid with 3 states per variable, unary potentials
  :data:`GRID_UNARY` and potential 2 for equal neighbours (1 otherwise),
  declared with :func:`factorgraph_ebm.models.potts_grid` and written with
  :func:`factorgraph_ebm.io.write_uai`; ``grid.uai.evid`` (written with
  :func:`~factorgraph_ebm.io.write_evidence`) observes two corners,
  variable 0 in state 0 and variable 8 in state 2.
"""

import pathlib

import numpy as np

from factorgraph_ebm.io import write_evidence, write_uai
from factorgraph_ebm.models import potts_grid

HERE = pathlib.Path(__file__).resolve().parent

#: The README's chain (energy = -log potential), as text.
CHAIN = """MARKOV
3
2 2 3
2
2 0 1
2 1 2
4
1.0 2.0 3.0 4.0
6
0.2 0.3 0.5 0.1 0.0 0.9
"""
#: Evidence of the chain: variable 2 observed in state 2 (-1: free).
CHAIN_EVIDENCE = [-1, -1, 2]
#: Unary potentials ``phi[row, col, state]`` of the grid: the left column leans to state 0, the right to 2.
GRID_UNARY = np.array([[[4, 2, 1], [2, 4, 1], [1, 2, 4]],
                       [[4, 1, 2], [1, 1, 1], [1, 2, 4]],
                       [[4, 2, 1], [1, 4, 2], [1, 2, 4]]], dtype=np.float64)
#: Potential of two equal neighbours (different neighbours: 1).
GRID_EQUAL = 2.0
#: Evidence of the grid: the top-left corner (variable 0) in state 0, the bottom-right (variable 8) in state 2.
GRID_EVIDENCE = [0, -1, -1, -1, -1, -1, -1, -1, 2]


def grid_model():
    """The grid as a FactorGraph: energies ``-log phi`` (unary) and ``-log 2`` for equal neighbours."""
    k = GRID_UNARY.shape[-1]
    return potts_grid(-np.log(GRID_UNARY), -np.log(GRID_EQUAL) * np.eye(k))


def write_models(folder=HERE):
    """Write the four files into ``folder``; returns their paths."""
    folder = pathlib.Path(folder)
    paths = [folder / name for name in ("chain.uai", "chain.uai.evid", "grid.uai", "grid.uai.evid")]
    paths[0].write_text(CHAIN)
    write_evidence(paths[1], CHAIN_EVIDENCE)
    write_uai(grid_model(), paths[2])
    write_evidence(paths[3], GRID_EVIDENCE)
    return paths


if __name__ == "__main__":
    for path in write_models():
        print(f"wrote {path}")
