"""The style-loss family against brute-force MMD² and by-hand statistics; its config; training with it."""

import pytest
import torch
import yaml

from fst.errors import FstError
from fst.loss.style_losses import (
    STYLE_LOSSES,
    BNLoss,
    GaussianLoss,
    GramLoss,
    LayerStyleLoss,
    LinearLoss,
    PolyLoss,
    StyleLossTerm,
    every_loss,
    parse_style_loss,
)
from fst.loss.terms import gaussian_mmd, gram_style_loss, linear_time_mmd, poly_kernel, position_pairs
from tests.conftest import REPO, run_cli
from tests.train.test_training import TINY, scalars


def vectors(features: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (H·W, C): one sample per position."""
    return features[0].flatten(1).T


def brute_force_mmd2(x: torch.Tensor, s: torch.Tensor, kernel) -> torch.Tensor:
    """Biased MMD² over every pair: mean k(x, x') + mean k(s, s') − 2 mean k(x, s); rows (M, C)."""

    def mean_k(a, b):
        return kernel(a.unsqueeze(1), b.unsqueeze(0)).mean()  # all |a|·|b| pairs

    return mean_k(x, x) + mean_k(s, s) - 2 * mean_k(x, s)


def dot_squared(a, b):
    return (a * b).sum(-1) ** 2


@pytest.fixture
def features():
    """Output (1, 5, 3, 4) and style (1, 5, 6, 5) ReLU-like features, different sizes."""
    gen = torch.Generator().manual_seed(3)
    out = torch.relu(torch.randn(1, 5, 3, 4, generator=gen, dtype=torch.float64) + 0.3)
    style = torch.relu(torch.randn(1, 5, 6, 5, generator=gen, dtype=torch.float64) * 1.5 + 0.5)
    return out, style


def test_gram_is_brute_force_mmd2_over_style_self_similarity(features):
    out, style = features
    x, s = vectors(out), vectors(style)
    mmd2 = brute_force_mmd2(x, s, dot_squared)
    self_similarity = dot_squared(s.unsqueeze(1), s.unsqueeze(0)).mean()  # E k(s, s')
    assert GramLoss(style)(out).item() == pytest.approx((mmd2 / self_similarity).item(), rel=1e-10)
    # Unnormalised: mean squared Gram error (gram_matrix divides by C·M) is MMD² / C⁴.
    c = out.shape[1]
    unnormalised = gram_style_loss(out, GramLoss(style).target) * GramLoss(style).target.pow(2).mean()
    assert unnormalised.item() == pytest.approx((mmd2 / c**4).item(), rel=1e-10)


def test_linear_is_squared_distance_of_channel_means(features):
    out, style = features
    mu_x, mu_s = vectors(out).mean(0), vectors(style).mean(0)
    expected = ((mu_x - mu_s) ** 2).sum() / (mu_s**2).sum()
    assert LinearLoss(style)(out).item() == pytest.approx(expected.item(), rel=1e-10)
    mmd2 = brute_force_mmd2(vectors(out), vectors(style), lambda a, b: (a * b).sum(-1))
    assert LinearLoss(style)(out).item() == pytest.approx((mmd2 / (mu_s**2).sum()).item(), rel=1e-10)


def test_poly_c0_d2_equals_gram(features):
    out, style = features
    batch = torch.cat([out, out.flip(-1) * 2])
    gram = GramLoss(style)(batch).item()
    assert PolyLoss(style, c=0.0, d=2)(batch).item() == pytest.approx(gram, rel=1e-10)


@pytest.mark.parametrize("c", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("d", [1, 2])
def test_poly_exact_is_brute_force(features, c, d):
    out, style = features
    loss = PolyLoss(style, c=c, d=d)
    kernel = poly_kernel(loss.unit, c, d)
    x, s = vectors(out), vectors(style)
    expected = brute_force_mmd2(x, s, kernel) / kernel(s.unsqueeze(1), s.unsqueeze(0)).mean()
    assert loss(out).item() == pytest.approx(expected.item(), rel=1e-9)
    # The unit is √(E ‖s‖²) of the style vectors.
    assert loss.unit.item() == pytest.approx(s.pow(2).sum(1).mean().sqrt().item())


def test_poly_high_degree_estimate_is_unbiased(features):
    """d = 3 uses the linear-time estimate; its mean over draws is the unbiased MMD²."""
    out, style = features
    loss = PolyLoss(style, c=1.0, d=3, samples=10_000)  # keeps every style vector
    kernel = poly_kernel(loss.unit, 1.0, 3)
    x, s = vectors(out), vectors(style)

    def unbiased_mean_k(a):  # mean over distinct pairs
        k = kernel(a.unsqueeze(1), a.unsqueeze(0))
        return (k.sum() - k.diagonal().sum()) / (len(a) * (len(a) - 1))

    # Style pairs are drawn with replacement from the stored sample, so E k(s1, s2) is the
    # biased (all-pairs) mean; output pairs are distinct positions.
    expected = unbiased_mean_k(x) + kernel(s.unsqueeze(1), s.unsqueeze(0)).mean()
    expected = (expected - 2 * kernel(x.unsqueeze(1), s.unsqueeze(0)).mean()) / loss.self_similarity
    torch.manual_seed(0)
    estimates = torch.stack([loss(out) for _ in range(3000)])
    standard_error = estimates.std() / len(estimates) ** 0.5
    assert abs(estimates.mean() - expected) < 4 * standard_error, (estimates.mean(), expected)


def test_gaussian_near_zero_for_one_distribution_positive_for_shifted():
    def draw(seed: int, shift: float) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.relu(torch.randn(1, 8, 16, 16, generator=gen) + 0.5 + shift)

    torch.manual_seed(0)
    same = torch.stack([GaussianLoss(draw(2 * i, 0.0))(draw(2 * i + 1, 0.0)) for i in range(40)])
    shifted = torch.stack([GaussianLoss(draw(2 * i, 0.0))(draw(2 * i + 1, 1.0)) for i in range(40)])
    # Single estimates scatter around zero (they can be negative); their mean is ≈ 0.
    assert (same < 0).any() and (same > 0).any()
    assert abs(same.mean()) < 3 * same.std() / len(same) ** 0.5 + 1e-3
    assert shifted.mean() > 10 * same.std() / len(same) ** 0.5
    assert (shifted > 0).all()


def test_gaussian_bandwidth_is_mean_squared_pair_distance():
    """With every pair at squared distance D, σ² = D and k = exp(−1/2) for cross pairs."""
    x1, x2 = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    s1, s2 = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    s1[..., 0] = 2.0  # d²(x1, x2) = 0, d²(s1, s2) = 4, d²(x1, s2) = 0, d²(x2, s1) = 4 -> σ² = 2
    expected = 1 + torch.exp(torch.tensor(-4 / 4)) - 1 - torch.exp(torch.tensor(-4 / 4))
    assert gaussian_mmd(x1, x2, s1, s2).item() == pytest.approx(expected.item())
    s2[..., 1] = 2.0  # d²(s1, s2) = 8, d²(x1, s2) = 4, d²(x2, s1) = 4 -> σ² = 4, 2σ² = 8
    e = torch.exp(torch.tensor(-8 / 8)), torch.exp(torch.tensor(-4 / 8))
    assert gaussian_mmd(x1, x2, s1, s2).item() == pytest.approx((1 + e[0] - 2 * e[1]).item())


def test_linear_time_mmd_by_hand():
    x1, x2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    s1, s2 = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0]])

    def dot(a, b):
        return (a * b).sum(-1)

    # k(x1,x2)=0, k(s1,s2)=2, k(x1,s2)=1, k(x2,s1)=0 -> 0 + 2 − 1 − 0 = 1.
    assert linear_time_mmd(x1, x2, s1, s2, dot).item() == pytest.approx(1.0)


def test_position_pairs_cover_disjoint_positions():
    features = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    a, b = position_pairs(features)
    assert a.shape == b.shape == (1, 7, 2)
    used = torch.cat([a[0, :, 0], b[0, :, 0]])
    assert len(set(used.tolist())) == 14  # 14 distinct positions out of 15
    assert torch.equal(torch.cat([a, b], 1)[0, :, 1], used + 15)  # channel 1 of the same position


def test_bn_zero_iff_means_and_stds_match():
    gen = torch.Generator().manual_seed(0)
    style = torch.rand(1, 4, 6, 6, generator=gen)
    loss = BNLoss(style)
    assert loss(style).item() == pytest.approx(0.0, abs=1e-12)
    # Same per-channel mean and std, different pattern (positions shuffled): still zero.
    shuffled = style.flatten(2)[..., torch.randperm(36, generator=gen)].reshape(1, 4, 6, 6)
    assert loss(shuffled).item() == pytest.approx(0.0, abs=1e-10)
    assert loss(style + 0.1).item() > 1e-4  # means differ
    centred = style.mean(dim=(2, 3), keepdim=True)
    assert loss(centred + 1.5 * (style - centred)).item() > 1e-4  # stds differ
    # By hand: mean/std targets, relative error of the stacked statistics.
    var, mean = torch.var_mean(style, dim=(2, 3), correction=0)
    std = (var + 1e-5).sqrt()
    out = style * 2
    expected = ((2 * mean - mean) ** 2).sum() + (((4 * var + 1e-5).sqrt() - std) ** 2).sum()
    expected = expected / ((mean**2).sum() + (std**2).sum())
    assert loss(out).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("name", list(STYLE_LOSSES))
def test_every_loss_has_gradient_and_is_scale_free(name):
    """Gradients reach the input; scaling all features by 60 ("caffe" vs "torchvision") changes nothing."""
    gen = torch.Generator().manual_seed(1)
    style = torch.relu(torch.randn(1, 6, 8, 8, generator=gen, dtype=torch.float64) + 0.5)
    out = torch.relu(torch.randn(2, 6, 8, 8, generator=gen, dtype=torch.float64)).requires_grad_(True)
    loss = STYLE_LOSSES[name](style)
    torch.manual_seed(0)
    value = loss(out)
    value.backward()
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0
    torch.manual_seed(0)
    scaled = STYLE_LOSSES[name](style * 60)(out.detach() * 60)
    # Only bn's √(var + 1e-5) is not exactly scale-free: a ~1e-5 relative effect here.
    assert scaled.item() == pytest.approx(value.item(), rel=1e-4, abs=1e-12)


def test_targets_are_buffers():
    style = torch.rand(1, 3, 4, 4)
    layer = LayerStyleLoss(parse_style_loss({"gram": 1, "gaussian": 1, "poly": {"d": 3}}), style)
    assert set(layer.state_dict()) == {
        "gram.target", "gaussian.sample", "poly.unit", "poly.sample", "poly.self_similarity",
    }  # fmt: skip
    assert layer.state_dict()["gaussian.sample"].shape == (16, 3)
    # every_loss (for measurement scripts): each registered loss, unscaled, per layer.
    losses = every_loss({"relu1_2": style, "relu2_2": style[..., :2, :2]})
    assert {name: {k: type(v) for k, v in per_layer.items()} for name, per_layer in losses.items()} == {
        name: {"relu1_2": cls, "relu2_2": cls} for name, cls in STYLE_LOSSES.items()
    }


def test_fusion_weights_times_scales():
    gen = torch.Generator().manual_seed(2)
    style, out = torch.rand(1, 4, 5, 5, generator=gen), torch.rand(2, 4, 5, 5, generator=gen)
    parts = LayerStyleLoss(parse_style_loss({"gram": 0.5, "bn": 2}), style)(out)
    assert parts["gram"].item() == pytest.approx(0.5 * GramLoss.scale * GramLoss(style)(out).item())
    assert parts["bn"].item() == pytest.approx(2 * BNLoss.scale * BNLoss(style)(out).item())


def test_parse_style_loss():
    assert parse_style_loss("bn") == [StyleLossTerm("bn", 1.0, {})]
    fusion = [StyleLossTerm("gram", 0.5), StyleLossTerm("bn", 0.5)]
    assert parse_style_loss({"gram": 0.5, "bn": 0.5}) == fusion
    assert parse_style_loss({"poly": {"weight": 2, "c": 0, "d": 3.0}}) == [
        StyleLossTerm("poly", 2.0, {"c": 0.0, "d": 3})
    ]
    assert parse_style_loss({"gaussian": {"samples": 512}})[0].options == {"samples": 512}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("wasserstein", "style_loss 'wasserstein' is neither a loss name (gram, linear, poly, gaussian, bn)"),
        ({"gram": 1, "bn": "x"}, "style loss bn: weight must be a positive number, got 'x'"),
        ({"gram": 0}, "style loss gram: weight must be a positive number, got 0"),
        ({"nope": 1}, "unknown style loss 'nope'; choose from gram, linear, poly, gaussian, bn"),
        ({"poly": {"e": 1}}, "style loss poly: unknown option(s) e; it takes weight, c, d, samples"),
        ({"poly": {"d": 2.5}}, "style loss poly: option d must be a whole number, got 2.5"),
        ({}, "style_loss must be a loss name or a non-empty mapping"),
    ],
)
def test_parse_style_loss_errors(spec, message):
    with pytest.raises(FstError) as err:
        parse_style_loss(spec)
    assert str(err.value).startswith(message)


def test_bad_options_are_user_errors():
    with pytest.raises(FstError, match="d >= 1 and c >= 0"):
        PolyLoss(torch.rand(1, 2, 3, 3), d=0)
    with pytest.raises(FstError, match="samples >= 2"):
        GaussianLoss(torch.rand(1, 2, 3, 3), samples=1)


ALL_FUSED = "{" + ", ".join(f"{name}: 0.2" for name in STYLE_LOSSES) + "}"


@pytest.mark.parametrize("style_loss", ["bn", ALL_FUSED])
def test_train_py_steps_with_each_loss_and_a_fusion(tmp_path, photo_dir, style_image, style_loss):
    """One loss by name, then all five fused (each trains, each is logged): two runs keep it quick."""
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        *TINY, "--model.loss.style_loss", style_loss, "--trainer.max_steps", "3",
        "--trainer.log_every_n_steps", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    names = list(yaml.safe_load(style_loss)) if style_loss.startswith("{") else [style_loss]
    ckpt = torch.load(tmp_path / "checkpoints/tiny/last.ckpt", map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    for name in names:  # the targets are saved with the checkpoint, for every layer
        for layer in ("relu1_2", "relu2_2", "relu3_3", "relu4_3"):
            assert any(k.startswith(f"loss.targets.0.{layer}.{name}.") for k in state), sorted(state)
    run_dir = next((tmp_path / "runs" / "tiny").iterdir())
    logged = scalars(run_dir)
    style = [v for _, v in logged["loss/style"]]
    assert len(style) == 3 and all(torch.isfinite(torch.tensor(style))), style
    if len(names) > 1:  # each member of a fusion is logged, and they add up to the style term
        members = [logged[f"loss/style.{name}"] for name in names]
        assert sum(v[0][1] for v in members) == pytest.approx(style[0], rel=1e-5)
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["loss"]["style_loss"] == yaml.safe_load(style_loss)


def test_train_py_bad_style_loss_is_one_line(tmp_path, photo_dir, style_image):
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        *TINY, "--model.loss.style_loss", "{gram: 1, poly: {d: 0}}", "--trainer.max_steps", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == "fst: error: style loss poly needs d >= 1 and c >= 0, got d=0, c=1.0"
    assert "Traceback" not in result.stderr
