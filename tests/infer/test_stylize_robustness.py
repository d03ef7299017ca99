"""`fst stylize` of a folder holding the whole bad-input corpus, files vanishing mid-run,
and outputs that would replace inputs or each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fst.imageio import load_rgb
from fst.infer.runners import open_runner
from fst.infer.stylize import Job, stylize_files
from tests.badinputs import invalid, valid, write_corpus
from tests.conftest import random_photo, run_cli
from tests.inference_models import save_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_folder_of_bad_inputs_does_the_rest_and_counts_both(model, tmp_path):
    source, target = tmp_path / "corpus", tmp_path / "styled"
    cases = write_corpus(source)
    result = run_cli("stylize", str(source), "-m", str(model), "-o", str(target))
    assert result.returncode == 1  # some failed

    unreadable = ["bomb.png", "text.jpg", "truncated.jpg", "zero_bytes.jpg"]  # the folder is not listed
    assert sorted(c.name for c in invalid(cases)) == sorted([*unreadable, "folder.jpg", "vanishes.jpg"])
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[2] for line in lines] == [str(source / name) for name in unreadable]
    assert all(line.startswith("fst: error: ") for line in lines), result.stderr
    readable = [c.name for c in valid(cases)] + ["vanishes.jpg"]  # still there when run from the CLI
    assert (
        result.stdout.strip().splitlines()[-1].startswith(f"{len(readable)} done, {len(unreadable)} failed")
    )

    written = sorted(p.name for p in target.rglob("*"))
    assert written == sorted(readable)  # one output per readable input, nothing half-written or hidden
    for name in readable:
        assert Image.open(target / name).size == load_rgb(source / name).size, name  # upright size kept


def test_file_deleted_after_listing_is_one_error_and_the_rest_is_done(model, tmp_path):
    for name in ("a.png", "b.png"):
        random_photo(24, 16, seed=len(name)).save(tmp_path / name)
    jobs = [Job(tmp_path / name, tmp_path / f"out_{name}") for name in ("a.png", "b.png")]
    (tmp_path / "a.png").unlink()
    results = list(stylize_files(open_runner(model, runtime="torch", device="cpu"), jobs))
    assert [str(error) if error else None for _, error in results] == [
        f"{tmp_path / 'a.png'}: no such file",
        None,
    ]
    assert np.asarray(Image.open(tmp_path / "out_b.png")).shape == (16, 24, 3)
    assert not (tmp_path / "out_a.png").exists()


def test_output_folder_that_is_the_input_folder_is_refused(model, tmp_path):
    random_photo(16, 16, seed=1).save(tmp_path / "a.jpg")
    before = (tmp_path / "a.jpg").read_bytes()
    for extra in ([], ["--overwrite"]):
        result = run_cli("stylize", str(tmp_path), "-m", str(model), "-o", str(tmp_path), *extra)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"fst: error: {tmp_path}: is the input folder; "
            "stylized images would replace the photos, choose another"
        )
    assert (tmp_path / "a.jpg").read_bytes() == before


def test_two_inputs_that_would_share_one_output_are_refused_before_any_work(model, tmp_path):
    source, target = tmp_path / "photos", tmp_path / "out"
    source.mkdir()
    random_photo(16, 16, seed=1).save(source / "a.jpg")
    random_photo(16, 16, seed=2).save(source / "a.png")
    result = run_cli("stylize", str(source), "-m", str(model), "-o", str(target), "--format", "png")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"fst: error: {source / 'a.jpg'} and {source / 'a.png'} would both be written to {target / 'a.png'}; "
        "rename one of them"
    )
    assert not list(target.rglob("*"))
