"""adain_nst.pretrained.folder: save_pretrained -> from_pretrained, deterministic bytes, format 1 and 2."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from adain_nst import AdaINModel, ConfigError, DecoderConfig, EncoderConfig, VGGEncoder, WeightsNotFoundError
from adain_nst.architecture import LEVELS
from adain_nst.pretrained.folder import (
    CONFIG_NAME,
    DECODER_NAME,
    ENCODER_NAME,
    FORMAT_VERSION,
    MODEL_FILES,
    ModelConfig,
    decoder_metadata,
    encoder_metadata,
    read_config,
    read_decoder_file,
    safetensors_bytes,
    write_model_folder,
)

Factory = Callable[..., AdaINModel]

# The cd16x-recon files as adain-nst 0.1.0 converted them in folder format 1 (the registry's
# records before format 2): a format 1 folder made here must be these bytes.
CD16X_RECON_FORMAT_1 = {
    CONFIG_NAME: ("1912d331a570bbe9c2603a3820e797521fe8fc4b12df473d8ebd1c60ce1e5feb", 489),
    ENCODER_NAME: ("fb6925a83aacbdb0d02c22dde2b598296d32be0803cf4c77f59639fd47595837", 881_032),
    DECODER_NAME: ("946aa1d92990bad2fd7eb5bdd0a4cf9e9a41e11e871273d9d11631940b6e5494", 880_300),
}


@pytest.fixture
def model(tiny_model: Factory) -> AdaINModel:
    """A relu4_1 model whose encoder reaches relu5_1 (as vgg19-adain's), with a final ReLU."""
    return tiny_model(encoder_last="relu5_1", final_relu=True)


def outputs(model: AdaINModel) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    # Reflection padding needs 2+ feature pixels a side: 32 px at relu5_1's stride 16.
    c, s = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 48, 32, generator=g)
    with torch.no_grad():
        return model(c, s)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def write_format_1(directory: Path, model: AdaINModel, library_version: str = "0.1.0") -> Path:
    """``model`` as a format 1 folder: no decoder ``level`` in config.json or the metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    enc_meta = {**encoder_metadata(model.encoder.config), "format_version": "1"}
    dec_meta = {k: v for k, v in decoder_metadata(model.decoder.config).items() if k != "level"}
    dec_meta["format_version"] = "1"
    (directory / ENCODER_NAME).write_bytes(safetensors_bytes(model.encoder.state_dict(), enc_meta))
    (directory / DECODER_NAME).write_bytes(safetensors_bytes(model.decoder.state_dict(), dec_meta))
    config = model.config.to_dict(library_version)
    config["format_version"] = 1
    del config["decoder"]["level"]
    (directory / CONFIG_NAME).write_text(json.dumps(config, sort_keys=True, indent=2) + "\n")
    return directory


# -- round trip ----------------------------------------------------------------------------------------
def test_save_load_round_trip_is_bit_identical(model: AdaINModel, tmp_path: Path) -> None:
    model.eps = 1e-4
    model.save_pretrained(tmp_path / "m")
    loaded = AdaINModel.from_pretrained(tmp_path / "m")
    assert loaded.eps == 1e-4 and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert torch.equal(outputs(loaded), outputs(model))
    enc = VGGEncoder.from_pretrained(str(tmp_path / "m"))
    assert enc.config == model.encoder.config

    config = json.loads((tmp_path / "m" / CONFIG_NAME).read_text())
    assert config["format_version"] == FORMAT_VERSION == 2 and config["architecture"] == "AdaINModel"
    assert config["encoder"]["variant"] == "normalized" and config["encoder"]["widths"] == [4, 8, 16, 32, 32]
    assert config["decoder"] == {"widths": [4, 8, 16, 32], "final_relu": True, "level": "relu4_1"}
    assert config["input"] == {"layout": "BCHW", "channels": "RGB", "range": [0.0, 1.0]}
    assert load_file(tmp_path / "m" / DECODER_NAME)["convs.conv1_1.weight"].dtype == torch.float32
    with safe_open(str(tmp_path / "m" / DECODER_NAME), "pt") as f:
        assert f.metadata() == {
            "format": "pt",
            "format_version": "2",
            "kind": "decoder",
            "final_relu": "true",
            "level": "relu4_1",
            "widths": "4,8,16,32",
        }

    # Saving again (into the existing folder) gives the same bytes and keeps foreign files.
    before = {n: (tmp_path / "m" / n).read_bytes() for n in MODEL_FILES}
    (tmp_path / "m" / "README.md").write_text("card")
    model.save_pretrained(tmp_path / "m")
    assert {n: (tmp_path / "m" / n).read_bytes() for n in MODEL_FILES} == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted([*MODEL_FILES, "README.md"])

    double = AdaINModel.from_pretrained(tmp_path / "m", dtype=torch.float64)
    assert {p.dtype for p in double.parameters()} == {torch.float64}


@pytest.mark.parametrize("level", LEVELS)
def test_every_decoder_level_round_trips(tiny_model: Factory, tmp_path: Path, level: str) -> None:
    model = tiny_model(level, encoder_last="relu5_1", final_relu=level == "relu2_1")
    model.save_pretrained(tmp_path / level)
    loaded = AdaINModel.from_pretrained(tmp_path / level)
    assert loaded.level == level and loaded.config == model.config
    assert same_weights(loaded, model)
    assert torch.equal(outputs(loaded), outputs(model))
    assert read_config(tmp_path / level / CONFIG_NAME).decoder.level == level


def test_bytes_are_a_function_of_the_weights_alone(model: AdaINModel, tmp_path: Path) -> None:
    a = write_model_folder(tmp_path / "a", model.config, model.encoder.state_dict(), model.decoder.state_dict())
    # The same tensors in another insertion order, another memory layout and dtype: same bytes.
    sd = model.decoder.state_dict()
    shuffled = {k: sd[k].double().t().contiguous().t() if sd[k].dim() == 2 else sd[k] for k in reversed(sd)}
    b = write_model_folder(tmp_path / "b", model.config, model.encoder.state_dict(), shuffled)
    for name in MODEL_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # The header is canonical (sorted keys, no spaces, padded to 8 bytes), not in the order
    # safetensors' hash map happened to emit in this process, so other processes agree.
    raw = (a / DECODER_NAME).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = raw[8 : 8 + n]
    assert n % 8 == 0
    canonical = json.dumps(json.loads(header), sort_keys=True, separators=(",", ":")).encode()
    assert header.rstrip(b" ") == canonical
    assert json.loads(header)["__metadata__"] == decoder_metadata(model.decoder.config)
    # Another library version changes config.json only.
    c = write_model_folder(tmp_path / "c", model.config, model.encoder.state_dict(), sd, library_version="9.9.9")
    assert (c / CONFIG_NAME).read_bytes() != (a / CONFIG_NAME).read_bytes()
    assert json.loads((c / CONFIG_NAME).read_text())["adain_nst_version"] == "9.9.9"
    assert (c / ENCODER_NAME).read_bytes() == (a / ENCODER_NAME).read_bytes()


def test_write_model_folder_refuses_a_file_in_the_way(model: AdaINModel, tmp_path: Path) -> None:
    (tmp_path / "m").write_text("not a folder")
    with pytest.raises(FileExistsError):
        model.save_pretrained(tmp_path / "m")


# -- what loading checks ---------------------------------------------------------------------------------
def test_loading_checks_format_variant_level_and_keys(model: AdaINModel, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    config_path = folder / CONFIG_NAME
    good = json.loads(config_path.read_text())

    def load_with(cfg: dict, match: str) -> None:
        config_path.write_text(json.dumps(cfg))
        with pytest.raises(ConfigError, match=match) as info:
            AdaINModel.from_pretrained(folder)
        assert str(folder) in str(info.value)  # every message names the file

    load_with({**good, "format_version": 99}, "format_version")
    load_with({**good, "format_version": True}, "format_version")
    load_with({**good, "architecture": "Other"}, "architecture")
    load_with({**good, "extra": 1}, "unknown keys")
    load_with({**good, "encoder": {**good["encoder"], "variant": "imagenet"}}, "variant")
    load_with({**good, "decoder": {**good["decoder"], "final_relu": False}}, "final_relu")
    relu3 = {"widths": good["decoder"]["widths"][:3], "final_relu": True, "level": "relu3_1"}
    load_with({**good, "decoder": relu3}, "level")  # a relu3_1 config with relu4_1 files: mixed folder
    load_with({**good, "decoder": {k: v for k, v in good["decoder"].items() if k != "level"}}, "'level'")
    load_with({**good, "encoder": {**good["encoder"], "last_layer": "relu3_1"}}, "before the decoder's relu4_1")
    load_with({**good, "encoder": {**good["encoder"], "last_layer": "relu4_1"}}, "unexpected")  # conv4_2.. extra
    config_path.write_text("{not json")
    with pytest.raises(ConfigError, match=CONFIG_NAME):
        AdaINModel.from_pretrained(folder)
    config_path.write_text(json.dumps(good))
    (folder / DECODER_NAME).unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        AdaINModel.from_pretrained(folder)
    with pytest.raises(WeightsNotFoundError):
        AdaINModel.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="known"):
        AdaINModel.from_pretrained("not a model name")


def test_safetensors_metadata_is_checked(model: AdaINModel, tmp_path: Path) -> None:
    path = tmp_path / DECODER_NAME
    sd, config = model.decoder.state_dict(), model.decoder.config
    for meta, match in [
        ({k: v for k, v in decoder_metadata(config).items() if k != "format_version"}, "lacks 'format_version'"),
        ({**decoder_metadata(config), "format_version": "3"}, "format_version '3' is not supported"),
        ({k: v for k, v in decoder_metadata(config).items() if k != "level"}, "lacks 'level'"),
        ({**decoder_metadata(config), "level": "relu5_1"}, "mixes files"),
        ({**decoder_metadata(config), "kind": "encoder"}, "kind='encoder'"),
    ]:
        path.write_bytes(safetensors_bytes(sd, meta))
        with pytest.raises(ConfigError, match=match) as info:
            read_decoder_file(path, config)
        assert str(path) in str(info.value)


def test_model_config_dict_round_trip() -> None:
    config = ModelConfig(EncoderConfig((4, 8, 16, 32, 32), "relu5_1"), DecoderConfig((4, 8), level="relu2_1"), 1e-3)
    d = config.to_dict("1.2.3")
    assert d["adain_nst_version"] == "1.2.3" and d["format_version"] == FORMAT_VERSION
    assert ModelConfig.from_dict(d) == config
    with pytest.raises(ConfigError, match=r"x\.json: expected a JSON object"):
        ModelConfig.from_dict([], where="x.json")


# -- format 1 ------------------------------------------------------------------------------------------
def test_format_1_folders_still_load(model: AdaINModel, tmp_path: Path) -> None:
    folder = write_format_1(tmp_path / "v1", model)
    config = read_config(folder / CONFIG_NAME)
    assert config.format_version == 1 and config.decoder.level == "relu4_1"  # format 1 decoders are relu4_1
    loaded = AdaINModel.from_pretrained(folder)
    assert loaded.config == model.config and same_weights(loaded, model)
    assert torch.equal(outputs(loaded), outputs(model))
    assert VGGEncoder.from_pretrained(folder).config == model.encoder.config
    # Saving it again writes format 2.
    loaded.save_pretrained(tmp_path / "v2")
    assert read_config(tmp_path / "v2" / CONFIG_NAME).format_version == 2


def test_published_format_1_cd16x_files_load_as_their_format_2_conversion(cd16x_dir: Path, tmp_path: Path) -> None:
    model = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    folder = write_format_1(tmp_path / "cd16x-recon-v1", model)
    for name, (digest, size) in CD16X_RECON_FORMAT_1.items():  # the bytes 0.1.0 published
        data = (folder / name).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (digest, size), name
    old = AdaINModel.from_pretrained(folder)
    model.save_pretrained(tmp_path / "cd16x-recon-v2", library_version="0.1.0")
    new = AdaINModel.from_pretrained(tmp_path / "cd16x-recon-v2")
    assert old.config == new.config and same_weights(old, new)
