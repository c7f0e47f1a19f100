"""Training checkpoints: everything a run needs to continue exactly, in one ``.npz`` + JSON file.

Arrays: the parameters, the best parameters (early stopping), the
optimizer's state and, for a loss that samples, its persistent chains. JSON:
epoch and step counters, the shuffle generator's state, the history,
early-stopping counters, the sampling loss's seed and sweep counter, and a
fingerprint of the configuration (a checkpoint only resumes the same
configuration).
"""

import numpy as np

from ..exceptions import ParseError
from ..utils.npz import read_npz_json, write_npz_json
from ..utils.saved import (BIT_GENERATORS, check_bool, check_choice, check_count, check_dict,
                           check_fields, check_format, check_number, check_parameter_arrays,
                           check_rng_state, saved_error)

__all__ = ["save_checkpoint", "load_checkpoint", "rng_from_state", "check_optimizer_arrays", "BIT_GENERATORS"]

FORMAT = "factorgraph_ebm.checkpoint"
VERSION = 1


def save_checkpoint(path, parameters, best_parameters, optimizer_arrays, meta, loss_arrays=None):
    """Write a checkpoint atomically (a crash keeps the previous one intact).

    Parameters
    ----------
    path : str or path
    parameters : Parameters
    best_parameters : Parameters or None
    optimizer_arrays : dict str -> array
    meta : dict
        JSON-able training state (counters, generator state, history...;
        ``loss_state`` for a loss that samples).
    loss_arrays : dict str -> array, optional
        Arrays of a sampling loss's state (its persistent chains), saved as ``loss/<name>``.
    """
    arrays = {f"param/{k}": v for k, v in parameters.items()}
    if best_parameters is not None:
        arrays.update({f"best/{k}": v for k, v in best_parameters.items()})
    arrays.update({f"opt/{k}": np.asarray(v) for k, v in optimizer_arrays.items()})
    arrays.update({f"loss/{k}": np.asarray(v) for k, v in (loss_arrays or {}).items()})
    write_npz_json(path, arrays, {"format": FORMAT, "version": VERSION,
                                  "has_best": best_parameters is not None, **meta})


#: Fields of a checkpoint's metadata (all required).
FIELDS = ("format", "version", "has_best", "fingerprint", "optimizer", "rng", "epoch", "n_iter", "history",
          "best_value", "wait", "stop_reason")
#: Fields a checkpoint may have: the state of a loss that samples (seed, sweep counter; chains in loss/ arrays).
OPTIONAL_FIELDS = ("loss_state",)
#: Why a run stopped, as saved in ``stop_reason``.
STOP_REASONS = ("max_epochs", "early_stopping", "converged", "callback")
_HISTORY = ("epoch", "loss", "objective", "val_score", "n_iter")


def _groups(path, arrays):
    """Split the entries ``param/<name>``, ``best/<name>``, ``opt/<slot>/<name>``, ``loss/<name>`` (anything else
    is refused)."""
    groups = {"param": {}, "best": {}, "opt": {}, "loss": {}}
    for key, value in arrays.items():
        prefix, _, name = key.partition("/")
        if prefix not in groups or not name:
            raise ParseError(path, None, f"unexpected entry {key!r} (expected param/, best/, opt/ or loss/ arrays)")
        groups[prefix][name] = value
    return groups["param"], groups["best"], groups["opt"], groups["loss"]


def check_optimizer_arrays(path, arrays, parameters, template=None):
    """Check the optimizer state ``arrays`` (``"<slot>/<parameter>"`` -> array) against ``parameters``.

    Each slot (``velocity``, ``m``, ``v``...) holds one float64 array without
    NaN per parameter, of exactly that parameter's shape (no broadcasting).
    With ``template`` (what the optimizer's ``get_state`` gives after
    ``reset(parameters)``), the entries must be exactly the template's.
    Raises :class:`~factorgraph_ebm.ParseError` naming ``path`` and the entry.

    Examples
    --------
    >>> w = {"w": np.zeros(2)}
    >>> check_optimizer_arrays("c.npz", {"m/w": np.zeros((1, 2))}, w)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: c.npz: field 'opt/m/w': expected shape (2,), got (1, 2)
    >>> check_optimizer_arrays("c.npz", {"m/w": np.zeros(2)}, w, template={"velocity/w": np.zeros(2)})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: c.npz: field 'opt': the optimizer state has entries ['m/w'], this \
optimizer keeps ['velocity/w'] (differs in 'm/w')
    """
    shapes = {k: v.shape for k, v in parameters.items()}
    slots = {}
    for key, arr in arrays.items():
        slot, _, name = key.partition("/")
        if not slot or not name:
            raise saved_error(path, f"opt/{key}", "expected an optimizer entry opt/<slot>/<parameter>")
        slots.setdefault(slot, {})[name] = arr
    for slot, entries in sorted(slots.items()):
        check_parameter_arrays(path, f"opt/{slot}/", entries, shapes, inf=True)
    if template is not None and set(template) != set(arrays):
        diff = sorted(set(template) ^ set(arrays))
        raise saved_error(path, "opt", f"the optimizer state has entries {sorted(arrays)}, this optimizer keeps "
                                       f"{sorted(template)} (differs in {diff[0]!r})")
    return arrays


def _check_history(path, history, epoch, n_iter):
    if not isinstance(history, list) or len(history) != epoch:
        got = f"a list of {len(history)}" if isinstance(history, list) else type(history).__name__
        raise saved_error(path, "history", f"expected a list of {epoch} epochs (field 'epoch'), got {got}")
    last = 0
    for i, info in enumerate(history):
        where = f"history[{i}]"
        check_fields(path, info, _HISTORY, what=f"entry {i} of the history")
        if check_count(path, f"{where}.epoch", info["epoch"]) != i + 1:
            raise saved_error(path, f"{where}.epoch", f"expected {i + 1}, got {info['epoch']!r}")
        check_number(path, f"{where}.loss", info["loss"], finite=False)
        check_number(path, f"{where}.objective", info["objective"], finite=False)
        check_number(path, f"{where}.val_score", info["val_score"], allow_none=True, low=0.0, high=1.0)
        count = check_count(path, f"{where}.n_iter", info["n_iter"])
        if count < last or count > n_iter:
            raise saved_error(path, f"{where}.n_iter", f"{count} is not between the previous epoch's {last} and "
                                                       f"the checkpoint's n_iter {n_iter}")
        last = count


def load_checkpoint(path):
    """Read a checkpoint: ``(parameters, best_parameters or None, optimizer_arrays, meta)``.

    Every field is validated first, and a damaged or inconsistent file raises
    :class:`~factorgraph_ebm.ParseError` naming the file and the field:
    finite float64 parameters (``param/<name>``); ``has_best`` true exactly
    when ``best/<name>`` arrays with the same names and shapes are present
    (and ``best_value`` is a number); optimizer arrays ``opt/<slot>/<name>``
    of exactly the parameters' shapes; ``epoch``, ``n_iter`` and ``wait``
    non-negative ints; a ``history`` of one entry per epoch; the random
    generator's state (``rng``, a numpy bit generator of :data:`BIT_GENERATORS`
    and its state); ``stop_reason`` None or one of :data:`STOP_REASONS`. The
    trainer then checks the configuration fingerprint and the optimizer's
    state against the optimizer it runs.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.npz"
    >>> _ = path.write_bytes(b"PK\x03\x04" + bytes(40))
    >>> load_checkpoint(path)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: ...ckpt.npz: not a readable .npz file (BadZipFile: File is not a zip file)
    """
    arrays, meta = read_npz_json(path)
    check_format(path, meta, FORMAT, VERSION, "training checkpoint")
    check_fields(path, meta, FIELDS, OPTIONAL_FIELDS)
    params_arrays, best_arrays, opt_arrays, loss_arrays = _groups(path, arrays)
    if "loss_state" in meta:
        check_dict(path, "loss_state", meta["loss_state"])
    elif loss_arrays:
        raise saved_error(path, f"loss/{sorted(loss_arrays)[0]}", "a loss array without a loss_state")
    params = check_parameter_arrays(path, "param/", params_arrays, {k: v.shape for k, v in params_arrays.items()})
    has_best = check_bool(path, "has_best", meta["has_best"])
    best_value = check_number(path, "best_value", meta["best_value"], allow_none=True)
    if has_best != (best_value is not None):
        raise saved_error(path, "has_best", f"is {str(has_best).lower()} but best_value is {best_value!r}")
    if has_best:
        best = check_parameter_arrays(path, "best/", best_arrays, {k: v.shape for k, v in params.items()})
    elif best_arrays:
        raise saved_error(path, "has_best", f"is false but the file holds best/{sorted(best_arrays)[0]}")
    else:
        best = None
    check_optimizer_arrays(path, opt_arrays, params)
    fingerprint = check_dict(path, "fingerprint", meta["fingerprint"])
    shapes = {k: list(v.shape) for k, v in sorted(params.items())}
    if "parameters" in fingerprint and fingerprint["parameters"] != shapes:
        raise saved_error(path, "fingerprint.parameters", f"records the shapes {fingerprint['parameters']!r:.80}, "
                                                          f"the file's parameters have {shapes!r:.80}")
    check_dict(path, "optimizer", meta["optimizer"])
    check_rng_state(path, "rng", meta["rng"])
    epoch = check_count(path, "epoch", meta["epoch"])
    n_iter = check_count(path, "n_iter", meta["n_iter"])
    check_count(path, "wait", meta["wait"])
    _check_history(path, meta["history"], epoch, n_iter)
    if meta["stop_reason"] is not None:
        check_choice(path, "stop_reason", meta["stop_reason"], STOP_REASONS)
    meta = {**meta, "loss_arrays": loss_arrays}
    return params, best, opt_arrays, meta


def rng_from_state(state, path="<random state>"):
    """A Generator whose bit generator is restored from ``Generator.bit_generator.state``.

    The state is validated first (see :func:`~factorgraph_ebm.utils.saved.check_rng_state`):
    a bad one raises :class:`~factorgraph_ebm.ParseError` naming ``path``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> clone = rng_from_state(rng.bit_generator.state)
    >>> int(clone.integers(1000)) == int(rng.integers(1000))
    True
    """
    return check_rng_state(path, "rng", state)
