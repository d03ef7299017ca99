"""Crash-safe training checkpoints: a file is either the complete old one or the complete new one.

Lightning's own TorchCheckpointIO writes through an fsspec transaction: the bytes go to a
temporary file in the *system* temp folder, then ``shutil.move`` puts it in place. When
that folder is on another file system than the checkpoints (a tmpfs /tmp, a cluster's
scratch disk), the move is a copy into the final name, so a crash or ``kill -9`` in the
middle leaves a truncated ``last.ckpt`` that ``--ckpt_path last`` then fails to load.
AtomicCheckpointIO writes the temporary file *beside* the checkpoint, flushes it to disk
and renames it over the old name in one step, so ``last.ckpt`` is always loadable.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from fst.errors import FstError
from fst.imageio import atomic_path
from fst.infer.model_file import torch_load_safely

# What fst.imageio.atomic_path calls its temporary files beside a .ckpt.
PARTIAL_PATTERN = ".*.part.ckpt"


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written there, or raise FstError.

    Run before training starts, so a read-only or missing output folder is reported in
    the first seconds rather than at the first checkpoint.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise FstError(f"{folder}: cannot write to this folder ({exc.strerror})") from None


def remove_partial_checkpoints(folder: Path) -> None:
    """Delete temporary files that a killed run left half-written in ``folder``."""
    for leftover in folder.glob(PARTIAL_PATTERN):
        leftover.unlink(missing_ok=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose saves are atomic renames of fully written files, and whose
    loads (``--ckpt_path``) never run code stored in the file.

    A failed write (disk full, folder turned read-only) raises FstError naming the file
    and the reason, and leaves every earlier checkpoint untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cleaned: set[Path] = set()

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent not in self.cleaned:
            remove_partial_checkpoints(path.parent)
            self.cleaned.add(path.parent)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_path(path) as tmp:
            try:
                with open(tmp, "wb") as f:
                    f.write(buffer.getbuffer())
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise FstError(
                    f"{path}: cannot write checkpoint ({exc.strerror}); the earlier checkpoints are untouched"
                ) from None
        folder = os.open(path.parent, os.O_RDONLY)  # make the rename itself survive a power cut
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Always ``weights_only``: a checkpoint whose pickle would run code is refused."""
        return torch_load_safely(Path(path), map_location=map_location)
