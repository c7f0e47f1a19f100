"""``fgebm``: command-line entry point (thin argparse layer)."""

import argparse
import sys

__all__ = ["main"]


def _build_parser():
    parser = argparse.ArgumentParser(prog="fgebm", description="Factor graphs for energy-based models.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="denoise a small image with a Potts grid (no data needed)")
    demo.add_argument("--size", type=int, default=24, help="image side in pixels (default 24)")
    demo.add_argument("--seed", type=int, default=0, help="noise seed")
    return parser


def main(argv=None):
    """Run ``fgebm`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        if args.size < 2:
            print("fgebm demo: --size must be >= 2", file=sys.stderr)
            return 2
        run_demo(size=args.size, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
