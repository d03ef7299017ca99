"""A real training run through train.py, as a user runs it: losses, files, TensorBoard, resume."""

from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fst.infer.model_file import load_model_file
from fst.loss.config import LossConfig
from fst.loss.objective import load_style_image, png_to_tensor
from tests.conftest import REPO, run_cli

TINY = [
    "--model.width", "8", "--model.num_res_blocks", "1", "--model.loss.style_size", "40",
    "--model.lr", "0.01", "--model.sample_every_n_steps", "4",
    "--data.image_size", "32", "--data.batch_size", "4", "--data.num_workers", "0",
    "--data.num_samples", "2", "--checkpoint_every", "4", "--run_name", "tiny",
]  # fmt: skip


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    out = {tag: [(s.step, s.value) for s in events.Scalars(tag)] for tag in tags["scalars"]}
    out["_images"] = tags["images"]
    return out


def test_train_resume_and_outputs(tmp_path, photo_dir, style_image):
    # Unreadable by their bytes, not by permissions (root reads any file): a JPEG whose
    # header is cut short and a text file.
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photo_dir / "notes.txt").write_text("not an image")
    base = ["train.py", "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir), *TINY]
    repo = REPO
    first = run_cli(*[str(repo / base[0])], *base[1:], "--trainer.max_steps", "8",
                    "--trainer.log_every_n_steps", "1", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    assert "skipped 2 unreadable files" in first.stderr

    ckpt_dir = tmp_path / "checkpoints" / "tiny"
    assert (ckpt_dir / "last.ckpt").is_file()
    assert (ckpt_dir / "step000004.ckpt").is_file() and (ckpt_dir / "step000008.ckpt").is_file()
    net, info = load_model_file(ckpt_dir / "tiny.safetensors")
    assert info.style == "style" and info.arch == {"width": 8, "num_res_blocks": 1, "arch": "johnson"}
    assert info.training["steps"] == 8 and info.training["image_size"] == 32
    # The objective travels with the network: the settings trained with (the checkpoint's
    # hparams) and the style image as training saw it (48x40 scaled to a 40 px long side).
    ckpt = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert info.objective == ckpt["hyper_parameters"]["loss"] == LossConfig(style_size=40).to_dict()
    (stored,) = info.style_images
    style_pixels = png_to_tensor(stored, "test")
    assert style_pixels.shape == (1, 3, 33, 40)
    assert torch.equal(style_pixels, load_style_image(style_image, 40))  # PNG: lossless
    assert (ckpt_dir / "sample.jpg").is_file()
    assert f"Inference model: {Path('checkpoints/tiny/tiny.safetensors')}" in first.stdout

    run_dirs = sorted((tmp_path / "runs" / "tiny").iterdir())
    logged = scalars(run_dirs[0])
    for tag in ("loss/total", "loss/content", "loss/style", "loss/tv", "style_layers/relu4_3"):
        assert tag in logged, sorted(logged)
    total = [v for _, v in logged["loss/total"]]
    assert all(torch.isfinite(torch.tensor(total)))
    # Same batch every step (4 fixed 32 px photos, batch 4): the objective goes down.
    assert sum(total[-3:]) / 3 < 0.8 * sum(total[:2]) / 2, total
    assert "samples" in logged["_images"]
    hparams = (run_dirs[0] / "hparams.yaml").read_text()
    assert hparams.count("style_weight") == 1 and yaml.safe_load(hparams)["loss"] == info.objective

    resumed = run_cli(str(repo / base[0]), *base[1:], "--trainer.max_steps", "12", "--ckpt_path", "last",
                      "--trainer.log_every_n_steps", "1", cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ckpt = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 12
    assert ckpt["optimizer_states"][0]["state"][0]["step"].item() == 12  # Adam state carried over
    resumed_steps = [s for s, _ in scalars(sorted((tmp_path / "runs" / "tiny").iterdir())[-1])["loss/total"]]
    assert min(resumed_steps) >= 8


def test_fst_train_short_form_and_bad_style_image(tmp_path, photo_dir):
    missing = run_cli("train", "--style", str(tmp_path / "nope.jpg"), "--data", str(photo_dir), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == f"fst: error: {tmp_path / 'nope.jpg'}: no such file"
    assert "Traceback" not in missing.stderr

    help_text = run_cli("train", "--help").stdout
    assert "--style" in help_text and "--trainer.max_steps" in help_text
