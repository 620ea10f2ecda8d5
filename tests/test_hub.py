"""save_pretrained / from_pretrained, and the real hf_hub_download path against a local server."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from fakehub import FakeHub
from huggingface_hub import constants as hf_constants
from safetensors.torch import load_file

from adain_nst import (
    AdaINModel,
    ChecksumError,
    ConfigError,
    Decoder,
    DecoderConfig,
    EncoderConfig,
    VGGEncoder,
    WeightsNotFoundError,
    hub,
    registry,
)
from adain_nst.registry import FileRecord, ModelSpec

ROOT = Path(__file__).resolve().parents[1]
REPO = "adain-nst-test/tiny"
NAME = "tiny-test"


def tiny_model(seed: int = 0) -> AdaINModel:
    """A 5-block model with 4-8 channels: milliseconds to build, run and hash."""
    torch.manual_seed(seed)
    enc = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="relu5_1"))
    dec = Decoder(DecoderConfig(widths=(4, 8, 8, 8), final_relu=True))
    # Non-zero biases so a lost or swapped tensor changes the output.
    with torch.no_grad():
        for p in [*enc.parameters(), *dec.parameters()]:
            p.add_(0.01 * torch.randn_like(p))
    return AdaINModel(enc, dec).eval()


def folder_bytes(model: AdaINModel, tmp: Path) -> dict[str, bytes]:
    out = hub.save_model(model, tmp)
    return {name: (out / name).read_bytes() for name in hub.MODEL_FILES}


def spec_for(files: dict[str, bytes], revision: str | None, model: AdaINModel) -> ModelSpec:
    """A registry record of ``files`` as published at ``revision`` of the test repository."""
    return ModelSpec(
        name=NAME,
        repo_id=REPO,
        revision=revision,
        files=tuple(FileRecord(n, hashlib.sha256(b).hexdigest(), len(b)) for n, b in files.items()),
        encoder=model.encoder.config,
        decoder=model.decoder.config,
        license="MIT",
        citation="@misc{tiny}",
        source_url="https://example.invalid/tiny",
        num_params=sum(p.numel() for p in model.parameters()),
        content_size=64,
        style_size=64,
        description="test model",
    )


def outputs(model: AdaINModel) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 24, 16, generator=g)
    with torch.no_grad():
        return model(c, s)


def resolve_requests(fake: FakeHub) -> list[str]:
    """Paths of the file requests (huggingface_hub also asks /api/... for telemetry)."""
    return [f"{r.method} {r.path}" for r in fake.requests if "/resolve/" in r.path]


def cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # These models are tiny: one intra-op thread is faster than two fighting for busy cores.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A started FakeHub that huggingface_hub talks to, with an empty cache in tmp_path."""
    fake = FakeHub().start()
    # huggingface_hub reads HF_ENDPOINT / HF_HUB_CACHE once at import: set both the
    # variables (for anything imported later) and the constants it already derived.
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    monkeypatch.setattr(hf_constants, "ENDPOINT", fake.endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    # Bounded timeouts: a hung test fails in seconds, not minutes.
    monkeypatch.setattr(hf_constants, "HF_HUB_ETAG_TIMEOUT", 5)
    monkeypatch.setattr(hf_constants, "HF_HUB_DOWNLOAD_TIMEOUT", 5)
    monkeypatch.delenv(hub.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield fake
    fake.stop()


@pytest.fixture
def published(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AdaINModel, ModelSpec]:
    """The tiny model published on the fake Hub (main), registered as ``tiny-test`` (unpinned)."""
    model = tiny_model()
    files = folder_bytes(model, tmp_path / "src")
    fake_hub.add_commit(REPO, files)
    spec = spec_for(files, None, model)
    monkeypatch.setitem(registry.REGISTRY, NAME, spec)
    return model, spec


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


# -- the download path -------------------------------------------------------------------------
def test_first_download_then_cache_without_server(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, _ = published
    loaded = hub.load_model(NAME)
    assert torch.equal(outputs(loaded), outputs(model))
    got = resolve_requests(fake_hub)
    for name in hub.MODEL_FILES:
        assert f"HEAD /{REPO}/resolve/main/{name}" in got
        assert f"GET /{REPO}/resolve/main/{name}" in got
    agents = {r.headers.get("user-agent", "") for r in fake_hub.requests if "/resolve/" in r.path}
    assert all(a.startswith("adain-nst/") for a in agents), agents
    # Files live in the Hub's own cache (snapshots -> blobs), nowhere else.
    snapshot = hub.download(NAME)
    assert snapshot.parent.name == "snapshots" and cache_dir(tmp_path) in snapshot.parents
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(hub.MODEL_FILES)

    fake_hub.stop()  # no server at all: the cached refs/main and snapshot serve the second call
    again = hub.load_model(NAME)
    assert torch.equal(outputs(again), outputs(model))


def test_pinned_revision_loads_that_commit_then_needs_no_network(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = tiny_model(0), tiny_model(1)
    old_files = folder_bytes(old, tmp_path / "old")
    pinned = fake_hub.add_commit(REPO, old_files)
    fake_hub.add_commit(REPO, folder_bytes(new, tmp_path / "new"))  # main moves on
    spec = spec_for(old_files, pinned, old)
    monkeypatch.setitem(registry.REGISTRY, NAME, spec)

    assert torch.equal(outputs(hub.load_model(NAME)), outputs(old))
    paths = resolve_requests(fake_hub)
    assert paths and all(f"/resolve/{pinned}/" in p for p in paths)
    # "org/name@commit" is the same registered model (so it is verified too).
    assert torch.equal(outputs(hub.load_model(f"{REPO}@{pinned}")), outputs(old))
    # Unpinned access to the repository gets main, i.e. the new weights (no registry digests).
    assert torch.equal(outputs(hub.load_model(REPO, revision="main")), outputs(new))

    fake_hub.stop()
    n = len(fake_hub.requests)
    assert torch.equal(outputs(hub.load_model(NAME)), outputs(old))
    assert torch.equal(hub.load_encoder(NAME)(torch.ones(1, 3, 16, 16))["relu4_1"], outputs_enc(old))
    assert len(fake_hub.requests) == n  # a pinned commit in the cache needs no request at all


def outputs_enc(model: AdaINModel) -> torch.Tensor:
    with torch.no_grad():
        return model.encoder(torch.ones(1, 3, 16, 16))["relu4_1"]


def test_missing_file_is_a_named_error_and_encoder_fetch_skips_decoder(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    files = folder_bytes(model, tmp_path / "src")
    fake_hub.add_commit(REPO, {k: v for k, v in files.items() if k != hub.DECODER_NAME})
    monkeypatch.setitem(registry.REGISTRY, NAME, spec_for(files, None, model))

    with pytest.raises(WeightsNotFoundError, match=r"decoder\.safetensors") as info:
        hub.load_model(NAME)
    assert isinstance(info.value, FileNotFoundError)
    n = len(resolve_requests(fake_hub))
    enc = hub.load_encoder(NAME)  # config.json + encoder.safetensors only
    assert torch.equal(enc(torch.ones(1, 3, 16, 16))["relu4_1"], outputs_enc(model))
    assert resolve_requests(fake_hub)[n:] and not any(
        p.endswith(hub.DECODER_NAME) for p in resolve_requests(fake_hub)[n:]
    )

    with pytest.raises(WeightsNotFoundError, match="not found"):
        hub.load_model("adain-nst-test/no-such-repo")
    with pytest.raises(WeightsNotFoundError, match="revision"):
        hub.load_model(REPO, revision="no-such-branch")


def test_wrong_sha256_raises_and_does_not_poison_the_cache(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, spec = published
    fake_hub.faults[hub.DECODER_NAME] = "corrupt"
    with pytest.raises(ChecksumError) as info:
        hub.load_model(NAME)
    msg = str(info.value)
    assert hub.DECODER_NAME in msg and spec.file(hub.DECODER_NAME).sha256 in msg
    assert "removed from the Hugging Face cache" in msg
    # Neither the snapshot link nor the blob of the bad download is left behind.
    assert not [p for p in cache_files(cache_dir(tmp_path)) if p.name == hub.DECODER_NAME]
    good = hashlib.sha256((tmp_path / "src" / hub.DECODER_NAME).read_bytes()).hexdigest()
    assert all(p.name != good for p in (cache_dir(tmp_path)).rglob("blobs/*"))

    del fake_hub.faults[hub.DECODER_NAME]  # the server is fixed: the next call downloads again
    gets = fake_hub.count("GET", hub.DECODER_NAME)
    assert torch.equal(outputs(hub.load_model(NAME)), outputs(model))
    assert fake_hub.count("GET", hub.DECODER_NAME) == gets + 1


def test_truncated_body_fails_and_leaves_nothing_in_the_cache(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, _ = published
    fake_hub.faults[hub.ENCODER_NAME] = "short"
    with pytest.raises(OSError, match="Consistency check failed"):
        hub.load_model(NAME)
    left = [p.name for p in cache_files(cache_dir(tmp_path))]
    assert hub.ENCODER_NAME not in left and not [n for n in left if n.endswith(".incomplete")]
    del fake_hub.faults[hub.ENCODER_NAME]
    assert torch.equal(outputs(hub.load_model(NAME)), outputs(model))


def test_dropped_connection_is_resumed_and_verified(published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub) -> None:
    model, _ = published
    fake_hub.faults[hub.ENCODER_NAME] = "drop"  # huggingface_hub retries after 1 s
    assert torch.equal(outputs(hub.load_model(NAME)), outputs(model))
    assert fake_hub.count("GET", hub.ENCODER_NAME) == 2


def test_cli_download(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    from adain_nst.cli import main

    assert main(["download", NAME]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert sorted(p.name for p in folder.iterdir()) == sorted(hub.MODEL_FILES)
    assert main(["download", "adain-nst-test/no-such-repo"]) == 2
    assert "not found" in capsys.readouterr().err


def test_local_files_only_cold_then_warm(published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub) -> None:
    model, _ = published
    with pytest.raises(WeightsNotFoundError) as info:
        hub.load_model(NAME, local_files_only=True)
    msg = str(info.value)
    assert f"adain-nst download {NAME}" in msg and hub.WEIGHTS_DIR_ENV in msg and "local_files_only" in msg
    assert resolve_requests(fake_hub) == []  # not a single file request

    hub.download(NAME)
    fake_hub.stop()
    loaded = hub.load_model(NAME, local_files_only=True)
    assert torch.equal(outputs(loaded), outputs(model))


def test_weights_dir_override_is_verified_but_never_deleted(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = published
    root = tmp_path / "weights"
    hub.save_model(model, root / NAME)
    monkeypatch.setenv(hub.WEIGHTS_DIR_ENV, str(root))
    assert torch.equal(outputs(hub.load_model(NAME)), outputs(model))
    assert resolve_requests(fake_hub) == []

    target = root / NAME / hub.ENCODER_NAME
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="left untouched"):
        hub.load_model(NAME)
    assert target.read_bytes() == bytes(data)  # the user's file is still there, as it was


# -- local folders -----------------------------------------------------------------------------------
def test_save_load_round_trip_is_bit_identical(tmp_path: Path) -> None:
    model = tiny_model()
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

    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["format_version"] == hub.FORMAT_VERSION and config["architecture"] == "AdaINModel"
    assert config["encoder"]["variant"] == "normalized" and config["encoder"]["widths"] == [4, 8, 8, 8, 8]
    assert load_file(tmp_path / "m" / "decoder.safetensors")["convs.conv1_1.weight"].dtype == torch.float32

    # Saving again (into the existing folder) gives the same bytes and keeps foreign files.
    before = {n: (tmp_path / "m" / n).read_bytes() for n in hub.MODEL_FILES}
    (tmp_path / "m" / "README.md").write_text("card")
    model.save_pretrained(tmp_path / "m")
    assert {n: (tmp_path / "m" / n).read_bytes() for n in hub.MODEL_FILES} == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted([*hub.MODEL_FILES, "README.md"])

    half = hub.load_model(tmp_path / "m", dtype=torch.float64)
    assert {p.dtype for p in half.parameters()} == {torch.float64}


def test_loading_checks_format_variant_and_keys(tmp_path: Path) -> None:
    folder = hub.save_model(tiny_model(), tmp_path / "m")
    config_path = folder / "config.json"
    good = json.loads(config_path.read_text())

    def write(cfg: dict) -> None:
        config_path.write_text(json.dumps(cfg))

    write({**good, "format_version": 99})
    with pytest.raises(ConfigError, match="format_version"):
        hub.load_model(folder)
    write({**good, "encoder": {**good["encoder"], "variant": "imagenet"}})
    with pytest.raises(ConfigError, match="variant"):
        hub.load_model(folder)
    write({**good, "decoder": {**good["decoder"], "final_relu": False}})
    with pytest.raises(ConfigError, match="final_relu"):
        hub.load_model(folder)
    write({**good, "encoder": {**good["encoder"], "last_layer": "relu4_1"}})
    with pytest.raises(ConfigError, match="unexpected"):  # strict: conv4_2.. are extra keys
        hub.load_model(folder)
    write(good)
    (folder / hub.DECODER_NAME).unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        hub.load_model(folder)
    with pytest.raises(WeightsNotFoundError):
        hub.load_model(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="known"):
        hub.load_model("not a model name")


# -- real weights ------------------------------------------------------------------------------------
def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"weights_{name}", ROOT / "weights" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_golden_reference_checkpoint_through_from_pretrained(golden_dir: Path, tmp_path: Path) -> None:
    convert = load_script("convert_reference").convert
    vgg, dec = golden_dir / "vgg_relu4_1.pth", golden_dir / "decoder.pth"
    model = AdaINModel.from_pretrained(convert(vgg, dec, tmp_path / "ref", last_layer="relu4_1"))
    # The folder holds exactly the reference weights (float16 cast up exactly)...
    direct = AdaINModel.from_reference_checkpoint(vgg, dec)
    for (k, a), (_, b) in zip(model.state_dict().items(), direct.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # ...and reproduces the golden output of the first case (the full set is test_golden's job;
    # one full-size VGG case keeps this test fast on 2 cores).
    case = json.loads((golden_dir / "cases.json").read_text())["cases"][0]
    inputs = load_file(golden_dir / "inputs.safetensors")
    expected = load_file(golden_dir / "outputs.safetensors")[case["tensors"]["output"]["key"]]
    with torch.no_grad():
        out = model(
            inputs[case["content"]][None],
            [inputs[k][None] for k in case["styles"]],
            case["alpha"],
            style_weights=case["interpolation_weights"],
            preserve_color="coral" if case["preserve_color"] else False,
        )[0]
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def cd16x_recon_folder(cd16x_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("weights") / "cd16x-recon"
    spec = registry.get_spec("cd16x-recon")
    load_script("convert_cd16x").convert(
        cd16x_dir / "e4.pth", cd16x_dir / "d4.pth", out, library_version=spec.converted_with
    )
    return out


def test_cd16x_conversion_is_deterministic_and_matches_the_registry(cd16x_recon_folder: Path) -> None:
    spec = registry.get_spec("cd16x-recon")
    for record in spec.files:
        path = cd16x_recon_folder / record.name
        assert (hub.sha256_file(path), path.stat().st_size) == (record.sha256, record.size), record.name


def test_cd16x_recon_loads_by_name_from_weights_dir_and_stylises(
    cd16x_recon_folder: Path, eval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hub.WEIGHTS_DIR_ENV, str(cd16x_recon_folder.parent))
    model = AdaINModel.from_pretrained("cd16x-recon")  # verified against the registry digests
    assert model.encoder.config == registry.get_spec("cd16x-recon").encoder
    content = next((eval_dir / "content").iterdir())
    style = next((eval_dir / "style").iterdir())
    out = model.stylize(content, style, content_size=96, style_size=96)
    assert min(out.size) == 96
    enc = VGGEncoder.from_pretrained("cd16x-recon")
    assert enc(torch.rand(1, 3, 32, 32))["relu4_1"].shape == (1, 128, 4, 4)


def test_cd16x_adain_decoder_when_committed(cd16x_dir: Path, tmp_path: Path) -> None:
    decoder = ROOT / "weights" / "cd16x-adain" / "decoder.safetensors"
    if not decoder.exists():
        pytest.skip(f"{decoder.relative_to(ROOT)} is not committed yet")
    spec = registry.get_spec("cd16x-adain")
    out = load_script("convert_cd16x").convert(
        cd16x_dir / "e4.pth", decoder, tmp_path / "cd16x-adain", library_version=spec.converted_with
    )
    model = AdaINModel.from_pretrained(out)
    y = model(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert y.shape == (1, 3, 64, 64) and torch.isfinite(y).all()
    for record in spec.files:
        if record.sha256 is None:
            pytest.skip(f"registry digest of cd16x-adain {record.name} not filled in yet (see registry.py)")
        assert hub.sha256_file(out / record.name) == record.sha256, record.name
