"""Training photos: any folder tree of images (COCO's layout works) as a LightningDataModule.

Files that are not images, or that fail to decode, are skipped and counted, never fatal.
"""

from __future__ import annotations

import multiprocessing
import random
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import functional as TF

from fst.errors import FstError
from fst.imageio import load_rgb


def scan_images(root: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every non-hidden file under ``root`` whose header Pillow reads, sorted.

    Returns (images, skipped) where skipped holds (path, reason) for the rest.
    """
    root = Path(root)
    if not root.is_dir():
        raise FstError(f"{root}: training data folder not found")
    images, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - the header is parsed lazily
            images.append(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append((path, str(exc) or type(exc).__name__))
    return images, skipped


def resize_and_crop(img: Image.Image, size: int, rng: random.Random | None) -> torch.Tensor:
    """Scale the short side to ``size``, crop a size x size square (random if ``rng``).

    Returns a (3, size, size) float tensor in [0, 1].
    """
    tensor = TF.resize(TF.to_tensor(img), size, antialias=True)
    h, w = tensor.shape[-2:]
    top = rng.randint(0, h - size) if rng else (h - size) // 2
    left = rng.randint(0, w - size) if rng else (w - size) // 2
    return tensor[:, top : top + size, left : left + size].clamp(0, 1)


class ImageFolderDataset(Dataset):
    """Square crops of photos, (3, S, S) in [0, 1].

    A file that fails to decode (truncated, deleted since listing, ...) is replaced by
    the next one, warned about once, flagged and never tried again; ``failed_count``
    is the number of such files. The flags live in shared memory, so DataLoader
    workers see and set the same ones.
    """

    def __init__(self, files: list[Path], image_size: int, random_crop: bool = True):
        if not files:
            raise FstError("no readable training images")
        self.files = files
        self.image_size = image_size
        self.random_crop = random_crop
        self.failed = multiprocessing.Array("b", len(files), lock=False)  # 1: failed to decode

    def __len__(self) -> int:
        return len(self.files)

    @property
    def failed_count(self) -> int:
        """Files that failed to decode so far."""
        return sum(self.failed)

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = random.Random() if self.random_crop else None
        for offset in range(len(self.files)):
            candidate = (index + offset) % len(self.files)
            if self.failed[candidate]:
                continue
            try:
                return resize_and_crop(load_rgb(self.files[candidate]), self.image_size, rng)
            except FstError as exc:
                self.failed[candidate] = 1
                warnings.warn(f"skipping {exc}", stacklevel=1)
        raise FstError("no training image could be decoded")


class StyleDataModule(pl.LightningDataModule):
    """Photos under ``root``: training crops plus a few fixed held-out sample photos.

    Args:
        root: folder searched recursively for images (e.g. COCO train2014/).
        image_size: side of the square training crops, in pixels.
        batch_size: photos per step.
        num_workers: decoding processes (0 decodes in the training process).
        num_samples: photos held out and shown stylized in TensorBoard.
    """

    def __init__(
        self,
        root: str,
        image_size: int = 256,
        batch_size: int = 4,
        num_workers: int = 2,
        num_samples: int = 4,
    ):
        super().__init__()
        self.root = root
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.num_samples = num_samples
        self.skipped: list[tuple[Path, str]] = []

    def setup(self, stage: str | None = None) -> None:
        images, self.skipped = scan_images(self.root)
        if self.skipped:
            first, reason = self.skipped[0]
            warnings.warn(
                f"{self.root}: skipped {len(self.skipped)} unreadable files (first: {first.name}: {reason})",
                stacklevel=1,
            )
        if not images:
            raise FstError(f"{self.root}: no readable images found")
        held_out = self.num_samples if len(images) > 2 * self.num_samples else 0
        self.train_set = ImageFolderDataset(images[held_out:], self.image_size)
        self.sample_set = ImageFolderDataset(images[: self.num_samples], self.image_size, random_crop=False)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def sample_batch(self) -> torch.Tensor:
        """The fixed sample photos as a (K, 3, S, S) batch."""
        return torch.stack([self.sample_set[i] for i in range(len(self.sample_set))])
