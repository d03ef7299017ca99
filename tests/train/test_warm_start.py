"""--model.init_from: a run that starts from a trained network's weights."""

import pytest
import torch

from fst.errors import FstError
from fst.infer.model_file import save_model_file
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig
from fst.train.module import StyleTransferModule
from tests.conftest import REPO, run_cli
from tests.train.test_training import TINY


@pytest.fixture
def trained(tmp_path):
    """A saved tiny network (width 8, one residual block) with non-default weights."""
    torch.manual_seed(3)
    net = build_transformer(TransformerConfig(width=8, num_res_blocks=1))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_()
    path = tmp_path / "trained.safetensors"
    save_model_file(net, path, style="trained", training={})
    return net, path


def test_the_network_starts_as_the_file_holds_it(trained, style_image):
    net, path = trained
    module = StyleTransferModule(str(style_image), width=8, num_res_blocks=1, init_from=str(path))
    theirs, ours = net.state_dict(), module.net.state_dict()
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[key], ours[key]) for key in theirs)


def test_another_architecture_is_one_line(trained, style_image):
    _, path = trained
    with pytest.raises(FstError, match="its network is johnson, width 8, 1 residual blocks, this run trains "
                                       "johnson, width 16, 1 residual blocks"):  # fmt: skip
        StyleTransferModule(str(style_image), width=16, num_res_blocks=1, init_from=str(path))


def test_the_cli_names_a_mismatch_in_one_line(trained, tmp_path, photo_dir, style_image):
    _, path = trained
    tiny = [arg if arg != "8" else "16" for arg in TINY]  # --model.width 16
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        *tiny, "--model.init_from", str(path), "--trainer.max_steps", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fst: error: --model.init_from {path}: its network is johnson, width 8"), last
    assert "Traceback" not in result.stderr


def test_a_single_style_network_starts_every_style_of_a_multi_style_run(trained, tmp_path, style_image):
    net, path = trained
    folder = tmp_path / "paintings"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.png").write_bytes(style_image.read_bytes())
    module = StyleTransferModule(str(folder), width=8, num_res_blocks=1, init_from=str(path))
    assert module.net.config.num_styles == 3
    theirs, ours = net.state_dict(), module.net.state_dict()
    assert theirs.keys() == ours.keys()
    for key, value in theirs.items():  # γ/β (C,) -> three equal rows (3, C); the rest as it is
        expected = value.expand(3, -1) if ours[key].shape == (3, *value.shape) else value
        assert torch.equal(ours[key], expected), key
