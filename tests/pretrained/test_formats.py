"""adain_nst.pretrained.formats: every checkpoint layout it reads, its key maps, and its errors.

The key maps are checked against literal index tables written from the original projects'
network definitions (pytorch-AdaIN's ``net.vgg`` / ``net.decoder``, torchvision's
``vgg16().features`` / ``vgg19().features``), not against the plan they are derived from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from adain_nst import (
    AdaINModel,
    CheckpointError,
    ConfigError,
    Decoder,
    DecoderConfig,
    EncoderConfig,
    VGGEncoder,
    WeightsNotFoundError,
)
from adain_nst.architecture import IMAGENET_MEAN, IMAGENET_STD, LEVELS, block_of
from adain_nst.nn.reference import decoder_sequential, encoder_sequential
from adain_nst.pretrained import formats
from adain_nst.pretrained.formats import read_decoder, read_encoder

Factory = Callable[..., AdaINModel]

# pytorch-AdaIN net.vgg: conv0 (1x1), then per conv ReflectionPad2d, Conv2d, ReLU; MaxPool2d between blocks.
REFERENCE_VGG = {
    0: "conv0", 2: "conv1_1", 5: "conv1_2", 9: "conv2_1", 12: "conv2_2",
    16: "conv3_1", 19: "conv3_2", 22: "conv3_3", 25: "conv3_4",
    29: "conv4_1", 32: "conv4_2", 35: "conv4_3", 38: "conv4_4",
    42: "conv5_1", 45: "conv5_2", 48: "conv5_3", 51: "conv5_4",
}  # fmt: skip
# pytorch-AdaIN net.decoder: per conv ReflectionPad2d, Conv2d, ReLU (none after the last); Upsample after conv{b}_1.
REFERENCE_DECODER = {
    1: "conv4_1", 5: "conv3_4", 8: "conv3_3", 11: "conv3_2", 14: "conv3_1",
    18: "conv2_2", 21: "conv2_1", 25: "conv1_2", 28: "conv1_1",
}  # fmt: skip
# torchvision vgg{16,19}().features: Conv2d(padding=1), ReLU per conv; MaxPool2d after each block.
TORCHVISION = {
    "vgg19": {
        0: "conv1_1", 2: "conv1_2", 5: "conv2_1", 7: "conv2_2",
        10: "conv3_1", 12: "conv3_2", 14: "conv3_3", 16: "conv3_4",
        19: "conv4_1", 21: "conv4_2", 23: "conv4_3", 25: "conv4_4",
        28: "conv5_1", 30: "conv5_2", 32: "conv5_3", 34: "conv5_4",
    },
    "vgg16": {
        0: "conv1_1", 2: "conv1_2", 5: "conv2_1", 7: "conv2_2",
        10: "conv3_1", 12: "conv3_2", 14: "conv3_3",
        17: "conv4_1", 19: "conv4_2", 21: "conv4_3",
        24: "conv5_1", 26: "conv5_2", 28: "conv5_3",
    },
}  # fmt: skip
WIDTHS = (4, 8, 16, 32, 32)


def _conv_shapes(names: list[str], widths: tuple[int, ...]) -> dict[str, tuple[int, int]]:
    """(out, in) channels of encoder convs ``names`` in forward order."""
    shapes, cin = {}, 3
    for name in names:
        cout = widths[block_of(name) - 1]
        shapes[name] = (cout, cin)
        cin = cout
    return shapes


def torchvision_state_dict(arch: str, widths: tuple[int, ...] = WIDTHS, seed: int = 0) -> dict[str, Tensor]:
    """A random state dict keyed and shaped like torchvision's ``vgg16/19()`` (small widths, small classifier)."""
    g = torch.Generator().manual_seed(seed)
    table = TORCHVISION[arch]
    shapes = _conv_shapes([table[i] for i in sorted(table)], widths)
    sd: dict[str, Tensor] = {}
    for index in sorted(table):
        cout, cin = shapes[table[index]]
        sd[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5  # He
        sd[f"features.{index}.bias"] = torch.randn(cout, generator=g) * 0.1
    for i in (0, 3, 6):  # the classifier is not part of the encoder: it is dropped
        sd[f"classifier.{i}.weight"] = torch.randn(8, 8, generator=g)
        sd[f"classifier.{i}.bias"] = torch.randn(8, generator=g)
    return sd


def torchvision_features(sd: dict[str, Tensor], arch: str, image: Tensor, layer: str) -> Tensor:
    """torchvision's ``features`` forward, written out from the index table, up to relu ``layer``."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (image - mean) / std
    table = TORCHVISION[arch]
    previous = None
    for index in sorted(table):
        if previous is not None and index - previous == 3:  # conv, relu, pool, conv
            x = F.max_pool2d(x, 2, 2)
        x = F.relu(F.conv2d(x, sd[f"features.{index}.weight"], sd[f"features.{index}.bias"], padding=1))
        if table[index] == "conv" + layer[4:]:
            return x
        previous = index
    raise AssertionError(layer)


def param_keys(convs: list[str]) -> set[str]:
    """Our keys of ``convs``: ``convs.{name}.weight`` and ``.bias``."""
    return {f"convs.{name}.{p}" for name in convs for p in ("weight", "bias")}


def cd16x_source(path: Path) -> dict[str, Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def golden_files(golden_dir: Path) -> tuple[Path, Path]:
    """The golden set's (encoder, decoder) files, as cases.json names them."""
    files = json.loads((golden_dir / "cases.json").read_text())["weights"]["files"]
    return golden_dir / files["vgg"], golden_dir / files["decoder"]


# -- key maps ----------------------------------------------------------------------------------------
def test_key_maps_match_the_original_networks() -> None:
    assert formats.reference_encoder_keys() == REFERENCE_VGG
    assert formats.reference_decoder_keys() == REFERENCE_DECODER
    assert formats.reference_decoder_keys("relu4_1") == REFERENCE_DECODER
    for arch, table in TORCHVISION.items():
        assert formats.torchvision_encoder_keys(arch) == table
    # pytorch-AdaIN's relu4_1 decoder is the tail of a relu5_1 one, shifted by its first block.
    deeper = formats.reference_decoder_keys("relu5_1")
    assert sorted(deeper.values()) == sorted(["conv5_1", "conv4_4", "conv4_3", "conv4_2", *REFERENCE_DECODER.values()])


def test_detect_layout(cd16x_dir: Path, golden_dir: Path) -> None:
    e4 = formats.as_state_dict(torch.load(cd16x_dir / "e4.pth", map_location="cpu", weights_only=True))
    assert formats.detect_layout(e4) == "cd16x"
    assert formats.detect_layout(cd16x_source(cd16x_dir / "d1.pth")) == "cd16x"  # conv11 only
    for path in golden_files(golden_dir):
        assert formats.detect_layout(torch.load(path, map_location="cpu", weights_only=True)) == "reference"
    assert formats.detect_layout(torchvision_state_dict("vgg16")) == "torchvision"
    assert formats.detect_layout(VGGEncoder(EncoderConfig(WIDTHS)).state_dict()) == "adain_nst"
    assert formats.detect_layout(Decoder(DecoderConfig(WIDTHS[:4])).state_dict()) == "adain_nst"
    with pytest.raises(ConfigError, match="unrecognised"):
        formats.detect_layout({"weight": torch.zeros(1)})
    assert formats.LAYOUTS == ("reference", "cd16x", "torchvision", "adain_nst")


# -- reference (pytorch-AdaIN) -----------------------------------------------------------------------
def test_reference_release_layout_golden_files(golden_dir: Path) -> None:
    vgg, dec = golden_files(golden_dir)
    vgg_src = torch.load(vgg, map_location="cpu", weights_only=True)
    config, sd = read_encoder(vgg)
    assert config == EncoderConfig((64, 128, 256, 512, 512), "relu4_1", "normalized", "vgg19")
    names = list(REFERENCE_VGG.values())[:10]  # conv0 .. conv4_1
    assert set(sd) == {"conv0.weight", "conv0.bias", *param_keys(names[1:])}
    for index, name in list(REFERENCE_VGG.items())[:10]:
        key = "conv0" if name == "conv0" else f"convs.{name}"
        assert sd[f"{key}.weight"].dtype == torch.float32  # float16 in the file, cast up exactly
        assert torch.equal(sd[f"{key}.weight"], vgg_src[f"{index}.weight"].float()), name

    dec_src = torch.load(dec, map_location="cpu", weights_only=True)
    config, sd = read_decoder(dec)
    assert config == DecoderConfig((64, 128, 256, 512), final_relu=False, level="relu4_1")
    for index, name in REFERENCE_DECODER.items():
        assert torch.equal(sd[f"convs.{name}.bias"], dec_src[f"{index}.bias"].float()), name


@pytest.mark.parametrize("level", LEVELS)
def test_reference_layout_of_every_level_round_trips(tiny_model: Factory, level: str) -> None:
    model = tiny_model(level, encoder_last="relu5_4")
    enc_config, enc_sd = read_encoder(encoder_sequential(model.encoder).state_dict(), layout="reference")
    assert enc_config == model.encoder.config
    assert enc_sd.keys() == model.encoder.state_dict().keys()
    assert all(torch.equal(enc_sd[k], v) for k, v in model.encoder.state_dict().items())
    dec_config, dec_sd = read_decoder(decoder_sequential(model.decoder).state_dict(), layout="reference")
    assert dec_config == model.decoder.config  # level and widths read off the indices and shapes
    assert all(torch.equal(dec_sd[k], v) for k, v in model.decoder.state_dict().items())


def test_reference_encoder_truncates_and_rejects_foreign_keys(tmp_path: Path) -> None:
    sd = encoder_sequential(VGGEncoder(EncoderConfig(WIDTHS, "relu5_1"))).state_dict()
    config, ours = read_encoder(sd, last_layer="relu3_1")
    assert config.last_layer == "relu3_1" and "convs.conv3_2.weight" not in ours and "convs.conv3_1.bias" in ours
    with pytest.raises(ConfigError, match="only reaches relu5_1"):
        read_encoder(sd, last_layer="relu5_2")
    path = tmp_path / "vgg_normalised.pth"
    torch.save({**sd, "99.weight": torch.zeros(1)}, path)
    with pytest.raises(ConfigError, match=r"vgg_normalised\.pth.*'99\.weight'"):
        read_encoder(path)
    torch.save({k: v for k, v in sd.items() if not k.startswith("0.")}, path)
    with pytest.raises(ConfigError, match=r"vgg_normalised\.pth.*conv0"):
        read_encoder(path)


# -- cd16x --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_cd16x_encoders_and_decoders_of_every_depth(cd16x_dir: Path, k: int) -> None:
    level = f"relu{k}_1"
    src = cd16x_source(cd16x_dir / f"e{k}.pth")
    config, sd = read_encoder(cd16x_dir / f"e{k}.pth", layout="cd16x")
    assert config.last_layer == level and config.variant == "normalized" and config.arch == "vgg19"
    assert not any("aux" in key for key in sd)  # the distillation heads are not on the forward path
    plain = [key for key in src if "_aux" not in key]
    assert len(sd) == len(plain)
    for key in plain:  # conv41.weight -> convs.conv4_1.weight; conv0 keeps its name
        ours = key if key.startswith("conv0.") else f"convs.conv{key[4]}_{key[5]}.{key.split('.')[1]}"
        assert torch.equal(sd[ours], src[key].float()), key
    widths = config.widths

    dec_src = cd16x_source(cd16x_dir / f"d{k}.pth")
    dec_config, dec_sd = read_decoder(cd16x_dir / f"d{k}.pth", layout="cd16x")
    assert dec_config == DecoderConfig(widths[:k], final_relu=True, level=level)  # d_k mirrors e_k
    assert len(dec_sd) == len(dec_src)
    for key, value in dec_src.items():
        assert torch.equal(dec_sd[f"convs.conv{key[4]}_{key[5]}.{key.split('.')[1]}"], value.float()), key


def test_cd16x_e4_is_the_registered_architecture(cd16x_dir: Path) -> None:
    config, _ = read_encoder(cd16x_dir / "e4.pth")
    assert config == EncoderConfig((16, 32, 64, 128, 128), "relu4_1")
    assert read_encoder(cd16x_dir / "e1.pth")[0].widths[0] == 24  # e1 alone has 24 channels in conv1_1


def test_cd16x_bad_keys_name_the_file(cd16x_dir: Path, tmp_path: Path) -> None:
    src = cd16x_source(cd16x_dir / "e2.pth")
    path = tmp_path / "e2-bad.pth"
    torch.save({"model": {**src, "fc.weight": torch.zeros(2)}}, path)
    with pytest.raises(ConfigError, match=r"e2-bad\.pth.*'fc\.weight'"):
        read_encoder(path)
    dec = cd16x_source(cd16x_dir / "d3.pth")
    torch.save({"model": {k: v for k, v in dec.items() if not k.startswith("conv22.")}}, path)
    with pytest.raises(ConfigError, match=r"e2-bad\.pth.*missing \['conv2_2'\]"):
        read_decoder(path)
    with pytest.raises(ConfigError, match=r"e4\.pth.*unexpected key 'conv0\.weight'"):
        read_decoder(cd16x_dir / "e4.pth")  # an encoder is not a decoder
    with pytest.raises(ConfigError, match="expected the reference layout"):
        read_encoder(cd16x_dir / "e4.pth", layout="reference")


# -- torchvision --------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_torchvision_layout_maps_every_conv_and_runs_like_torchvision(arch: str) -> None:
    sd = torchvision_state_dict(arch)
    config, ours = read_encoder(sd)
    deepest = "relu" + TORCHVISION[arch][max(TORCHVISION[arch])][4:]
    assert config == EncoderConfig(WIDTHS, deepest, "imagenet", arch)  # the arch is told by the indices
    assert not any(k.startswith(("classifier", "conv0")) for k in ours)
    for index, name in TORCHVISION[arch].items():
        assert torch.equal(ours[f"convs.{name}.weight"], sd[f"features.{index}.weight"]), name
    encoder = VGGEncoder.from_checkpoint(sd, last_layer="relu5_1", layout="torchvision")
    image = torch.rand(1, 3, 35, 33)  # odd sizes: torchvision pools round down
    with torch.no_grad():
        ours_out = encoder(image, ("relu5_1",))["relu5_1"]
    torch.testing.assert_close(ours_out, torchvision_features(sd, arch, image, "relu5_1"), rtol=1e-4, atol=1e-5)


def test_torchvision_bare_features_and_truncation() -> None:
    sd = torchvision_state_dict("vgg19")
    bare = {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}  # vgg.features.state_dict()
    config, ours = read_encoder(bare, layout="torchvision", last_layer="relu3_1")
    assert config == EncoderConfig(WIDTHS, "relu3_1", "imagenet", "vgg19")
    assert set(ours) == param_keys(["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"])
    with pytest.raises(ConfigError, match="torchvision checkpoint holds an encoder"):
        read_decoder(sd)


# -- ours ----------------------------------------------------------------------------------------------
def test_our_layout_from_state_dicts_and_files(tiny_model: Factory, tmp_path: Path) -> None:
    model = tiny_model("relu3_1", encoder_last="relu5_1", final_relu=False)
    config, sd = read_encoder(model.encoder.state_dict())
    assert config == model.encoder.config and sd.keys() == model.encoder.state_dict().keys()
    # A decoder state dict says nothing about its final ReLU: the cd16x convention (True) applies...
    config, _ = read_decoder(model.decoder.state_dict())
    assert config == DecoderConfig(WIDTHS[:3], final_relu=True, level="relu3_1")
    # ...a file with metadata (as training writes) says it.
    path = tmp_path / "decoder.safetensors"
    save_file(model.decoder.state_dict(), str(path), metadata={"final_relu": "false"})
    assert read_decoder(path)[0] == model.decoder.config
    imagenet = VGGEncoder(EncoderConfig(WIDTHS, "relu5_1", variant="imagenet"))
    assert read_encoder(imagenet.state_dict())[0] == imagenet.config  # no conv0: the imagenet variant
    # Blocks a truncated file does not reach cannot tell their widths: they repeat the last known one.
    config, _ = read_encoder(VGGEncoder(EncoderConfig(WIDTHS, "relu2_1")).state_dict())
    assert config == EncoderConfig((4, 8, 8, 8, 8), "relu2_1")


def test_training_checkpoint_gives_its_decoder(tiny_model: Factory, tmp_path: Path) -> None:
    decoder = tiny_model("relu2_1", final_relu=False).decoder
    path = tmp_path / "checkpoint.pt"
    torch.save(
        {
            "decoder": decoder.state_dict(),
            "decoder_config": decoder.config.to_dict(),
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
            "step": 25,
            "rng": {"torch": torch.get_rng_state(), "python": (3, (1, 2, 3), None)},
            "config": {"content_dir": "c", "iters": 100, "final_relu": None},
        },
        path,
    )
    config, sd = read_decoder(path)
    assert config == decoder.config
    assert all(torch.equal(sd[k], v) for k, v in decoder.state_dict().items())
    with pytest.raises(ConfigError, match="holds a decoder, not an encoder"):
        read_encoder(path)
    assert Decoder.from_checkpoint(path).config == decoder.config


def test_as_state_dict_casts_floats_and_unwraps() -> None:
    sd = formats.as_state_dict(
        {"model": {"a": torch.ones(2, dtype=torch.float16), "n": torch.ones(2, dtype=torch.long)}}
    )
    assert sd["a"].dtype == torch.float32 and sd["n"].dtype == torch.long
    with pytest.raises(ConfigError, match=r"my\.pth is not a state dict"):
        formats.as_state_dict({"a": 1}, where="my.pth")


# -- files that cannot be read --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_files_are_checkpoint_errors_naming_the_file(
    tiny_model: Factory, tmp_path: Path, suffix: str
) -> None:
    sd = tiny_model().decoder.state_dict()
    path = tmp_path / f"decoder{suffix}"
    if suffix == ".pth":
        torch.save(sd, path)
    else:
        save_file(sd, str(path))
    data = path.read_bytes()
    for cut in (len(data) // 2, 4):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
            read_decoder(path)
        assert isinstance(info.value, OSError)


def test_unreadable_contents_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"nowhere\.pth"):
        read_encoder(tmp_path / "nowhere.pth")
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ConfigError, match=r"list\.pth is not a state dict"):
        read_encoder(path)
    path = tmp_path / "odd.safetensors"
    save_file({"weight": torch.zeros(1)}, str(path))
    with pytest.raises(ConfigError, match=r"odd\.safetensors.*unrecognised"):
        read_decoder(path)
    save_file({"convs.conv1_1.weight": torch.zeros(3, 4, 3, 3)}, str(path), metadata={"kind": "encoder"})
    with pytest.raises(ConfigError, match=r"odd\.safetensors holds an encoder"):
        read_decoder(path)
    with pytest.raises(ConfigError, match="unknown checkpoint layout 'caffe'"):
        read_encoder({"0.weight": torch.zeros(1)}, layout="caffe")
