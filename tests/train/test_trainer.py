"""Decoder training: a 20-step smoke run, exact resume, checkpoints, precision, export, bad options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from adain_nst import AdaINModel, ConfigError, Decoder, DecoderConfig, DeviceError, InputError
from adain_nst.engine import runtime
from adain_nst.nn.transforms import adaptive_instance_norm
from adain_nst.pretrained.folder import FORMAT_VERSION
from adain_nst.pretrained.formats import read_file
from adain_nst.train import TrainConfig, export_decoder, load_checkpoint, train
from adain_nst.train.losses import STYLE_LAYERS, adain_content_loss, moment_style_loss
from adain_nst.train.trainer import build_trainer, load_encoder, recorded_dtype, resumed_config, training_dtype

from .helpers import WIDTHS, he_encoder, make_config, save_encoder


def test_twenty_steps_lower_the_loss_and_write_outputs(data: dict[str, Path]) -> None:
    result = train(make_config(data, "run"), progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    out = result.out
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    assert {r["dtype"] for r in log} == {"float32"} and result.dtype == "float32"
    assert (out / "checkpoint.pt").exists() and (out / "decoder.safetensors").exists()
    assert json.loads((out / "train_config.json").read_text())["dtype"] == "float32"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_resume_reproduces_the_uninterrupted_run_exactly(data: dict[str, Path]) -> None:
    full = train(make_config(data, "full", iters=8), progress=False)
    part = train(make_config(data, "part", iters=8), progress=False, stop_after=5)
    assert part.step == 5
    resumed = train(make_config(data, "part", iters=8), progress=False, resume=True)
    assert resumed.step == 8
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history[5:]]
    trained = Decoder.from_checkpoint(resumed.out / "checkpoint.pt")  # usable for stylising mid-run
    final = Decoder.from_checkpoint(full.out / "decoder.safetensors")
    torch.testing.assert_close(trained.state_dict(), final.state_dict())
    with pytest.raises(InputError, match="resume"):
        train(make_config(data, "part", iters=8), progress=False)


def test_checkpoint_loads_with_weights_only_and_records_the_config(data: dict[str, Path]) -> None:
    result = train(make_config(data, "ckpt", iters=3), progress=False)
    ckpt = result.out / "checkpoint.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)  # plain data: no pickled classes
    assert state["step"] == 3 and state["dtype"] == "float32"
    assert state["config"]["dtype"] == "float32" and state["config"]["lr"] == 3e-2
    assert state["decoder_config"] == {"widths": list(WIDTHS[:4]), "final_relu": False, "level": "relu4_1"}
    assert load_checkpoint(ckpt)["step"] == 3
    sd, meta = read_file(ckpt)  # the loading stack reads it as a decoder file
    assert meta["kind"] == "decoder" and set(sd) == set(state["decoder"])
    model = AdaINModel.from_checkpoints(data["encoder"], ckpt)
    assert model.level == "relu4_1"


def test_unreadable_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(OSError, match="cannot read training checkpoint"):
        load_checkpoint(bad)


def test_resume_keeps_the_recorded_dtype(data: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)  # the same on AVX2-only CPUs
    part = train(make_config(data, "bf16", iters=4, dtype="bfloat16"), progress=False, stop_after=2)
    assert part.dtype == "bfloat16"
    assert torch.load(part.out / "checkpoint.pt", weights_only=True)["config"]["dtype"] == "bfloat16"
    resumed = train(make_config(data, "bf16", iters=4), progress=False, resume=True)  # dtype not given: kept
    assert resumed.step == 4 and resumed.dtype == "bfloat16"
    assert resumed.config is not None and resumed.config.dtype == "bfloat16"
    state = torch.load(resumed.out / "checkpoint.pt", weights_only=True)
    assert state["config"]["dtype"] == "bfloat16" and state["dtype"] == "bfloat16"
    logged = [json.loads(line)["dtype"] for line in (resumed.out / "log.jsonl").read_text().splitlines()]
    assert set(logged) == {"bfloat16"}
    with pytest.raises(InputError, match=r"dtype='float32' \(recorded: 'bfloat16'\)"):
        train(make_config(data, "bf16", iters=6, dtype="float32"), progress=False, resume=True)
    with pytest.raises(InputError, match=r"lr=0\.05 \(recorded: 0\.03\)"):
        train(make_config(data, "bf16", iters=6, lr=0.05), progress=False, resume=True)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(DeviceError, match="keeps the precision"):  # recorded bf16, resumed on an AVX2-only CPU
        train(make_config(data, "bf16", iters=6), progress=False, resume=True)


def test_resume_may_change_iters_and_logging(data: dict[str, Path]) -> None:
    train(make_config(data, "longer", iters=2), progress=False)
    longer = train(make_config(data, "longer", iters=4, log_every=1, checkpoint_every=1), progress=False, resume=True)
    assert longer.step == 4 and len(longer.history) == 2


def test_resumed_config_rules() -> None:
    config = TrainConfig(content_dir="c", style_dir="s", encoder="e", out="o")
    recorded = {**TrainConfig(content_dir="c0", style_dir="s0", encoder="e0", out="o", lr=0.5, seed=3).__dict__}
    del recorded["dtype"]  # a checkpoint from before the dtype field: its precision follows from amp
    kept = resumed_config(config, recorded, {"final_relu": True})
    assert (kept.lr, kept.seed, kept.dtype, kept.content_dir) == (0.5, 3, "float32", "c")
    with pytest.raises(InputError, match="final_relu=False"):
        resumed_config(TrainConfig("c", "s", "e", "o", final_relu=False), recorded, {"final_relu": True})
    assert recorded_dtype({"amp": True, "device": "cuda"}) == "float16"
    assert recorded_dtype({"amp": True, "device": "cpu"}) == "float32"


def test_precision_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert training_dtype(None, cpu) == torch.float32
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(DeviceError, match="native bf16"):
        training_dtype("bfloat16", cpu)
    assert training_dtype("auto", cpu) == torch.float32
    with pytest.raises(DeviceError, match="CUDA"):
        training_dtype("float16", cpu)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert training_dtype("bfloat16", cpu) == training_dtype("auto", cpu) == torch.bfloat16


def test_amp_is_a_deprecated_alias(data: dict[str, Path]) -> None:
    with pytest.warns(DeprecationWarning, match="dtype"):
        config = make_config(data, "amp", iters=1, amp=True)
    result = train(config, progress=False)  # on CPU amp never did anything: float32, as before
    assert result.dtype == "float32" and result.config is not None and result.config.amp is False


def test_exported_decoder_round_trips(tmp_path: Path, tiny_model: Callable[..., AdaINModel]) -> None:
    for level, final_relu in (("relu4_1", False), ("relu3_1", True), ("relu5_1", False)):
        model = tiny_model(level, final_relu=final_relu)
        path = export_decoder(model.decoder, tmp_path / f"{level}.safetensors", {"step": "7", "level": "ignored"})
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        assert meta["kind"] == "decoder" and meta["level"] == level and meta["step"] == "7"
        assert meta["final_relu"] == str(final_relu).lower() and meta["format_version"] == str(FORMAT_VERSION)
        back = Decoder.from_checkpoint(path)
        assert back.config == model.decoder.config
        torch.testing.assert_close(back.state_dict(), model.decoder.state_dict(), rtol=0, atol=0)
    # The same bytes save_pretrained writes: an exported decoder drops into a model folder.
    model = tiny_model("relu3_1", final_relu=True)
    model.save_pretrained(tmp_path / "folder")
    trained = Decoder(model.decoder.config)
    exported = export_decoder(trained, tmp_path / "plain.safetensors")
    assert exported.read_bytes() != (tmp_path / "folder" / "decoder.safetensors").read_bytes()
    export_decoder(model.decoder, tmp_path / "same.safetensors")
    assert (tmp_path / "same.safetensors").read_bytes() == (tmp_path / "folder" / "decoder.safetensors").read_bytes()
    export_decoder(trained, tmp_path / "folder" / "decoder.safetensors", {"step": "3"})
    loaded = AdaINModel.from_pretrained(tmp_path / "folder")
    torch.testing.assert_close(loaded.decoder.state_dict(), trained.state_dict())


def test_trained_decoder_export_has_its_level_and_final_relu(data: dict[str, Path]) -> None:
    result = train(make_config(data, "relu", iters=2, final_relu=True), progress=False)
    decoder = Decoder.from_checkpoint(result.out / "decoder.safetensors")
    assert decoder.level == "relu4_1" and decoder.config.final_relu is True


def test_any_level_init_decoder(data: dict[str, Path]) -> None:
    torch.manual_seed(1)
    d3 = Decoder(DecoderConfig(widths=WIDTHS[:3], final_relu=True, level="relu3_1"))
    init = export_decoder(d3, data["root"] / "d3.safetensors")
    result = train(make_config(data, "d3", iters=2, init_decoder=str(init)), progress=False)
    state = torch.load(result.out / "checkpoint.pt", weights_only=True)
    assert state["decoder_config"]["level"] == "relu3_1" and state["decoder_config"]["final_relu"] is True
    decoder = Decoder.from_checkpoint(result.out / "decoder.safetensors")
    assert decoder.level == "relu3_1" and decoder.config.final_relu is True
    with pytest.raises(ConfigError, match="channels"):  # a decoder of another network family
        other = export_decoder(Decoder(DecoderConfig(widths=(4, 8, 16, 32))), data["root"] / "other.safetensors")
        train(make_config(data, "other", iters=1, init_decoder=str(other)), progress=False)


def test_unreadable_images_are_skipped_and_counted(data: dict[str, Path]) -> None:
    (data["content"] / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="unreadable"):
        result = train(make_config(data, "skip", iters=4), progress=False)
    assert result.skipped_images == 1 and result.step == 4


def test_bad_options_are_rejected(data: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="crop"):
        train(make_config(data, "bad", crop=64), progress=False)
    with pytest.raises(InputError, match="iters"):
        train(make_config(data, "bad", iters=0), progress=False)
    with pytest.raises(InputError, match="dtype"):
        train(make_config(data, "bad", dtype="float8"), progress=False)
    assert not (data["root"] / "bad").exists()


def test_a_separate_loss_encoder_takes_the_style_loss(data: dict[str, Path]) -> None:
    # The style loss is measured by another network than the one the AdaIN target lives in: a
    # second random encoder, saved to a file. The content loss stays the encoder's own.
    other = save_encoder(he_encoder(seed=7), data["root"] / "judge.safetensors")
    cfg = make_config(data, "judged", iters=4, loss_encoder=str(other))
    trainer = build_trainer(cfg)
    assert trainer.loss_encoder is not None
    torch.manual_seed(0)
    c, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        t = adaptive_instance_norm(
            trainer.encoder(c, ("relu4_1",))["relu4_1"], trainer.encoder(s, ("relu4_1",))["relu4_1"]
        )
        g = trainer.decoder(t)
        want_c = adain_content_loss(trainer.encoder(g, ("relu4_1",))["relu4_1"], t).item()
        layers = STYLE_LAYERS
        judge = trainer.loss_encoder
        want_s = moment_style_loss(list(judge(g, layers).values()), list(judge(s, layers).values())).item()
    got = trainer.train_step(c, s)
    assert got.content == pytest.approx(want_c, rel=1e-5)
    assert got.style == pytest.approx(want_s, rel=1e-5)
    result = train(cfg, progress=False)
    state = load_checkpoint(result.out / "checkpoint.pt")
    assert state["config"]["loss_encoder"] == str(other)
    with pytest.raises(InputError, match="loss_encoder"):  # a resumed run keeps its loss network
        train(make_config(data, "judged", iters=6, loss_encoder=str(data["encoder"])), progress=False, resume=True)


def test_style_layer_weights_weigh_the_style_loss(data: dict[str, Path]) -> None:
    weights = (50.0, 0.0, 2.0, 1.0)
    trainer = build_trainer(make_config(data, "weighted", iters=2, style_layer_weights=[50, 0, 2, 1]))
    assert trainer.config.style_layer_weights == weights  # a list from JSON or the CLI becomes a tuple
    torch.manual_seed(0)
    c, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        t = adaptive_instance_norm(
            trainer.encoder(c, ("relu4_1",))["relu4_1"], trainer.encoder(s, ("relu4_1",))["relu4_1"]
        )
        g, gs = trainer.encoder(trainer.decoder(t), STYLE_LAYERS), trainer.encoder(s, STYLE_LAYERS)
        terms = [moment_style_loss([g[k]], [gs[k]]).item() for k in STYLE_LAYERS]
    got = trainer.train_step(c, s)
    assert got.style == pytest.approx(sum(w * v for w, v in zip(weights, terms, strict=True)), rel=1e-5)
    assert got.style != pytest.approx(sum(terms), rel=1e-3)
    with pytest.raises(InputError, match="relu4_1 decoder's style layers are relu1_1, relu2_1, relu3_1, relu4_1"):
        build_trainer(make_config(data, "short", style_layer_weights=(1.0, 2.0)))
    with pytest.raises(InputError, match="style_layer_weights must be finite"):
        make_config(data, "negative", style_layer_weights=(1.0, -1.0, 1.0, 1.0)).validate()
    result = train(make_config(data, "kept", iters=2, style_layer_weights=weights), progress=False)
    assert load_checkpoint(result.out / "checkpoint.pt")["config"]["style_layer_weights"] == weights
    again = train(make_config(data, "kept", iters=3, style_layer_weights=weights), progress=False, resume=True)
    assert again.step == 3  # the recorded weights (a list in JSON) equal the ones passed again
    with pytest.raises(InputError, match="style_layer_weights"):  # a resumed run keeps them
        train(make_config(data, "kept", iters=4, style_layer_weights=(1, 1, 1, 1)), progress=False, resume=True)


def test_snapshots_are_the_decoder_at_their_step(data: dict[str, Path]) -> None:
    snap = train(make_config(data, "snap", iters=4, snapshot_every=2), progress=False)
    assert sorted(p.name for p in snap.out.glob("decoder-step*")) == [
        "decoder-step2.safetensors",
        "decoder-step4.safetensors",
    ]
    two = train(make_config(data, "two", iters=2), progress=False)  # the same run, stopped at step 2
    a, b = (
        Decoder.from_checkpoint(snap.out / "decoder-step2.safetensors"),
        Decoder.from_checkpoint(two.out / "decoder.safetensors"),
    )
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=0, atol=0)
    with pytest.raises(InputError, match="snapshot_every must be >= 1"):
        make_config(data, "x", snapshot_every=0).validate()


def test_loss_encoder_by_bundled_name(data: dict[str, Path]) -> None:
    encoder = load_encoder("vgg19-imagenet", "relu2_1")
    assert encoder.config.variant == "caffe" and encoder.config.last_layer == "relu2_1"
