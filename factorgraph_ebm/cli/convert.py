"""``fgebm convert``: rewrite a model in another format (chosen by extension)."""

from ..io.formats import model_format, write_model
from ._common import LOGGER, Timer, load_model, read_limits

__all__ = ["run_convert"]


def run_convert(args):
    """Run ``fgebm convert IN OUT``; returns the exit code."""
    model_format(args.output)  # fail on a bad output name before reading the input
    fg = load_model(args.input, read_limits(args))
    timer = Timer()
    write_model(fg, args.output)
    LOGGER.info("wrote %s (%.2f s)", args.output, timer.seconds)
    return 0
