"""The training command line: LightningCLI over StyleTransferModule + StyleDataModule.

``python train.py fit --config configs/johnson2016.yaml --model.style_image S --data.root D``.
Each run is named (``--run_name``, default: the style image's file name) and writes,
under ``--trainer.default_root_dir`` (default: the current folder), TensorBoard logs to
``runs/<run name>/`` and checkpoints to ``checkpoints/<run name>/`` (``last.ckpt`` plus
the three most recent periodic ones), and at the end the inference file
``checkpoints/<run name>/<run name>.safetensors`` (network, LossConfig and the style
image as trained on) and a stylized sample photo. Only public LightningCLI hooks are used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import CheckpointIO
from torchvision.transforms import functional as TF

from fst import ASSETS
from fst.errors import FstError
from fst.imageio import load_rgb, save_image
from fst.infer.model_file import save_model_file, torch_load_safely
from fst.loss.config import loss_keys
from fst.loss.objective import style_png
from fst.loss.vgg import check_input_side
from fst.train.checkpoint_io import AtomicCheckpointIO, ensure_writable
from fst.train.config import check_moved_flags, flag_values
from fst.train.data import StyleDataModule
from fst.train.divergence import StopOnDivergence
from fst.train.module import StyleTransferModule
from fst.train.precision import machine_precision

SAMPLE_PHOTO = ASSETS / "photos" / "coco_000000000785.jpg"


def report_skipped_images(trainer: pl.Trainer, datamodule: StyleDataModule) -> None:
    """Print how many training files were skipped: unreadable when listed, or failing
    to decode during training (in any process; call it on every process)."""
    failed = torch.tensor(
        list(datamodule.train_set.failed), dtype=torch.int32, device=trainer.strategy.root_device
    )
    failed = trainer.strategy.reduce(failed, reduce_op="max")  # a file flagged by any process
    unreadable, undecodable = len(datamodule.skipped), int(failed.sum()) + datamodule.sample_set.failed_count
    if trainer.is_global_zero and (unreadable or undecodable):
        print(f"Skipped {unreadable} unreadable files when listing {datamodule.root} "
              f"and {undecodable} that failed to decode during training.")  # fmt: skip


class ExportOnFitEnd(pl.Callback):
    """After training: write the inference file and stylize the sample photo."""

    def __init__(self, directory: Path, run_name: str):
        self.directory = directory
        self.run_name = run_name

    def on_fit_end(self, trainer: pl.Trainer, pl_module: StyleTransferModule) -> None:
        report_skipped_images(trainer, trainer.datamodule)
        if not trainer.is_global_zero:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        datamodule, hp = trainer.datamodule, pl_module.hparams
        training = {key: value for key, value in hp.items() if key != "loss"}
        training.update(
            steps=trainer.global_step,
            image_size=datamodule.image_size,
            batch_size=datamodule.batch_size,
        )
        model_path = self.directory / f"{self.run_name}.safetensors"
        pngs = [png for _, png in pl_module.old_styles]  # a network extended keeps its styles
        pngs += [style_png(path, hp.loss["style_size"]) for path in pl_module.paintings]
        names = pl_module.style_names
        save_model_file(
            pl_module.net,
            model_path,
            style=names[0] if len(names) == 1 else self.run_name,
            training=training,
            objective=hp.loss,
            style_images=pngs,
            styles=names if len(names) > 1 else (),
        )
        pl_module.net.eval()  # inference mode: as `fst stylize` runs it
        with torch.no_grad():
            photo = TF.to_tensor(load_rgb(SAMPLE_PHOTO)).unsqueeze(0).to(pl_module.device)
            stylized = pl_module(photo)[0].float().cpu()  # the run's first painting
        sample_path = self.directory / "sample.jpg"
        save_image(TF.to_pil_image(stylized), sample_path)
        print(f"Inference model: {model_path}\nStylized sample photo: {sample_path}")


def default_run_name(style_image: str | list[str]) -> str:
    """The run's name when --run_name is not given: the painting's file name; for several
    paintings, their folder's name or the first painting's name plus "_and_N"."""
    if isinstance(style_image, str):
        return Path(style_image).name if Path(style_image).is_dir() else Path(style_image).stem
    first = Path(style_image[0]).stem
    return first if len(style_image) == 1 else f"{first}_and_{len(style_image) - 1}"


class StyleCLI(LightningCLI):
    """LightningCLI with run names, checkpoint folders and the final export wired in."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--run_name",
            type=str | None,
            default=None,
            help="Name of the run (default: the style image's file name).",
        )
        parser.add_argument("--checkpoint_every", type=int, default=1000,
                            help="Save a checkpoint every N training steps.")  # fmt: skip

    def before_fit(self) -> None:
        """Refuse training crops too small for the loss network, before training starts."""
        size, loss = self.datamodule.image_size, self.model.loss.config
        check_input_side(
            size, size, [*loss.style_layers, loss.content_layer], "a training crop (--data.image_size)"
        )

    def instantiate_trainer(self, **kwargs) -> pl.Trainer:
        """The configured Trainer plus this run's logger (and learning-rate curve),
        checkpoints, atomic writes, divergence guard and final export, all under
        --trainer.default_root_dir."""
        settings = self.config[self.subcommand]
        trainer = self.config_init[self.subcommand]["trainer"]
        run_name = settings.run_name or default_run_name(settings.model.style_image)
        root = Path(trainer.get("default_root_dir") or ".")
        directory = root / "checkpoints" / run_name
        extra = []
        if trainer.get("logger") in (None, True):
            kwargs["logger"] = TensorBoardLogger(root / "runs", name=run_name)
            ensure_writable(root / "runs")
            extra.append(LearningRateMonitor(logging_interval="step"))  # the "lr" curve
        ensure_writable(directory)
        plugins = trainer.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins = [*plugins, AtomicCheckpointIO()]
        callbacks = trainer.get("callbacks") or []
        kwargs["plugins"] = plugins
        kwargs["callbacks"] = [
            *(callbacks if isinstance(callbacks, list) else [callbacks]),
            *extra,
            StopOnDivergence(),
            ModelCheckpoint(
                dirpath=directory,
                filename="step{step:06d}",
                auto_insert_metric_name=False,
                every_n_train_steps=settings.checkpoint_every,
                save_last=True,
                save_top_k=3,
                monitor="step",
                mode="max",
            ),
            ExportOnFitEnd(directory, run_name),
        ]
        return super().instantiate_trainer(**kwargs)


def main(args: list[str] | None = None) -> None:
    """Run the training CLI; user errors end as one line on stderr and exit code 1."""
    try:
        check_arguments(sys.argv[1:] if args is None else args)
        StyleCLI(
            StyleTransferModule,
            StyleDataModule,
            trainer_defaults={
                "max_steps": 40000,
                "max_epochs": -1,
                "log_every_n_steps": 10,
                "precision": machine_precision(),
            },
            save_config_kwargs={"overwrite": True},
            args=args,
        )
    except FstError as exc:
        print(f"fst: error: {exc}", file=sys.stderr)
        sys.exit(1)


def check_arguments(args: list[str]) -> None:
    """Before Lightning parses anything: settings that moved get one line naming their
    new place, and a --ckpt_path file is read safely (a damaged or refused checkpoint is
    one line, not Lightning's traceback)."""
    check_moved_flags(args)
    for value in flag_values(args, "--ckpt_path"):
        if Path(value).is_file():
            checkpoint = torch_load_safely(Path(value))
            settings = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
            if isinstance(settings, dict) and set(settings) & set(loss_keys()):
                raise FstError(f"{value}: written by an earlier fst (objective settings outside model.loss); "
                               "resume it with that version, or start a new run")  # fmt: skip
