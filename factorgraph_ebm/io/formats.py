"""Model files by extension: ``.uai`` (UAI) and ``.fg`` (libDAI), optionally ``.gz``."""

import os

from ..exceptions import DeclarationTypeError, FactorGraphError
from .libdai import read_libdai, write_libdai
from .uai import read_uai, write_uai

__all__ = ["MODEL_FORMATS", "model_format", "read_model", "write_model"]

#: Extension -> (reader, writer).
MODEL_FORMATS = {".uai": (read_uai, write_uai), ".fg": (read_libdai, write_libdai)}


def model_format(path):
    """The model extension of ``path`` (``".uai"`` or ``".fg"``), ignoring a final ``.gz``.

    Examples
    --------
    >>> model_format("grid.uai.gz"), model_format("alarm.FG")
    ('.uai', '.fg')
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DeclarationTypeError(f"path must be a str or os.PathLike (its extension picks the format), "
                                   f"got {type(path).__name__}")
    stem = os.fspath(path).lower()
    if stem.endswith(".gz"):
        stem = stem[:-3]
    ext = os.path.splitext(stem)[1]
    if ext not in MODEL_FORMATS:
        raise FactorGraphError(f"{os.fspath(path)}: unknown model format {ext or '(no extension)'!r}; use .uai or .fg")
    return ext


def read_model(path, *, limits=None):
    """Read a ``.uai`` or ``.fg`` model (chosen by extension) into a FactorGraph.

    ``limits`` (a :class:`~factorgraph_ebm.io.ReadLimits` or a mapping) goes to the reader.
    """
    return MODEL_FORMATS[model_format(path)][0](path, limits=limits)


def write_model(fg, path, **options):
    """Write ``fg`` as ``.uai`` or ``.fg`` (chosen by extension); ``options`` go to the writer."""
    MODEL_FORMATS[model_format(path)][1](fg, path, **options)
