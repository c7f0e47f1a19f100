"""The kernels' disk cache follows every source of ``kernels/``, not only the cached function's own file.

Numba keys a cached function on its own source file: a kernel that calls a
helper from another module would keep running the old helper's machine code
after the helper changed. ``kernels._jit.njit`` files the cache under a hash of
all of ``kernels/``; these tests change a helper in a copy of the package and
check that the kernel sees it.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import factorgraph_ebm

PACKAGE = pathlib.Path(factorgraph_ebm.__file__).parent

HELPER = """from ._jit import JIT, njit


@njit(**JIT)
def value():
    return {value}
"""

KERNEL = """from ._jit import JIT, njit, is_cached
from ._probe_helper import value


@njit(**JIT)
def probe():
    return value()
"""

RUN = ("from factorgraph_ebm.kernels._probe_kernel import probe, is_cached; "
       "before = is_cached(probe); print(before, probe())")


def _copy_with_probe(tmp_path, value):
    root = tmp_path / "pkg"
    if not root.exists():
        shutil.copytree(PACKAGE, root / "factorgraph_ebm", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "factorgraph_ebm" / "kernels" / "_probe_kernel.py").write_text(KERNEL)
    (root / "factorgraph_ebm" / "kernels" / "_probe_helper.py").write_text(HELPER.format(value=value))
    return root


def _run(root):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(root)
    env["FACTORGRAPH_EBM_COMPILE_NOTICE"] = "0"
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, timeout=120,
                         cwd=root)
    assert out.returncode == 0, out.stderr
    cached, result = out.stdout.split()
    return cached == "True", int(result)


def test_changed_helper_in_another_module_is_recompiled(tmp_path):
    root = _copy_with_probe(tmp_path, 1)
    assert _run(root) == (False, 1)
    assert _run(root) == (True, 1)          # the second process loads it from the disk cache
    _copy_with_probe(tmp_path, 2)           # only the helper's module changes
    assert _run(root) == (False, 2)
    cache = root / "factorgraph_ebm" / "kernels" / "__pycache__"
    assert len([p for p in cache.iterdir() if p.name.startswith("fgebm-")]) == 2


def test_every_kernel_module_decorates_with_the_cache_aware_njit():
    for path in sorted((PACKAGE / "kernels").glob("*.py")):
        if path.name == "_jit.py":
            continue
        source = path.read_text()
        assert "from numba import njit" not in source and "numba.njit" not in source, (
            f"{path.name} uses numba.njit: decorate with factorgraph_ebm.kernels._jit.njit so its cache follows "
            "the sources of kernels/")
