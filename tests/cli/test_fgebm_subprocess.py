"""The ``fgebm`` command run as a separate process, on the four model kinds of the issue.

Answers are checked against brute force over the raw potential tables the test
wrote (``model_files.RawModel``), not against the engine's own output.
"""

import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from factorgraph_ebm.io import read_result
from model_files import RawModel, chain, grid, tree


def fgebm(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "factorgraph_ebm", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def write(path, raw):
    path.write_text(raw.uai_text())
    return path


def test_chain_marginals(tmp_path):
    raw = chain(np.random.default_rng(10), n=6, k=3)
    out = tmp_path / "chain.MAR"
    run = fgebm("infer", write(tmp_path / "chain.uai", raw), "--task", "MAR", "--out", out)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert "method tree-bp (requested auto)" in run.stderr
    task, marginals = read_result(out)
    assert task == "MAR"
    for got, want in zip(marginals, raw.marginals()):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_tree_with_evidence_probability_of_evidence(tmp_path):
    raw = tree(np.random.default_rng(11))
    (tmp_path / "tree.uai.evid").write_text("2\n1 2\n4 1\n")
    run = fgebm("infer", write(tmp_path / "tree.uai", raw), "--task", "PR", "--evidence", tmp_path / "tree.uai.evid")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "PR" and len(lines) == 2
    assert float(lines[1]) == pytest.approx(math.log10(raw.partition({1: 2, 4: 1})), rel=1e-12)


def test_loopy_grid_with_loopy_bp(tmp_path):
    raw = grid(np.random.default_rng(12), n=3, low=0.5, high=2.0)
    run = fgebm("infer", write(tmp_path / "grid.uai", raw), "--task", "MAR", "--method", "bp", "--damping", "0.3",
                "--schedule", "flood")
    assert run.returncode == 0, run.stderr
    assert "method loopy-bp (requested bp, schedule flood, damping 0.3): converged after" in run.stderr
    header, line = run.stdout.splitlines()
    tokens = line.split()
    assert header == "MAR" and int(tokens[0]) == 9
    got = np.array(tokens[1:], dtype=float).reshape(9, 3)  # per variable: 2, p0, p1
    np.testing.assert_array_equal(got[:, 0], 2)
    want = np.array(raw.marginals())
    assert np.abs(got[:, 1:] - want).max() < 0.02  # loopy BP on weak couplings: close, not exact


def test_zero_potentials_mpe(tmp_path):
    raw = tree(np.random.default_rng(13), zero_prob=0.3)
    best_potential, best = raw.best()
    assert best_potential > 0
    run = fgebm("infer", write(tmp_path / "zeros.uai", raw), "--task", "MPE")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["MPE", " ".join(map(str, [len(best), *best]))]


def test_bad_file_and_bad_argument_exit_with_one_line(tmp_path):
    text = chain(np.random.default_rng(14), n=3).uai_text()
    bad = tmp_path / "broken.uai"
    bad.write_text(text[: len(text) // 2])
    run = fgebm("infer", bad, "--task", "MAR")
    assert run.returncode == 1
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert f"{bad}, line " in run.stderr and "unexpected end of file" in run.stderr
    run = fgebm("infer", bad, "--task", "MAR", "--damping", "1.5")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["fgebm infer: error: argument --damping: must be 'auto' or a number in [0, 1), got '1.5'"]


@pytest.mark.skipif(shutil.which("fgebm") is None, reason="console script not installed")
def test_console_script_info(tmp_path):
    raw = RawModel([2, 3], [(0, 1)], [np.ones(6)])
    run = subprocess.run(["fgebm", "info", write(tmp_path / "m.uai", raw)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "variables: 2" in run.stdout and "forest: yes" in run.stdout
