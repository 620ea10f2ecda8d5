"""Encoder/decoder pairing: refused when the files do not belong together, naming the ones that do."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import adain_nst
from adain_nst import AdaINModel, ConfigError, DecoderConfig, EncoderConfig, samples
from adain_nst.cli import main
from adain_nst.pretrained import formats
from adain_nst.pretrained.folder import decoder_metadata, safetensors_bytes
from adain_nst.pretrained.pairing import (
    check_pairing,
    cut_anywhere,
    encoder_fingerprint,
    made_for,
    pairing_problem,
)

BUNDLED = Path(adain_nst.__file__).parent / "_weights" / "cd16x"
CD16X = (16, 32, 64, 128, 128)


@pytest.fixture(scope="module")
def cd16x_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled cd16x e4, e5, d4, d5 (float16-stored safetensors) in a temporary folder."""
    folder = tmp_path_factory.mktemp("cd16x")
    for name in ("e4", "e5", "d4", "d5"):
        shutil.copy(BUNDLED / f"{name}.safetensors", folder / f"{name}.safetensors")
    return folder


def test_rules_on_configs() -> None:
    full = EncoderConfig(last_layer="relu5_1")
    assert cut_anywhere(full) and made_for(full) is None
    assert cut_anywhere(EncoderConfig(widths=(64, 128, 256, 256, 256), last_layer="relu3_1"))  # a full VGG cut at 3
    e5 = EncoderConfig(widths=CD16X, last_layer="relu5_1")
    assert not cut_anywhere(e5) and made_for(e5) == "relu5_1"
    d4 = DecoderConfig(widths=CD16X[:4], level="relu4_1")
    # The full VGG-19 is one network: its relu4_1 decoder goes with an encoder that reaches deeper.
    assert pairing_problem(full, DecoderConfig(level="relu4_1")) is None
    assert "made for relu5_1" in (pairing_problem(e5, d4) or "")
    assert pairing_problem(EncoderConfig(widths=CD16X, last_layer="relu4_1"), d4) is None
    assert "stops at relu3_1" in (pairing_problem(EncoderConfig(widths=CD16X, last_layer="relu3_1"), d4) or "")
    assert "512 channels" in (pairing_problem(full, d4) or "")


def test_cd16x_e5_with_the_relu4_1_decoder_is_refused_naming_the_pairs(cd16x_files: Path) -> None:
    e4, e5, d4, d5 = (cd16x_files / f"{n}.safetensors" for n in ("e4", "e5", "d4", "d5"))
    with pytest.raises(ConfigError) as info:
        adain_nst.model_from_files(e5, d4)
    message = str(info.value)
    assert "\n" not in message and "do not belong together" in message
    assert f"use {e4} with {d4}" in message.lower() and f"{d5} with {e5}" in message
    assert "check_pairing=False" in message
    with pytest.raises(ConfigError, match="made for relu5_1"):
        AdaINModel.from_checkpoints(e5, d4)
    with pytest.raises(ConfigError, match="made for relu5_1"):
        adain_nst.load_model((e5, d4))
    # The right pairs load; the override loads the wrong one (encoder cut at relu4_1).
    assert adain_nst.model_from_files(e4, d4).level == "relu4_1"
    assert adain_nst.model_from_files(e5, d5).level == "relu5_1"
    forced = adain_nst.model_from_files(e5, d4, check_pairing=False)
    assert forced.encoder.config.last_layer == "relu4_1"


def test_cli_refuses_the_mismatch_with_exit_2_unless_told(
    cd16x_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, style = samples.path("chelsea"), samples.path("monet_etretat")
    out = tmp_path / "o.png"
    args = ["stylize", str(content), str(style), "-o", str(out), "--content-size", "32", "--style-size", "32"]
    weights = ["--encoder", str(cd16x_files / "e5.safetensors"), "--decoder", str(cd16x_files / "d4.safetensors")]
    assert main([*args, *weights]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "e4.safetensors" in err and "Traceback" not in err
    assert not out.exists()
    assert main([*args, *weights, "--no-pairing-check"]) == 0 and out.exists()
    assert main([*args, "--no-pairing-check"]) == 2  # only with --encoder/--decoder
    assert "--no-pairing-check" in capsys.readouterr().err


def test_fingerprint_ignores_float16_storage_and_deeper_layers(cd16x_files: Path) -> None:
    _, e4 = formats.read_encoder(cd16x_files / "e4.safetensors")
    _, e5 = formats.read_encoder(cd16x_files / "e5.safetensors")
    assert encoder_fingerprint(e4, "relu4_1") != encoder_fingerprint(e5, "relu4_1")  # distilled apart
    as_float32 = {k: v.float() for k, v in e4.items()}
    assert encoder_fingerprint(as_float32, "relu4_1") == encoder_fingerprint(e4, "relu4_1")
    deeper = dict(e5)
    cut = {k: v for k, v in e5.items() if not k.startswith(("convs.conv4_2", "convs.conv4_3", "convs.conv4_4"))}
    cut = {k: v for k, v in cut.items() if not k.startswith("convs.conv5")}
    assert encoder_fingerprint(deeper, "relu4_1") == encoder_fingerprint(cut, "relu4_1")
    changed = {**e4, "convs.conv1_1.bias": e4["convs.conv1_1.bias"] + 0.1}
    assert encoder_fingerprint(changed, "relu4_1") != encoder_fingerprint(e4, "relu4_1")


def test_a_recorded_fingerprint_decides(tiny_model: Callable[..., AdaINModel], tmp_path: Path) -> None:
    """A decoder trained with an encoder that reaches deeper (fingerprint recorded) pairs with exactly it."""
    model = tiny_model("relu4_1", encoder_last="relu5_1", seed=1)
    other = tiny_model("relu4_1", encoder_last="relu5_1", seed=2)
    enc_path, other_path = tmp_path / "enc.safetensors", tmp_path / "other.safetensors"
    for m, path in ((model, enc_path), (other, other_path)):
        meta = {"kind": "encoder", "format_version": "2", "variant": "normalized", "arch": "vgg19"}
        path.write_bytes(safetensors_bytes(m.encoder.state_dict(), meta))
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors_bytes(model.decoder.state_dict(), decoder_metadata(model.decoder.config)))
    fingerprint = encoder_fingerprint(model.encoder.state_dict(), "relu4_1")
    marked = tmp_path / "marked.safetensors"
    meta = {**decoder_metadata(model.decoder.config), formats.ENCODER_FINGERPRINT: fingerprint}
    marked.write_bytes(safetensors_bytes(model.decoder.state_dict(), meta))
    # Without a record the depth rule applies (tiny widths: made for relu5_1, not relu4_1) ...
    with pytest.raises(ConfigError, match="made for relu5_1"):
        AdaINModel.from_checkpoints(enc_path, plain)
    # ... with one, the encoder it names is accepted and any other refused.
    loaded = AdaINModel.from_checkpoints(enc_path, marked)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x, x), model(x, x))
    with pytest.raises(ConfigError, match="trained with another encoder"):
        AdaINModel.from_checkpoints(other_path, marked)


def test_check_pairing_message_without_cd16x_names() -> None:
    enc = EncoderConfig(widths=(8, 16, 32, 64, 64), last_layer="relu5_1")
    dec = DecoderConfig(widths=(8, 16, 32, 64), level="relu4_1")
    with pytest.raises(ConfigError) as info:
        check_pairing(enc, dec, encoder_name="mine.pth", decoder_name="dec.pth")
    assert "use an encoder made for relu4_1 with dec.pth or a relu5_1 decoder with mine.pth" in str(info.value).lower()
