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


def test_readme_command_line_example_prints_what_it_shows(tmp_path):
    import subprocess
    import sys

    text = README.read_text()
    model = re.search(r"```\n(MARKOV\n.*?)```", text, flags=re.S).group(1)
    (tmp_path / "chain.uai").write_text(model)
    console = re.search(r"```console\n(.*?)```", text, flags=re.S).group(1)
    checked = 0
    for chunk in console.split("$ ")[1:]:
        command, *expected = chunk.strip().splitlines()
        if not expected:
            continue
        args = command.split()
        assert args[0] == "fgebm"
        out = subprocess.run([sys.executable, "-m", "factorgraph_ebm", *args[1:]], cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout
        assert out.split() == " ".join(expected).split()
        checked += 1
    assert checked >= 2
