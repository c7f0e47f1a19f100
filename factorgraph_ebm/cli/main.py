"""``fgebm``: command-line entry point (thin argparse layer).

Subcommands live in their own modules (``cli/infer.py``, ``cli/info.py``,
``cli/convert.py``, ``cli/demo.py``) and are imported only when run, so
``fgebm --help`` stays fast. The command never prints a traceback: every
failure is one line on standard error and an exit status of :data:`EXIT_STATUS`
(``FGEBM_DEBUG=1`` re-raises instead, for developers).
"""

import argparse
import contextlib
import importlib
import math
import os
import sys
import warnings

from .warmup import GROUPS   # names only: the module imports nothing heavy until a group runs

__all__ = ["main", "EXIT_STATUS", "exit_status"]

#: Exit statuses of ``fgebm`` (documented in docs/cli.md and docs/errors.md).
EXIT_STATUS = {
    "ok": 0,
    "bad input": 1,        # a malformed or inconsistent file or model, evidence out of range, Z = 0 ...
    "bad arguments": 2,    # a command-line argument or an inference option out of range
    "out of resources": 3,  # over a reading limit (--limit) or the memory budget (--memory-budget), or out of memory
    "internal error": 4,   # a bug: please report it
    "interrupted": 130,    # Ctrl-C
}
#: Set to 1 to let an internal error raise with its traceback.
DEBUG_ENV = "FGEBM_DEBUG"
#: Where internal errors are reported.
REPORT_TO = "the factorgraph-ebm issue tracker"

#: subcommand -> (module, function) run with the parsed arguments
_COMMANDS = {
    "infer": ("factorgraph_ebm.cli.infer", "run_infer"),
    "info": ("factorgraph_ebm.cli.info", "run_info"),
    "convert": ("factorgraph_ebm.cli.convert", "run_convert"),
    "warmup": ("factorgraph_ebm.cli.warmup", "run_warmup"),
}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on standard error (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind, ok, rule):
    """An argparse type: ``kind(text)`` that satisfies ``ok``, else a one-line error naming ``rule``."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return parse


_positive_float = _number(float, lambda v: v > 0, "a number > 0 (or inf)")
_positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
_damping_number = _number(float, lambda v: 0.0 <= v < 1.0, "'auto' or a number in [0, 1)")


def _memory_budget(text):
    from ..exceptions import FactorGraphError
    from ..utils.validation import parse_bytes

    try:
        return parse_bytes(text, "--memory-budget")
    except FactorGraphError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text):
    from ..exceptions import FactorGraphError
    from ..io.limits import parse_limit

    try:
        return parse_limit(text)
    except FactorGraphError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _damping(text):
    return "auto" if text == "auto" else _damping_number(text)


def _build_parser():
    parser = _Parser(prog="fgebm", description="Factor graphs for energy-based models.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="denoise a small image with a Potts grid (no data needed)")
    demo.add_argument("--size", type=int, default=24, help="image side in pixels (default 24)")
    demo.add_argument("--seed", type=int, default=0, help="noise seed")

    quiet = _Parser(add_help=False)
    quiet.add_argument("--quiet", "-q", action="store_true", help="no progress or timing on standard error")
    budget = _Parser(add_help=False)
    budget.add_argument("--memory-budget", type=_memory_budget, metavar="BYTES",
                        help="memory exact inference may use, e.g. 2G or 500M (default: FGEBM_MEMORY_BUDGET, "
                             "else a quarter of the RAM)")
    limit = _Parser(add_help=False)
    limit.add_argument("--limit", action="append", type=_limit, default=[], metavar="NAME=VALUE",
                       help="raise (or lower) a reading limit, e.g. states=4M (repeatable; names: variables, states, "
                            "total_states, factor_entries, total_entries, result_bytes, text_bytes; see docs/errors.md)")

    inf = sub.add_parser("infer", parents=[quiet, budget, limit],
                         help="MAR, MPE or PR of a .uai or .fg model (UAI result format)")
    inf.add_argument("model", help="model file: .uai or .fg (optionally .gz)")
    inf.add_argument("--task", required=True, choices=("MAR", "MPE", "PR"),
                     help="MAR: marginals; MPE: most probable explanation; PR: log10 partition function")
    inf.add_argument("--evidence", metavar="FILE.evid", help="UAI evidence file (either layout)")
    inf.add_argument("--method", default="auto", choices=("auto", "exact", "bp", "trw", "mean-field"),
                     help="auto (default): exact where its predicted memory fits the budget and its predicted time "
                          "is short (see fgebm info), loopy BP otherwise; trw: tree-reweighted BP, a proven upper "
                          "bound on Z for PR and MAR, TRW-S for MPE (a proven lower bound on the energy and the gap); "
                          "mean-field: a proven lower bound on Z (PR, MAR); the bounds are logged")
    inf.add_argument("--beta", type=_positive_float, metavar="B",
                     help="inverse temperature for MAR and PR (default 1: the model as written)")
    inf.add_argument("--max-iters", type=_positive_int, metavar="N",
                     help="iteration cap of loopy BP, TRW and mean field (default 1000)")
    inf.add_argument("--schedule", choices=("auto", "flood", "sequential", "random", "residual"),
                     help="loopy BP schedule: auto (default: residual and sequential, flooding if neither converges; "
                          "the best converged run), flood, sequential, random (fresh order each sweep) or residual")
    inf.add_argument("--damping", type=_damping, metavar="D",
                     help="loopy BP damping: 'auto' (default: undamped, then 0.5 if that does not converge "
                          "in 100 iterations) or a number in [0, 1)")
    inf.add_argument("--out", metavar="FILE", help="result file (default: standard output)")

    info = sub.add_parser("info", parents=[quiet, budget, limit],
                          help="size, structure, elimination width, and what exact inference would cost")
    info.add_argument("model", help="model file: .uai or .fg (optionally .gz)")
    info.add_argument("--evidence", metavar="FILE.evid", help="UAI evidence file (observed variables leave the scopes)")

    warm = sub.add_parser("warmup", parents=[quiet],
                          help="compile every Numba kernel now (once per machine; otherwise on first use)")
    warm.add_argument("--jobs", type=_positive_int, metavar="N",
                      help="worker processes compiling in parallel (default: one per core)")
    warm.add_argument("--group", action="append", choices=tuple(GROUPS),
                      help="compile only this group (repeatable; default: all)")

    conv = sub.add_parser("convert", parents=[quiet, limit], help="convert between .uai and .fg (by extension)")
    conv.add_argument("input", help="model file to read")
    conv.add_argument("output", help="model file to write")
    return parser


def _check(parser, args):
    if args.command == "infer" and args.beta is not None:
        if args.task == "MPE":
            parser.error("--beta applies to MAR and PR; MPE is always min-sum (beta = inf)")
        if args.task == "PR" and math.isinf(args.beta):
            parser.error("--beta inf has no partition function; use a finite beta for PR")


def exit_status(exc):
    """The ``fgebm`` exit status of an exception (see :data:`EXIT_STATUS`).

    Examples
    --------
    >>> from factorgraph_ebm.exceptions import MemoryBudgetError, ParseError
    >>> exit_status(ParseError("m.uai", 3, "bad")), exit_status(MemoryBudgetError("big", 2e9, 1e9))
    (1, 3)
    >>> exit_status(ZeroDivisionError())
    4
    """
    from ..exceptions import FactorGraphError, InferenceError, MemoryBudgetError, ResourceLimitError

    if isinstance(exc, (ResourceLimitError, MemoryBudgetError, MemoryError)):
        return EXIT_STATUS["out of resources"]
    if isinstance(exc, InferenceError):
        return EXIT_STATUS["bad arguments"]
    if isinstance(exc, (FactorGraphError, OSError)):
        return EXIT_STATUS["bad input"]
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_STATUS["interrupted"]
    return EXIT_STATUS["internal error"]


def _one_line(exc):
    """The exception's text on one line (a MemoryError may carry no text)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + text if text else ''}; lower --memory-budget or use a smaller model"
    return text or type(exc).__name__


def _failure(command, exc):
    """Print the one line for ``exc`` on standard error; returns the exit status."""
    status = exit_status(exc)
    if status == EXIT_STATUS["interrupted"]:
        message = "interrupted"
    elif status == EXIT_STATUS["internal error"]:
        from .. import __version__

        message = (f"internal error ({type(exc).__name__}: {_one_line(exc)}); this is a bug in factorgraph-ebm "
                   f"{__version__}: please report it to {REPORT_TO} with the command and its input files "
                   f"({DEBUG_ENV}=1 shows the traceback)")
    else:
        message = _one_line(exc)
    print(f"fgebm {command}: {message}", file=sys.stderr)
    return status


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` for the command: one line, no source excerpt."""
    text = " ".join(str(message).split())
    print(f"fgebm: warning: {text} ({category.__name__})", file=sys.stderr)


@contextlib.contextmanager
def _one_line_warnings():
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        yield


def _run(args):
    if args.command == "demo":
        from .demo import run_demo

        if args.size < 2:
            print("fgebm demo: --size must be >= 2", file=sys.stderr)
            return EXIT_STATUS["bad arguments"]
        run_demo(size=args.size, seed=args.seed)
        return EXIT_STATUS["ok"]
    from ._common import stderr_logging

    module, function = _COMMANDS[args.command]
    run = getattr(importlib.import_module(module), function)
    with stderr_logging(args.quiet):
        return run(args)


def main(argv=None):
    """Run ``fgebm`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Every failure is one line on standard error, ``fgebm <command>: <what went
    wrong>``, and an exit status of :data:`EXIT_STATUS`: 1 bad input, 2 bad
    arguments, 3 out of resources, 4 internal error (a bug, with where to
    report it), 130 interrupted.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    try:
        with _one_line_warnings():
            return _run(args)
    except BrokenPipeError:
        # the reader of standard output went away (``fgebm ... | head``): nothing more to say
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush quiet
        return EXIT_STATUS["bad input"]
    except (Exception, KeyboardInterrupt) as exc:
        if os.environ.get(DEBUG_ENV) == "1" and exit_status(exc) == EXIT_STATUS["internal error"]:
            raise
        return _failure(args.command, exc)


if __name__ == "__main__":
    sys.exit(main())
