"""Compilation layer: declared graphs + evidence + parameters -> flat arrays."""

from .compiled import CompiledGraph, Wiring
from .lower import compile_graph, resolve_evidence, with_clamped, with_evidence, with_parameters

__all__ = ["CompiledGraph", "Wiring", "compile_graph", "resolve_evidence", "with_clamped", "with_evidence", "with_parameters"]
