"""``fgebm`` never prints a traceback: one line on standard error and a documented exit status per kind of failure."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from factorgraph_ebm.cli import infer as infer_module
from factorgraph_ebm.cli.main import EXIT_STATUS, exit_status, main
from factorgraph_ebm.exceptions import (
    DeclarationError,
    EvidenceError,
    InferenceError,
    MemoryBudgetError,
    ParseError,
    ResourceLimitError,
    ZeroPartitionError,
)
from model_files import chain


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.uai"
    path.write_text(chain(np.random.default_rng(0), n=3).uai_text())
    return path


def failing(monkeypatch, exc):
    def run_infer(args):
        raise exc

    monkeypatch.setattr(infer_module, "run_infer", run_infer)


def one_line(capsys):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fgebm infer: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("exc, status", [
    (ParseError("m.uai", 3, "bad"), 1),
    (DeclarationError("bad factor"), 1),
    (EvidenceError("bad evidence"), 1),
    (ZeroPartitionError("zero partition"), 1),
    (FileNotFoundError(2, "No such file or directory", "m.uai"), 1),
    (InferenceError("schedule='tree' needs a forest"), 2),
    (ResourceLimitError("m.uai", 2, "variable 0 has 10**12 states", "states", 10**12, 2**20), 3),
    (MemoryBudgetError("needs 7 TB, over the memory budget of 6 GB", 7e12, 6e9), 3),
    (MemoryError(), 3),
    (KeyboardInterrupt(), 130),
])
def test_each_failure_is_one_line_with_its_status(monkeypatch, capsys, model, exc, status):
    failing(monkeypatch, exc)
    assert main(["infer", str(model), "--task", "MAR"]) == status == exit_status(exc)
    line = one_line(capsys)
    if isinstance(exc, MemoryError):
        assert "out of memory" in line
    elif isinstance(exc, KeyboardInterrupt):
        assert line == "fgebm infer: interrupted"
    else:
        assert str(exc).split(":")[-1].strip() in line


def test_an_internal_error_says_it_is_a_bug_and_where_to_report_it(monkeypatch, capsys, model):
    failing(monkeypatch, ZeroDivisionError("division by zero"))
    assert main(["infer", str(model), "--task", "MAR"]) == EXIT_STATUS["internal error"] == 4
    line = one_line(capsys)
    assert "internal error (ZeroDivisionError: division by zero)" in line
    assert "please report it" in line and "FGEBM_DEBUG=1" in line


def test_fgebm_debug_shows_the_traceback_of_internal_errors_only(monkeypatch, capsys, model):
    monkeypatch.setenv("FGEBM_DEBUG", "1")
    failing(monkeypatch, ZeroDivisionError("division by zero"))
    with pytest.raises(ZeroDivisionError):
        main(["infer", str(model), "--task", "MAR"])
    failing(monkeypatch, ParseError("m.uai", 3, "bad"))
    assert main(["infer", str(model), "--task", "MAR"]) == 1  # documented errors stay one line


def test_warnings_are_one_line(monkeypatch, capsys, model):
    def run_infer(args):
        warnings.warn("overflow encountered in exp\n  second line", RuntimeWarning)
        return 0

    monkeypatch.setattr(infer_module, "run_infer", run_infer)
    assert main(["infer", str(model), "--task", "MAR"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "fgebm: warning: overflow encountered in exp second line (RuntimeWarning)"


def test_a_real_process_prints_no_traceback_for_an_internal_error(tmp_path, model):
    """Through the installed entry point's code path, with Python's own exit handling."""
    script = ("import sys; from factorgraph_ebm.cli import infer, main as m\n"
              "infer.run_infer = lambda args: 1 / 0\n"
              "sys.exit(m.main(sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", script, "infer", str(model), "--task", "MAR"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 4
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
