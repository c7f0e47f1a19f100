"""What every script of examples/ shares: the same flags with the same meaning, a RESULT line, figures, a page.

Each script has its own smoke test (``tests/test_example_<name>.py`` runs it
with ``--quick`` in-process and parses its ``RESULT`` line). The tests here read
every script's ``build_parser()`` so the common flags cannot drift apart:

* ``--quick``: small sizes, seconds (what the smoke tests run);
* ``--plot DIR``: write the script's PNG figures (its ``FIGURES``) into DIR,
  created if missing; exit 2 naming matplotlib when it is not installed;
* ``--data DIR``: the folder of the script's data set (a folder of
  ``../shared/data``), for the scripts that read one.
"""

import argparse
import doctest
import importlib.util
import pathlib
import re
import sys

import pytest
from example_runner import EXAMPLES, exit_error, load, parse_result, run
from shared_data import shared_data

ROOT = EXAMPLES.parent
PAGES = ROOT / "docs" / "examples"
FIGURE_DIR = ROOT / "docs" / "figures"
SCRIPTS = ["denoising_pcd", "latent_pose", "linear_machines", "marginals", "ocr_letters", "pos_tagging",
           "quickstart", "rbm_free_energy"]
#: The data-set folder (under ../shared/data) of each script that reads one; the others use bundled data.
DATA = {"marginals": "ud_english_ewt", "ocr_letters": "ocr_letters", "pos_tagging": "ud_english_ewt"}
#: Extra arguments of the --plot run, to keep it short (every figure is still written).
PLOT_RUN = {"ocr_letters": ["--loss", "hinge", "--no-svc"]}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def namespaces():
    """Each script's namespace, loaded once (nothing runs on import)."""
    return {}


def script(namespaces, name):
    if name not in namespaces:
        namespaces[name] = load(name)
    return namespaces[name]


def options(parser):
    """``{option string: argparse action}`` of a parser."""
    return {flag: action for action in parser._actions for flag in action.option_strings}


def data_args(name):
    """``["--data", DIR]`` for a script that reads a data set (skips the test when it is missing), else ``[]``."""
    return ["--data", str(shared_data(DATA[name]))] if name in DATA else []


def test_the_list_of_scripts_is_complete():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_has_a_smoke_test_and_a_page(name):
    test = ROOT / "tests" / f"test_example_{name}.py"
    assert test.exists(), f"{name}.py has no smoke test"
    assert '"--quick"' in test.read_text(), f"{test.name} does not run --quick"
    assert (PAGES / f"{name}.md").exists(), f"{name}.py has no page in docs/examples/"


@pytest.mark.parametrize("name", SCRIPTS)
def test_common_flags_have_one_meaning(namespaces, name):
    ns = script(namespaces, name)
    assert callable(ns.get("build_parser")), f"{name}.py has no build_parser()"
    parser = ns["build_parser"]()
    flags = options(parser)
    quick = flags["--quick"]
    assert isinstance(quick, argparse._StoreTrueAction) and quick.default is False
    assert quick.help.startswith("small sizes, seconds (what the tests run)"), quick.help
    plot = flags["--plot"]
    assert (plot.metavar, plot.type, plot.default) == ("DIR", pathlib.Path, None)
    assert "into DIR, created if missing (needs matplotlib)" in plot.help, plot.help
    figures = ns["FIGURES"]
    assert figures and all(f.endswith(".png") for f in figures)
    assert all(f in plot.help for f in figures), plot.help
    if name in DATA:
        data = flags["--data"]
        assert (data.metavar, data.type) == ("DIR", pathlib.Path)
        assert data.default == ROOT.parent / "shared" / "data" / DATA[name]
        assert data.help.startswith("folder of the "), data.help
    else:
        assert "--data" not in flags
    assert not {"--plot-dir", "--data-dir"} & set(flags)
    assert re.search(r"--plot DIR\b", parser.format_help())


@pytest.mark.parametrize("name", SCRIPTS)
def test_page_shows_the_scripts_figures(namespaces, name):
    page = (PAGES / f"{name}.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\(\.\./figures/([^)]+)\)", page)
    assert shown, f"docs/examples/{name}.md shows no figure"
    for figure in shown:
        assert (FIGURE_DIR / figure).is_file(), f"docs/examples/{name}.md shows a missing figure {figure}"
    assert set(shown) <= set(script(namespaces, name)["FIGURES"]), "a figure the script's --plot does not write"
    assert "--plot" in page and "--quick" in page


@pytest.mark.parametrize("name", SCRIPTS)
def test_quick_run_with_plot_writes_its_figures_into_a_new_folder(namespaces, name, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (pip install -e '.[examples]')")
    pytest.importorskip("PIL", reason="the plots need Pillow (pip install -e '.[examples]')")
    folder = tmp_path / "new" / "figures"
    out, lines = run(script(namespaces, name), ["--quick", "--plot", str(folder), *data_args(name),
                                                *PLOT_RUN.get(name, [])])
    assert isinstance(out, dict) and parse_result(lines)
    assert sorted(p.name for p in folder.iterdir()) == sorted(script(namespaces, name)["FIGURES"])
    for path in folder.iterdir():
        assert path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("name", SCRIPTS)
def test_plot_without_matplotlib_exits_2_naming_it(namespaces, name, tmp_path, monkeypatch, capsys):
    argv = ["--quick", "--plot", str(tmp_path / "figures"), *data_args(name)]
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # as if matplotlib were not installed
    code, err = exit_error(script(namespaces, name), argv, capsys)
    assert code == 2
    assert "--plot needs matplotlib" in err.strip().splitlines()[-1]
    assert not (tmp_path / "figures").exists()


@pytest.mark.parametrize("name", SCRIPTS)
def test_plot_must_be_a_directory(namespaces, name, tmp_path, capsys):
    path = tmp_path / "figure.png"
    path.write_bytes(b"")
    code, err = exit_error(script(namespaces, name), ["--quick", "--plot", str(path), *data_args(name)], capsys)
    assert code == 2
    assert "--plot must be a directory" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("name", sorted(DATA))
def test_data_is_a_folder_and_a_missing_one_exits_2(namespaces, name, tmp_path, capsys):
    code, err = exit_error(script(namespaces, name), ["--quick", "--data", str(tmp_path / "missing")], capsys)
    assert code == 2
    assert str(tmp_path / "missing") in err.strip().splitlines()[-1]


@pytest.mark.parametrize("name", SCRIPTS)
def test_docstring_examples_run(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    failed, attempted = doctest.testmod(module, verbose=False)
    assert failed == 0
