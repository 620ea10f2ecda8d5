"""Schema of every pretrained-model record (no network, no weights needed)."""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path

import pytest

from adain_nst import AdaINModel, Decoder, VGGEncoder, WeightsNotFoundError, hub, registry
from adain_nst.registry import DEFAULT_MODEL, HUB_ORG, MODEL_FILES, REGISTRY, ModelSpec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(REGISTRY.values(), key=lambda s: s.name)
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX40 = re.compile(r"[0-9a-f]{40}")
LICENSES = {"MIT", "MIT AND CC-BY-4.0", "Apache-2.0", "BSD-3-Clause"}


@pytest.fixture(params=SPECS, ids=lambda s: s.name)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return request.param


def test_identity_and_location(spec: ModelSpec) -> None:
    assert REGISTRY[spec.name] is spec and registry.get_spec(spec.name) is spec
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", spec.name)
    assert spec.repo_id == f"{HUB_ORG}/{spec.name}"
    # A published model is pinned to a full commit, never a branch name.
    assert spec.revision is None or HEX40.fullmatch(spec.revision)


def test_files_and_digests(spec: ModelSpec) -> None:
    assert tuple(f.name for f in spec.files) == MODEL_FILES
    for record in spec.files:
        # Digests are full 64-hex sha256 where known; None means "not produced yet", which
        # has_weights reports and which must not coexist with a published revision.
        assert record.sha256 is None or HEX64.fullmatch(record.sha256), record
        assert record.size is None or (isinstance(record.size, int) and record.size > 0), record
    assert spec.has_weights == all(f.sha256 is not None for f in spec.files)
    if spec.is_pinned:
        assert spec.has_weights, f"{spec.name} is pinned to a revision but lacks digests"
    for source in spec.sources:
        assert source.sha256 is None or HEX64.fullmatch(source.sha256), source
        assert source.url.startswith(("https://", "weights/")), source


def test_provenance(spec: ModelSpec) -> None:
    assert spec.license in LICENSES
    assert "@inproceedings" in spec.citation or "@article" in spec.citation
    assert spec.source_url.startswith("https://")
    assert spec.description and "|" not in spec.description
    assert spec.content_size >= 64 and spec.style_size >= 64
    card = ROOT / spec.card_path
    assert card.is_file(), f"model card {spec.card_path} is missing"
    text = card.read_text()
    assert spec.repo_id in text and "icen" in text  # licence / license section


def test_parameter_count_and_file_sizes_match_the_built_model(spec: ModelSpec, tmp_path: Path) -> None:
    model = AdaINModel(VGGEncoder(spec.encoder), Decoder(spec.decoder), eps=spec.eps)
    assert spec.num_params == sum(p.numel() for p in model.parameters())
    assert spec.encoder.variant == "normalized"
    # File sizes depend on the architecture only (float32, canonical header), so a model
    # with random weights and the same config gives every recorded size exactly.
    folder = hub.save_model(model, tmp_path / spec.name, library_version=spec.converted_with)
    for record in spec.files:
        if record.size is not None:
            assert (folder / record.name).stat().st_size == record.size, record.name


def test_known_records() -> None:
    assert DEFAULT_MODEL in REGISTRY
    vgg = REGISTRY["vgg19-adain"]
    # The release file we convert from is pinned even though our converted digests are not known yet.
    src = vgg.source("vgg_normalised.pth")
    assert (src.sha256, src.size) == ("804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a", 80_102_481)
    assert not vgg.has_weights and vgg.revision is None
    assert vgg.encoder.last_layer == "relu5_1"  # Gatys et al. use relu5_1 of the same file
    assert REGISTRY["cd16x-recon"].has_weights
    assert REGISTRY["cd16x-adain"].file("encoder.safetensors") == REGISTRY["cd16x-recon"].file("encoder.safetensors")


def test_unpublished_weights_refuse_to_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hub.WEIGHTS_DIR_ENV, raising=False)
    with pytest.raises(WeightsNotFoundError) as info:
        hub.load_model("vgg19-adain")  # no digests: refused before any network access
    assert "convert" in str(info.value) and hub.WEIGHTS_DIR_ENV in str(info.value)


def test_get_spec_unknown_lists_names() -> None:
    with pytest.raises(ValueError, match="cd16x-adain"):
        registry.get_spec("vgg20")


def test_records_are_plain_values(spec: ModelSpec) -> None:
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert copy.deepcopy(spec) == spec
    assert hash(spec) == hash(copy.copy(spec))


def test_docs_table_is_current() -> None:
    doc = (ROOT / "docs" / "weights.md").read_text()
    assert registry.markdown_table() in doc, "regenerate the table: adain-nst models --markdown"


def test_cli_models(capsys: pytest.CaptureFixture[str]) -> None:
    from adain_nst.cli import main

    assert main(["models", "--markdown"]) == 0
    assert capsys.readouterr().out == registry.markdown_table()
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.list_models()
    assert main(["models"]) == 0
    assert DEFAULT_MODEL in capsys.readouterr().out


def test_aliases_resolve_to_registered_models() -> None:
    from adain_nst.registry import ALIASES, REGISTRY, get_spec

    assert get_spec("vgg19").name == "vgg19-adain"
    assert all(target in REGISTRY for target in ALIASES.values())
