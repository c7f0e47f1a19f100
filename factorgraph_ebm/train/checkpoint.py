"""Training checkpoints: everything a run needs to continue exactly, in one ``.npz`` + JSON file.

Arrays: the parameters, the best parameters (early stopping) and the
optimizer's state. JSON: epoch and step counters, the shuffle generator's
state, the history, early-stopping counters, and a fingerprint of the
configuration (a checkpoint only resumes the same configuration).
"""

import numpy as np

from ..exceptions import ParseError
from ..graph.parameters import Parameters
from ..utils.npz import read_npz_json, write_npz_json

__all__ = ["save_checkpoint", "load_checkpoint", "rng_from_state"]

FORMAT = "factorgraph_ebm.checkpoint"
VERSION = 1


def save_checkpoint(path, parameters, best_parameters, optimizer_arrays, meta):
    """Write a checkpoint atomically (a crash keeps the previous one intact).

    Parameters
    ----------
    path : str or path
    parameters : Parameters
    best_parameters : Parameters or None
    optimizer_arrays : dict str -> array
    meta : dict
        JSON-able training state (counters, generator state, history...).
    """
    arrays = {f"param/{k}": v for k, v in parameters.items()}
    if best_parameters is not None:
        arrays.update({f"best/{k}": v for k, v in best_parameters.items()})
    arrays.update({f"opt/{k}": np.asarray(v) for k, v in optimizer_arrays.items()})
    write_npz_json(path, arrays, {"format": FORMAT, "version": VERSION,
                                  "has_best": best_parameters is not None, **meta})


def load_checkpoint(path):
    """Read a checkpoint: ``(parameters, best_parameters or None, optimizer_arrays, meta)``."""
    arrays, meta = read_npz_json(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ParseError(path, None, "not a training checkpoint")
    if meta.get("version") != VERSION:
        raise ParseError(path, None, f"checkpoint version {meta.get('version')!r} is not supported")
    groups = {"param": Parameters(), "best": Parameters(), "opt": {}}
    for key, value in arrays.items():
        prefix, _, name = key.partition("/")
        if prefix not in groups:
            raise ParseError(path, None, f"unexpected entry {key!r}")
        groups[prefix][name] = value
    best = groups["best"] if meta.get("has_best") else None
    return groups["param"], best, groups["opt"], meta


def rng_from_state(state):
    """A Generator whose bit generator is restored from ``Generator.bit_generator.state``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> clone = rng_from_state(rng.bit_generator.state)
    >>> int(clone.integers(1000)) == int(rng.integers(1000))
    True
    """
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
