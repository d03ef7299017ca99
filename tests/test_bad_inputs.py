"""Every file of the bad-input corpus (tests/badinputs.py), as an image, as training data
and as a style image: valid ones decode upright to the right RGB pixels, invalid ones are
refused with one line (or skipped and counted), nothing crashes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fst.data import ImageFolderDataset, StyleDataModule, resize_and_crop, scan_images
from fst.errors import FstError
from fst.imageio import list_images, load_rgb
from tests.badinputs import invalid, valid, write_corpus


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
        "zero_bytes.jpg": "not a readable image",
        "truncated.jpg": "not a readable image",
        "text.jpg": "not a readable image",
        "bomb.png": "image too large",
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


def test_training_dataset_with_nothing_decodable_is_one_clear_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.txt").write_text("notes")
    with pytest.raises(FstError, match="no readable images found"):
        StyleDataModule(str(folder), image_size=16).setup("fit")
