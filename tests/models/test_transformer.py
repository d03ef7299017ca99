"""TransformerNet: exact output size for any input size, range, configurable size, and the
border margin every stylisation network adds at inference."""

import pytest
import torch
import torch.nn.functional as F

from fst.infer.metadata import BORDER_MARGIN
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig, TransformerNet


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 8, 8), (1, 3, 64, 30), (1, 3, 9, 101)])
def test_output_shape_equals_input_shape(shape):
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    out = net(torch.rand(shape))
    assert out.shape == shape
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def expected_parameters(w: int, n: int) -> int:
    """Parameter count of the layout c9s1-w, d2w, d4w, n x R4w, u2w, uw, c9s1-3 with IN."""

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    def norm(c):
        return 2 * c

    total = conv(3, w, 9) + norm(w) + conv(w, 2 * w, 3) + norm(2 * w) + conv(2 * w, 4 * w, 3) + norm(4 * w)
    total += n * 2 * (conv(4 * w, 4 * w, 3) + norm(4 * w))
    total += conv(4 * w, 2 * w, 3) + norm(2 * w) + conv(2 * w, w, 3) + norm(w) + conv(w, 3, 9)
    return total


@pytest.mark.parametrize("width,blocks", [(32, 5), (16, 2), (8, 1)])
def test_parameter_count_matches_the_paper_layout(width, blocks):
    net = TransformerNet(TransformerConfig(width=width, num_res_blocks=blocks))
    assert sum(p.numel() for p in net.parameters()) == expected_parameters(width, blocks)


def test_paper_network_size():
    assert sum(p.numel() for p in TransformerNet().parameters()) == 1_679_235


def test_cropped_output_depends_only_on_the_input_region():
    # Padding to a multiple of 4 must not shift the picture: a 36x36 input (no padding) and
    # the same input cut to 35x35 (padded) give nearly the same top-left region.
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1)).eval()
    x = torch.rand(1, 3, 36, 36)
    full, cut = net(x), net(x[..., :35, :35])
    assert (full[..., :24, :24] - cut[..., :24, :24]).abs().mean() < 0.02


@pytest.mark.parametrize("arch", ["johnson", "fast"])
@pytest.mark.parametrize(("shape", "margin"), [((2, 3, 40, 52), BORDER_MARGIN), ((1, 3, 9, 12), 8)])
def test_eval_mode_adds_a_reflected_border_margin(arch, shape, margin):
    """Eval: the network on the input reflected by min(32, H - 1, W - 1) px, cropped back.
    Training: the network alone."""
    torch.manual_seed(0)
    net = build_transformer(TransformerConfig(width=8, num_res_blocks=1, arch=arch))
    x = torch.rand(shape)
    with torch.no_grad():
        assert torch.equal(net.train()(x), net.stylize(x))
        padded = F.pad(x, (margin,) * 4, mode="reflect")
        expected = net.stylize(padded)[..., margin:-margin, margin:-margin]
        assert torch.allclose(net.eval()(x), expected, atol=1e-6)
