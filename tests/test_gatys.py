"""Gatys et al. image optimisation: losses, criterion, loop, options, torchvision weights."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_nst import AdaINModel, ChecksumError, EncoderConfig, InputError, VGGEncoder
from adain_nst.checkpoints import torchvision_encoder_keys
from adain_nst.cli import main
from adain_nst.color import rgb_to_yiq
from adain_nst.encoder import layer_names
from adain_nst.gatys import (
    DEFAULT_STYLE_LAYERS,
    DEFAULTS,
    TORCHVISION_VGG_WEIGHTS,
    GatysLoss,
    content_loss,
    default_weights,
    encoder_family,
    gatys,
    gram_matrix,
    load_torchvision_vgg,
    resolve_encoder,
    save_animation,
    style_loss,
    total_variation,
)
from adain_nst.image import resize_shorter, to_tensor

SMALL_WIDTHS = (8, 16, 16, 32, 32)


def small_encoder(last_layer: str = "relu5_1", widths: tuple[int, ...] = SMALL_WIDTHS, seed: int = 0) -> VGGEncoder:
    """Random-weight normalised VGG-19, narrow so a step takes milliseconds."""
    torch.manual_seed(seed)
    enc = VGGEncoder(EncoderConfig(widths=widths, last_layer=last_layer))
    # Default init gives tiny activations after 10+ convs; He-style scaling keeps every
    # layer's features (and so every loss term) in a useful range.
    for conv in [enc.conv0, *enc.convs.values()]:
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.uniform_(conv.bias, -0.1, 0.1)
    return enc.eval().requires_grad_(False)


def smooth_image(seed: int, size: int = 64) -> torch.Tensor:
    """A photo-like (smooth) random RGB image (1, 3, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def texture_image(seed: int, size: int = 64) -> torch.Tensor:
    """A high-frequency random texture in [0, 1]: very different Gram statistics from a photo."""
    g = torch.Generator().manual_seed(seed)
    stripes = (torch.arange(size).float() * 0.9).sin().view(1, 1, 1, size) * 0.4 + 0.5
    return (stripes + 0.25 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These tensors are tiny: extra threads only fight the other jobs on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def enc() -> VGGEncoder:
    return small_encoder()


# -- functional losses against straightforward loops -----------------------------------------
def test_gram_matrix_matches_loops() -> None:
    feat = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    b, c, h, w = feat.shape
    expected = torch.zeros(b, c, c, dtype=torch.float64)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                expected[n, i, j] = sum(feat[n, i, y, x] * feat[n, j, y, x] for y in range(h) for x in range(w))
    torch.testing.assert_close(gram_matrix(feat, normalize=False), expected)
    torch.testing.assert_close(gram_matrix(feat), expected / (c * h * w))


def test_content_loss_matches_mean_squared_difference() -> None:
    a, b = torch.randn(2, 4, 3, 3, dtype=torch.float64), torch.randn(2, 4, 3, 3, dtype=torch.float64)
    expected = sum(float((x - y) ** 2) for x, y in zip(a.flatten(), b.flatten(), strict=True)) / a.numel()
    assert content_loss(a, b).item() == pytest.approx(expected, rel=1e-12)
    # A single target broadcasts over the batch.
    assert content_loss(a, b[:1]).item() == pytest.approx(float(((a - b[:1]) ** 2).mean()), rel=1e-12)
    with pytest.raises(InputError, match="size"):
        content_loss(a, b[..., :2])


def test_style_loss_matches_gram_mse() -> None:
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    s = torch.randn(1, 3, 6, 5, dtype=torch.float64)  # the style may have another size
    fx, fs = x.reshape(3, -1), s.reshape(3, -1)
    gx, gs = (fx @ fx.T) / x[0].numel(), (fs @ fs.T) / s[0].numel()
    expected = sum(float((gx[i, j] - gs[i, j]) ** 2) for i in range(3) for j in range(3)) / 9
    assert style_loss(x, s).item() == pytest.approx(expected, rel=1e-12)
    assert style_loss(x, gram_matrix(s)).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(InputError):
        style_loss(x, torch.zeros(1, 4, 4))


def test_total_variation_matches_loops() -> None:
    img = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    b, c, h, w = img.shape
    vert = [
        float(img[n, k, y + 1, x] - img[n, k, y, x]) ** 2
        for n in range(b)
        for k in range(c)
        for y in range(h - 1)
        for x in range(w)
    ]
    horiz = [
        float(img[n, k, y, x + 1] - img[n, k, y, x]) ** 2
        for n in range(b)
        for k in range(c)
        for y in range(h)
        for x in range(w - 1)
    ]
    expected = sum(vert) / len(vert) + sum(horiz) / len(horiz)
    assert total_variation(img).item() == pytest.approx(expected, rel=1e-12)
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0
    with pytest.raises(InputError):
        total_variation(torch.rand(1, 3, 1, 4))


def test_losses_gradcheck_float64() -> None:
    feat = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    img = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: gram_matrix(f), (feat,))
    assert torch.autograd.gradcheck(lambda f: content_loss(f, target), (feat,))
    assert torch.autograd.gradcheck(lambda f: style_loss(f, target), (feat,))
    assert torch.autograd.gradcheck(total_variation, (img,))


def test_criterion_gradcheck_float64() -> None:
    enc = small_encoder(last_layer="relu2_1", widths=(2, 3, 3, 3, 3)).double()
    crit = GatysLoss(
        enc, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), style_weight=10.0, tv_weight=0.5
    )
    crit.set_targets(torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.rand(1, 3, 6, 6, dtype=torch.float64))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(crit, (x,), eps=1e-6, atol=1e-5)


# -- the criterion -------------------------------------------------------------------------------
def test_criterion_equals_weighted_sum_of_functional_losses(enc: VGGEncoder) -> None:
    content, style, x = smooth_image(1), texture_image(2), smooth_image(3)
    c_layers = {"relu3_1": 0.3, "relu4_2": 0.7}
    s_layers = {"relu1_1": 2.0, "relu3_1": 0.5, "relu5_1": 1.0}
    crit = GatysLoss(
        enc, content_layers=c_layers, style_layers=s_layers, content_weight=3.0, style_weight=50.0, tv_weight=0.1
    )
    crit.set_targets(content, style)
    names = [*c_layers, *s_layers]
    fx, fc, fs = enc(x, names), enc(content, names), enc(style, names)
    exp_c = sum(w * ((fx[n] - fc[n]) ** 2).mean() for n, w in c_layers.items())
    exp_s = sum(w * ((gram_matrix(fx[n]) - gram_matrix(fs[n])) ** 2).mean() for n, w in s_layers.items())
    got = crit.losses(x)
    torch.testing.assert_close(got["content"], 3.0 * exp_c)
    torch.testing.assert_close(got["style"], 50.0 * exp_s)
    torch.testing.assert_close(got["tv"], 0.1 * total_variation(x))
    torch.testing.assert_close(crit(x), got["content"] + got["style"] + got["tv"])
    assert set(got) >= {"content/relu3_1", "content/relu4_2", "style/relu1_1", "style/relu5_1"}


def test_plain_layer_list_gets_equal_weights_summing_to_one(enc: VGGEncoder) -> None:
    crit = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS)
    assert crit.style_layers == {n: pytest.approx(0.2) for n in DEFAULT_STYLE_LAYERS}
    # Without layers or weights the criterion is the one gatys() uses for this encoder family.
    d = default_weights(enc)
    crit = GatysLoss(enc)
    assert crit.style_layers == d.style_layers and crit.style_weight == d.style_weight


def test_targets_are_encoded_once_and_cached(enc: VGGEncoder) -> None:
    calls: list[int] = []
    handle = enc.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        crit = GatysLoss(enc)
        crit.set_targets(smooth_image(1, 32), [texture_image(2, 32), texture_image(3, 32)])
        assert len(calls) == 3  # content + two styles
        x = smooth_image(4, 32).requires_grad_(True)
        for _ in range(4):
            crit(x).backward()
        assert len(calls) == 3 + 4  # one encoder pass per evaluation, none for the targets
    finally:
        handle.remove()


def test_style_blend_gradient_equals_weighted_per_style_losses(enc: VGGEncoder) -> None:
    content, s1, s2 = smooth_image(1), texture_image(2), smooth_image(5)
    x = smooth_image(3).requires_grad_(True)

    def grad(crit: GatysLoss) -> torch.Tensor:
        x.grad = None
        crit(x).backward()
        assert x.grad is not None
        return x.grad.clone()

    blended = GatysLoss(enc, content_weight=0.0, style_weight=1.0)
    blended.set_targets(content, [s1, s2], [1.0, 3.0])  # normalised to 0.25, 0.75
    one, two = (GatysLoss(enc, content_weight=0.0, style_weight=1.0) for _ in range(2))
    one.set_targets(content, s1)
    two.set_targets(content, s2)
    # sum_i w_i |G - G_i|^2 = |G - sum_i w_i G_i|^2 + const when sum_i w_i = 1: same gradient.
    torch.testing.assert_close(grad(blended), 0.25 * grad(one) + 0.75 * grad(two), rtol=1e-4, atol=1e-9)


def test_criterion_needs_targets(enc: VGGEncoder) -> None:
    with pytest.raises(InputError, match="set_content"):
        GatysLoss(enc).losses(smooth_image(0))


# -- option checks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"style_layers": ("relu1_1", "relu9_9")}, r"unknown style_layers \['relu9_9'\]"),
        ({"content_layers": ("conv4_x",)}, "unknown content_layers"),
        ({"style_layers": "relu1_1"}, "sequence of layer names"),
        ({"style_layers": ("relu1_1", "relu1_1")}, "twice"),
        ({"content_weight": -1.0}, "content_weight must be finite and >= 0"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"tv_weight": -0.1}, "tv_weight"),
        ({"style_layers": {"relu1_1": -1.0}}, "weight of 'relu1_1'"),
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"steps": 2.5}, "steps must be an int"),
        ({"steps": (3, 3)}, "steps has 2 entries for 1 scale"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"init": "zeros"}, "init must be one of"),
        ({"scales": (64, 32)}, "scales must increase"),
        ({"scales": (8, 64)}, "ints >= 16"),
        ({"scales": (32, 64), "content_size": 48}, "disagrees"),
        ({"lr": 0.0}, "lr must be a number > 0"),
        ({"style_weights": (1.0, 2.0)}, "style_weights has 2 entries"),
        ({"preserve_color": "hsv"}, "preserve_color"),
        ({"content_weight": 0.0, "style_weight": 0.0, "tv_weight": 0.0}, "all 0"),
        ({"snapshot_every": -1}, "snapshot_every"),
    ],
)
def test_bad_options_raise_clear_errors(enc: VGGEncoder, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        gatys(
            smooth_image(0, 32),
            texture_image(1, 32),
            encoder=enc,
            steps=kwargs.pop("steps", 1),
            progress=False,
            **kwargs,
        )


def test_layer_deeper_than_the_encoder_is_named(enc: VGGEncoder) -> None:
    shallow = small_encoder(last_layer="relu4_2")
    with pytest.raises(InputError, match=r"\['relu5_1'\] are deeper than this encoder reaches \(it stops at relu4_2\)"):
        gatys(smooth_image(0, 32), texture_image(1, 32), encoder=shallow, steps=1, progress=False)
    with pytest.raises(InputError, match="deeper"):
        GatysLoss(small_encoder(last_layer="relu4_1"), content_layers=("relu4_2",), style_layers=("relu1_1",))


def test_wrong_encoder_type() -> None:
    with pytest.raises(InputError, match="VGGEncoder"):
        gatys(smooth_image(0, 32), texture_image(1, 32), encoder=torch.nn.Conv2d(3, 3, 1), steps=1, progress=False)


# -- the optimisation loop ----------------------------------------------------------------------
def _style_loss_of(enc: VGGEncoder, image: torch.Tensor, style: torch.Tensor) -> float:
    crit = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS, content_weight=0.0, style_weight=1.0)
    crit.set_style(style)
    with torch.no_grad():
        return float(crit.losses(image)["style"])


def test_lbfgs_lowers_style_loss_tenfold_in_50_steps(enc: VGGEncoder) -> None:
    content, style = smooth_image(1), texture_image(2)
    losses: list[float] = []
    out = gatys(
        content, style, encoder=enc, steps=50, style_layers=DEFAULT_STYLE_LAYERS, style_weight=1e5, progress=False,
        callback=lambda step, parts: losses.append(parts["total"]),
    )  # fmt: skip
    before, after = _style_loss_of(enc, content, style), _style_loss_of(enc, out, style)
    assert after * 10 <= before, (before, after)
    assert len(losses) == 50 and losses[-1] < losses[0]
    assert out.shape == content.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_adam_also_lowers_the_loss(enc: VGGEncoder) -> None:
    content, style = smooth_image(1, 32), texture_image(2, 32)
    out = gatys(content, style, encoder=enc, optimizer="adam", steps=30, lr=0.05, style_weight=1e3, progress=False)
    assert _style_loss_of(enc, out, style) < _style_loss_of(enc, content, style)


def test_multiscale_and_blending_run(enc: VGGEncoder) -> None:
    content = smooth_image(1, 80)[..., :64, :]  # 64 x 80
    seen: list[tuple[int, float]] = []
    snaps: list[tuple[int, tuple[int, ...]]] = []
    out = gatys(
        content,
        [texture_image(2), smooth_image(7, 48)],
        encoder=enc,
        scales=(32, 64),
        steps=(4, 3),
        style_weights=(0.7, 0.3),
        progress=False,
        callback=lambda step, parts: seen.append((step, parts["scale"])),
        snapshot=lambda step, img: snaps.append((step, tuple(img.shape))),
        snapshot_every=2,
    )
    assert out.shape == (1, 3, 64, 80)
    assert seen == [(1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0), (5, 1.0), (6, 1.0), (7, 1.0)]
    assert snaps == [(2, (1, 3, 32, 40)), (4, (1, 3, 32, 40)), (6, (1, 3, 64, 80)), (7, (1, 3, 64, 80))]


def test_same_seed_same_output_and_noise_init_depends_on_it(enc: VGGEncoder) -> None:
    content, style = smooth_image(1, 32), texture_image(2, 32)
    kw = dict(encoder=enc, steps=5, init="noise", progress=False, style_weight=100.0)
    a, b = gatys(content, style, seed=3, **kw), gatys(content, style, seed=3, **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, gatys(content, style, seed=4, **kw))
    c1 = gatys(content, style, encoder=enc, steps=5, progress=False)
    assert torch.equal(c1, gatys(content, style, encoder=enc, steps=5, progress=False))


def test_returns_the_content_kind(enc: VGGEncoder, tmp_path: Path) -> None:
    chw = smooth_image(1, 32)[0]
    style = texture_image(2, 32)
    out = gatys(chw, style, encoder=enc, steps=2, progress=False)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 32, 32)
    arr = (chw.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    out_np = gatys(arr, style, encoder=enc, steps=2, progress=False)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.uint8 and out_np.shape == (32, 32, 3)
    path = tmp_path / "c.png"
    Image.fromarray(arr).save(path)
    out_pil = gatys(str(path), Image.fromarray(arr), encoder=enc, steps=2, progress=False, content_size=24)
    assert isinstance(out_pil, Image.Image) and min(out_pil.size) == 24


def test_init_image_and_zero_style_weight_keeps_content(enc: VGGEncoder) -> None:
    content, style = smooth_image(1, 32), texture_image(2, 32)
    # Only the content term: from the content itself there is nothing to do.
    out = gatys(content, style, encoder=enc, steps=3, style_weight=0.0, progress=False)
    torch.testing.assert_close(out, content)
    start = smooth_image(9, 48)  # resized to the content's size
    out2 = gatys(content, style, encoder=enc, steps=1, init=start, progress=False)
    assert out2.shape == content.shape


def test_preserve_color_modes(enc: VGGEncoder) -> None:
    content, style = smooth_image(1, 32) * 0.8 + 0.1, texture_image(2, 32)
    lum = gatys(content, style, encoder=enc, steps=5, style_weight=1e3, preserve_color="luminance", progress=False)
    # Luminance mode keeps the content's chrominance (I, Q of YIQ) wherever nothing was clamped.
    inside = ((lum > 0) & (lum < 1)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    assert inside.float().mean() > 0.9
    diff = (rgb_to_yiq(lum)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs()
    assert float(diff[inside].max()) < 1e-4
    cor = gatys(content, style, encoder=enc, steps=5, style_weight=1e3, preserve_color="coral", progress=False)
    assert cor.shape == content.shape


def test_encoder_families_and_defaults() -> None:
    assert encoder_family(VGGEncoder(EncoderConfig(widths=(16, 32, 64, 128, 128), last_layer="relu5_1"))) == "cd16x"
    assert encoder_family(VGGEncoder(EncoderConfig(last_layer="relu1_1"))) == "vgg19-normalized"
    assert encoder_family(VGGEncoder(EncoderConfig(last_layer="relu1_1", variant="imagenet"))) == "imagenet"
    for d in DEFAULTS.values():
        assert set(d.style_layers) == set(DEFAULT_STYLE_LAYERS)
        assert sum(d.style_layers.values()) == pytest.approx(1.0)
        assert d.content_weight > 0 and d.style_weight > 0 and d.tv_weight >= 0
    assert default_weights(small_encoder()) is DEFAULTS["vgg19-normalized"]


# -- torchvision ImageNet VGG weights ------------------------------------------------------------
def test_torchvision_weights_metadata() -> None:
    for arch, spec in TORCHVISION_VGG_WEIGHTS.items():
        assert spec.arch == arch
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.url == f"https://download.pytorch.org/models/{spec.filename}"
        # torchvision names files <arch>-<first 8 hex of the sha256>.pth
        assert spec.filename == f"{arch}-{spec.sha256[:8]}.pth"
        assert spec.num_bytes > 500_000_000


def _torchvision_state_dict(arch: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random weights in torchvision's vgg16/vgg19 key layout, classifier included."""
    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    cin = 3
    widths = (64, 128, 256, 512, 512)
    for index, name in torchvision_encoder_keys(arch).items():
        cout = widths[int(name[4]) - 1]
        sd[f"features.{index}.weight"] = (torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5).to(dtype)
        sd[f"features.{index}.bias"] = torch.zeros(cout, dtype=dtype)
        cin = cout
    for i, (n_in, n_out) in {0: (8, 4), 3: (4, 4), 6: (4, 10)}.items():  # shrunken classifier
        sd[f"classifier.{i}.weight"] = torch.randn(n_out, n_in, generator=g).to(dtype)
        sd[f"classifier.{i}.bias"] = torch.zeros(n_out, dtype=dtype)
    return sd


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_load_torchvision_layout(tmp_path: Path, arch: str) -> None:
    sd = _torchvision_state_dict(arch, torch.float16)  # half the bytes to write; loaded as float32
    path = tmp_path / TORCHVISION_VGG_WEIGHTS[arch].filename
    torch.save(sd, path)
    with pytest.raises(ChecksumError, match="expected " + TORCHVISION_VGG_WEIGHTS[arch].sha256):
        load_torchvision_vgg(path, arch=arch)
    enc = load_torchvision_vgg(path, arch=arch, check_sha256=False)
    assert enc.config.variant == "imagenet" and enc.config.arch == arch and enc.config.last_layer == "relu5_1"
    assert enc.layer_names == layer_names(arch)[: layer_names(arch).index("relu5_1") + 1]
    # torchvision's features index of conv4_2: 19 in VGG-16 (3 convs in block 3), 21 in VGG-19.
    index = {"vgg16": 19, "vgg19": 21}[arch]
    torch.testing.assert_close(enc.convs["conv4_2"].weight, sd[f"features.{index}.weight"].float())
    assert encoder_family(enc) == "imagenet"
    out = gatys(smooth_image(1, 32), texture_image(2, 32), encoder=enc, steps=2, progress=False)
    assert out.shape == (1, 3, 32, 32)
    # As an encoder= path: the published file name is checked, any other name is not, and the
    # architecture is told apart by the feature indices.
    with pytest.raises(ChecksumError):
        resolve_encoder(path)
    renamed = path.rename(tmp_path / "my-vgg.pth")
    assert resolve_encoder(renamed).config.arch == arch


def test_load_torchvision_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="arch"):
        load_torchvision_vgg(tmp_path / "x.pth", arch="vgg11")
    with pytest.raises(
        FileNotFoundError, match=re.escape("download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
    ):
        load_torchvision_vgg(tmp_path / "missing.pth")


# -- real weights: the quality reference ----------------------------------------------------------
def _eval_pair(eval_dir: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    content = resize_shorter(to_tensor(eval_dir / "content" / "golden_gate.jpg")[0], size)
    style = resize_shorter(to_tensor(eval_dir / "style" / "la_muse.jpg")[0], size)
    return content, style


@pytest.mark.slow
def test_cd16x_gatys_beats_adain_on_gram_style_loss(cd16x_dir: Path, eval_dir: Path) -> None:
    e5 = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / "e5.pth")
    assert encoder_family(e5) == "cd16x"
    content, style = _eval_pair(eval_dir, 128)
    adain = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    with torch.no_grad():
        adain_out = adain(content, style).clamp(0, 1)
    ours = gatys(content, style, encoder=e5, steps=60, progress=False)  # cd16x defaults
    # Measured with the e5 encoder, every style layer weighted equally.
    s_gatys, s_adain = _style_loss_of(e5, ours, style), _style_loss_of(e5, adain_out, style)
    s_content = _style_loss_of(e5, content, style)
    assert s_gatys < s_adain < s_content, (s_gatys, s_adain, s_content)


# -- command line and animation -------------------------------------------------------------------
def _png(path: Path, image: torch.Tensor) -> str:
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)
    return str(path)


def test_cli_gatys_writes_output_intermediates_and_gif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enc_path = tmp_path / "enc.pth"
    torch.save(small_encoder().state_dict(), enc_path)  # our own key layout
    content = _png(tmp_path / "c.png", smooth_image(1, 48)[..., :40, :])
    style = _png(tmp_path / "s.png", texture_image(2, 32))
    out, gif = tmp_path / "out" / "r.png", tmp_path / "anim.gif"
    args = ["gatys", content, style, "-o", str(out), "--encoder", str(enc_path), "--steps", "6", "--size", "32"]
    rc = main([*args, "--save-every", "3", "--animation", str(gif), "--style-weight", "100", "--json"])
    assert rc == 0
    summary = __import__("json").loads(capsys.readouterr().out)
    assert summary["output"] == str(out) and summary["frames"] == 2  # step 3 and the final image (step 6)
    assert sorted(Path(p).name for p in summary["intermediates"]) == ["r_step0003.png", "r_step0006.png"]
    assert set(summary["losses"]) == {"total", "content", "style", "tv"}
    with Image.open(out) as im:
        assert im.size == (38, 32)  # 40x48 content, shorter side 32
    with Image.open(gif) as im:
        assert im.is_animated and im.n_frames == 2 and im.size == (38, 32)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_cli_gatys_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = _png(tmp_path / "c.png", smooth_image(1, 32))
    assert main(["gatys", content, str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o.png")]) == 2
    assert "image file not found" in capsys.readouterr().err
    assert main(["gatys", content, content, "-o", str(tmp_path / "o.png"), "--animation", "a.mp4"]) == 2
    assert ".gif" in capsys.readouterr().err
    assert main(["gatys", content, content, "-o", str(tmp_path / "o.xyz")]) == 2
    assert "unknown image format" in capsys.readouterr().err


def test_save_animation_resizes_coarse_frames(tmp_path: Path) -> None:
    frames = [torch.rand(1, 3, 16, 20), torch.rand(3, 32, 40)]
    path = save_animation(frames, tmp_path / "a.gif")
    with Image.open(path) as im:
        assert im.n_frames == 2 and im.size == (40, 32)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the private mode of a temp file
    with pytest.raises(InputError, match="gif"):
        save_animation(frames, tmp_path / "a.png")
