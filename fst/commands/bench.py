"""``fst bench [--quick]``: training-step and inference speed, written as JSON and markdown."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Measure training-step and inference speed on this machine; write JSON and a markdown table."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repetitions (under 2 minutes)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("bench"),
        help="writes STEM.json and STEM.md (default: bench)",
    )


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError

    if not args.output.parent.is_dir():
        raise FstError(f"{args.output.parent}: output folder does not exist")

    import json
    import tempfile

    from fst.imageio import atomic_path
    from fst.measure.bench import markdown, run_benchmarks

    with tempfile.TemporaryDirectory(prefix="fst-bench-") as folder:
        results = run_benchmarks(args.quick, Path(folder))
    table = markdown(results)
    json_path, md_path = (
        args.output.with_name(args.output.name + ".json"),
        args.output.with_name(args.output.name + ".md"),
    )
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    with atomic_path(md_path) as tmp:
        tmp.write_text(table)
    print(table)
    print(f"wrote {json_path} and {md_path}")
    return 0
