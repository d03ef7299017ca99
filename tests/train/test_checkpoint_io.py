"""AtomicCheckpointIO: a process killed in the middle of writing a checkpoint leaves the
previous file complete, and the next save sweeps the half-written temporary file away."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from fst.imageio import current_umask
from fst.train.checkpoint_io import PARTIAL_PATTERN, AtomicCheckpointIO

SAVE = (
    "import sys, torch\n"
    "from fst.train.checkpoint_io import AtomicCheckpointIO\n"
    "step, numbers = int(sys.argv[2]), int(sys.argv[3])\n"
    "AtomicCheckpointIO().save_checkpoint({'step': step, 'blob': torch.ones(numbers)}, sys.argv[1])\n"
)


def save(path: Path, step: int, numbers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SAVE, str(path), str(step), str(numbers)], stderr=subprocess.PIPE
    )


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    last = tmp_path / "run" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, last)

    writer = save(last, step=2, numbers=50_000_000)  # 200 MB: the write takes a while
    deadline = time.monotonic() + 120
    while not list(last.parent.glob(PARTIAL_PATTERN)):
        assert writer.poll() is None, "the 200 MB write ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL

    (partial,) = last.parent.glob(PARTIAL_PATTERN)
    assert partial.stat().st_size < 200_000_000  # really cut short
    assert torch.load(last, weights_only=True)["step"] == 1  # the old checkpoint, whole

    AtomicCheckpointIO().save_checkpoint({"step": 3}, last)
    assert torch.load(last, weights_only=True)["step"] == 3
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # leftover swept away
    assert last.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # the usual mode, not mkstemp's 0600
