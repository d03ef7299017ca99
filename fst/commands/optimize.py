"""``fst optimize CONTENT STYLE -o out.png``: Gatys-style L-BFGS on the pixels, no network."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Stylize one image by optimising its pixels (L-BFGS) against the training objective."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", type=Path, help="the photo to stylize")
    parser.add_argument("style", type=Path, help="the style image (painting)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the image to write (.png, .jpg...)")
    parser.add_argument("--iters", type=int, default=300, help="L-BFGS iterations (default 300)")
    parser.add_argument("--size", type=int, default=512, help="long side of the result (default 512)")
    parser.add_argument("--init", default="content", help="start from the 'content' (default) or 'noise'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise start and random loss terms")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    loss = parser.add_argument_group("objective (defaults: those of training, see fst.module)")
    loss.add_argument("--content-weight", type=float)
    loss.add_argument("--style-weight", type=float)
    loss.add_argument("--tv-weight", type=float)
    loss.add_argument("--style-size", type=int, help="long side of the style image in pixels")
    loss.add_argument(
        "--style-loss",
        type=style_loss_spec,
        help="gram, linear, poly, gaussian, bn, or a YAML mapping such as '{gram: 0.5, bn: 0.5}'",
    )
    loss.add_argument("--vgg-weights", help="'caffe', 'torchvision' or a weights file")


def style_loss_spec(text: str) -> str | dict:
    """--style-loss: a loss name or a YAML mapping of names to weights (fst.style_losses)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"not a name or a YAML mapping: {text!r}") from None


def objective_settings(args: argparse.Namespace) -> dict:
    """The objective options given on the command line, as StyleTransferModule arguments."""
    names = ("content_weight", "style_weight", "tv_weight", "style_size", "style_loss", "vgg_weights")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def check_output_path(path: Path) -> None:
    """Fail before the (long) optimisation if the result could not be saved."""
    from PIL import Image

    from fst.errors import FstError

    if path.suffix.lower() not in Image.registered_extensions():
        raise FstError(f"{path}: unknown image format '{path.suffix}'")
    if not path.parent.is_dir():
        raise FstError(f"{path.parent}: output folder does not exist")


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError

    if args.iters < 1 or args.size < 8:
        raise FstError("--iters must be at least 1 and --size at least 8")
    check_output_path(args.output)

    import torch
    from torchvision.transforms import functional as TF
    from tqdm import tqdm

    from fst.imageio import save_image
    from fst.module import load_style_image
    from fst.optimize import lbfgs_iterations, measure, objective_module, start_image

    if args.device == "cuda" and not torch.cuda.is_available():
        raise FstError("--device cuda: PyTorch sees no CUDA GPU on this machine")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    content = load_style_image(args.content, args.size).to(device)
    module = objective_module(args.style, objective_settings(args), device)
    steps = lbfgs_iterations(module, content, start_image(content, args.init, args.seed), seed=args.seed)
    with tqdm(total=args.iters, desc="L-BFGS", unit="it", dynamic_ncols=True) as bar:
        for _ in range(args.iters):
            terms = next(steps)
            if terms["total"] != terms["total"]:  # NaN: the objective diverged
                raise FstError("the objective became NaN; try a smaller --style-weight or --init content")
            bar.set_postfix(loss=f"{terms['total']:.4g}", refresh=False)
            bar.update()
    result = module.net.image.detach().clamp(0, 1)
    final = measure(module, result, content, args.seed)
    save_image(TF.to_pil_image(result[0].cpu()), args.output)
    summary = ", ".join(f"{k} {final[k]:.4g}" for k in ("total", "content", "style", "tv"))
    print(f"wrote {args.output} ({result.shape[-1]}x{result.shape[-2]}); objective: {summary}")
    return 0
