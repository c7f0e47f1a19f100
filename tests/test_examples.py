"""Smoke tests for examples/quickstart.py (each other example has its own tests/test_example_<name>.py)."""

import pathlib
import re
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = [EXAMPLES / "quickstart.py"]
SMALL = ["--size", "4"]

#: Largest acceptable |P_bp - P_exact| on the small examples (loopy BP is approximate).
MARGINAL_TOL = 0.05
#: BP can never find a lower energy than the exact minimum (up to rounding).
ENERGY_SLACK = 1e-9


def _value(line):
    return float(line.rsplit(":", 1)[1])


def test_every_example_has_a_smoke_test():
    tests = pathlib.Path(__file__).resolve().parent
    for script in EXAMPLES.glob("*.py"):
        if script.name != "quickstart.py":
            assert (tests / f"test_example_{script.stem}.py").exists(), f"{script.name} has no smoke test"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs_at_small_size(script, monkeypatch, capsys):
    # In-process (the Numba kernels are loaded once per session), as `python script --size 4`.
    monkeypatch.setattr("sys.argv", [str(script), *SMALL])
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:  # a script may end with sys.exit(main())
        assert exc.code in (None, 0), f"{script.name} exited with {exc.code}"
    lines = capsys.readouterr().out.splitlines()
    assert lines, "the script printed nothing"
    if script.name == "quickstart.py":
        assert any("marginal gap" in line for line in lines), "quickstart printed no BP-vs-exact gap"
    for line in lines:
        if re.search(r"marginal gap.*:\s*-?\d", line):
            assert 0.0 <= _value(line) < MARGINAL_TOL, line
        if re.search(r"MAP energy gap \(BP - exact\):", line):
            assert _value(line) >= -ENERGY_SLACK, line


def test_quickstart_compares_bp_with_exact():
    ns = runpy.run_path(str(EXAMPLES / "quickstart.py"))  # not "__main__": nothing runs on import
    out = ns["main"]([*SMALL, "--seed", "1"])
    assert out["marginal_gap"] < MARGINAL_TOL
    assert out["map_energy_gap"] >= -ENERGY_SLACK
    assert abs(out["free_energy_gap"]) < 0.1      # Bethe free energy close to the exact one
    assert out["accuracy"] >= out["noisy_accuracy"]   # denoising does not make the image worse


def test_quickstart_rejects_a_bad_size(capsys):
    ns = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    with pytest.raises(SystemExit) as exc:
        ns["main"](["--size", "1"])
    assert exc.value.code == 2
    assert "--size must be >= 2" in capsys.readouterr().err
