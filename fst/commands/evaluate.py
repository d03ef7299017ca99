"""``fst evaluate MODEL --content DIR``: the network vs L-BFGS (Johnson et al. Fig. 5)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Compare a trained network's training objective with L-BFGS on the pixels, per content image."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="trained model: a shipped style's name (`fst models`), .ckpt, .safetensors or .onnx"
    )
    parser.add_argument(
        "--style",
        type=Path,
        help="the style image to score against (default: the one stored in the model file); "
        "for a model holding several styles, the name of the one to evaluate (default: its first)",
    )
    parser.add_argument("--content", type=Path, required=True, help="a folder of photos (or one photo)")
    parser.add_argument("--size", type=int, default=256, help="long side of each photo (default 256)")
    parser.add_argument(
        "--iters",
        type=int,
        nargs="+",
        default=[50, 100, 200, 300],
        help="L-BFGS checkpoints (default 50 100 200 300)",
    )
    parser.add_argument("--limit", type=int, help="evaluate only the first N photos")
    parser.add_argument("--json", type=Path, help="where to write the results (default: MODEL.eval.json)")
    parser.add_argument("--runtime", default="auto", help="runtime for the network (see fst.infer.runners)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0, help="seed of random loss terms")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute the L-BFGS curves (default: reuse those cached by an earlier run "
        "with the same photo, style, size and loss settings)",
    )


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError
    from fst.imageio import list_images

    if min(args.iters) < 1 or args.size < 8:
        raise FstError("--iters must be positive and --size at least 8")
    photos = [args.content] if args.content.is_file() else list_images(args.content)
    photos = photos[: args.limit] if args.limit else photos
    if not photos:
        raise FstError(f"{args.content}: no images found")
    from fst.infer.shipped import resolve_model

    model = resolve_model(args.model, args.runtime)
    json_path = args.json or model.with_name(model.name + ".eval.json")
    if not json_path.parent.is_dir():
        raise FstError(f"{json_path.parent}: output folder does not exist")

    import json
    from functools import partial

    from tqdm import tqdm

    from fst.imageio import atomic_path
    from fst.infer.runners import open_runner
    from fst.loss.weights import cache_dir
    from fst.measure.evaluate import (
        evaluate_image,
        evaluated_style,
        format_iterations,
        markdown_table,
        model_objective,
        report_json,
        summary,
    )
    from fst.measure.quality import QualityMeter

    curves = None if args.no_cache else cache_dir() / "lbfgs"
    runner = open_runner(model, args.runtime, args.device)
    weights = evaluated_style(runner.info, args.style)
    objective = model_objective(runner, args.style, "cuda" if runner.device == "cuda" else "cpu", model)
    if weights is not None:  # one style of a multi-style network
        runner = partial(runner, style=weights)
    meter = QualityMeter(objective.styles[0], objective.vgg)
    results, skipped, checkpoints = [], 0, sorted(set(args.iters))
    for number, photo in enumerate(photos, 1):
        with tqdm(total=max(args.iters) + 1, desc=f"{number}/{len(photos)} {photo.name}", unit="it") as bar:

            def progress(_: int, total: float, bar=bar) -> None:
                bar.set_postfix(loss=f"{total:.4g}", refresh=False)
                bar.update()

            try:
                result = evaluate_image(
                    runner, objective, photo, args.size, checkpoints, args.seed, progress, curves, meter
                )
                results.append(result)
            except FstError as exc:  # an unreadable photo: skip it, count it, go on
                print(f"skipped: {exc}")
                skipped += 1
    if not results:
        raise FstError(f"none of the {len(photos)} images could be read")
    print(markdown_table(results))
    overall = summary(results)
    equivalent = format_iterations(overall["equivalent_iterations_median"], checkpoints[-1])
    skip_note = f" ({skipped} skipped)" if skipped else ""
    print(f"\nmedian equivalent L-BFGS iterations: {equivalent} over {len(results)} images{skip_note}; "
          f"median style distance S {overall['style_distance_median']:.3f}, "
          f"content distance C {overall['content_distance_median']:.3f}")  # fmt: skip
    style = str(args.style) if args.style else f"stored in {model.name}"
    report = report_json(str(model), style, args.size, results, skipped)
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(f"wrote {json_path}")
    return 0
