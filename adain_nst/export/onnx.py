"""ONNX export: the AdaIN model as one graph (content, style, alpha -> image), for torch-free deployment.

The graph is built from the reference modules (:mod:`adain_nst.nn.reference`, the one layer
plan of :mod:`adain_nst.architecture`): per level of the cascade it pads the content by
reflection to the level's stride, encodes content and style with that level's encoder, applies
AdaIN (``calc_mean_std``'s statistics: unbiased variance + eps), blends with ``alpha``, decodes
and crops back; between levels the image is clamped to [0, 1], and so is the output. So one
graph holds the paper's single pass (``levels=("relu4_1",)``, the default) or a multi-level
AdaIN cascade, and equals ``model.stylize`` on tensors to float rounding.

WCT needs an eigendecomposition of every content's channel covariance (``torch.linalg.eigh``),
for which ONNX has no operator; EFDM sorts every channel and, for content and style of unequal
sizes, interpolates the style's quantiles at positions that depend on both sizes. Neither is
exported as one graph (:class:`~adain_nst.errors.ExportError` says so); ``split=True`` exports
instead the encoder and the decoder of every level as their own graphs plus a ``model.json``,
and the torch-free runner computes the transform in numpy between them.

Needs the ``onnx`` extra (``onnx``, ``onnxscript`` for the exporter, ``onnxruntime`` to run).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._deps import require
from .._io import atomic_write_bytes
from .._version import __version__
from ..api import ModelSource, get_model
from ..errors import ExportError, InputError
from ..nn.reference import decoder_sequential, encoder_sequential
from ..nn.transforms import check_transform
from ..pipeline import Cascade, min_side

EXPORTERS = ("auto", "dynamo", "torchscript")
"""``"dynamo"``: PyTorch's ``torch.export``-based exporter (needs ``onnxscript``); ``"torchscript"``:
its older tracing exporter (deprecated by PyTorch, but it needs no ``onnxscript`` and runs in
seconds); ``"auto"``: dynamo for a single-level graph (~10 s), torchscript for a multi-level graph
or a split export (dynamo's symbolic-shape reasoning over the pad/crop of every level took 22 s
for 2 levels and over 8 minutes for 5 on a 2-core CPU)."""

DEFAULT_OPSET = 18
RUNNER_NAME = "adain_onnx_runner.py"
"""File name of the torch-free runner written beside an export."""
RUNNER_SOURCE = Path(__file__).with_name("runner.py")
"""The runner's source in the package (a standalone script: numpy, onnxruntime and Pillow only)."""

UNSUPPORTED = {
    "wct": "WCT whitens each content with the inverse square root of its channel covariance, which needs an "
    "eigendecomposition (torch.linalg.eigh); ONNX has no eigendecomposition operator",
    "efdm": "EFDM sorts every channel and, when content and style differ in size, interpolates the style's "
    "sorted values at positions that depend on both sizes; this is not exported as one graph",
}


def _stats(f: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Per-channel mean and sqrt(unbiased variance + eps), ``(B, C, 1, 1)``: ``calc_mean_std`` in plain ops."""
    b, c = f.shape[:2]
    x = f.reshape(b, c, -1)
    mean = x.mean(dim=2, keepdim=True)
    var = ((x - mean) ** 2).sum(dim=2, keepdim=True) / (x.shape[2] - 1)
    return mean.unsqueeze(-1), (var + eps).sqrt().unsqueeze(-1)


class LevelGraph(nn.Module):
    """One encoder/decoder pair as reference ``nn.Sequential`` stacks, with its stride and eps."""

    def __init__(self, pair: Any) -> None:
        super().__init__()
        self.encoder = encoder_sequential(pair.encoder, pair.level)
        self.decoder = decoder_sequential(pair.decoder)
        self.stride = int(pair.stride)
        self.eps = float(pair.eps)
        self.level = str(pair.level)

    def pad(self, x: Tensor) -> tuple[Tensor, int, int]:
        """Reflection-pad ``x`` at the bottom/right to multiples of the stride (as the pipeline does)."""
        h, w = x.shape[-2:]
        ph = (self.stride - h % self.stride) % self.stride
        pw = (self.stride - w % self.stride) % self.stride
        return F.pad(x, (0, pw, 0, ph), mode="reflect"), h, w

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        x, h, w = self.pad(content)
        fc = self.encoder(x)
        fs = self.encoder(style)
        c_mean, c_std = _stats(fc, self.eps)
        s_mean, s_std = _stats(fs, self.eps)
        target = (fc - c_mean) / c_std * s_std + s_mean
        target = alpha * target + (1.0 - alpha) * fc
        return self.decoder(target)[..., :h, :w]


class StylizeGraph(nn.Module):
    """The exported graph: ``(content (B,3,H,W), style (B,3,H',W'), alpha ()) -> image (B,3,H,W)`` in [0, 1]."""

    def __init__(self, cascade: Cascade) -> None:
        super().__init__()
        if cascade.transform != "adain":
            raise ExportError(f"{UNSUPPORTED[cascade.transform]}: export it with split=True")
        self.levels = nn.ModuleList(LevelGraph(p) for p in cascade.pairs)

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        x = content
        for i, level in enumerate(self.levels):
            if i:
                x = x.clamp(0.0, 1.0)
            x = level(x, style, alpha)
        return x.clamp(0.0, 1.0)


class EncoderGraph(nn.Module):
    """``image (B, 3, H, W)`` (sides multiples of the stride) -> features at the level (split export)."""

    def __init__(self, level: LevelGraph) -> None:
        super().__init__()
        self.net = level.encoder

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


class DecoderGraph(nn.Module):
    """``features (B, C, h, w)`` -> image ``(B, 3, s h, s w)``, unclamped (split export)."""

    def __init__(self, level: LevelGraph) -> None:
        super().__init__()
        self.net = level.decoder

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote.

    ``path``: the graph (one-graph export) or the folder (split export); ``files``: every file
    written; ``levels``, ``transform``: what it computes; ``min_side``: the smallest content and
    style side (px) it runs on; ``exporter``, ``opset``: how it was made.
    """

    path: Path
    files: tuple[Path, ...]
    transform: str
    levels: tuple[str, ...]
    split: bool
    min_side: int
    exporter: str
    opset: int
    metadata: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` renamed onto it when the block succeeds, deleted otherwise."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{secrets.token_hex(4)}"
    tmp = final.with_name(f".{final.name}.{tag}.tmp")
    old = final.with_name(f".{final.name}.{tag}.old")
    try:
        yield tmp
        if final.is_dir():  # a previous split export: swapped out whole, then deleted
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        for p in (tmp, old):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _dims(names: Sequence[str], minimum: int) -> Any:
    d = torch.export.Dim
    return {n: d(n, min=1 if n == "batch" else minimum, max=1 << 16) for n in names}


def _export(
    module: nn.Module,
    args: tuple[Tensor, ...],
    dest: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    axes: dict[str, dict[int, str]],
    minimum: int,
    exporter: str,
    opset: int,
    metadata: dict[str, str],
) -> None:
    """Export ``module`` to ``dest`` with named dynamic axes (same names: same size), then add metadata."""
    onnx = require("onnx", "onnx")
    module = module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # Tracer notices (constant folding, deprecation of the TorchScript path) are not the user's business.
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            require("onnxscript", "onnx")
            dims = _dims(sorted({n for a in axes.values() for n in a.values()}), minimum)
            shapes = {name: {i: dims[n] for i, n in axes.get(name, {}).items()} or None for name in input_names}
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=shapes,
                opset_version=opset,
                verbose=False,
            )
            program.save(str(dest))
        else:
            torch.onnx.export(
                module,
                args,
                str(dest),
                dynamo=False,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
                opset_version=opset,
            )
    proto = onnx.load(str(dest))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "adain-nst", __version__
    onnx.save(proto, str(dest))


def _check(path: Path) -> None:
    onnx = require("onnx", "onnx")
    onnx.checker.check_model(str(path), full_check=True)


def export_onnx(
    path: str | os.PathLike[str],
    model: ModelSource | None = None,
    transform: str = "adain",
    levels: Sequence[str] | None = ("relu4_1",),
    *,
    split: bool = False,
    exporter: str = "auto",
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    runner: bool = True,
) -> OnnxExport:
    """Export a model to ONNX, for onnxruntime (or any ONNX runtime) without torch.

    Args:
        path: the ``.onnx`` file (one graph), or the folder to create (``split=True``).
        model: anything :func:`adain_nst.load_model` takes (default: the bundled cd16x family,
            whose ``levels=("relu4_1",)`` AdaIN model is the paper's single pass).
        transform: ``"adain"`` as one graph; ``"wct"`` and ``"efdm"`` only with ``split=True``
            (see the module docstring).
        levels: the cascade, coarse to fine (default ``("relu4_1",)``; ``None``: the model's own).
        split: write each level's encoder and decoder as graphs (``relu4_1_encoder.onnx``, ...) and a
            ``model.json`` into the folder ``path``; the runner does padding, transform and blending.
        exporter: ``"auto"`` (default), ``"dynamo"`` or ``"torchscript"`` (see :data:`EXPORTERS`).
        opset: the ONNX opset (default :data:`DEFAULT_OPSET`).
        check: validate every graph with ``onnx.checker`` (full check, with shape inference).
        runner: also write :data:`RUNNER_NAME`, the torch-free runner (numpy, onnxruntime, Pillow).

    One-graph inputs: ``content`` ``(batch, 3, height, width)`` float32 RGB in [0, 1], ``style``
    ``(batch, 3, style_height, style_width)`` (the same batch: repeat one style for many contents),
    ``alpha`` a float32 scalar in [0, 1]; output ``image`` ``(batch, 3, height, width)`` in [0, 1].
    Sides of at least :attr:`OnnxExport.min_side` px.

    Returns:
        :class:`OnnxExport`. Files are written atomically (a temporary name, renamed at the end).
    """
    name = check_transform(transform)
    if exporter not in EXPORTERS:
        raise InputError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 14 <= opset <= 23:
        raise InputError(f"opset must be an integer in 14..23, got {opset!r}")
    if name != "adain" and not split:
        raise ExportError(
            f"{UNSUPPORTED[name]}. Export it with split=True (CLI --split): one encoder and one decoder graph per "
            "level, with the transform computed in numpy by the runner; or use transform='adain' for one graph"
        )
    require("onnx", "onnx")
    out = Path(path)
    if not split and out.suffix.lower() != ".onnx":
        raise InputError(f"the graph file must end in .onnx, got {out}")
    if split and out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; a split export writes a folder")
    net = get_model(model, device="cpu")
    cascade: Cascade = net.cascade(transform=name, levels=levels)
    if exporter == "auto":
        exporter = "dynamo" if len(cascade.pairs) == 1 and not split else "torchscript"
    smallest = max(min_side(p) for p in cascade.pairs)
    meta = {
        "adain_nst.version": __version__,
        "adain_nst.transform": name,
        "adain_nst.levels": ",".join(cascade.levels),
        "adain_nst.min_side": str(smallest),
    }
    side = max(32, 2 * smallest)
    content = torch.rand(2, 3, side + 5, side + 3)
    style = torch.rand(2, 3, side + 1, side + 7)
    if not split:
        graph = StylizeGraph(cascade)
        files = [out]
        with _atomic_path(out) as tmp:
            _export(
                graph,
                (content, style, torch.tensor(0.5)),
                tmp,
                input_names=["content", "style", "alpha"],
                output_names=["image"],
                axes={
                    "content": {0: "batch", 2: "height", 3: "width"},
                    "style": {0: "batch", 2: "style_height", 3: "style_width"},
                    "image": {0: "batch", 2: "height", 3: "width"},
                },
                minimum=smallest,
                exporter=exporter,
                opset=opset,
                metadata={**meta, "adain_nst.kind": "stylize"},
            )
            if check:
                _check(tmp)
    else:
        files = _export_split(out, cascade, meta, exporter=exporter, opset=opset, check=check, runner=runner)
    if runner and not split:
        files.append(atomic_write_bytes(out.parent / RUNNER_NAME, RUNNER_SOURCE.read_bytes()))
    return OnnxExport(
        path=out,
        files=tuple(files),
        transform=name,
        levels=tuple(cascade.levels),
        split=split,
        min_side=smallest,
        exporter=exporter,
        opset=opset,
        metadata=meta,
    )


def _export_split(
    out: Path, cascade: Cascade, meta: dict[str, str], *, exporter: str, opset: int, check: bool, runner: bool
) -> list[Path]:
    """Each level's encoder and decoder graph and ``model.json`` into the folder ``out`` (written whole, renamed)."""
    manifest: dict[str, Any] = {
        "format": "adain-nst-onnx-split/1",
        "transform": cascade.transform,
        "levels": [],
        "min_side": int(meta["adain_nst.min_side"]),
        "adain_nst_version": __version__,
        "wct_rank_tol": 1e-5,
    }
    names: list[str] = []
    with _atomic_path(out) as tmp:
        tmp.mkdir()
        for pair in cascade.pairs:
            level = LevelGraph(pair)
            side = max(32, 2 * min_side(pair))
            image = torch.rand(2, 3, side + level.stride, side + 2 * level.stride)
            feats = level.encoder(image)
            enc, dec = f"{level.level}_encoder.onnx", f"{level.level}_decoder.onnx"
            common = {"exporter": exporter, "opset": opset}
            _export(
                EncoderGraph(level),
                (image,),
                tmp / enc,
                input_names=["image"],
                output_names=["features"],
                axes={"image": {0: "batch", 2: "height", 3: "width"}},
                minimum=min_side(pair),
                metadata={**meta, "adain_nst.kind": "encoder", "adain_nst.level": level.level},
                **common,  # type: ignore[arg-type]
            )
            _export(
                DecoderGraph(level),
                (feats,),
                tmp / dec,
                input_names=["features"],
                output_names=["image"],
                axes={"features": {0: "batch", 2: "height", 3: "width"}},
                minimum=2,
                metadata={**meta, "adain_nst.kind": "decoder", "adain_nst.level": level.level},
                **common,  # type: ignore[arg-type]
            )
            if check:
                _check(tmp / enc)
                _check(tmp / dec)
            manifest["levels"].append(
                {"level": level.level, "stride": level.stride, "eps": level.eps, "encoder": enc, "decoder": dec}
            )
            names += [enc, dec]
        (tmp / "model.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        names.append("model.json")
        if runner:
            shutil.copyfile(RUNNER_SOURCE, tmp / RUNNER_NAME)
            names.append(RUNNER_NAME)
    return [out / n for n in names]


__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "RUNNER_NAME",
    "UNSUPPORTED",
    "DecoderGraph",
    "EncoderGraph",
    "LevelGraph",
    "OnnxExport",
    "StylizeGraph",
    "export_onnx",
]
