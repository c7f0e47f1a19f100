"""Peer loopy BP on N x N Potts-style grids using PGMax (JAX), for benchmarks.

Runs only in the separate benchmark virtualenv (``/work/venv-bench``), which
has ``pgmax==0.6.1``, ``jax==0.4.30`` and ``jaxlib==0.4.30`` (CPU). It does not
depend on ``factorgraph_ebm``. The problem definition is the same as in
``_numpy_bp.py`` (energy domain, flooding schedule, zero initial messages).

Energy -> PGMax translation
---------------------------
PGMax works with log potentials (higher = more likely) and a ``temperature`` T
in its factor update ``msg = T * logsumexp((log_pot + incoming) / T)`` (T=0 is
max-product). Evidence (unary log potentials) is *not* divided by T, and
``get_marginals`` is a plain softmax of the beliefs, so:

* sum-product at inverse temperature ``beta``: log potentials ``-beta * pair``,
  evidence ``-beta * unary``, ``temperature=1``; marginals = softmax(beliefs).
* min-sum (``beta = inf``): log potentials ``-pair``, evidence ``-unary``,
  ``temperature=0``; min-marginal energies = ``max(beliefs) - beliefs``.

PGMax semantics worth knowing (checked against the pgmax 0.6.1 source)
----------------------------------------------------------------------
* Schedule: flooding, identical to ours (all var->factor messages from the
  previous factor->var messages, then all factor->var messages).
* Damping: ``new = damping * old + (1 - damping) * new`` in the log domain,
  same convention as ours, but the *default* is ``damping=0.5``; we always
  pass it explicitly.
* Messages are max-normalized after every iteration and clipped below at
  -1e32; log potentials are clipped to [-1e6, 1e6]. Normalization does not
  change marginals; the clipping only matters for absurd energies.
* ``temperature == 0.0`` is a Python-level branch, so temperature must be a
  static Python float (it is closed over here).
* JAX computes in float32 unless ``jax_enable_x64`` is on; this module turns
  x64 on by default (``x64=True``) so results match the float64 NumPy
  reference to ~1e-12. Use ``x64=False`` to benchmark PGMax's default
  float32 path. The flag is global JAX state.
* Factor updates are generic EnumFactor scatter/gather over all K*K configs
  per factor (no Potts special-casing), like the NumPy reference.
* ``bp.run`` is not jitted by PGMax itself; we jit it with ``num_iters``,
  ``damping`` and ``temperature`` static, and compile ahead of time so that
  compile time can be reported separately.

Typical use::

    model = PGMaxGridBP(n, k, pair, beta, damping=0.0)
    arrs = model.init_arrays(unary)
    compile_s = model.compile(n_iters)          # JIT compile only
    out = model.run(arrs, n_iters)              # blocks until ready
    marg = model.marginals(out)

``bp_grid.py`` times it the same way as the other engines.
"""

from __future__ import annotations

import time
from typing import Dict

import numpy as np
import jax

# pgmax 0.6.1 only uses ``jax.lib.xla_bridge.get_backend().platform`` (a TPU
# warning in InfererContext). jax 0.4.30 still has jax.lib.xla_bridge, so this
# guarded shim is a no-op there; newer jax removed it. Public-API-only shim:
if not hasattr(jax.lib, "xla_bridge"):  # pragma: no cover - newer jax only
    import types as _types

    jax.lib.xla_bridge = _types.SimpleNamespace(
        get_backend=lambda: _types.SimpleNamespace(platform=jax.default_backend()))

from pgmax import fgraph, fgroup, infer, vgroup  # noqa: E402

__all__ = ["PGMaxGridBP"]


class PGMaxGridBP:
    """An N x N grid pairwise model built in PGMax, with jitted BP runners.

    Args:
        n: grid side N.
        k: number of states K.
        pair: (K, K) energy table shared by every edge, or (E, K, K), one per edge (horizontal edges in
            row-major order, then vertical), indexed [first (left/top), second].
        beta: inverse temperature; ``np.inf`` selects max-product (min-sum).
        damping: damping factor passed to PGMax (its default would be 0.5).
        x64: enable JAX float64 (global JAX flag) before building anything.
    """

    def __init__(self, n: int, k: int, pair: np.ndarray, beta: float,
                 damping: float = 0.0, x64: bool = True):
        jax.config.update("jax_enable_x64", bool(x64))
        pair = np.asarray(pair, dtype=np.float64)
        n_edges = 2 * n * (n - 1)
        if pair.shape not in ((k, k), (n_edges, k, k)):
            raise ValueError(f"pair must be ({k}, {k}) or ({n_edges}, {k}, {k}), got {pair.shape}")
        self.n, self.k = n, k
        self.beta = float(beta)
        self.min_sum = bool(np.isinf(beta))
        self.scale = 1.0 if self.min_sum else self.beta  # log_pot = -scale * E
        self.temperature = 0.0 if self.min_sum else 1.0
        self.damping = float(damping)

        t0 = time.perf_counter()
        self.variables = vgroup.NDVarArray(num_states=k, shape=(n, n))
        v = self.variables
        edges = [[v[i, j], v[i, j + 1]] for i in range(n) for j in range(n - 1)]
        edges += [[v[i, j], v[i + 1, j]] for i in range(n - 1) for j in range(n)]
        self.fg = fgraph.FactorGraph(variable_groups=v)
        self.fg.add_factors(
            fgroup.PairwiseFactorGroup(
                variables_for_factors=edges,
                log_potential_matrix=-self.scale * pair,
            )
        )
        self.bp = infer.BP(self.fg.bp_state, temperature=self.temperature)
        self.build_seconds = time.perf_counter() - t0
        self._runners: Dict[int, object] = {}

    def init_arrays(self, unary: np.ndarray):
        """Return PGMax ``BPArrays`` with evidence ``-scale * unary`` and zero messages."""
        unary = np.asarray(unary, dtype=np.float64)
        if unary.shape != (self.n, self.n, self.k):
            raise ValueError(f"unary must be {(self.n, self.n, self.k)}, got {unary.shape}")
        arrs = self.bp.init(evidence_updates={self.variables: -self.scale * unary})
        return jax.block_until_ready(arrs)

    def _jitted(self, n_iters: int):
        # Jit over the three flat arrays rather than the BPArrays pytree:
        # BPArrays' custom flattening trips JAX 0.4.30's AOT input-tree check.
        bp, damping, temperature = self.bp, self.damping, self.temperature

        def run_flat(log_potentials, ftov_msgs, evidence):
            arrs = infer.BPArrays(log_potentials=log_potentials,
                                  ftov_msgs=ftov_msgs, evidence=evidence)
            out = bp.run(arrs, num_iters=n_iters, damping=damping,
                         temperature=temperature)
            return out.ftov_msgs

        return jax.jit(run_flat)

    @staticmethod
    def _flat(arrs):
        return (arrs.log_potentials, arrs.ftov_msgs, arrs.evidence)

    def compile(self, n_iters: int, arrs=None) -> float:
        """AOT-compile the ``n_iters`` runner; return the trace+compile seconds."""
        if arrs is None:
            arrs = self.init_arrays(np.zeros((self.n, self.n, self.k)))
        t0 = time.perf_counter()
        self._runners[n_iters] = self._jitted(n_iters).lower(*self._flat(arrs)).compile()
        return time.perf_counter() - t0

    def run(self, arrs, n_iters: int):
        """Run ``n_iters`` BP iterations (compiling first if needed); blocks.

        Returns a new ``BPArrays`` with the updated factor-to-variable messages.
        """
        if n_iters not in self._runners:
            self.compile(n_iters, arrs)
        msgs = jax.block_until_ready(self._runners[n_iters](*self._flat(arrs)))
        return infer.BPArrays(log_potentials=arrs.log_potentials, ftov_msgs=msgs,
                              evidence=arrs.evidence)

    def marginals(self, arrs) -> np.ndarray:
        """(N, N, K) marginals, or normalized min-marginal energies if beta=inf."""
        beliefs = self.bp.get_beliefs(arrs)
        if self.min_sum:
            b = np.asarray(beliefs[self.variables], dtype=np.float64)
            return b.max(axis=-1, keepdims=True) - b
        return np.asarray(infer.get_marginals(beliefs)[self.variables], dtype=np.float64)
