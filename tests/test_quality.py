"""The quality judge: the paper's content and style measures in a named encoder's feature space."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from adain_nst import AdaINModel, EncoderConfig, InputError, VGGEncoder, adaptive_instance_norm, calc_mean_std
from adain_nst.image import list_images, resize_shorter, to_tensor
from adain_nst.quality import Judge, QualityScore
from adain_nst.train import STYLE_LAYERS


def _encoder(last_layer: str = "relu5_1") -> VGGEncoder:
    torch.manual_seed(0)
    enc = VGGEncoder(EncoderConfig(widths=(4, 8, 16, 16, 16), last_layer=last_layer))
    with torch.no_grad():  # He init keeps deep features away from zero
        for m in enc.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.uniform_(-0.1, 0.1)
    return enc


def _smooth(seed: int, h: int = 48, w: int = 40, batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 6, 5, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _by_hand(enc: VGGEncoder, out: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> tuple[float, float]:
    fo, fs = enc(out, STYLE_LAYERS), enc(style, STYLE_LAYERS)
    target = adaptive_instance_norm(enc(content)["relu4_1"], fs["relu4_1"])
    lc = ((fo["relu4_1"] - target) ** 2).mean()
    ls = sum(((calc_mean_std(fo[k])[i] - calc_mean_std(fs[k])[i]) ** 2).mean() for k in STYLE_LAYERS for i in (0, 1))
    return float(lc), float(ls)


def test_measure_is_the_papers_losses() -> None:
    enc = _encoder()
    judge = Judge(enc, name="tiny")
    out, content, style = _smooth(0), _smooth(1), _smooth(2, 32, 56)
    score = judge.measure(out, content, style)
    assert isinstance(score, QualityScore) and score.content_loss > 0 and score.style_loss > 0
    lc, ls = score  # a plain (content_loss, style_loss) pair
    with torch.no_grad():
        expected = _by_hand(enc, out, content, style)
    assert lc == pytest.approx(expected[0], rel=1e-5) and ls == pytest.approx(expected[1], rel=1e-5)
    assert judge.name == "tiny" and "tiny" in repr(judge)


def test_the_content_itself_scores_zero_against_itself() -> None:
    judge = Judge(_encoder())
    x = _smooth(3)
    lc, ls = judge.measure(x, x, x)
    assert lc < 1e-6 and ls < 1e-6
    stylised_like = judge.measure(x, x, _smooth(4))
    assert stylised_like.style_loss > 100 * ls


def test_any_image_kind_gives_the_same_numbers(tmp_path: Path) -> None:
    judge = Judge(_encoder())
    arrays = [(np.asarray(_smooth(s)[0].permute(1, 2, 0)) * 255).round().astype(np.uint8) for s in (5, 6, 7)]
    paths = []
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    tensors = [torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a in arrays]  # (3, H, W)
    by_path = judge.measure(*paths)
    assert by_path == pytest.approx(judge.measure(*tensors), rel=1e-6)
    assert by_path == pytest.approx(judge.measure(*arrays), rel=1e-6)


def test_batches_average_and_broadcast_one_style() -> None:
    judge = Judge(_encoder())
    out, content, style = _smooth(8, batch=2), _smooth(9, batch=2), _smooth(10)
    both = judge.measure(out, content, style)
    each = [judge.measure(out[i : i + 1], content[i : i + 1], style) for i in range(2)]
    assert both.content_loss == pytest.approx(np.mean([e.content_loss for e in each]), rel=1e-5)
    with pytest.raises(InputError, match="batch"):
        judge.measure(out, _smooth(9, batch=3), style)


def test_bad_inputs_are_named() -> None:
    judge = Judge(_encoder())
    with pytest.raises(InputError, match="content's size"):
        judge.measure(_smooth(0, 40, 40), _smooth(1, 48, 40), _smooth(2))
    with pytest.raises(InputError, match="relu5_1"):
        Judge(_encoder("relu4_1"), content_layer="relu5_1")
    with pytest.raises(InputError, match="style_layers"):
        Judge(_encoder(), style_layers="relu1_1")


def test_from_checkpoint_cuts_the_encoder_and_takes_the_file_name(tmp_path: Path) -> None:
    enc = _encoder()
    path = tmp_path / "e5.safetensors"
    save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(path))
    judge = Judge.from_checkpoint(path)
    assert judge.name == "e5" and judge.encoder.config.last_layer == "relu4_1"
    x, y = _smooth(11), _smooth(12)
    assert judge.measure(x, y, x) == pytest.approx(Judge(enc).measure(x, y, x), rel=1e-6)
    deep = Judge.from_checkpoint(path, style_layers=(*STYLE_LAYERS, "relu5_1"), name="deep")
    assert deep.encoder.config.last_layer == "relu5_1" and deep.name == "deep"
    with pytest.raises(InputError, match="unknown layer"):
        Judge.from_checkpoint(path, content_layer="relu9_1")


def test_judging_a_pipeline_output(tiny_model: Callable[..., AdaINModel]) -> None:
    model = tiny_model()
    content, style = _smooth(13), _smooth(14)
    out = model.stylize(content, style, dtype=torch.float32)
    lc, ls = Judge(_encoder()).measure(out, content, style)
    assert np.isfinite(lc) and np.isfinite(ls)


def test_real_decoder_stylises_towards_the_style(cd16x_dir: Path, eval_dir: Path) -> None:
    judge = Judge.from_checkpoint(cd16x_dir / "e5.pth", name="cd16x e5", layout="cd16x")
    model = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    content = resize_shorter(to_tensor(list_images(eval_dir / "content")[0])[0], 128)
    style = resize_shorter(to_tensor(list_images(eval_dir / "style")[0])[0], 128)
    out = model.stylize(content, style, alpha=1.0, dtype=torch.float32)
    stylised, unchanged = judge.measure(out, content, style), judge.measure(content, content, style)
    assert stylised.style_loss < unchanged.style_loss
    assert judge.content_distance(out, content) > judge.content_distance(content, content) == 0.0


def test_content_distance_is_the_feature_mse_to_the_content() -> None:
    enc = _encoder()
    judge = Judge(enc)
    out, content = _smooth(15), _smooth(16)
    with torch.no_grad():
        expected = float(((enc(out)["relu4_1"] - enc(content)["relu4_1"]) ** 2).mean())
        shallow = float(((enc(out, ("relu2_1",))["relu2_1"] - enc(content, ("relu2_1",))["relu2_1"]) ** 2).mean())
    assert judge.content_distance(out, content) == pytest.approx(expected, rel=1e-5) and expected > 0
    assert judge.content_distance(out, content, layer="relu2_1") == pytest.approx(shallow, rel=1e-5)
    assert judge.content_distance(content, content) < 1e-10
    assert judge.content_distance(content, out) == pytest.approx(expected, rel=1e-5)  # symmetric
    # Independent of any style, unlike the content loss: a nearer image is nearer.
    nearer = (0.8 * content + 0.2 * out).clamp(0, 1)
    assert judge.content_distance(nearer, content) < judge.content_distance(out, content)


def test_content_distance_batches_and_bad_inputs() -> None:
    judge = Judge(_encoder())
    out, content = _smooth(17, batch=2), _smooth(18)
    both = judge.content_distance(out, content)  # one content for the whole batch
    each = [judge.content_distance(out[i : i + 1], content) for i in range(2)]
    assert both == pytest.approx(np.mean(each), rel=1e-5)
    with pytest.raises(InputError, match="content's size"):
        judge.content_distance(_smooth(0, 40, 40), _smooth(1, 48, 40))
    with pytest.raises(InputError, match="batch"):
        judge.content_distance(out, _smooth(19, batch=3))
    with pytest.raises(InputError, match="relu5_1"):
        Judge(_encoder("relu4_1")).content_distance(content, content, layer="relu5_1")
