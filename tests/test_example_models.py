"""examples/models/: the small model files of the README's command-line example.

* the files are what ``examples/models/make_models.py`` writes, and ``chain.uai``
  is the chain the README shows;
* the ``fgebm`` answers on them equal brute-force sums over the potential
  tables (``model_files.RawModel``, which shares no code with the engine);
* every ``$ fgebm ...`` line of the README's ``console`` block and of
  ``examples/models/README.md`` runs as a separate process
  (``python -m factorgraph_ebm ...``) on these files, exits 0 and prints what the
  block shows under it.
"""

import math
import re
import runpy
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
from example_runner import EXAMPLES
from model_files import RawModel

from factorgraph_ebm.cli.main import main as fgebm_main
from factorgraph_ebm.io import read_result

MODELS = EXAMPLES / "models"
FILES = ("chain.uai", "chain.uai.evid", "grid.uai", "grid.uai.evid")
README = EXAMPLES.parent / "README.md"


@pytest.fixture(scope="module")
def maker():
    """The namespace of make_models.py (nothing is written on import)."""
    return runpy.run_path(str(MODELS / "make_models.py"))


def raw_chain():
    return RawModel([2, 2, 3], [(0, 1), (1, 2)], [[1.0, 2.0, 3.0, 4.0], [0.2, 0.3, 0.5, 0.1, 0.0, 0.9]])


def raw_grid(maker):
    """The grid from the generator's numbers: unary potentials, 2 for equal neighbours."""
    unary = maker["GRID_UNARY"]
    side, _, k = unary.shape
    ids = np.arange(side * side).reshape(side, side)
    pairs = [(int(a), int(b)) for a, b in zip(ids[:, :-1].ravel(), ids[:, 1:].ravel())]
    pairs += [(int(a), int(b)) for a, b in zip(ids[:-1].ravel(), ids[1:].ravel())]
    pair = np.where(np.eye(k, dtype=bool), maker["GRID_EQUAL"], 1.0)
    return RawModel([k] * side * side, [(v,) for v in range(side * side)] + pairs,
                    [unary[v // side, v % side] for v in range(side * side)] + [pair] * len(pairs))


def evidence_dict(flat):
    return {v: s for v, s in enumerate(flat) if s >= 0}


def cli(argv, capsys):
    """``fgebm argv`` in-process: ``(exit code, stdout lines)``."""
    code = fgebm_main([*argv, "--quiet"])
    return code, capsys.readouterr().out.split("\n")


# ------------------------------------------------------------------------------------ the files
def test_the_files_are_what_make_models_writes(maker, tmp_path):
    maker["write_models"](tmp_path)
    for name in FILES:
        assert (MODELS / name).read_text() == (tmp_path / name).read_text(), f"{name} differs: rerun make_models.py"


def test_chain_is_the_chain_the_readme_shows():
    shown = re.search(r"```\n(MARKOV\n.*?)```", README.read_text(), flags=re.S)
    assert shown, "the README shows no MARKOV model"
    assert (MODELS / "chain.uai").read_text() == shown.group(1)


# ------------------------------------------------------------------ answers against brute force
def test_chain_answers_equal_brute_force(capsys):
    raw = raw_chain()
    code, lines = cli(["infer", str(MODELS / "chain.uai"), "--task", "MAR"], capsys)
    assert code == 0 and lines[0] == "MAR"
    tokens = lines[1].split()
    got, pos = [], 1
    for _ in range(int(tokens[0])):
        n = int(tokens[pos])
        got.append(np.array(tokens[pos + 1:pos + 1 + n], dtype=float))
        pos += n + 1
    for g, want in zip(got, raw.marginals()):
        np.testing.assert_allclose(g, want, atol=1e-12)
    code, lines = cli(["infer", str(MODELS / "chain.uai"), "--task", "MPE"], capsys)
    assert code == 0 and lines[:2] == ["MPE", "3 " + " ".join(map(str, raw.best()[1]))]
    code, lines = cli(["infer", str(MODELS / "chain.uai"), "--task", "PR", "--evidence",
                       str(MODELS / "chain.uai.evid")], capsys)
    assert code == 0 and lines[0] == "PR"
    assert float(lines[1]) == pytest.approx(math.log10(raw.partition({2: 2})), rel=1e-12)   # log10 7.4


def test_grid_answers_equal_brute_force(maker, capsys, tmp_path):
    raw = raw_grid(maker)
    evidence = evidence_dict(maker["GRID_EVIDENCE"])
    out = tmp_path / "grid.uai.PR"
    code, _ = cli(["infer", str(MODELS / "grid.uai"), "--task", "PR", "--evidence", str(MODELS / "grid.uai.evid"),
                   "--out", str(out)], capsys)
    assert code == 0
    task, value = read_result(out)
    assert task == "PR" and value == pytest.approx(math.log10(raw.partition(evidence)), rel=1e-12)
    code, lines = cli(["infer", str(MODELS / "grid.uai"), "--task", "MAR", "--evidence",
                       str(MODELS / "grid.uai.evid")], capsys)
    assert code == 0
    got = np.array(lines[1].split()[1:], dtype=float).reshape(9, 4)[:, 1:]      # per variable: 3, p0, p1, p2
    np.testing.assert_allclose(got, np.array(raw.marginals(evidence)), atol=1e-12)
    code, lines = cli(["infer", str(MODELS / "grid.uai"), "--task", "MPE"], capsys)
    assert code == 0 and lines[1].split()[0] == "9"
    state = [int(t) for t in lines[1].split()[1:]]
    assert raw.potential(state) == pytest.approx(raw.best()[0], rel=1e-12)     # one of the tied best assignments


# ------------------------------------------------------------------ the README's console lines
def console_commands(text):
    """``(command, expected output lines)`` of every ``$ `` line of the ``console`` blocks of ``text``."""
    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for chunk in block.split("$ ")[1:]:
            command, *expected = chunk.rstrip("\n").split("\n")
            commands.append((command.split(" #")[0].strip(), expected))
    return commands


def run_console(commands, work):
    """Run the commands in ``work`` (``cd`` moves, ``fgebm`` runs ``python -m factorgraph_ebm``); count fgebm lines."""
    cwd, ran = work, 0
    for command, expected in commands:
        args = shlex.split(command)
        if args[0] == "cd":
            cwd = cwd / args[1]
            assert cwd.is_dir(), f"{command}: no such folder"
            continue
        assert args[0] == "fgebm", f"unexpected console command {command!r}"
        proc = subprocess.run([sys.executable, "-m", "factorgraph_ebm", *args[1:]], cwd=cwd, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, f"{command}: exit {proc.returncode}: {proc.stderr}"
        if expected:
            assert proc.stdout.split() == " ".join(expected).split(), f"{command} printed {proc.stdout!r}"
        if "--out" in args:
            assert read_result(cwd / args[args.index("--out") + 1])[0] == args[args.index("--task") + 1]
        ran += 1
    return ran


@pytest.fixture
def checkout(tmp_path):
    """A folder with the model files where the README's commands expect them: at the top (the README's
    own folder) and in examples/models/ (after ``cd examples/models``)."""
    shutil.copytree(MODELS, tmp_path / "examples" / "models")
    for name in FILES:
        shutil.copy(MODELS / name, tmp_path / name)
    return tmp_path


def test_readme_console_lines_run_on_the_model_files(checkout):
    commands = console_commands(README.read_text())
    assert sum(c.startswith("fgebm infer") for c, _ in commands) >= 3
    assert sum(bool(expected) for _, expected in commands) >= 2      # the MAR and MPE answers of chain.uai
    assert run_console(commands, checkout) == sum(c.startswith("fgebm") for c, _ in commands)


def test_models_readme_console_lines_run_on_the_model_files(checkout):
    commands = console_commands((MODELS / "README.md").read_text())
    assert commands[0][0] == "cd examples/models"
    assert run_console(commands, checkout) == len(commands) - 1
