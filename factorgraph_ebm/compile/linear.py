"""Vectorized tables and gradients of every LinearEnergy of a compiled batch.

A batch of many small graphs (one per training example) holds one
LinearEnergy per example, all naming the same parameter. Evaluating them one
by one costs a Python call per example and per parameter change. The plan
built here stacks the feature rows of every LinearEnergy that names the same
parameter into one matrix, once per compiled structure, so refreshing the
tables is one product ``-(features @ W)`` and the gradient one product
``-(features.T @ sensitivity)`` per parameter.

Other energies (custom ones) keep the generic per-declaration path.
"""

from dataclasses import dataclass

import numpy as np

from ..graph.energies import LinearEnergy
from ..utils.lazy import is_sparse, lazy_module

__all__ = ["LinearPlan", "linear_plan", "table_index_of_entries"]

_sparse = lazy_module("scipy.sparse")


@dataclass
class _Group:
    """LinearEnergy declarations sharing a parameter (and a feature kind)."""

    parameter: str
    rows: object          # (R, n_features) dense or CSR; None for "table = -W"
    dest: np.ndarray      # first-half table positions of every entry, C order, slot after slot
    wshape: tuple         # the shape W must have
    n_slots: int


class LinearPlan:
    """Stacked LinearEnergy evaluation for one compiled structure.

    Attributes
    ----------
    groups : list
        One group per (parameter, feature kind).
    generic_slots : list
        ``spec_slots`` entries whose energy is not covered (custom energies).
    mirror_src, mirror_dst : ndarray int64
        After the first half of ``tables`` changed at the groups' positions,
        ``tables[mirror_dst] = tables[mirror_src]`` refreshes the second copy
        (transposed for pairwise blocks).
    """

    def __init__(self, compiled):
        w = compiled.wiring
        half = len(w.tables) // 2
        parts = {}
        self.generic_slots = []
        mirror_src, mirror_dst = [], []
        seen_blocks = set()
        for slot in compiled.spec_slots:
            _, spec, first, first_block = slot
            energy = spec.energy
            if not energy.parameter_names:
                continue
            n_blocks = int(w.factor_block[first + spec.n_factors - 1] - first_block + 1)
            if n_blocks == 1:
                if first_block in seen_blocks:   # a table shared with an earlier graph of the batch
                    continue
                seen_blocks.add(first_block)
            start = int(w.block_ptr[first_block])
            size = int(w.block_ptr[first_block + n_blocks] - start)
            rows = energy.feature_rows() if type(energy) is LinearEnergy and energy.features is not None else None
            if type(energy) is not LinearEnergy or (rows is not None and size % rows.shape[0]):
                self.generic_slots.append(slot)
                continue
            full = tuple(spec.states) if n_blocks == 1 else (n_blocks, *spec.states)
            if rows is not None and n_blocks == 1 and spec.is_group and energy.lead_shape[:1] == (1,):
                full = (1, *spec.states)       # a group of one factor with per-factor features
            if rows is None:
                key = (energy.parameter, "table", full)
            else:
                lead = energy.lead_shape
                if full[:len(lead)] != lead:
                    self.generic_slots.append(slot)
                    continue
                kind = "sparse" if is_sparse(rows) else "dense"
                key = (energy.parameter, kind, (rows.shape[1], *full[len(lead):]))
            part = parts.setdefault(key, ([], []))
            part[0].append(rows)
            part[1].append(np.arange(start, start + size, dtype=np.int64))
            local = np.arange(size, dtype=np.int64)
            if spec.arity == 2:
                k0, k1 = spec.states
                local = local.reshape(n_blocks, k0, k1).transpose(0, 2, 1).ravel()
            mirror_dst.append(half + start + np.arange(size, dtype=np.int64))
            mirror_src.append(start + local)
        self.groups = []
        for (name, kind, wshape), (rows, dest) in parts.items():
            if kind == "table":
                stacked = None
            else:
                stacked = _sparse.vstack(rows, format="csr") if kind == "sparse" else np.concatenate(rows, axis=0)
            self.groups.append(_Group(name, stacked, np.concatenate(dest), wshape, len(dest)))
        empty = np.zeros(0, dtype=np.int64)
        self.mirror_src = np.concatenate(mirror_src) if mirror_src else empty
        self.mirror_dst = np.concatenate(mirror_dst) if mirror_dst else empty

    def group_values(self, group, parameters):
        """First-half table values of a group, or None when the generic path must decide (errors)."""
        if group.parameter not in parameters:
            return None
        wgt = np.asarray(parameters[group.parameter], dtype=np.float64)
        if wgt.shape != group.wshape:
            return None
        if group.rows is None:
            values = np.tile(-wgt.ravel(), group.n_slots)
        else:
            values = -np.asarray(group.rows @ wgt.reshape(wgt.shape[0], -1)).ravel()
        if np.isnan(values).any() or np.isneginf(values).any():
            return None
        return values

    def gradient(self, table_sensitivity, parameters):
        """``dLoss/dW`` of every group's parameter from a sensitivity in the table layout."""
        out = {}
        for group in self.groups:
            sens = table_sensitivity[group.dest]
            if group.rows is None:
                g = -sens.reshape(group.n_slots, -1).sum(axis=0).reshape(group.wshape)
            else:
                g = -np.asarray(group.rows.T @ sens.reshape(group.rows.shape[0], -1)).reshape(group.wshape)
            out[group.parameter] = out[group.parameter] + g if group.parameter in out else g
        return out


def linear_plan(compiled):
    """The :class:`LinearPlan` of a compiled structure (built once, shared by its variants)."""
    plan = compiled.cache.get("linear_plan")
    if plan is None:
        plan = compiled.cache["linear_plan"] = LinearPlan(compiled)
    return plan


def table_index_of_entries(compiled):
    """(n_entries,) int64 position in ``wiring.tables`` of every factor entry (factor-entry layout).

    Factors that share a table map their entries to the same positions, so
    ``np.bincount(index, weights=sensitivity)`` sums their sensitivities.
    """
    index = compiled.cache.get("table_index")
    if index is None:
        w = compiled.wiring
        ptr = compiled.factor_entry_ptr
        sizes = np.diff(ptr)
        index = np.repeat(w.block_ptr[w.factor_block] - ptr[:-1], sizes) + np.arange(int(ptr[-1]), dtype=np.int64)
        index.setflags(write=False)
        compiled.cache["table_index"] = index
    return index
