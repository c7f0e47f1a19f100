"""Standard model files: UAI (``.uai``, ``.evid``, MAR / MPE / PR results) and libDAI ``.fg``.

Files hold potentials; the engine holds energies ``E = -log(potential)``
(zero potential = ``+inf``, a forbidden configuration). Every reader raises
:class:`~factorgraph_ebm.ParseError`, naming the file and the line, on
malformed input, and :class:`~factorgraph_ebm.ResourceLimitError` (a
``ParseError``) when a file asks for more than its :class:`ReadLimits` allow.
"""

from .conllu import CONLLU_COLUMNS, read_conllu
from .evidence import LAYOUTS, read_evidence, write_evidence
from .formats import MODEL_FORMATS, model_format, read_model, write_model
from .libdai import read_libdai, write_libdai
from .limits import ReadLimits
from .results import TASKS, format_result, read_result, write_result
from .uai import NETWORKS, read_uai, write_uai

__all__ = [
    "CONLLU_COLUMNS",
    "LAYOUTS",
    "MODEL_FORMATS",
    "NETWORKS",
    "ReadLimits",
    "TASKS",
    "format_result",
    "model_format",
    "read_conllu",
    "read_evidence",
    "read_libdai",
    "read_model",
    "read_result",
    "read_uai",
    "write_evidence",
    "write_libdai",
    "write_model",
    "write_result",
    "write_uai",
]
