"""One ``.npz`` file holding named arrays plus JSON metadata (never pickle).

The JSON document is stored as a uint8 array under the key ``__meta__``, so a
file opens with ``np.load(path, allow_pickle=False)`` and nothing in it can run
code.
"""

import json
import os
import zipfile

import numpy as np

from ..exceptions import ParseError

__all__ = ["write_npz_json", "read_npz_json"]

META = "__meta__"


def write_npz_json(path, arrays, meta):
    """Write ``arrays`` (dict str -> array) and ``meta`` (JSON-able) to ``path`` atomically.

    The file is written next to ``path`` and renamed over it, so a crash never
    leaves a half-written file behind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npz"
    >>> write_npz_json(path, {"a": np.arange(3.0)}, {"kind": "demo"})
    >>> arrays, meta = read_npz_json(path)
    >>> arrays["a"], meta
    (array([0., 1., 2.]), {'kind': 'demo'})
    """
    if META in arrays:
        raise ValueError(f"array name {META!r} is reserved")
    path = os.fspath(path)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_npz_json(path):
    """Read a file written by :func:`write_npz_json`: ``(arrays, meta)``.

    Raises :class:`~factorgraph_ebm.ParseError` for a file that is not such an
    ``.npz`` (or holds pickled objects).
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if META not in data.files:
                raise ParseError(path, None, f"no {META!r} entry: not written by factorgraph_ebm")
            meta = json.loads(bytes(data[META]).decode("utf-8"))
            arrays = {k: data[k] for k in data.files if k != META}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ParseError):
            raise
        if isinstance(exc, FileNotFoundError):
            raise
        raise ParseError(path, None, f"not a readable .npz file ({exc})") from None
    return arrays, meta
