"""Training under DDP (2 CPU processes, gloo) matches one process with the same global batch,
and two processes extracting the VGG weights into one empty cache at once do not corrupt it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fst.loss.weights import CAFFE_SHA256, read_weights_file, tensors_sha256
from tests.conftest import REPO, random_photo

STEPS = 3
TINY = [
    "--model.width", "8", "--model.num_res_blocks", "1", "--model.loss.style_size", "48",
    "--model.lr", "0.001",
    "--model.sample_every_n_steps", "100", "--data.image_size", "32", "--data.num_workers", "0",
    "--data.num_samples", "2", "--seed_everything", "0", "--trainer.max_steps", str(STEPS),
    "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false", "--run_name", "tiny",
    "--trainer.precision", "32-true",  # the comparison is to 1e-5: not bf16, where it is the default
]  # fmt: skip
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes share two cores


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Four 32x32 photos (none held out: num_samples 2): a global batch of four is the whole
    set, in one fixed crop each."""
    root = tmp_path_factory.mktemp("data")
    (root / "photos").mkdir()
    for i in range(4):
        random_photo(32, 32, seed=i).save(root / "photos" / f"img{i}.png")
    random_photo(48, 40, seed=99).save(root / "style.png")
    return root


def train(data: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "train.py"), "fit", "--model.style_image", str(data / "style.png"),
           "--data.root", str(data / "photos"), *TINY, *extra]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, env=ONE_THREAD, capture_output=True, text=True, timeout=600)


def logged_losses(cwd: Path) -> list[float]:
    (run,) = (cwd / "runs" / "tiny").iterdir()
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [s.value for s in events.Scalars("loss/total")]


def test_ddp_on_two_processes_matches_one_process_with_the_same_global_batch(data, tmp_path):
    """Style and TV terms are means over photos, so 2 processes x 2 photos = 1 x 4 exactly.
    (The content term divides by its own batch's feature energy, so it is left out here:
    docs/robustness.md gives its measured difference.)"""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    single.mkdir(), ddp.mkdir()
    style_only = ["--model.loss.content_weight", "0"]
    one = train(data, single, "--data.batch_size", "4", *style_only)
    assert one.returncode == 0, one.stderr[-3000:]
    two = train(data, ddp, "--data.batch_size", "2", "--trainer.strategy", "ddp", "--trainer.devices", "2",
                "--trainer.accelerator", "cpu", *style_only)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert "distributed_backend=gloo" in two.stderr and "All distributed processes registered" in two.stderr

    expected, got = logged_losses(single), logged_losses(ddp)
    assert len(expected) == len(got) == STEPS
    assert got[0] == pytest.approx(expected[0], rel=1e-5)  # same weights, same four photos
    assert got == pytest.approx(expected, rel=1e-3)  # later steps: Adam on gradients summed in another order


def test_two_processes_extracting_vgg_weights_at_once_leave_one_good_file(tmp_path):
    code = "from fst.loss.weights import resolve_vgg_weights; print(resolve_vgg_weights('caffe').source)"
    env = {**os.environ, "FST_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", code]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    results = [w.communicate(timeout=600) for w in workers]
    assert all(w.returncode == 0 for w in workers), results
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg16_caffe.safetensors"]  # no temp files left
    tensors, flavour = read_weights_file(tmp_path / "vgg16_caffe.safetensors")
    assert flavour == "caffe" and tensors_sha256(tensors) == CAFFE_SHA256
