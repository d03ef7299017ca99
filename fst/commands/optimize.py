"""``fst optimize CONTENT [STYLE] -o out.png``: Gatys-style L-BFGS on the pixels, no network."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Stylize one image by optimising its pixels (L-BFGS) against the training objective."
EPILOG = (
    "The objective: LossConfig's defaults, then the model.loss section of --config files (the "
    "training recipes in configs/) or the objective stored in the --like model, then the flags "
    "below. The style image: STYLE or --style, else the --like model's, else the config's "
    "model.style_image."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("content", type=Path, help="the photo to stylize")
    parser.add_argument("style", type=Path, nargs="?", help="the style image (painting); same as --style")
    parser.add_argument("--style", dest="style_option", type=Path, metavar="STYLE", help="the style image")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the image to write (.png, .jpg...)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="a training recipe (e.g. configs/johnson2016.yaml) whose model.loss settings to use; "
        "repeat to merge several",
    )
    parser.add_argument(
        "--like",
        metavar="MODEL",
        help="use the objective (settings and style image) stored in a trained model: "
        "a shipped style's name or a model file",
    )
    parser.add_argument("--iters", type=int, default=300, help="L-BFGS iterations (default 300)")
    parser.add_argument("--size", type=int, default=512, help="long side of the result (default 512)")
    parser.add_argument("--init", default="content", help="start from the 'content' (default) or 'noise'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise start and random loss terms")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    loss = parser.add_argument_group("objective settings (override the config or model)")
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
    """--style-loss: a loss name or a YAML mapping of names to weights (fst.loss.style_losses)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"not a name or a YAML mapping: {text!r}") from None


def flag_settings(args: argparse.Namespace) -> dict:
    """The objective settings given as flags, as LossConfig values."""
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


def check_objective_arguments(args: argparse.Namespace) -> None:
    """FstError for objective arguments that contradict each other or name no style image;
    imports no torch, so a mistyped command fails at once."""
    from fst.errors import FstError
    from fst.train.config import read_configs

    if args.style and args.style_option:
        raise FstError("give the style image once: as STYLE or as --style")
    if args.config and args.like:
        raise FstError("--config and --like both set the objective; choose one")
    if args.like or args.style or args.style_option:
        return
    if not (read_configs(args.config).get("model") or {}).get("style_image"):
        raise FstError(NO_STYLE)


NO_STYLE = "no style image: pass STYLE, --style, --like MODEL or a --config with model.style_image"


def build_objective(args: argparse.Namespace, device):
    """The PerceptualLoss that the flags, --config files and --like model describe."""
    from fst.errors import FstError
    from fst.loss.config import LossConfig
    from fst.loss.objective import PerceptualLoss
    from fst.train.config import read_configs

    check_objective_arguments(args)
    style = args.style or args.style_option
    if args.like:
        from fst.infer.runners import open_runner

        info = open_runner(args.like, device="cpu").info
        settings = {**info.objective, **flag_settings(args)}
        if style is None and info.style_images:
            names = [info.style] if len(info.style_images) == 1 else []  # a multi-style model: style0, ...
            return PerceptualLoss.from_stored(settings, info.style_images, names, args.like).to(device)
    else:
        model = read_configs(args.config).get("model") or {}
        settings = {**(model.get("loss") or {}), **flag_settings(args)}
        style = style or model.get("style_image")
    if style is None:
        raise FstError(NO_STYLE)
    config = LossConfig.from_dict(settings, args.like or "the objective settings")
    return PerceptualLoss.from_files(config, [style]).to(device)


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError

    if args.iters < 1 or args.size < 8:
        raise FstError("--iters must be at least 1 and --size at least 8")
    check_output_path(args.output)
    check_objective_arguments(args)

    import torch
    from torchvision.transforms import functional as TF
    from tqdm import tqdm

    from fst.imageio import save_image
    from fst.loss.objective import load_style_image
    from fst.measure.optimize import lbfgs_iterations, measure, start_image

    if args.device == "cuda" and not torch.cuda.is_available():
        raise FstError("--device cuda: PyTorch sees no CUDA GPU on this machine")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    content = load_style_image(args.content, args.size).to(device)
    objective = build_objective(args, device)
    image = start_image(content, args.init, args.seed)
    steps = lbfgs_iterations(objective, content, image, seed=args.seed)
    with tqdm(total=args.iters, desc="L-BFGS", unit="it", dynamic_ncols=True) as bar:
        for _ in range(args.iters):
            terms = next(steps)
            if terms["total"] != terms["total"]:  # NaN: the objective diverged
                raise FstError("the objective became NaN; try a smaller --style-weight or --init content")
            bar.set_postfix(loss=f"{terms['total']:.4g}", refresh=False)
            bar.update()
    result = image.detach().clamp(0, 1)
    final = measure(objective, result, content, args.seed)
    save_image(TF.to_pil_image(result[0].cpu()), args.output)
    summary = ", ".join(f"{k} {final[k]:.4g}" for k in ("total", "content", "style", "tv"))
    print(f"wrote {args.output} ({result.shape[-1]}x{result.shape[-2]}); objective: {summary}")
    return 0
