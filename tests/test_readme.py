"""The README's Python snippets run and print what their comments say."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_python_example():
    assert python_blocks()


def test_readme_snippets_run_and_match_their_comments():
    for block in python_blocks():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), {})
        printed = out.getvalue().splitlines()
        expected = [line.split("# ", 1)[1] for line in block.splitlines()
                    if line.startswith("print(") and "# " in line]
        for line in expected:
            assert line in printed
