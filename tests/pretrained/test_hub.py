"""adain_nst.pretrained.hub: the real hf_hub_download path against a local server (tests/pretrained/fakehub.py).

Every download goes through ``AdaINModel.from_pretrained`` / ``VGGEncoder.from_pretrained`` or
``hub.download`` / ``hub.fetch_model_files`` exactly as users call them; only the endpoint is
the fake Hub on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from adain_nst import AdaINModel, ChecksumError, InputError, VGGEncoder, WeightsNotFoundError
from adain_nst.pretrained import hub, registry
from adain_nst.pretrained.folder import (
    CONFIG_NAME,
    DECODER_NAME,
    ENCODER_NAME,
    FILE_OF_PART,
    MODEL_FILES,
    ModelConfig,
)
from adain_nst.pretrained.registry import ModelSpec
from pretrained.fakehub import FakeHub, model_files, serve, spec_for

REPO = "adain-nst-test/tiny"
NAME = "tiny-test"


Factory = Callable[..., AdaINModel]


@pytest.fixture
def make(tiny_model: Factory) -> Factory:
    """``make(seed)``: a 5-block model with 4-32 channels, encoder to relu5_1 (milliseconds to build and hash)."""
    return lambda seed=0: tiny_model(encoder_last="relu5_1", final_relu=True, seed=seed)


def outputs(model: AdaINModel) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 24, 16, generator=g)
    with torch.no_grad():
        return model(c, s)


def outputs_enc(model: AdaINModel | VGGEncoder) -> torch.Tensor:
    encoder = model.encoder if isinstance(model, AdaINModel) else model
    with torch.no_grad():
        return encoder(torch.ones(1, 3, 16, 16), ("relu4_1",))["relu4_1"]


def resolve_requests(fake: FakeHub) -> list[str]:
    """Paths of the file requests (huggingface_hub also asks /api/... for telemetry)."""
    return [f"{r.method} {r.path}" for r in fake.requests if "/resolve/" in r.path]


def cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts]


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


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
    fake = serve(monkeypatch, cache_dir(tmp_path))
    yield fake
    fake.stop()


@pytest.fixture
def published(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Factory
) -> tuple[AdaINModel, ModelSpec]:
    """The tiny model published on the fake Hub (main), registered as ``tiny-test`` (unpinned)."""
    model = make()
    files = model_files(model, tmp_path / "src")
    fake_hub.add_commit(REPO, files)
    spec = spec_for(model, files, None, NAME, REPO)
    monkeypatch.setitem(registry.REGISTRY, NAME, spec)
    return model, spec


# -- the download path -------------------------------------------------------------------------
def test_first_download_then_cache_without_server(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, _ = published
    loaded = AdaINModel.from_pretrained(NAME)
    assert torch.equal(outputs(loaded), outputs(model))
    got = resolve_requests(fake_hub)
    for name in MODEL_FILES:
        assert f"HEAD /{REPO}/resolve/main/{name}" in got
        assert f"GET /{REPO}/resolve/main/{name}" in got
    agents = {r.headers.get("user-agent", "") for r in fake_hub.requests if "/resolve/" in r.path}
    assert all(a.startswith("adain-nst/") for a in agents), agents
    # Files live in the Hub's own cache (snapshots -> blobs), nowhere else.
    snapshot = hub.download(NAME)
    assert snapshot.parent.name == "snapshots" and cache_dir(tmp_path) in snapshot.parents
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(MODEL_FILES)

    fake_hub.stop()  # no server at all: the cached refs/main and snapshot serve the second call
    again = AdaINModel.from_pretrained(NAME)
    assert torch.equal(outputs(again), outputs(model))


def test_pinned_revision_loads_that_commit_then_needs_no_network(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Factory
) -> None:
    old, new = make(0), make(1)
    old_files = model_files(old, tmp_path / "old")
    pinned = fake_hub.add_commit(REPO, old_files)
    fake_hub.add_commit(REPO, model_files(new, tmp_path / "new"))  # main moves on
    spec = spec_for(old, old_files, pinned, NAME, REPO)
    monkeypatch.setitem(registry.REGISTRY, NAME, spec)

    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(old))
    paths = resolve_requests(fake_hub)
    assert paths and all(f"/resolve/{pinned}/" in p for p in paths)
    # "org/name@commit" is the same registered model (so it is verified too).
    assert torch.equal(outputs(AdaINModel.from_pretrained(f"{REPO}@{pinned}")), outputs(old))
    # Unpinned access to the repository gets main, i.e. the new weights (no registry digests).
    assert torch.equal(outputs(AdaINModel.from_pretrained(REPO, revision="main")), outputs(new))

    fake_hub.stop()
    n = len(fake_hub.requests)
    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(old))
    assert torch.equal(outputs_enc(VGGEncoder.from_pretrained(NAME)), outputs_enc(old))
    assert len(fake_hub.requests) == n  # a pinned commit in the cache needs no request at all


def test_other_revision_of_a_registered_model_is_loaded_unverified_with_a_warning(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, make: Factory
) -> None:
    old, new = make(0), make(1)
    old_files = model_files(old, tmp_path / "old")
    pinned = fake_hub.add_commit(REPO, old_files)
    fake_hub.add_commit(REPO, model_files(new, tmp_path / "new"))
    monkeypatch.setitem(registry.REGISTRY, NAME, spec_for(old, old_files, pinned, NAME, REPO))
    with caplog.at_level(logging.WARNING, logger=hub.__name__):
        loaded = AdaINModel.from_pretrained(NAME, revision="main")
    assert torch.equal(outputs(loaded), outputs(new))
    assert "without sha256 verification" in caplog.text
    with pytest.raises(InputError, match="two revisions"):
        hub.fetch_model_files(f"{REPO}@{pinned}", revision="main")


def test_missing_file_is_a_named_error_and_encoder_fetch_skips_decoder(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Factory
) -> None:
    model = make()
    files = model_files(model, tmp_path / "src")
    fake_hub.add_commit(REPO, {k: v for k, v in files.items() if k != DECODER_NAME})
    monkeypatch.setitem(registry.REGISTRY, NAME, spec_for(model, files, None, NAME, REPO))

    with pytest.raises(WeightsNotFoundError, match=r"decoder\.safetensors") as info:
        AdaINModel.from_pretrained(NAME)
    assert isinstance(info.value, FileNotFoundError)
    n = len(resolve_requests(fake_hub))
    enc = VGGEncoder.from_pretrained(NAME)  # config.json + encoder.safetensors only
    assert torch.equal(outputs_enc(enc), outputs_enc(model))
    assert resolve_requests(fake_hub)[n:] and not any(p.endswith(DECODER_NAME) for p in resolve_requests(fake_hub)[n:])

    with pytest.raises(WeightsNotFoundError, match="not found"):
        AdaINModel.from_pretrained("adain-nst-test/no-such-repo")
    with pytest.raises(WeightsNotFoundError, match="revision"):
        AdaINModel.from_pretrained(REPO, revision="no-such-branch")


def test_fetch_model_files_returns_verified_paths_of_the_parts_asked_for(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub
) -> None:
    model, spec = published
    paths, config = hub.fetch_model_files(NAME, ("encoder",))
    assert sorted(paths) == ["config", "encoder"]
    assert paths["encoder"].name == ENCODER_NAME and paths["config"].name == CONFIG_NAME
    assert hashlib.sha256(paths["encoder"].read_bytes()).hexdigest() == spec.file(ENCODER_NAME).sha256
    assert isinstance(config, ModelConfig) and config == model.config
    assert not any(p.endswith(DECODER_NAME) for p in resolve_requests(fake_hub))
    paths, _ = hub.fetch_model_files(spec)  # a ModelSpec is accepted as the source too
    assert sorted(paths) == ["config", "decoder", "encoder"]
    with pytest.raises(InputError, match="part"):
        hub.fetch_model_files(NAME, ("weights",))
    with pytest.raises(InputError, match="Hub option"):
        hub.fetch_model_files(NAME, proxies={})


def test_wrong_sha256_raises_and_does_not_poison_the_cache(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, spec = published
    fake_hub.faults[DECODER_NAME] = "corrupt"
    with pytest.raises(ChecksumError) as info:
        AdaINModel.from_pretrained(NAME)
    msg = str(info.value)
    assert DECODER_NAME in msg and spec.file(DECODER_NAME).sha256 in msg
    assert "removed from the Hugging Face cache" in msg
    # Neither the snapshot link nor the blob of the bad download is left behind.
    assert not [p for p in cache_files(cache_dir(tmp_path)) if p.name == DECODER_NAME]
    good = hashlib.sha256((tmp_path / "src" / DECODER_NAME).read_bytes()).hexdigest()
    assert all(p.name != good for p in (cache_dir(tmp_path)).rglob("blobs/*"))

    del fake_hub.faults[DECODER_NAME]  # the server is fixed: the next call downloads again
    gets = fake_hub.count("GET", DECODER_NAME)
    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(model))
    assert fake_hub.count("GET", DECODER_NAME) == gets + 1


def test_truncated_body_fails_and_leaves_nothing_in_the_cache(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path
) -> None:
    model, _ = published
    fake_hub.faults[ENCODER_NAME] = "short"
    with pytest.raises(OSError, match="Consistency check failed"):
        AdaINModel.from_pretrained(NAME)
    left = [p.name for p in cache_files(cache_dir(tmp_path))]
    assert ENCODER_NAME not in left and not [n for n in left if n.endswith(".incomplete")]
    del fake_hub.faults[ENCODER_NAME]
    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(model))


def test_dropped_connection_is_resumed_and_verified(published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub) -> None:
    model, _ = published
    fake_hub.faults[ENCODER_NAME] = "drop"  # huggingface_hub retries after 1 s
    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(model))
    assert fake_hub.count("GET", ENCODER_NAME) == 2


def test_local_files_only_cold_then_warm(published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub) -> None:
    model, _ = published
    with pytest.raises(WeightsNotFoundError) as info:
        AdaINModel.from_pretrained(NAME, local_files_only=True)
    msg = str(info.value)
    assert f"adain-nst download {NAME}" in msg and hub.WEIGHTS_DIR_ENV in msg and "local_files_only" in msg
    assert resolve_requests(fake_hub) == []  # not a single file request

    hub.download(NAME)
    fake_hub.stop()
    loaded = AdaINModel.from_pretrained(NAME, local_files_only=True)
    assert torch.equal(outputs(loaded), outputs(model))


def test_weights_dir_override_is_verified_but_never_deleted(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = published
    root = tmp_path / "weights"
    model.save_pretrained(root / NAME)
    monkeypatch.setenv(hub.WEIGHTS_DIR_ENV, str(root))
    assert torch.equal(outputs(AdaINModel.from_pretrained(NAME)), outputs(model))
    assert hub.download(NAME) == root / NAME
    assert resolve_requests(fake_hub) == []

    target = root / NAME / ENCODER_NAME
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="left untouched"):
        AdaINModel.from_pretrained(NAME)
    assert target.read_bytes() == bytes(data)  # the user's file is still there, as it was


# -- local folders and names without the network ------------------------------------------------------
def test_local_folder_and_unknown_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Factory) -> None:
    monkeypatch.delenv(hub.WEIGHTS_DIR_ENV, raising=False)
    model = make()
    model.save_pretrained(tmp_path / "m")
    for source in (tmp_path / "m", str(tmp_path / "m")):  # a Path or a str naming a folder
        paths, config = hub.fetch_model_files(source)
        assert paths == {part: tmp_path / "m" / name for part, name in FILE_OF_PART.items()}
        assert config == model.config
    assert hub.download(tmp_path / "m") == tmp_path / "m"
    (tmp_path / "m" / DECODER_NAME).unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        hub.download(tmp_path / "m")
    with pytest.raises(WeightsNotFoundError, match="not found"):
        hub.fetch_model_files(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="known"):
        hub.fetch_model_files("not a model name")
    with pytest.raises(InputError):
        hub.fetch_model_files(42)  # type: ignore[arg-type]
