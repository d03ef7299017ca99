"""``fst stylize INPUT -m MODEL -o OUTPUT``: stylize one image, or a folder of images."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fst.commands.inference_args import add_model_arguments, add_style_arguments
from fst.errors import FstError

HELP = "Stylize an image, or every image in a folder (recursively) into an output folder."
FORMATS = ("jpg", "png", "webp", "bmp", "tif")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", type=Path, help="an image file, or a folder of images (searched recursively)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="for a file: the image to write (its suffix picks the format); for a folder: the output folder",
    )
    add_model_arguments(parser)
    add_style_arguments(parser)
    parser.add_argument(
        "--format", choices=FORMATS, help="output format for a folder (default: each input's own)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing output files (even an input file)"
    )


def run(args: argparse.Namespace) -> int:
    from fst.commands.inference_args import open_model, stylize_options, with_style

    options = stylize_options(args)
    if not args.input.exists():
        raise FstError(f"{args.input}: no such file or folder")
    if args.input.is_dir():
        jobs, skipped = _folder_jobs(args)
    else:
        jobs, skipped = [_file_job(args)], 0
    runner = open_model(args)
    options = with_style(options, args, runner)
    return _run_jobs(runner, jobs, options, skipped, single=not args.input.is_dir())


def _file_job(args: argparse.Namespace):
    from PIL import Image

    from fst.infer.stylize import Job

    target = args.output / args.input.name if args.output.is_dir() else args.output
    if target.suffix.lower() not in Image.registered_extensions():
        raise FstError(f"{target}: unknown image format '{target.suffix}'")
    if target.exists() and not args.overwrite:
        what = "is the input file" if target.resolve() == args.input.resolve() else "exists"
        raise FstError(f"{target}: {what}; pass --overwrite to replace it")
    _make_folder(target.parent)
    return Job(args.input, target)


def _folder_jobs(args: argparse.Namespace):
    """(jobs still to do, count of outputs that exist and are kept)."""
    from fst.infer.stylize import folder_jobs

    if args.output.exists() and not args.output.is_dir():
        raise FstError(f"{args.output}: is a file; the output of a folder must be a folder")
    _make_folder(args.output)
    jobs = folder_jobs(args.input, args.output, f".{args.format}" if args.format else None)
    if not jobs:
        raise FstError(f"{args.input}: no images found")
    todo = [job for job in jobs if args.overwrite or not job.target.exists()]
    return todo, len(jobs) - len(todo)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FstError(f"{folder}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise FstError(f"{folder}: output folder is not writable")


def _run_jobs(runner, jobs: list, options, skipped: int, single: bool) -> int:
    from tqdm import tqdm

    from fst.infer.stylize import stylize_files

    done = failed = 0
    with tqdm(total=len(jobs), unit="img", disable=single or None, file=sys.stderr) as bar:
        for _job, error in stylize_files(runner, jobs, options):
            if error is None:
                done += 1
            elif single:
                raise error
            else:
                failed += 1
                bar.write(f"fst: error: {error}", file=sys.stderr)
            bar.update(1)
    where = f"{runner.name} on {runner.device}"
    if single:
        print(f"wrote {jobs[0].target} ({where})")
        return 0
    kept = f", {skipped} skipped (output exists; --overwrite replaces)" if skipped else ""
    print(f"{done} done, {failed} failed{kept} ({where})")
    return 1 if failed else 0
