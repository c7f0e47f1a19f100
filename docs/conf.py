"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

The pages are Markdown (MyST); the API reference is generated from the
numpydoc docstrings by autodoc + napoleon. Importing this file only makes
assignments and defines functions (``setup`` runs inside Sphinx), so
``pytest --doctest-modules``, which imports every .py under docs/, finds
nothing to run here. (A docs/conftest.py cannot exclude it: its module name
would clash with tests/conftest.py.)
"""

import logging

import factorgraph_ebm

project = "factorgraph-ebm"
author = "factorgraph-ebm developers"
copyright = "factorgraph-ebm developers"
release = factorgraph_ebm.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

# MyST: "#section" links to headings (learning.md#custom-energies), {toctree} etc.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# autodoc + napoleon (numpy-style docstrings).
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameters and Attributes sections as one field list each, types as plain
# text ("ndarray (n_vars,) int64" is prose, not a reference) and "a, b : type"
# entries kept whole. Attributes rendered like Parameters also means no second
# object description next to what autodoc documents (NamedTuple fields).
napoleon_use_param = False
napoleon_custom_sections = [("Attributes", "params_style")]
# Type fields such as "ndarray (n_vars,)" are prose; several classes have an
# n_vars or shape attribute, so the python domain would warn that the word is
# ambiguous. Ambiguity is the only ref.python warning when nitpicky is off.
suppress_warnings = ["ref.python"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"

html_theme = "alabaster"
html_title = f"factorgraph-ebm {release}"


def _keep_unless_empty_glob(record):
    """Drop "toctree glob pattern ... didn't match any documents" only.

    index.md globs ``models*`` and ``examples/*`` so that model and example
    pages join the site as they are added; a checkout without them must
    still build with -W. (Sphinx logs this warning without a type, so
    ``suppress_warnings`` cannot name it.)
    """
    return "didn't match any documents" not in record.getMessage()


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """NamedTuple fields are listed in the class's Attributes section already."""
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def setup(app):
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_keep_unless_empty_glob)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
