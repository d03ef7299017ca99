"""Every file of the bad-input corpus (tests/badinputs.py), as an image, as training data
and as a style image: valid ones decode upright to the right RGB pixels, invalid ones are
refused with one line (or skipped and counted), nothing crashes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fst.errors import FstError
from fst.imageio import list_images, load_rgb
from fst.loss.config import LossConfig
from fst.loss.vgg import VGG16Features, min_input_side
from fst.train.data import ImageFolderDataset, StyleDataModule, resize_and_crop, scan_images
from fst.train.module import StyleTransferModule
from tests.badinputs import invalid, valid, write_corpus
from tests.conftest import REPO, random_photo, run_cli


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    return folder, write_corpus(folder)


def test_valid_files_decode_upright_to_the_expected_rgb(corpus):
    folder, cases = corpus
    for case in valid(cases):
        img = load_rgb(folder / case.name)
        assert img.mode == "RGB", case.name
        pixels = np.asarray(img).astype(int)
        assert pixels.shape == case.expect.shape, (case.name, pixels.shape)
        assert np.abs(pixels - case.expect).max() <= case.tolerance, case.name


def test_invalid_files_are_refused_with_one_line(corpus):
    folder, cases = corpus
    (folder / "vanishes.jpg").unlink()
    reasons = {
        "zero_bytes.jpg": "not a readable image (empty file)",
        "truncated.jpg": "not a readable image (image file is truncated",
        "text.jpg": "not a readable image (unknown format)",
        "bomb.png": "image too large (over 178956970 pixels, Pillow's decompression-bomb limit)",
        "vanishes.jpg": "no such file",
        "folder.jpg": "is a directory",
    }
    assert sorted(reasons) == sorted(c.name for c in invalid(cases))
    for name, reason in reasons.items():
        with pytest.raises(FstError) as caught:
            load_rgb(folder / name)
        message = str(caught.value)
        assert message.startswith(f"{folder / name}: {reason}"), message
        assert "\n" not in message


def test_listing_skips_the_directory_named_like_an_image(corpus):
    folder, cases = corpus
    listed = {p.name for p in list_images(folder)}
    assert "folder.jpg" not in listed
    assert listed == {c.name for c in cases} - {"folder.jpg"}


def test_training_dataset_skips_and_counts_bad_files(corpus):
    """Headers that do not parse are skipped at listing; files that fail later (truncated,
    deleted after listing) are replaced by the next file, counted once, never retried."""
    folder, cases = corpus
    images, skipped = scan_images(folder)
    assert sorted(p.name for p, _ in skipped) == ["bomb.png", "text.jpg", "zero_bytes.jpg"]
    assert "decompression bomb" in dict((p.name, r) for p, r in skipped)["bomb.png"]
    (folder / "vanishes.jpg").unlink()  # listed, then gone before the first read

    dataset = ImageFolderDataset(images, image_size=16, random_crop=False)
    with pytest.warns(UserWarning, match="skipping"):
        for _ in range(2):  # two epochs: each bad file is counted once
            crops = [dataset[i] for i in range(len(dataset))]
    assert dataset.failed_count == 2
    assert all(c.shape == (3, 16, 16) and torch.isfinite(c).all() for c in crops)

    by_name = {p.name: i for i, p in enumerate(images)}
    for case in valid(cases):
        expected = resize_and_crop(Image.fromarray(case.expect), 16, rng=None)
        got = dataset[by_name[case.name]]
        assert (got - expected).abs().max() <= case.tolerance / 255 + 1e-6, case.name


def test_decode_failures_in_dataloader_workers_are_counted_in_the_training_process(corpus):
    folder, _ = corpus
    images, _ = scan_images(folder)
    dataset = ImageFolderDataset(images, image_size=16)
    batches = list(DataLoader(dataset, batch_size=4, num_workers=2))  # workers warn on their stderr
    assert sum(len(b) for b in batches) == len(images)
    assert dataset.failed_count == 1  # truncated.jpg, flagged by whichever worker met it


def test_training_dataset_with_nothing_decodable_is_one_clear_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.txt").write_text("notes")
    with pytest.raises(FstError, match="no readable images found"):
        StyleDataModule(str(folder), image_size=16).setup("fit")


def test_style_images_are_checked_before_the_loss_network_loads(corpus, tmp_path):
    """Every invalid style image fails with its own one-line reason; every valid one gets
    past the image checks and only then meets the (deliberately missing) VGG weights."""
    folder, cases = corpus
    (folder / "vanishes.jpg").unlink()
    no_weights = tmp_path / "no-such-vgg.safetensors"
    loss = LossConfig(style_size=64, vgg_weights=str(no_weights))
    for case in cases:
        with pytest.raises(FstError) as caught:
            StyleTransferModule(str(folder / case.name), loss, width=8)
        message = str(caught.value)
        if case.valid:
            assert message == f"{no_weights}: VGG-16 weights file not found", (case.name, message)
        else:
            assert message.startswith(f"{folder / case.name}: ") and "\n" not in message, message


def test_style_image_too_small_for_the_loss_network_is_refused_before_it_loads(corpus, tmp_path):
    folder, _ = corpus
    no_weights = str(tmp_path / "no-such-vgg.safetensors")
    with pytest.raises(FstError) as caught:
        StyleTransferModule(
            str(folder / "three_pixels.png"), LossConfig(style_size=None, vgg_weights=no_weights)
        )
    assert str(caught.value) == (
        f"{folder / 'three_pixels.png'} (at --model.loss.style_size) is 3x3 pixels; "
        "VGG-16 layers relu1_2, relu2_2, relu3_3, relu4_3 need at least 8 on each side"
    )
    # Only the deepest layer matters: relu2_2 alone needs 2 pixels.
    with pytest.raises(FstError, match="VGG-16 weights file not found"):
        loss = LossConfig(style_size=None, vgg_weights=no_weights, style_layers=["relu2_2"])
        StyleTransferModule(str(folder / "three_pixels.png"), loss)


@pytest.mark.parametrize("layer", ["relu2_2", "relu3_3", "relu4_3", "relu5_3"])
def test_min_input_side_is_exactly_what_vgg_needs(layer, vgg):
    side = min_input_side([layer])
    assert vgg(torch.rand(1, 3, side, side + 5), [layer])[layer].shape[-2] == 1
    with pytest.raises(RuntimeError):
        vgg(torch.rand(1, 3, side - 1, side + 5), [layer])


@pytest.fixture(scope="module")
def vgg():
    return VGG16Features("caffe")


def test_bad_style_image_on_the_command_line_fails_before_any_weights_are_touched(tmp_path, photo_dir):
    truncated = tmp_path / "style.jpg"
    random_photo(40, 40, seed=1).save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:300])
    empty_cache = tmp_path / "cache"
    empty_cache.mkdir()
    env = {**os.environ, "FST_CACHE_DIR": str(empty_cache)}
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "fit", "--model.style_image", str(truncated),
         "--data.root", str(photo_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"fst: error: {truncated}: not a readable image (")
    )
    assert not list(empty_cache.iterdir()), "VGG weights were extracted before the style image was checked"


def test_training_crops_too_small_for_the_loss_network_are_one_clear_line(tmp_path, photo_dir, style_image):
    result = run_cli("train", "--style", str(style_image), "--data", str(photo_dir), "--model.width", "8",
                     "--data.image_size", "6", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "fst: error: a training crop (--data.image_size) is 6x6 pixels; "
        "VGG-16 layers relu1_2, relu2_2, relu3_3, relu4_3 need at least 8 on each side"
    )
