"""The Gatys loop: option checks, L-BFGS/Adam, scales, blending, seeds, kinds, colour, real weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_nst import AdaINModel, InputError, VGGEncoder
from adain_nst.color import rgb_to_yiq
from adain_nst.image import resize_shorter, to_tensor
from adain_nst.optimization import DEFAULT_STYLE_LAYERS, GatysLoss, encoder_family, gatys
from adain_nst.optimization.loop import _optimise

from .helpers import small_encoder, smooth_image, style_loss_of, texture_image


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
def test_lbfgs_lowers_style_loss_tenfold_in_50_steps(enc: VGGEncoder) -> None:
    content, style = smooth_image(1), texture_image(2)
    losses: list[float] = []
    out = gatys(
        content, style, encoder=enc, steps=50, style_layers=DEFAULT_STYLE_LAYERS, style_weight=1e5, progress=False,
        callback=lambda step, parts: losses.append(parts["total"]),
    )  # fmt: skip
    before, after = style_loss_of(enc, content, style), style_loss_of(enc, out, style)
    assert after * 10 <= before, (before, after)
    assert len(losses) == 50 and losses[-1] < losses[0]
    assert out.shape == content.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


class _Cliff:
    """A bowl centred 0.45 away from the start, walled 0.2 away from it: plain L-BFGS's second
    (quasi-Newton) step aims at the centre and lands on the wall, the loss thousands of times up."""

    def __init__(self) -> None:
        self.start = torch.full((1, 3, 8, 8), 0.5)
        self.centre = torch.full((1, 3, 8, 8), 0.95)
        self.evaluations = 0

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.evaluations += 1
        bowl = ((x - self.centre) ** 2).sum()
        wall = (torch.relu((x - self.start).abs() - 0.2) ** 2).sum()
        total = bowl + 1e4 * wall
        return {"total": total, "content": bowl, "style": 1e4 * wall, "tv": total * 0}


def test_a_blown_up_lbfgs_step_is_redone_with_a_line_search() -> None:
    crit = _Cliff()
    start_loss = float(crit.losses(crit.start)["total"])
    reports: list[tuple[int, float]] = []
    out = _optimise(crit, crit.start, "lbfgs", 1.0, 12, lambda k, parts, px: reports.append((k, float(parts["total"]))))  # type: ignore[arg-type]
    assert [k for k, _ in reports] == list(range(1, 13))  # every step reported once, in order
    assert all(loss < start_loss for _, loss in reports)  # the blown-up image was never kept
    assert crit.evaluations > 12 + 2  # the line search took over (more than one pass per step)
    assert float(crit.losses(out)["total"]) < 0.5 * start_loss
    assert float((out - crit.start).abs().max()) <= 0.2 + 0.05  # it stayed off the wall


def test_adam_also_lowers_the_loss(enc: VGGEncoder) -> None:
    content, style = smooth_image(1, 32), texture_image(2, 32)
    out = gatys(content, style, encoder=enc, optimizer="adam", steps=30, lr=0.05, style_weight=1e3, progress=False)
    assert style_loss_of(enc, out, style) < style_loss_of(enc, content, style)


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
    s_gatys, s_adain = style_loss_of(e5, ours, style), style_loss_of(e5, adain_out, style)
    s_content = style_loss_of(e5, content, style)
    assert s_gatys < s_adain < s_content, (s_gatys, s_adain, s_content)
