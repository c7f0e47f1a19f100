"""Running a script of examples/ in-process, as the example smoke tests do."""

import contextlib
import io
import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    """The namespace of ``examples/<name>.py`` (nothing runs on import: run_name is not "__main__")."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))


def run(namespace, argv):
    """``main(argv)`` with its stdout captured: ``(returned dict, printed lines)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = namespace["main"](argv)
    return result, out.getvalue().splitlines()


def parse_result(lines):
    """The ``RESULT key=value ...`` line (the last one printed) as a dict of floats."""
    assert lines[-1].startswith("RESULT "), lines[-1]
    return {key: float(value) for key, value in (item.split("=", 1) for item in lines[-1].split()[1:])}


def exit_error(namespace, argv, capsys):
    """Run ``main(argv)``, which must exit (argparse error); returns ``(exit code, stderr text)``."""
    with pytest.raises(SystemExit) as exc:
        namespace["main"](argv)
    return exc.value.code, capsys.readouterr().err
