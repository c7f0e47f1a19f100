"""One ``.npz`` file holding named arrays plus JSON metadata (never pickle).

The JSON document is stored as a uint8 array under the key ``__meta__``, so a
file opens with ``np.load(path, allow_pickle=False)`` and nothing in it can run
code.

Writes are atomic: the file is written to ``<path>.tmp<PID>`` and renamed
over ``path``. A writer killed in between leaves that temporary file behind;
the next write to the same ``path`` removes it once its writer is gone (no
live process has that PID) or it has not been modified for
:data:`STALE_SECONDS`, so two processes writing the same path never remove
each other's file (the last rename wins). Threads of one process write one at
a time.
"""

import json
import os
import re
import threading
import time
import zipfile
import zlib

import numpy as np

from ..exceptions import ParseError

__all__ = ["write_npz_json", "read_npz_json", "remove_stale_temporaries", "STALE_SECONDS"]

META = "__meta__"

#: A temporary file not modified for this long is stale even if a process with its PID runs (PID reuse).
STALE_SECONDS = 600.0

# What zipfile, numpy's .npy header parser, zlib and json raise on damaged bytes (found by fuzzing).
_BAD_DATA = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, OverflowError,
             RecursionError)

_CHUNK = 1 << 20

# Threads of one process share its temporary name; they write one at a time.
_WRITE_LOCK = threading.Lock()

# Deflate cannot compress more than ~1032:1, so a larger claimed size is a lie (a "zip bomb").
_MAX_DEFLATE_RATIO = 1032


def _temporary(path, pid):
    return f"{path}.tmp{pid}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):     # another user's process; a PID out of range is not ours
        return isinstance(pid, int) and pid < 2 ** 31
    return True


def remove_stale_temporaries(path, now=None):
    """Remove the ``<path>.tmp<PID>`` files left by killed writers of ``path``; return their names.

    Only files of exactly that pattern for this ``path`` are considered, and
    only those whose writer is gone or that are older than
    :data:`STALE_SECONDS` are removed. Called by :func:`write_npz_json`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "ckpt.npz.tmp999999999").write_bytes(b"half a file")
    >>> [pathlib.Path(p).name for p in remove_stale_temporaries(folder / "ckpt.npz")]
    ['ckpt.npz.tmp999999999']
    """
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(re.escape(base) + r"\.tmp([1-9][0-9]{0,18})")
    now = time.time() if now is None else now
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        full = os.path.join(folder, entry)
        try:
            old = now - os.stat(full).st_mtime > STALE_SECONDS
            if old or not _alive(int(match.group(1))):
                os.remove(full)
                removed.append(full)
        except FileNotFoundError:       # its writer renamed it, or another writer removed it first
            continue
    return removed


def write_npz_json(path, arrays, meta):
    """Write ``arrays`` (dict str -> array) and ``meta`` (JSON-able) to ``path`` atomically.

    The file is written next to ``path`` (as ``<path>.tmp<PID>``) and renamed
    over it, so a crash never leaves a half-written file behind; temporary
    files of killed writers of the same path are removed first (see
    :func:`remove_stale_temporaries`).

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
    with _WRITE_LOCK:
        remove_stale_temporaries(path)
        tmp = _temporary(path, os.getpid())
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **payload)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def _bad(path, message):
    return ParseError(path, None, f"not a readable .npz file: {message}")


def _read_entry(path, zf, info, size):
    """One ``.npy`` entry as an array, its header checked against the entry's size before allocating."""
    name = info.filename[:-4]
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise _bad(path, f"entry {name!r}: stored size {info.compress_size} != size {info.file_size}")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise _bad(path, f"entry {name!r} claims {info.file_size} bytes from {info.compress_size} compressed")
    else:
        raise _bad(path, f"entry {name!r} uses compression method {info.compress_type} (stored or deflated only)")
    if info.flag_bits & 0x1:                          # zipfile would raise RuntimeError (password required)
        raise _bad(path, f"entry {name!r} is marked encrypted")
    if info.compress_size > size:
        raise _bad(path, f"entry {name!r} claims {info.compress_size} bytes, more than the file's {size}")
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _bad(path, f"entry {name!r}: .npy format version {version} is not supported")
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biufcUS":
            raise _bad(path, f"entry {name!r} has dtype {dtype} (Python objects and records are not allowed, "
                             "so pickle never runs)")
        count = 1
        for n in shape:
            count *= n
        need = count * dtype.itemsize
        if member.tell() + need != info.file_size:
            raise _bad(path, f"entry {name!r}: its header announces {need} bytes of data for shape {shape}, "
                             f"the entry holds {info.file_size - member.tell()}")
        flat = np.empty(count, dtype=dtype)
        view = flat.view(np.uint8)
        for start in range(0, need, _CHUNK):          # chunks: ZipExtFile.read(n) of a large n copies quadratically
            data = member.read(min(_CHUNK, need - start))
            if not data:
                raise _bad(path, f"entry {name!r} is truncated")
            view[start:start + len(data)] = np.frombuffer(data, dtype=np.uint8)
            if len(data) != min(_CHUNK, need - start):
                raise _bad(path, f"entry {name!r} is truncated")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def read_npz_json(path):
    """Read a file written by :func:`write_npz_json`: ``(arrays, meta)``.

    Every entry's ``.npy`` header is checked against the entry's size before
    its array is allocated. Raises :class:`~factorgraph_ebm.ParseError` for a
    file that is not such an ``.npz`` (damaged bytes, a truncated file, an
    entry that appears twice, objects that would need pickle, metadata that is
    not JSON). A missing or unreadable file raises ``OSError`` as ``open``
    does.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npz"
    >>> _ = path.write_bytes(b"PK\\x03\\x04 not really a zip")
    >>> read_npz_json(path)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: ...x.npz: not a readable .npz file (BadZipFile: File is not a zip file)
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            with zipfile.ZipFile(fh) as zf:
                arrays = {}
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        raise _bad(path, f"entry {info.filename!r} is not a .npy array")
                    name = info.filename[:-4]
                    if name in arrays:
                        raise _bad(path, f"entry {name!r} appears twice")
                    arrays[name] = _read_entry(path, zf, info, size)
            raw = arrays.pop(META, None)
            if raw is None:
                raise ParseError(path, None, f"no {META!r} entry: not written by factorgraph_ebm")
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise _bad(path, f"entry {META!r} is not a 1-D uint8 array")
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except ParseError:
            raise
        except _BAD_DATA as exc:
            raise ParseError(path, None, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return arrays, meta
