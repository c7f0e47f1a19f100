"""Every module of the package imports by its dotted name, and no public name hides a subpackage."""

import importlib
import pkgutil

import pytest

import factorgraph_ebm

MODULES = sorted(m.name for m in pkgutil.walk_packages(factorgraph_ebm.__path__, "factorgraph_ebm.")
                 if m.name != "factorgraph_ebm.__main__")  # runs the command line when imported


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_by_dotted_name(name):
    module = importlib.import_module(name)
    # `import a.b.c as m` resolves attributes along the path: a function named
    # like its subpackage (factorgraph_ebm.infer once was) breaks it
    obj = factorgraph_ebm
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    assert obj is module
