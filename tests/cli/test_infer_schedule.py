"""``fgebm infer --schedule``: every loopy schedule answers MAR on a loopy grid and the log names it."""

import io

import numpy as np
import pytest

from factorgraph_ebm.cli.main import main
from factorgraph_ebm.io import read_result
from model_files import grid


@pytest.mark.parametrize("schedule", ["auto", "flood", "sequential", "random", "residual"])
def test_schedule_option_runs_and_is_reported(tmp_path, capsys, schedule):
    raw = grid(np.random.default_rng(12), n=3, low=0.5, high=2.0)
    path = tmp_path / "grid.uai"
    path.write_text(raw.uai_text())
    code = main(["infer", str(path), "--task", "MAR", "--method", "bp", "--schedule", schedule])
    out, err = capsys.readouterr()
    assert code == 0, err
    line = next(line for line in err.splitlines() if "method loopy-bp" in line)
    ran = line.split("schedule ")[1].split(",")[0]
    assert ran == schedule or (schedule == "auto" and ran in ("flood", "sequential", "residual"))
    assert "converged after" in line and "last message change" in line
    got = np.array(read_result(io.StringIO(out))[1][0])
    assert abs(got.sum() - 1.0) < 1e-9
    want = np.array(raw.marginals())
    marginals = np.array([np.asarray(m) for m in read_result(io.StringIO(out))[1]])
    assert np.abs(marginals - want).max() < 0.02


def test_bad_schedule_is_refused(tmp_path, capsys):
    raw = grid(np.random.default_rng(12), n=3)
    path = tmp_path / "grid.uai"
    path.write_text(raw.uai_text())
    with pytest.raises(SystemExit) as exc:
        main(["infer", str(path), "--task", "MAR", "--schedule", "tree"])
    assert exc.value.code == 2
    assert "--schedule" in capsys.readouterr().err
