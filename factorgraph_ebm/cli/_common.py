"""Shared pieces of the ``fgebm`` subcommands: stderr logging and timed model loading."""

import contextlib
import logging
import sys
import time

from ..io.formats import read_model
from ..io.limits import ReadLimits

__all__ = ["stderr_logging", "load_model", "read_limits", "Timer", "LOGGER"]

#: Logger of the command line; messages go to standard error through :func:`stderr_logging`.
LOGGER = logging.getLogger("factorgraph_ebm.cli")


@contextlib.contextmanager
def stderr_logging(quiet):
    """Send the package's log records to standard error as ``fgebm: ...`` lines.

    INFO (progress, timing, which method ran) is shown unless ``quiet``;
    warnings (e.g. loopy BP did not converge) are always shown.
    """
    root = logging.getLogger("factorgraph_ebm")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fgebm: %(message)s"))
    old_level, old_propagate = root.level, root.propagate
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.propagate = old_propagate


class Timer:
    """Seconds since creation: ``Timer().seconds``."""

    def __init__(self):
        self._start = time.perf_counter()

    @property
    def seconds(self):
        """Elapsed wall-clock seconds."""
        return time.perf_counter() - self._start


def read_limits(args):
    """:class:`~factorgraph_ebm.io.ReadLimits` of the ``--limit NAME=VALUE`` options (the last of a name wins)."""
    return ReadLimits.from_mapping(dict(getattr(args, "limit", None) or ()))


def load_model(path, limits=None):
    """Read a model file (format by extension) within ``limits``, logging its size and the time taken."""
    timer = Timer()
    fg = read_model(path, limits=limits)
    LOGGER.info("read %s: %d variables, %d factors (%.2f s)", path, fg.n_vars, fg.n_factors, timer.seconds)
    return fg
