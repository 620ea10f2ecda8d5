"""Pure readers of checkpoint layouts: a file or state dict in, ``(config, our state dict)`` out.

Our layout names parameters after their layer (``conv0.weight``, ``convs.conv4_1.weight``);
the other layouts are mapped onto it with the key maps derived from the plan, and the config
(widths, depth, level) is read off the tensor shapes, so users never hand-write widths.

==================  =============================================  =====================
layout              keys                                           files
==================  =============================================  =====================
``reference``       ``"0.weight"``: nn.Sequential indices          pytorch-AdaIN ``vgg_normalised.pth``, ``decoder.pth``
``cd16x``           ``conv0``, ``conv11`` ... (``_aux`` heads)     Collaborative Distillation ``e{k}.pth``, ``d{k}.pth``
``torchvision``     ``features.N.weight`` (+ ``classifier.*``)     ``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``
``adain_nst``       ``conv0.weight``, ``convs.conv1_1.weight``     our ``.safetensors`` and training ``checkpoint.pt``
==================  =============================================  =====================
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..architecture import (
    LEVELS,
    DecoderConfig,
    EncoderConfig,
    block_of,
    decoder_conv_names,
    decoder_ops,
    encoder_ops,
    layer_names,
    sequential_indices,
)
from ..errors import CheckpointError, ConfigError, WeightsNotFoundError
from .quantized import dequantize, is_quantized

StateDict = dict[str, Tensor]
ENCODER_FINGERPRINT = "encoder_fingerprint"
"""Metadata key of a decoder file: the encoder it was trained with (see :mod:`adain_nst.pretrained.pairing`)."""
CheckpointLike = str | os.PathLike[str] | StateDict
LAYOUTS = ("reference", "cd16x", "torchvision", "adain_nst")


def describe(checkpoint: CheckpointLike, what: str) -> str:
    """``what`` and where it came from, for messages."""
    return f"{what} checkpoint {checkpoint}" if isinstance(checkpoint, (str, os.PathLike)) else f"{what} state dict"


def read_file(path: str | os.PathLike[str]) -> tuple[StateDict, dict[str, str]]:
    """Tensors and metadata of a ``.safetensors`` / ``.pth`` / ``.pt`` file (no pickle code runs).

    A ``{"model": state_dict, ...}`` wrapper (as in the cd16x files) is unwrapped; an
    ``adain-nst train`` checkpoint gives its decoder with the config as metadata.
    Raises :class:`WeightsNotFoundError` for a missing file, :class:`CheckpointError` (one line
    naming the file and what it looks like instead) for an unreadable one.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsNotFoundError(f"checkpoint not found: {p}")
    meta: dict[str, str] = {}
    try:
        if p.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(p), "pt", device="cpu") as f:
                meta = dict(f.metadata() or {})
                obj: Any = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        else:
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for a bad file
        raise CheckpointError(f"cannot read weights file {p}: {_what_is_wrong(p, exc)}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("decoder_config"), dict) and isinstance(obj.get("decoder"), dict):
        cfg = obj["decoder_config"]  # an `adain-nst train` checkpoint
        meta = {"kind": "decoder", "final_relu": str(bool(cfg.get("final_relu"))).lower()}
        if isinstance(obj.get(ENCODER_FINGERPRINT), str):
            meta[ENCODER_FINGERPRINT] = obj[ENCODER_FINGERPRINT]
        obj = {f"convs.{k}" if not k.startswith("convs.") else k: v for k, v in obj["decoder"].items()}
    return as_state_dict(obj, where=f"checkpoint {p}"), meta


_MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF (WebP/WAV) file",
    b"%PDF": "a PDF document",
}


def _what_is_wrong(path: Path, exc: BaseException) -> str:
    """One line saying why ``path`` is not readable weights, from its first bytes."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (0 bytes): re-download or re-export it"
    with open(path, "rb") as f:
        head = f.read(256)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return f"it is {kind}, not weights: check which file you passed"
    if head.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the weights: run `git lfs pull` (or download the file)"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html")):
        return "it is an HTML page (a failed download?), not weights: download the file again"
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if decoded and all(c.isprintable() or c in "\r\n\t" for c in decoded):
        first = " ".join(decoded.split())[:40]
        return f"it is a text file ({first!r}...), not weights (.pth, .pt or .safetensors)"
    detail = " ".join(str(exc).split()).split(". ")[0][:120] or type(exc).__name__
    return f"truncated or not a weights file ({size} bytes; {detail}): re-download or re-export it"


def as_state_dict(obj: Any, where: str = "checkpoint") -> StateDict:
    """``obj`` (or its ``"model"`` entry) as a dict of float32 CPU tensors.

    Raises :class:`ConfigError` naming ``where`` (e.g. ``"checkpoint path/to/file.pth"``) otherwise.
    """
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConfigError(f"{where} is not a state dict of tensors (nor a {{'model': state_dict}} wrapper)")
    return {k: (v.float() if v.is_floating_point() else v) for k, v in obj.items()}


def _load(checkpoint: CheckpointLike) -> tuple[StateDict, dict[str, str]]:
    if isinstance(checkpoint, dict):
        return as_state_dict(checkpoint), {}
    return read_file(checkpoint)


def detect_layout(sd: StateDict) -> str:
    """Name the key layout of a state dict: one of :data:`LAYOUTS`."""
    keys = set(sd)
    if any(k.startswith("convs.") for k in keys):
        return "adain_nst"
    if "conv0.weight" in keys or any(re.fullmatch(r"conv\d\d(_aux)?\.weight", k) for k in keys):
        return "cd16x"
    if any(k.startswith("features.") for k in keys):
        return "torchvision"
    if any(re.fullmatch(r"\d+\.weight", k) for k in keys):
        return "reference"
    raise ConfigError(f"unrecognised checkpoint layout (first keys: {sorted(keys)[:4]})")


def _check_layout(sd: StateDict, layout: str | None, what: str) -> str:
    if layout is not None and layout not in LAYOUTS:
        raise ConfigError(f"unknown checkpoint layout {layout!r}; expected one of {LAYOUTS}")
    try:
        found = detect_layout(sd)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if layout == "torchvision" and found == "reference":
        return "torchvision"  # a bare ``vgg.features`` state dict: index keys, as pytorch-AdaIN's
    # Our own files are accepted wherever a specific layout is asked for: they say what they hold.
    if layout is not None and found not in (layout, "adain_nst"):
        raise ConfigError(f"{what}: expected the {layout} layout, but the keys are in the {found} layout")
    return found


# -- key maps, from the plan ------------------------------------------------------------------------
def _inverse(indices: dict[str, int]) -> dict[int, str]:
    return {i: name for name, i in indices.items()}


def reference_encoder_keys(arch: str = "vgg19") -> dict[int, str]:
    """Module index in pytorch-AdaIN's ``vgg`` nn.Sequential -> our conv name (``conv0`` first)."""
    full = EncoderConfig(widths=(1,) * 5, last_layer=layer_names(arch)[-1], arch=arch)
    return _inverse(sequential_indices(encoder_ops(full)))


def reference_decoder_keys(level: str = "relu4_1") -> dict[int, str]:
    """Module index in pytorch-AdaIN's ``decoder`` nn.Sequential -> our conv name."""
    k = block_of(level)
    return _inverse(sequential_indices(decoder_ops(DecoderConfig(widths=(1,) * k, level=level))))


def _reference_decoder_level(sd: StateDict) -> str:
    """The level whose pytorch-AdaIN decoder has exactly the module indices of ``sd`` (relu4_1 if none)."""
    indices = {int(m.group(1)) for k in sd if (m := re.fullmatch(r"(\d+)\.(?:weight|bias)", k))}
    return next((lvl for lvl in LEVELS if set(reference_decoder_keys(lvl)) == indices), "relu4_1")


def torchvision_encoder_keys(arch: str) -> dict[int, str]:
    """Index in torchvision's ``vgg{16,19}().features`` -> our conv name."""
    full = EncoderConfig(widths=(1,) * 5, last_layer=layer_names(arch)[-1], variant="imagenet", arch=arch)
    return _inverse(sequential_indices(encoder_ops(full)))


def _map_index_keys(sd: StateDict, mapping: dict[int, str], pattern: str, what: str) -> StateDict:
    out: StateDict = {}
    for key, value in sd.items():
        m = re.fullmatch(pattern, key)
        if not m or int(m.group(1)) not in mapping:
            raise ConfigError(f"{what}: unexpected key {key!r}")
        out[f"{mapping[int(m.group(1))]}.{m.group(2)}"] = value
    return out


# -- encoders ------------------------------------------------------------------------------------------
def _encoder_config(
    convs: StateDict, last_layer: str | None, variant: str, arch: str, what: str
) -> tuple[EncoderConfig, StateDict]:
    """Config read off ``convs`` (``conv{b}_{i}.weight/bias``), truncated to ``last_layer``."""
    conv_names = sorted({k.rsplit(".", 1)[0] for k in convs})
    names = layer_names(arch)
    unknown = [n for n in conv_names if n not in names]
    if not conv_names or unknown:
        raise ConfigError(f"{what} holds no VGG {arch} conv layers" + (f" (unknown: {unknown})" if unknown else ""))
    widths = [0] * 5
    for n in conv_names:
        widths[block_of(n) - 1] = convs[n + ".weight"].shape[0]
    for i in range(1, 5):  # blocks the file does not reach keep the previous width (unused)
        widths[i] = widths[i] or widths[i - 1]
    deepest = "relu" + max(conv_names, key=names.index)[4:]
    last = deepest if last_layer is None else last_layer
    if last not in names:
        raise ConfigError(f"unknown layer {last!r} for {arch}")
    if names.index(last) > names.index(deepest):
        raise ConfigError(f"{what} only reaches {deepest}; cannot build up to {last}")
    config = EncoderConfig(widths=tuple(widths), last_layer=last, variant=variant, arch=arch)
    keep = {op.name for op in encoder_ops(config) if op.kind == "conv"}
    sd = {f"convs.{k}": v for k, v in convs.items() if k.rsplit(".", 1)[0] in keep}
    return config, sd


def _torchvision_arch(sd: StateDict) -> str:
    # VGG-16 and VGG-19 share the feature indices up to conv3_3; past it they differ.
    indices = {int(k.split(".")[1]) for k in sd if k.startswith("features.")}
    return "vgg16" if indices & {17, 24, 26} else "vgg19"


def cut_encoder(config: EncoderConfig, state_dict: StateDict, layer: str) -> tuple[EncoderConfig, StateDict]:
    """The encoder ``(config, state dict)`` cut at ``layer`` (which it must reach): later convs dropped."""
    cut = config.upto(layer)
    keep = {op.name for op in encoder_ops(cut) if op.kind in ("conv", "input")}
    return cut, {k: v for k, v in state_dict.items() if k.split(".")[-2] in keep}


def read_encoder(
    checkpoint: CheckpointLike, *, last_layer: str | None = None, layout: str | None = None, arch: str | None = None
) -> tuple[EncoderConfig, StateDict]:
    """``(EncoderConfig, state dict in our layout)`` of an encoder checkpoint in any layout."""
    what = describe(checkpoint, "encoder")
    sd, meta = _load(checkpoint)
    if is_quantized(sd):  # 8-bit k-means weights (the bundled ImageNet VGG-19): expanded here
        sd = dequantize(sd, what)
    found = _check_layout(sd, layout, what)
    extra: StateDict = {}
    if found == "reference":
        convs = _map_index_keys(sd, reference_encoder_keys(), r"(\d+)\.(weight|bias)", what)
        extra = {k: convs.pop(k) for k in list(convs) if k.startswith("conv0.")}
        variant, arch = "normalized", "vgg19"
    elif found == "cd16x":
        convs = {}
        for key, value in sd.items():
            m = re.fullmatch(r"conv(\d)(\d)(_aux)?\.(weight|bias)", key)
            if key.startswith("conv0."):
                extra[key] = value
            elif m and not m.group(3):  # the _aux distillation heads are not on the forward path
                convs[f"conv{m.group(1)}_{m.group(2)}.{m.group(4)}"] = value
            elif not m:
                raise ConfigError(f"{what}: unexpected key {key!r} for the cd16x layout")
        variant, arch = "normalized", "vgg19"
    elif found == "torchvision":
        arch = arch or _torchvision_arch(sd)
        body = {k: v for k, v in sd.items() if not k.startswith("classifier.")}
        convs = _map_index_keys(body, torchvision_encoder_keys(arch), r"(?:features\.)?(\d+)\.(weight|bias)", what)
        variant = "imagenet"
    else:
        convs = {k[len("convs.") :]: v for k, v in sd.items() if k.startswith("convs.")}
        extra = {k: v for k, v in sd.items() if not k.startswith("convs.")}
        variant = meta.get("variant") or ("normalized" if "conv0.weight" in extra else "imagenet")
        arch = meta.get("arch") or arch or "vgg19"
    if meta.get("kind", "encoder") != "encoder":
        raise ConfigError(f"{what} holds a {meta['kind']}, not an encoder")
    config, ours = _encoder_config(convs, last_layer, variant, arch, what)
    if config.variant == "normalized" and set(extra) != {"conv0.weight", "conv0.bias"}:
        raise ConfigError(f"{what}: the input conv (conv0.weight, conv0.bias) is missing")
    return config, {**extra, **ours}


# -- decoders ------------------------------------------------------------------------------------------
def _decoder_config(convs: StateDict, final_relu: bool, what: str) -> DecoderConfig:
    """Level and widths read off ``convs`` (``conv{b}_{i}.weight/bias``, our names without ``convs.``)."""
    heads = [lvl for lvl in LEVELS if f"conv{lvl[4]}_1.weight" in convs]
    if not heads:
        raise ConfigError(f"{what}: no conv{{k}}_1 layer, not a decoder")
    level = heads[-1]
    k = block_of(level)
    widths = [0] * k
    widths[k - 1] = convs[f"conv{k}_1.weight"].shape[1]
    for b in range(1, k):
        key = f"conv{b + 1}_1.weight"
        if key not in convs:
            raise ConfigError(f"{what}: missing {key!r} of a {level} decoder")
        widths[b - 1] = convs[key].shape[0]
    expected = set(decoder_conv_names(level))
    present = {k.rsplit(".", 1)[0] for k in convs}
    if present != expected:
        raise ConfigError(
            f"{what}: a {level} decoder has convs {sorted(expected)}; "
            f"missing {sorted(expected - present)[:5]}, unexpected {sorted(present - expected)[:5]}"
        )
    return DecoderConfig(widths=tuple(widths), final_relu=final_relu, level=level)


def read_decoder(checkpoint: CheckpointLike, *, layout: str | None = None) -> tuple[DecoderConfig, StateDict]:
    """``(DecoderConfig, state dict in our layout)`` of a decoder checkpoint in any layout.

    ``final_relu`` follows the layout: pytorch-AdaIN decoders have none, cd16x decoders have
    one, our files record it in their metadata (cd16x convention when absent).
    """
    config, sd, _ = read_decoder_with_metadata(checkpoint, layout=layout)
    return config, sd


def read_decoder_with_metadata(
    checkpoint: CheckpointLike, *, layout: str | None = None
) -> tuple[DecoderConfig, StateDict, dict[str, str]]:
    """:func:`read_decoder` and the file's metadata (``{}`` for a state dict or a ``.pth``)."""
    what = describe(checkpoint, "decoder")
    sd, meta = _load(checkpoint)
    found = _check_layout(sd, layout, what)
    if meta.get("kind", "decoder") != "decoder":
        raise ConfigError(f"{what} holds an {meta['kind']}, not a decoder")
    if found == "reference":
        level = _reference_decoder_level(sd)
        convs = _map_index_keys(sd, reference_decoder_keys(level), r"(\d+)\.(weight|bias)", what)
        final_relu = False
    elif found in ("cd16x", "adain_nst"):
        convs = {}
        for key, value in sd.items():
            m = re.fullmatch(r"(?:convs\.)?conv(\d)_?(\d)\.(weight|bias)", key)
            if not m:
                raise ConfigError(f"{what}: unexpected key {key!r} for a decoder")
            convs[f"conv{m.group(1)}_{m.group(2)}.{m.group(3)}"] = value
        final_relu = meta.get("final_relu", "true").lower() == "true"
    else:
        raise ConfigError(f"{what}: a {found} checkpoint holds an encoder, not a decoder")
    config = _decoder_config(convs, final_relu, what)
    return config, {f"convs.{k}": v for k, v in convs.items()}, meta


__all__ = [
    "ENCODER_FINGERPRINT",
    "LAYOUTS",
    "CheckpointLike",
    "StateDict",
    "as_state_dict",
    "cut_encoder",
    "describe",
    "detect_layout",
    "read_decoder",
    "read_decoder_with_metadata",
    "read_encoder",
    "read_file",
    "reference_decoder_keys",
    "reference_encoder_keys",
    "torchvision_encoder_keys",
]
