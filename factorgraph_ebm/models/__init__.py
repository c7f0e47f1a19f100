"""Ready-made declarations of common structures (they return FactorGraph objects)."""

from .potts import chain_graph, grid_edges, potts_grid

__all__ = ["chain_graph", "grid_edges", "potts_grid"]
