"""``fgebm infer`` / ``info`` / ``convert`` run in-process through ``main(argv)``.

Every answer is compared with brute force over the raw potential tables
(``model_files.RawModel``) or with ``infer(..., method="enumerate")``.
"""

import io
import math

import numpy as np
import pytest

from factorgraph_ebm import infer
from factorgraph_ebm.cli.main import main
from factorgraph_ebm.io import read_libdai, read_result, read_uai
from model_files import RawModel, chain, grid, tree


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def answer(out):
    return read_result(io.StringIO(out))[1]


def model_file(tmp_path, raw, name="m.uai"):
    path = tmp_path / name
    path.write_text(raw.uai_text())
    return path


MODELS = {
    "chain": lambda rng: chain(rng, n=5, k=3, zero_prob=0.1),
    "tree": lambda rng: tree(rng, zero_prob=0.1),
    "grid": lambda rng: grid(rng, n=3, k=2, zero_prob=0.05),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("method", ["auto", "exact"])
def test_all_tasks_match_brute_force(tmp_path, capsys, kind, method):
    raw = MODELS[kind](np.random.default_rng(20))
    evidence = {1: 1}
    assert raw.partition(evidence) > 0
    path = model_file(tmp_path, raw)
    evid = tmp_path / "m.uai.evid"
    evid.write_text("1 1 1\n")

    code, out, _ = run(capsys, "infer", path, "--task", "PR", "--method", method)
    assert code == 0
    assert answer(out) == pytest.approx(math.log10(raw.partition()), rel=1e-10)
    fg = read_uai(path)
    assert answer(out) == pytest.approx(infer(fg, method="enumerate").log_partition / math.log(10), rel=1e-10)

    code, out, _ = run(capsys, "infer", path, "--task", "PR", "--method", method, "--evidence", evid)
    assert answer(out) == pytest.approx(math.log10(raw.partition(evidence)), rel=1e-10)

    code, out, _ = run(capsys, "infer", path, "--task", "MAR", "--method", method, "--evidence", evid)
    marginals = answer(out)
    assert len(marginals) == len(raw.cards)
    for got, want in zip(marginals, raw.marginals(evidence)):
        np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_array_equal(marginals[1], np.eye(raw.cards[1])[1])  # evidence variable: 0/1

    code, out, _ = run(capsys, "infer", path, "--task", "MPE", "--method", method, "--evidence", evid)
    state = answer(out)
    assert state[1] == 1
    assert raw.potential(state) == pytest.approx(raw.best(evidence)[0], rel=1e-12)


def test_auto_reports_the_method_infer_chooses(tmp_path, capsys):
    for raw, expected in [(chain(np.random.default_rng(0)), "tree-bp"), (grid(np.random.default_rng(0)), "junction-tree")]:
        path = model_file(tmp_path, raw)
        assert infer(read_uai(path)).method == expected
        code, _, err = run(capsys, "infer", path, "--task", "MAR")
        assert code == 0 and f"method {expected} (requested auto)" in err


def test_beta_scales_the_model(tmp_path, capsys):
    raw = grid(np.random.default_rng(21))
    path = model_file(tmp_path, raw)
    code, out, _ = run(capsys, "infer", path, "--task", "MAR", "--beta", "2.5", "--method", "exact")
    for got, want in zip(answer(out), raw.marginals(beta=2.5)):
        np.testing.assert_allclose(got, want, atol=1e-10)
    code, out, _ = run(capsys, "infer", path, "--task", "PR", "--beta", "0.5", "--method", "exact")
    assert answer(out) == pytest.approx(math.log10(raw.partition(beta=0.5)), rel=1e-10)


def test_mpe_ties_are_broken_deterministically(tmp_path, capsys):
    # every assignment has the same potential: the lowest states win, whatever the method
    for raw in [RawModel([2] * 4, [(0, 1), (1, 2), (2, 3)], [np.ones(4)] * 3),
                RawModel([3] * 4, [(0, 1), (1, 3), (3, 2), (2, 0)], [np.ones(9)] * 4)]:
        path = model_file(tmp_path, raw)
        for method in ["auto", "exact", "bp"]:
            outs = {run(capsys, "infer", path, "--task", "MPE", "--method", method)[1] for _ in range(2)}
            assert outs == {"MPE\n4 0 0 0 0\n"}
    # two optimal assignments (0, 1) and (1, 0) of an anti-ferromagnetic pair: the smaller one, every time
    raw = RawModel([2, 2], [(0, 1)], [[1.0, 5.0, 5.0, 1.0]])
    path = model_file(tmp_path, raw)
    outs = {run(capsys, "infer", path, "--task", "MPE")[1] for _ in range(3)}
    assert outs == {"MPE\n2 0 1\n"} and raw.best()[1].tolist() == [0, 1]


def test_zero_probability_evidence(tmp_path, capsys):
    raw = RawModel([2, 2], [(0, 1)], [[1.0, 0.0, 0.0, 1.0]])  # x0 == x1
    path = model_file(tmp_path, raw)
    evid = tmp_path / "e.evid"
    evid.write_text("2 0 0 1 1\n")
    code, out, err = run(capsys, "infer", path, "--task", "PR", "--evidence", evid)
    assert code == 0 and out == "PR\n-inf\n"
    assert "zero partition" in err
    code, out, err = run(capsys, "infer", path, "--task", "MAR", "--evidence", evid, "--quiet")
    assert code == 1 and out == ""
    assert err.startswith("fgebm infer: zero partition") and len(err.splitlines()) == 1


def test_quiet_and_non_convergence(tmp_path, capsys):
    raw = grid(np.random.default_rng(22), n=3, low=0.05, high=20.0)
    path = model_file(tmp_path, raw)
    code, out, err = run(capsys, "infer", path, "--task", "MAR", "--quiet", "--method", "exact")
    assert code == 0 and err == "" and out.startswith("MAR\n")
    code, out, err = run(capsys, "infer", path, "--task", "MAR", "--method", "bp", "--max-iters", "2", "--quiet")
    assert code == 0
    assert err.startswith("fgebm: loopy BP did not converge in 2 iterations") and len(err.splitlines()) == 1
    code, out, err = run(capsys, "infer", path, "--task", "MAR", "--method", "bp", "--max-iters", "2")
    assert "did NOT converge" in err and "read " in err


@pytest.mark.parametrize("args, message", [
    (["--task", "MPE", "--beta", "2"], "--beta applies to MAR and PR"),
    (["--task", "PR", "--beta", "inf"], "--beta inf has no partition function"),
    (["--task", "MAR", "--beta", "-1"], "argument --beta: must be a number > 0 (or inf)"),
    (["--task", "MAR", "--max-iters", "0"], "argument --max-iters: must be an integer >= 1"),
    (["--task", "MAR", "--method", "magic"], "argument --method: invalid choice"),
    (["--task", "MAR", "--damping", "nan"], "argument --damping: must be 'auto' or a number in [0, 1), got 'nan'"),
    (["--task", "MAR", "--beta", "fast"], "argument --beta: must be a number > 0 (or inf), got 'fast'"),
    (["--task", "MMAP"], "argument --task: invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, message):
    path = model_file(tmp_path, chain(np.random.default_rng(0), n=2))
    with pytest.raises(SystemExit) as exc:
        main(["infer", str(path), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_bad_files_exit_1_with_one_line(tmp_path, capsys):
    path = model_file(tmp_path, chain(np.random.default_rng(0), n=3))
    evid = tmp_path / "bad.evid"
    evid.write_text("1\n7 0\n")
    for args, message in [
        (["infer", path, "--task", "MAR", "--evidence", evid], f"{evid}, line 2: evidence names variable 7"),
        (["infer", tmp_path / "missing.uai", "--task", "MAR"], "No such file"),
        (["infer", tmp_path / "model.txt", "--task", "MAR"], "unknown model format '.txt'"),
        (["info", tmp_path / "missing.fg"], "No such file"),
        (["convert", path, tmp_path / "out.xyz"], "unknown model format '.xyz'"),
    ]:
        code, out, err = run(capsys, *args, "--quiet")
        assert code == 1 and out == ""
        assert len(err.strip().splitlines()) == 1 and message in err, err
        code, out, err = run(capsys, *args)  # with progress lines before it, the error is still one line
        assert code == 1 and err.splitlines()[-1].startswith(f"fgebm {args[0]}: ") and message in err.splitlines()[-1]


def test_info(tmp_path, capsys):
    code, out, _ = run(capsys, "info", model_file(tmp_path, tree(np.random.default_rng(0))))
    assert code == 0
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert fields["variables"] == "6" and fields["factors"] == "6" and fields["states"] == "2 to 4"
    assert fields["max arity"] == "3" and fields["forest"] == "yes" and fields["elimination order"].endswith("width 2")
    assert fields["model"].endswith("(UAI MARKOV)") and fields["method auto"].startswith("tree BP")
    path = model_file(tmp_path, grid(np.random.default_rng(0), n=4))
    code, out, _ = run(capsys, "info", path)
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert fields["forest"] == "no" and fields["max arity"] == "2" and fields["variables"] == "16"
    assert fields["elimination order"].endswith("width 4")   # a 4 x 4 grid has treewidth 4
    assert "fits the memory budget" in fields["exact inference"] and fields["method auto"] == "exact (junction tree)"
    code, out, _ = run(capsys, "info", path, "--memory-budget", "100")
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert "over the memory budget of 100 B" in fields["exact inference"]
    assert fields["method auto"] == "loopy BP (exact inference is over the memory budget)"
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "info", path, "--memory-budget", "lots")
    assert exit_info.value.code == 2 and "--memory-budget='lots' is not a number of bytes" in capsys.readouterr().err


def test_convert_round_trip_across_formats(tmp_path, capsys):
    raw = tree(np.random.default_rng(24), zero_prob=0.2)
    assert raw.partition() > 0
    src = model_file(tmp_path, raw)
    for target in ["m.fg", "m.fg.gz", "back.uai"]:
        code, _, err = run(capsys, "convert", src if target != "back.uai" else tmp_path / "m.fg", tmp_path / target)
        assert code == 0, err
    z = math.log(raw.partition())
    for path, reader in [(tmp_path / "m.fg", read_libdai), (tmp_path / "m.fg.gz", read_libdai),
                         (tmp_path / "back.uai", read_uai)]:
        assert infer(reader(path), method="enumerate").log_partition == pytest.approx(z, rel=1e-12)
    code, out, _ = run(capsys, "info", tmp_path / "m.fg")
    assert "(libDAI)" in out
