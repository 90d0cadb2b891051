"""MPASNet model, losses and augmentation (CPU, tiny inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from pympas.model import CONFIGS, HRNet, MPASNet, load_pretrained  # noqa: E402
from pympas.model.augment import (  # noqa: E402
    GeometryParams,
    Photometric,
    PhotometricParams,
    random_geometry,
)
from pympas.model.losses import air_loss, bce_loss, dice_loss, seg_loss  # noqa: E402


def _logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p / (1 - p))


# ---------------------------------------------------------------- losses (Eqs. 6, 7)


def test_dice_loss_matches_hand_computation_of_eq6():
    # image 1: p = 0.5 everywhere, g = [1, 0, 0, 1]: (2*1 + 1) / (2 + 2 + 1) = 0.6 -> 0.4
    # image 2: p = [.75, .25, .75, .25], g = [1, 0, 0, 0]: (2*.75 + 1) / (2 + 1 + 1) -> 0.375
    logits = torch.stack([_logit([0.5, 0.5, 0.5, 0.5]), _logit([0.75, 0.25, 0.75, 0.25])]).view(
        2, 1, 2, 2
    )
    target = torch.tensor([[1, 0, 0, 1], [1, 0, 0, 0]], dtype=torch.float64).view(2, 1, 2, 2)
    assert dice_loss(logits, target).item() == pytest.approx((0.4 + 0.375) / 2, abs=1e-6)
    # Eq. 6 as printed also divides by W' x H' = 4
    assert dice_loss(logits, target, literal=True).item() == pytest.approx(0.3875 / 4, abs=1e-6)
    assert seg_loss("dice-literal", logits, target).item() == pytest.approx(0.3875 / 4, abs=1e-6)


def test_literal_dice_gradient_is_scaled_by_one_over_pixel_count():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    (g_std,) = torch.autograd.grad(dice_loss(logits, target), logits)
    (g_lit,) = torch.autograd.grad(dice_loss(logits, target, literal=True), logits)
    torch.testing.assert_close(g_lit * 64, g_std)


def test_raw_air_loss_is_mean_squared_feature_difference_eq7():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    f_aug = torch.tensor([[[[1.0, 0.0], [3.0, 7.0]]]])
    # squared differences 0, 4, 0, 9 -> mean 13 / 4
    assert air_loss(f, f_aug, "raw").item() == pytest.approx(13 / 4)
    with pytest.raises(ValueError, match="differ"):
        air_loss(f, f_aug[..., :1])
    with pytest.raises(ValueError, match="mode"):
        air_loss(f, f_aug, "cosine")
    with pytest.raises(ValueError, match="B, C"):
        air_loss(f[0], f_aug[0])


def _air_reference(f: np.ndarray, f_aug: np.ndarray, eps: float = 1e-5) -> float:
    """NumPy: per channel, standardise over both branches' pixels, then the mean squared gap."""
    total = 0.0
    for c in range(f.shape[1]):
        a, b = f[:, c].ravel(), f_aug[:, c].ravel()
        both = np.concatenate([a, b])
        mean, std = both.mean(), np.sqrt(both.var() + eps)
        total += np.sum(((a - mean) / std - (b - mean) / std) ** 2)
    return total / f.size


def test_standardized_air_loss_matches_numpy_reference_and_correlation_form():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(3, 5, 4, 6, generator=gen, dtype=torch.float64)
    f_aug = 0.7 * f + 0.5 * torch.randn(3, 5, 4, 6, generator=gen, dtype=torch.float64)
    got = air_loss(f, f_aug).item()
    assert got == pytest.approx(_air_reference(f.numpy(), f_aug.numpy()), rel=1e-6)
    # same spread in both branches, no eps: 2 (1 - rho) per channel, averaged over channels
    g = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    g = (g - g.mean(dim=(0, 2, 3), keepdim=True)) / g.std(dim=(0, 2, 3), keepdim=True)
    g_aug = -g  # rho = -1 in every channel
    assert air_loss(g, g_aug, eps=0.0).item() == pytest.approx(4.0, rel=1e-6)
    assert air_loss(g, g.clone()).item() == 0.0


def test_standardized_air_cannot_be_lowered_by_shrinking_the_features():
    # the collapse of raw Eq. 7 from scratch: scaling F and F^ down lowers it quadratically
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64) + 3.0
    f_aug = f + 0.3 * torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64)
    scale = torch.tensor([0.01, 0.5, 4.0], dtype=torch.float64).view(3, 1, 1, 1, 1)
    shift = torch.randn(1, 1, 4, 1, 1, generator=gen, dtype=torch.float64)
    raw = [air_loss(s * f, s * f_aug, "raw").item() for s in scale[:, 0]]
    assert raw[0] < raw[1] < raw[2]
    std = [air_loss(s * f + shift[0], s * f_aug + shift[0], eps=0.0).item() for s in scale[:, 0]]
    assert std == pytest.approx([std[1]] * 3, rel=1e-9)
    # and its gradient along the scale direction is zero
    s = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(air_loss(s * f, s * f_aug, eps=0.0), s)
    assert abs(grad.item()) < 1e-9


def test_bce_of_zero_logits_is_log_2_and_an_unknown_seg_loss_is_refused():
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert bce_loss(logits, target).item() == pytest.approx(math.log(2), rel=1e-6)
    with pytest.raises(ValueError, match="loss must be one of"):
        seg_loss("focal", logits, target)


# ---------------------------------------------------------------- HRNet


@pytest.mark.parametrize(
    ("arch", "channels"), [("w18-small", 270), ("w18", 270), ("w32", 480), ("w48", 720)]
)
def test_hrnet_representation_is_four_branches_at_quarter_resolution(arch, channels):
    net = HRNet(arch).eval()
    assert net.out_channels == channels
    with torch.no_grad():
        branches = net.forward_branches(torch.rand(1, 3, 64, 96))
        feats = net(torch.rand(1, 3, 64, 96))
    assert [tuple(b.shape[-2:]) for b in branches] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert [b.shape[1] for b in branches] == CONFIGS[arch]["stage4"]["num_channels"]
    assert tuple(feats.shape) == (1, channels, 16, 24)


def test_hrnet_unknown_arch_is_named():
    with pytest.raises(ValueError, match="w64"):
        HRNet("w64")


def test_hrnet_uses_official_classification_parameter_names():
    keys = set(HRNet("w18-small").state_dict())
    for name in [
        "conv1.weight",
        "bn2.running_var",
        "layer1.0.conv3.weight",
        "layer1.0.downsample.0.weight",
        "transition1.0.0.weight",
        "transition1.1.0.0.weight",
        "transition2.2.0.0.weight",
        "transition3.3.0.1.bias",
        "stage2.0.branches.1.1.conv2.weight",
        "stage2.0.fuse_layers.0.1.0.weight",
        "stage3.2.fuse_layers.2.0.1.0.weight",
        "stage4.1.fuse_layers.3.0.2.1.running_mean",
    ]:
        assert name in keys, name


def test_pretrained_partial_load_in_official_naming_reports_what_did_not_fit(tmp_path):
    torch.manual_seed(0)
    src = HRNet("w18-small")
    state = {f"module.{k}": v.clone() for k, v in src.state_dict().items()}
    del state["module.stage4.1.branches.3.1.bn2.weight"]
    state["module.classifier.weight"] = torch.zeros(1000, 2048)
    state["module.incre_modules.0.0.conv1.weight"] = torch.zeros(32, 18, 1, 1)
    state["module.final_layer.0.weight"] = torch.zeros(2048, 1024, 1, 1)
    state["module.extra_thing.weight"] = torch.zeros(3)
    path = tmp_path / "hrnet_w18_small_v2.pth"
    torch.save({"state_dict": state}, path)

    torch.manual_seed(1)
    dst = HRNet("w18-small")
    report = load_pretrained(dst, path, partial=True)
    assert report.missing == ["stage4.1.branches.3.1.bn2.weight"]
    assert report.unexpected == ["extra_thing.weight"]
    assert len(report.ignored) == 3
    assert "missing 1 keys" in report.summary() and str(path) in report.summary()
    torch.testing.assert_close(dst.conv1.weight, src.conv1.weight)
    torch.testing.assert_close(
        dst.stage4[1].fuse_layers[3][0][2][0].weight, src.stage4[1].fuse_layers[3][0][2][0].weight
    )
    with pytest.raises(ValueError, match=r"1 missing keys.*1 unexpected keys.*pretrained-partial"):
        load_pretrained(HRNet("w18-small"), path)


def test_pretrained_of_another_width_or_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "w18.pth"
    torch.save(HRNet("w18-small").state_dict(), path)
    with pytest.raises(ValueError, match=r"w18\.pth.*another width"):
        load_pretrained(HRNet("w32"), path)
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"broken\.pth"):
        load_pretrained(HRNet("w18-small"), bad)
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        load_pretrained(HRNet("w18-small"), tmp_path / "nope.pth")


# ---------------------------------------------------------------- MPASNet


@pytest.fixture(scope="module")
def mpasnet():
    torch.manual_seed(0)
    return MPASNet("w18-small")


def test_gradients_reach_both_branches_and_psi_through_sfa(mpasnet):
    mpasnet.train()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    x_aug = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = mpasnet(x, x_aug)
    assert tuple(out.logits.shape) == (2, 1, 32, 32)
    assert out.features.shape == out.features_aug.shape == (2, 270, 8, 8)
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    mpasnet.zero_grad()
    dice_loss(out.logits, target).backward()  # L_SEG alone: SFA carries it into both branches
    assert x.grad.abs().sum() > 0 and x_aug.grad.abs().sum() > 0
    assert mpasnet.psi[0].weight.grad.abs().sum() > 0
    assert mpasnet.encoder.conv1.weight.grad.abs().sum() > 0
    assert mpasnet.head.weight.grad.abs().sum() > 0

    # L_AIR alone reaches the encoder from both inputs, but not psi or the head
    x.grad = x_aug.grad = None
    mpasnet.zero_grad()
    out = mpasnet(x, x_aug)
    air_loss(out.features, out.features_aug).backward()
    assert x.grad.abs().sum() > 0 and x_aug.grad.abs().sum() > 0
    assert mpasnet.encoder.conv1.weight.grad.abs().sum() > 0
    assert mpasnet.psi[0].weight.grad is None


def test_without_sfa_prediction_is_psi_of_f_of_the_frame_alone():
    torch.manual_seed(0)
    net = MPASNet("w18-small", sfa=False).eval()  # eval: BatchNorm does not mix the branches
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = net(x, torch.rand_like(x))
        torch.testing.assert_close(out.logits, net(x))
    assert out.features_aug is not None  # the augmented branch still serves L_AIR


def test_inference_output_is_the_psi_of_f_path_without_augmented_branch(mpasnet):
    mpasnet.eval()
    x = torch.rand(2, 3, 40, 56)
    seen = []
    hook = mpasnet.encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    try:
        with torch.no_grad():
            logits = mpasnet(x)
            feats = mpasnet.encoder(mpasnet.normalize(x))
            manual = torch.nn.functional.interpolate(
                mpasnet.head(mpasnet.psi(feats)), size=(40, 56), mode="bilinear"
            )
            fused = mpasnet(x, torch.rand_like(x)).logits
    finally:
        hook.remove()
    assert seen[0] == 2  # the eval forward encoded the batch once, no augmented copy
    assert tuple(logits.shape) == (2, 1, 40, 56)
    torch.testing.assert_close(logits, manual)
    assert not torch.allclose(fused, logits)  # SFA with another copy would change the result


def test_normalisation_happens_inside_the_model(mpasnet):
    mpasnet.eval()
    x = torch.full((1, 3, 32, 32), 0.5)
    norm = mpasnet.normalize(x)
    torch.testing.assert_close(norm[0, :, 0, 0], (0.5 - mpasnet.mean.view(3)) / mpasnet.std.view(3))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        mpasnet(torch.rand(1, 1, 32, 32))


# ---------------------------------------------------------------- augmentation


def test_geometry_keeps_image_and_mask_aligned():
    rng = np.random.default_rng(0)
    mask = (rng.random((30, 40)) > 0.5).astype(np.uint8)
    image = np.repeat((mask * 200 + 20)[..., None], 3, axis=2).astype(np.uint8)
    exact = GeometryParams(crop=24, scale_min=1.0, scale_max=1.0, flip_p=0.5)
    for seed in range(6):
        im, m = random_geometry(image, mask, exact, np.random.default_rng(seed))
        assert im.shape == (24, 24, 3) and m.shape == (24, 24)
        np.testing.assert_array_equal(im[..., 0] > 100, m > 0)
    full_flip = GeometryParams(crop=30, scale_min=1.0, scale_max=1.0, flip_p=1.0)
    im, m = random_geometry(image[:, :30], mask[:, :30], full_flip, rng)
    np.testing.assert_array_equal(m, mask[:, :30][:, ::-1])
    # scaled, and padded by reflection when smaller than the crop
    blob = np.zeros((90, 120), np.uint8)
    blob[24:66, 30:90] = 1
    img = np.repeat((blob * 200 + 20)[..., None], 3, axis=2).astype(np.uint8)
    scaled = GeometryParams(crop=128, scale_min=0.5, scale_max=2.0)
    for seed in range(4):
        im, m = random_geometry(img, blob, scaled, np.random.default_rng(seed))
        assert im.shape == (128, 128, 3)
        assert ((im[..., 0] > 110) == (m > 0)).mean() > 0.97


def test_photometric_branch_changes_colours_and_stays_in_range():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    y = Photometric()(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.01
    gray = Photometric(PhotometricParams(0, 0, 0, 0, grayscale_p=1.0))(x)
    torch.testing.assert_close(gray[:, 0], gray[:, 1])
    with pytest.raises(ValueError, match="hue"):
        Photometric(PhotometricParams(hue=0.9))
