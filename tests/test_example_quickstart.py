"""examples/quickstart.py: loopy BP against the exact junction tree on a small denoising grid."""

import pytest
from example_runner import exit_error, load, parse_result, run

#: Largest acceptable |P_bp - P_exact| on the small examples (loopy BP is approximate).
MARGINAL_TOL = 0.05
#: BP can never find a lower energy than the exact minimum (up to rounding).
ENERGY_SLACK = 1e-9


@pytest.fixture(scope="module")
def example():
    return load("quickstart")


@pytest.fixture(scope="module")
def quick(example):
    """One ``--quick`` run (a 4 x 4 image): ``(returned dict, printed lines)``."""
    return run(example, ["--quick"])


def test_quick_run_prints_its_numbers_on_the_result_line(quick):
    out, lines = quick
    assert any(line.startswith("model: 4x4 image") for line in lines)
    printed = parse_result(lines)
    assert set(printed) == set(out)
    for key, value in out.items():
        assert printed[key] == pytest.approx(value, rel=1e-5, abs=1e-12)


def test_quick_run_compares_bp_with_exact(quick):
    out, lines = quick
    assert any("marginal gap" in line for line in lines), "quickstart printed no BP-vs-exact gap"
    assert 0.0 <= out["marginal_gap"] < MARGINAL_TOL
    assert out["map_energy_gap"] >= -ENERGY_SLACK
    assert abs(out["free_energy_gap"]) < 0.1      # Bethe free energy close to the exact one


def test_default_size_with_another_seed(example):
    out, lines = run(example, ["--seed", "1"])
    assert any(line.startswith("model: 6x6 image") for line in lines)
    assert out["marginal_gap"] < MARGINAL_TOL
    assert out["map_energy_gap"] >= -ENERGY_SLACK
    assert out["accuracy"] >= out["noisy_accuracy"]   # denoising does not make the image worse


def test_a_large_image_skips_the_exact_comparison(example):
    out, lines = run(example, ["--size", "9"])
    assert any("exact comparison skipped" in line for line in lines)
    assert "marginal_gap" not in out and set(parse_result(lines)) == set(out)


@pytest.mark.parametrize("argv, message", [
    (["--size", "1"], "--size must be >= 2"),
    (["--flip", "0.5"], "--flip must be in (0, 0.5)"),
])
def test_bad_arguments_exit_2(example, capsys, argv, message):
    code, err = exit_error(example, argv, capsys)
    assert code == 2
    assert message in err
