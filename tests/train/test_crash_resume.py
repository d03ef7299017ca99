"""Training survives what real runs meet: kill -9, divergence, a full disk, a read-only folder.

Every test drives ``train.py`` in a subprocess as a user would. One uninterrupted 6-step
run (``reference``) is shared: it is the ground truth for the resumed run, and the
starting point (copied) for the failure cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO, random_photo

CHECKPOINT_EVERY = 2
# One thread: multi-threaded CPU kernels sum in varying order, and Adam turns those
# last-bit differences into visible ones within a few steps; with one thread a run
# is bitwise reproducible, so "resumed == uninterrupted" can be tested exactly.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = [
    "--model.width", "8", "--model.num_res_blocks", "1", "--model.loss.style_size", "48",
    "--model.lr", "0.01", "--model.sample_every_n_steps", "100",
    "--data.image_size", "32", "--data.batch_size", "1", "--data.num_workers", "0",
    "--data.num_samples", "2", "--checkpoint_every", str(CHECKPOINT_EVERY), "--run_name", "tiny",
    "--seed_everything", "0", "--trainer.enable_progress_bar", "false",
]  # fmt: skip


def train_command(data: Path, *extra: str) -> list[str]:
    """train.py fit on ``data`` (photos/ and style.png), one 32 px photo per step."""
    return [sys.executable, str(REPO / "train.py"), "fit", "--model.style_image", str(data / "style.png"),
            "--data.root", str(data / "photos"), *TINY, *extra]  # fmt: skip


def train(data: Path, cwd: Path, *extra: str, **popen) -> subprocess.CompletedProcess:
    command = train_command(data, *extra)
    return subprocess.run(
        command, cwd=cwd, env=ONE_THREAD, capture_output=True, text=True, timeout=600, **popen
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """One 32x32 photo (so every step sees the same batch) and a style image."""
    root = tmp_path_factory.mktemp("data")
    (root / "photos").mkdir()
    random_photo(32, 32, seed=0).save(root / "photos" / "photo.png")
    random_photo(48, 40, seed=99).save(root / "style.png")
    return root


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    """The working folder of an uninterrupted 6-step run (checkpoints at steps 2, 4, 6)."""
    cwd = tmp_path_factory.mktemp("reference")
    result = train(data, cwd, "--trainer.max_steps", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd


@pytest.fixture
def copy_of_reference(reference, tmp_path) -> Path:
    cwd = tmp_path / "run"
    shutil.copytree(reference, cwd)
    return cwd


def test_kill_9_then_resume_continues_with_the_same_optimizer_state(data, reference, tmp_path):
    """SIGKILL the moment the step-4 checkpoint lands (while last.ckpt is being written),
    resume with --ckpt_path last, and end where the uninterrupted run ended."""
    folder = tmp_path / "checkpoints" / "tiny"
    process = subprocess.Popen(
        train_command(data, "--trainer.max_steps", "1000"),
        cwd=tmp_path, env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (folder / "step000004.ckpt").exists():
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no step-4 checkpoint within 300 s"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # Whatever the kill interrupted, every visible checkpoint is complete.
    visible = sorted(p.name for p in folder.glob("*.ckpt"))
    assert "last.ckpt" in visible, visible
    for name in visible:
        load(folder / name)
    saved = load(folder / "last.ckpt")["global_step"]
    assert 4 - CHECKPOINT_EVERY <= saved <= 4  # at most checkpoint_every steps of work lost

    resumed = train(data, tmp_path, "--trainer.max_steps", "6", "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = load(folder / "last.ckpt")
    assert state["global_step"] == 6
    assert state["optimizer_states"][0]["state"][0]["step"].item() == 6  # Adam's own count carried on
    assert not list(folder.glob(".*")), "a half-written file was left behind"

    # Killed + resumed ends exactly where the uninterrupted run ended: weights and Adam's
    # moments were restored, not restarted (a fresh Adam moves weights by ~lr = 1e-2).
    ours = load_file(folder / "tiny.safetensors")
    theirs = load_file(reference / "checkpoints" / "tiny" / "tiny.safetensors")
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_divergence_stops_at_the_step_and_keeps_the_last_good_checkpoint(data, copy_of_reference):
    """A loss weight that overflows float32 makes the loss infinite at the first new step."""
    folder = copy_of_reference / "checkpoints" / "tiny"
    before = digest(folder / "last.ckpt")
    result = train(data, copy_of_reference, "--trainer.max_steps", "10", "--ckpt_path", "last",
                   "--model.loss.style_weight", "1e39")  # fmt: skip
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("fst: error: training diverged at step 7 (non-finite loss, loss inf)"), line
    assert f"every checkpoint in {folder} is from before it" in line
    assert digest(folder / "last.ckpt") == before
    assert sorted(p.name for p in folder.glob("*.ckpt")) == [
        "last.ckpt", "step000002.ckpt", "step000004.ckpt", "step000006.ckpt"
    ]  # fmt: skip


def test_runaway_learning_rate_stops_before_nan_reaches_a_checkpoint(data, tmp_path):
    runaway = ["--model.lr", "1e30", "--checkpoint_every", "1"]
    result = train(data, tmp_path, "--trainer.max_steps", "20", *runaway)
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("fst: error: training diverged at step "), line
    step = int(line.split("step ")[1].split()[0])
    checkpoints = sorted((tmp_path / "checkpoints" / "tiny").glob("*.ckpt"))
    assert checkpoints, "the steps before the divergence were checkpointed"
    for path in checkpoints:
        state = load(path)
        assert state["global_step"] < step
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values()), path.name


def ignore_file_size_signal_and_limit(max_bytes: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def test_full_disk_at_a_checkpoint_is_one_line_and_keeps_earlier_checkpoints(data, copy_of_reference):
    """RLIMIT_FSIZE makes every write past half a checkpoint fail, as a full disk would."""
    folder = copy_of_reference / "checkpoints" / "tiny"
    before = {p.name: digest(p) for p in folder.glob("*.ckpt")}
    limit = (folder / "last.ckpt").stat().st_size // 2
    result = train(data, copy_of_reference, "--trainer.max_steps", "10", "--ckpt_path", "last",
                   preexec_fn=ignore_file_size_signal_and_limit(limit))  # fmt: skip
    assert result.returncode == 1
    line = last_line(result)
    expected = f"fst: error: {folder / 'step000008.ckpt'}: cannot write checkpoint (File too large); "
    assert line.startswith(expected), line
    assert {p.name: digest(p) for p in folder.glob("*.ckpt")} == before
    assert not list(folder.glob(".*")), "a half-written file was left behind"


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files, for root too (chmod, else chattr +i), or skip."""
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK) or os.geteuid() == 0:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
            if not immutable:
                pytest.skip("cannot make a folder read-only here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_checkpoint_folder_fails_before_training(data, copy_of_reference):
    folder = copy_of_reference / "checkpoints" / "tiny"
    before = {p.name: digest(p) for p in folder.iterdir()}
    with read_only(folder):
        result = train(data, copy_of_reference, "--trainer.max_steps", "10", "--ckpt_path", "last")
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith(f"fst: error: {Path('checkpoints/tiny')}: cannot write to this folder ("), line
    assert {p.name: digest(p) for p in folder.iterdir()} == before
