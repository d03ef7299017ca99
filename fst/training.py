"""The training command line: LightningCLI over StyleTransferModule + StyleDataModule.

``python train.py fit --config configs/johnson2016.yaml --model.style_image S --data.root D``.
Each run is named (``--run_name``, default: the style image's file name) and writes
TensorBoard logs to ``runs/<run name>/`` and checkpoints to ``checkpoints/<run name>/``
(``last.ckpt`` plus the three most recent periodic ones), and at the end the
inference file ``checkpoints/<run name>/<run name>.safetensors`` and a stylized
sample photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import CheckpointIO
from torchvision.transforms import functional as TF

from fst.checkpoint_io import AtomicCheckpointIO, ensure_writable
from fst.data import StyleDataModule
from fst.divergence import StopOnDivergence
from fst.errors import FstError
from fst.imageio import load_rgb, save_image
from fst.model_file import save_model_file, torch_load_safely
from fst.models.vgg import check_input_side
from fst.module import StyleTransferModule

ASSETS = Path(__file__).parent / "assets"
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
        datamodule = trainer.datamodule
        training = dict(pl_module.hparams)
        training.update(
            steps=trainer.global_step,
            image_size=datamodule.image_size,
            batch_size=datamodule.batch_size,
        )
        model_path = self.directory / f"{self.run_name}.safetensors"
        style = Path(pl_module.hparams.style_image).stem
        save_model_file(pl_module.net, model_path, style=style, training=training)
        with torch.no_grad():
            photo = TF.to_tensor(load_rgb(SAMPLE_PHOTO)).unsqueeze(0).to(pl_module.device)
            stylized = pl_module.net(photo)[0].cpu()
        sample_path = self.directory / "sample.jpg"
        save_image(TF.to_pil_image(stylized), sample_path)
        print(f"Inference model: {model_path}\nStylized sample photo: {sample_path}")


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

    def _parse_ckpt_path(self) -> None:
        """LightningCLI reads --ckpt_path's hyper-parameters here, with a traceback for a
        damaged or refused file; read it safely first so those end as one line."""
        ckpt_path = self.config.get(str(self.config.get("subcommand")), {}).get("ckpt_path")
        if ckpt_path and Path(ckpt_path).is_file():
            torch_load_safely(Path(ckpt_path))
        super()._parse_ckpt_path()

    def before_fit(self) -> None:
        """Refuse training crops too small for the loss network, before training starts."""
        size, hp = self.datamodule.image_size, self.model.hparams
        check_input_side(
            size, size, [*hp.style_layers, hp.content_layer], "a training crop (--data.image_size)"
        )

    def _instantiate_trainer(self, config: dict, callbacks: list) -> pl.Trainer:
        settings = self.config.get(str(self.subcommand), self.config)
        run_name = settings.run_name or Path(settings.model.style_image).stem
        directory = Path("checkpoints") / run_name
        if config.get("logger") in (None, True):
            config["logger"] = TensorBoardLogger("runs", name=run_name)
            ensure_writable(Path("runs"))
        ensure_writable(directory)
        plugins = config.get("plugins") or []
        config["plugins"] = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in config["plugins"]):
            config["plugins"].append(AtomicCheckpointIO())
        callbacks = [
            *callbacks,
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
        return super()._instantiate_trainer(config, callbacks)


def main(args: list[str] | None = None) -> None:
    """Run the training CLI; user errors end as one line on stderr and exit code 1."""
    try:
        StyleCLI(
            StyleTransferModule,
            StyleDataModule,
            trainer_defaults={"max_steps": 40000, "max_epochs": -1, "log_every_n_steps": 10},
            save_config_kwargs={"overwrite": True},
            args=args,
        )
    except FstError as exc:
        print(f"fst: error: {exc}", file=sys.stderr)
        sys.exit(1)
