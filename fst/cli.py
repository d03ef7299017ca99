"""The ``fst`` command: one sub-command per module in fst.commands.

Each command module exposes HELP (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy libraries (torch) only inside ``run``, so
``fst --help`` and the ONNX paths start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fst import __version__
from fst.errors import FstError

COMMANDS = (
    "train",
    "weights",
    "export",
    "serve",
    "optimize",
    "video",
    "webcam",
    "evaluate",
    "bench",
    "stylize",
    "models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fst", description="Fast neural style transfer.")
    parser.add_argument("--version", action="version", version=f"fst {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"fst.commands.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:  # everything after it belongs to the Lightning CLI
        from fst.commands.train import run_raw

        return run_raw(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FstError as exc:
        print(f"fst: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fst: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
