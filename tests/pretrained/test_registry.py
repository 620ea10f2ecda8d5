"""adain_nst.pretrained.registry: the schema of every record, and that the conversion scripts in
weights/ reproduce the recorded files (digests with the shared data; sizes from the architecture).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import load_file

from adain_nst import AdaINModel, Decoder, VGGEncoder, WeightsNotFoundError
from adain_nst._io import sha256_file
from adain_nst.pretrained import hub, registry
from adain_nst.pretrained.folder import MODEL_FILES
from adain_nst.pretrained.registry import ALIASES, DEFAULT_MODEL, HUB_ORG, REGISTRY, ModelSpec, get_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(REGISTRY.values(), key=lambda s: s.name)
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX40 = re.compile(r"[0-9a-f]{40}")
LICENSES = {"MIT", "MIT AND CC-BY-4.0", "Apache-2.0", "BSD-3-Clause"}


@pytest.fixture(params=SPECS, ids=lambda s: s.name)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return request.param


def load_script(name: str) -> ModuleType:
    """``weights/<name>.py`` as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"weights_{name}", ROOT / "weights" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- the records -------------------------------------------------------------------------------------
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
    model.save_pretrained(tmp_path / spec.name, library_version=spec.converted_with)
    for record in spec.files:
        if record.size is not None:
            assert (tmp_path / spec.name / record.name).stat().st_size == record.size, record.name


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
    assert all(s.decoder.level == "relu4_1" for s in SPECS)


def test_unpublished_weights_refuse_to_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hub.WEIGHTS_DIR_ENV, raising=False)
    with pytest.raises(WeightsNotFoundError) as info:
        AdaINModel.from_pretrained("vgg19-adain")  # no digests: refused before any network access
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


def test_markdown_table_shows_every_model_with_its_decoder_level() -> None:
    lines = registry.markdown_table().splitlines()
    assert len(lines) == 2 + len(REGISTRY)
    for name, line in zip(registry.list_models(), lines[2:], strict=True):
        assert line.startswith(f"| `{name}`") and f"from {REGISTRY[name].decoder.level}" in line
        assert registry.status(REGISTRY[name]) in line


def test_aliases_resolve_to_registered_models() -> None:
    assert get_spec("vgg19").name == "vgg19-adain"
    assert all(target in REGISTRY for target in ALIASES.values())


# -- the conversion scripts reproduce the records ------------------------------------------------------
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
        assert (sha256_file(path), path.stat().st_size) == (record.sha256, record.size), record.name


def test_cd16x_recon_loads_by_name_from_weights_dir_and_stylises(
    cd16x_recon_folder: Path, eval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hub.WEIGHTS_DIR_ENV, str(cd16x_recon_folder.parent))
    model = AdaINModel.from_pretrained("cd16x-recon")  # verified against the registry digests
    assert model.encoder.config == registry.get_spec("cd16x-recon").encoder
    assert model.decoder.config == registry.get_spec("cd16x-recon").decoder
    content = next((eval_dir / "content").iterdir())
    style = next((eval_dir / "style").iterdir())
    out = model.stylize(content, style, content_size=96, style_size=96, dtype=torch.float32)
    assert min(out.size) == 96
    enc = VGGEncoder.from_pretrained("cd16x-recon")
    assert enc(torch.rand(1, 3, 32, 32))["relu4_1"].shape == (1, 128, 4, 4)


def test_cd16x_adain_decoder_when_committed(cd16x_dir: Path, tmp_path: Path) -> None:
    decoder = ROOT / "weights" / "cd16x-adain" / "decoder.safetensors"
    if not decoder.exists():
        pytest.skip(f"{decoder.relative_to(ROOT)} is not committed yet")
    spec = registry.get_spec("cd16x-adain")
    assert sha256_file(decoder) == spec.source("decoder.safetensors").sha256
    out = load_script("convert_cd16x").convert(
        cd16x_dir / "e4.pth", decoder, tmp_path / "cd16x-adain", library_version=spec.converted_with
    )
    model = AdaINModel.from_pretrained(out)
    assert (model.encoder.config, model.decoder.config) == (spec.encoder, spec.decoder)
    y = model(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert y.shape == (1, 3, 64, 64) and torch.isfinite(y).all()
    for record in spec.files:
        if record.sha256 is None:
            pytest.skip(f"registry digest of cd16x-adain {record.name} not filled in yet (see registry.py)")
        assert sha256_file(out / record.name) == record.sha256, record.name


def test_convert_script_cli_checks_sources_and_reports_the_records(
    cd16x_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script("convert_cd16x")
    args = ["--encoder", str(cd16x_dir / "e4.pth"), "--decoder", str(cd16x_dir / "d4.pth")]
    assert script.main([*args, "--name", "cd16x-recon", "--out", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    for record in registry.get_spec("cd16x-recon").files:
        assert f'FileRecord("{record.name}", "{record.sha256}", {record.size:_}),' in out
    # Another library version gives another config.json: reported as differing from the record.
    assert script.main([*args, "--out", str(tmp_path / "v"), "--library-version", "9.9.9"]) == 1
    assert "config.json" in capsys.readouterr().err
    # A source file that is not the registered one is refused before anything is written.
    with pytest.raises(SystemExit, match=r"not the e4\.pth recorded"):
        script.main([*args[:1], str(cd16x_dir / "e5.pth"), *args[2:], "--out", str(tmp_path / "no")])
    assert not (tmp_path / "no").exists()


def test_converted_reference_folder_reproduces_the_golden_output(golden_dir: Path, tmp_path: Path) -> None:
    cases = json.loads((golden_dir / "cases.json").read_text())
    files = cases["weights"]["files"]
    vgg, dec = golden_dir / files["vgg"], golden_dir / files["decoder"]
    convert = load_script("convert_reference").convert
    model = AdaINModel.from_pretrained(convert(vgg, dec, tmp_path / "ref", last_layer="relu4_1"))
    # The folder holds exactly the reference weights (float16 cast up exactly)...
    direct = AdaINModel.from_reference_checkpoint(vgg, dec)
    for (k, a), (_, b) in zip(model.state_dict().items(), direct.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # ...and reproduces the golden output of the first case (the full set is test_golden's job;
    # one full-size VGG case keeps this test fast on 2 cores).
    case = cases["cases"][0]
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
