"""examples/pos_tagging.py: the quick run tags real EWT sentences far above the majority baseline."""

import re

import pytest
from example_runner import exit_error, load
from shared_data import shared_data


@pytest.fixture(scope="module")
def example():
    return load("pos_tagging")


def test_quick_run_reports_a_parsable_result_far_above_chance(example, capsys):
    out = example["main"](["--quick", "--data", str(shared_data("ud_english_ewt"))])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"RESULT accuracy=([0-9.]+) train_seconds=([0-9.]+)", last)
    assert match, last
    accuracy = float(match.group(1))
    assert accuracy == pytest.approx(out["accuracy"], abs=1e-4)
    # NOUN, the most frequent of the 17 tags, is about 17% of the tokens; 300 sentences reach ~90%.
    assert accuracy > 0.8
    assert out["tokens_per_second"] > 0 and float(match.group(2)) > 0


@pytest.mark.parametrize("argv, message", [
    (["--loss", "nope"], "--loss must be one of"),
    (["--max-iter", "0"], "--max-iter must be >= 1"),
    (["--l2", "-1"], "--l2 values must be > 0"),
    (["--data", "/nonexistent"], "missing data file"),
])
def test_bad_arguments_exit_2_with_one_line(example, capsys, argv, message):
    code, err = exit_error(example, argv, capsys)
    assert code == 2
    assert message in err.strip().splitlines()[-1]
