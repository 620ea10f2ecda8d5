"""Reading third-party checkpoints (pytorch-AdaIN, cd16x, torchvision) into our modules.

Our own layout names parameters after the layer they belong to (``convs.conv4_1.weight``);
this module maps the other layouts' keys onto those names and builds the right config
from the tensor shapes, so users never hand-write widths.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .decoder import Decoder, DecoderConfig, decoder_plan
from .encoder import EncoderConfig, VGGEncoder, layer_names
from .errors import ConfigError, ImageReadError

StateDict = dict[str, Tensor]
CheckpointLike = str | os.PathLike[str] | StateDict


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces (1 MiB keeps memory flat; ~1 s per 550 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def load_state_dict(checkpoint: CheckpointLike) -> StateDict:
    """Read a ``.pth`` / ``.safetensors`` file (or take a dict) as float32 CPU tensors.

    A ``{"model": state_dict, ...}`` wrapper (as in the cd16x files) is unwrapped; float16
    and bfloat16 values are cast up to float32 (exactly).
    """
    if isinstance(checkpoint, dict):
        sd: Any = checkpoint
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                sd = load_file(str(path), device="cpu")
            else:
                sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch/safetensors raise many types for a bad file
            raise ImageReadError(f"cannot read checkpoint {path}: {exc}") from exc
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ConfigError("checkpoint is not a state dict of tensors")
    return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}


def _strict_load(module: torch.nn.Module, sd: StateDict, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad_shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or bad_shapes:
        raise ConfigError(
            f"{what} does not match the architecture: missing={missing[:5]} "
            f"unexpected={unexpected[:5]} shapes={bad_shapes[:3]}"
        )
    module.load_state_dict(sd, strict=True)
    module.eval().requires_grad_(False)


def _deepest_relu(conv_names: list[str], arch: str = "vgg19") -> str:
    names = layer_names(arch)
    return "relu" + max(conv_names, key=names.index)[4:]


def _truncate(last: str, requested: str | None, what: str, arch: str) -> str:
    if requested is None:
        return last
    names = layer_names(arch)
    if requested not in names:
        raise ConfigError(f"unknown layer {requested!r}")
    if names.index(requested) > names.index(last):
        raise ConfigError(f"{what} only reaches {last}; cannot build up to {requested}")
    return requested


def _build_encoder(
    convs: StateDict, extra: StateDict, last_layer: str | None, variant: str, arch: str, what: str
) -> VGGEncoder:
    """``convs`` maps ``conv{b}_{i}.weight/bias`` to tensors; ``extra`` holds conv0 etc."""
    conv_names = sorted({k.rsplit(".", 1)[0] for k in convs})
    if not conv_names:
        raise ConfigError(f"{what} holds no VGG conv layers")
    widths = [0] * 5
    for n in conv_names:
        widths[int(n[4]) - 1] = convs[n + ".weight"].shape[0]
    deepest = _deepest_relu(conv_names, arch)
    last = _truncate(deepest, last_layer, what, arch)
    # Blocks the file does not reach keep the previous block's width (unused by the module).
    for i in range(1, 5):
        widths[i] = widths[i] or widths[i - 1]
    config = EncoderConfig(widths=tuple(widths), last_layer=last, variant=variant, arch=arch)
    encoder = VGGEncoder(config)
    keep = set(encoder.state_dict())
    sd = {**extra, **{f"convs.{k}": v for k, v in convs.items()}}
    sd = {k: v for k, v in sd.items() if k in keep or not k.startswith("convs.")}
    _strict_load(encoder, sd, what)
    return encoder


def reference_encoder_keys(arch: str = "vgg19") -> dict[int, str]:
    """Module index in pytorch-AdaIN's ``vgg`` nn.Sequential -> our conv name."""
    index, out = 1, {0: "conv0"}
    for name in layer_names(arch):
        if name.startswith("conv"):
            out[index + 1] = name  # ReflectionPad2d, Conv2d, ReLU
            index += 3
        elif name.startswith("pool"):
            index += 1
    return out


def reference_decoder_keys() -> dict[int, str]:
    """Module index in pytorch-AdaIN's ``decoder`` nn.Sequential -> our conv name."""
    index, out = 0, {}
    for name, _, _, upsample in decoder_plan((1, 1, 1, 1)):
        out[index + 1] = name  # ReflectionPad2d, Conv2d, ReLU
        index += 3 + int(upsample)
    return out


def _split_index_keys(sd: StateDict, mapping: dict[int, str], what: str) -> StateDict:
    out: StateDict = {}
    for key, value in sd.items():
        m = re.fullmatch(r"(\d+)\.(weight|bias)", key)
        if not m or int(m.group(1)) not in mapping:
            raise ConfigError(f"{what}: unexpected key {key!r} for the pytorch-AdaIN layout")
        out[f"{mapping[int(m.group(1))]}.{m.group(2)}"] = value
    return out


def encoder_from_reference(checkpoint: CheckpointLike, *, last_layer: str | None = None) -> VGGEncoder:
    """:class:`VGGEncoder` from pytorch-AdaIN's ``vgg_normalised.pth`` (keys ``"0.weight"``...)."""
    sd = _split_index_keys(load_state_dict(checkpoint), reference_encoder_keys(), "encoder checkpoint")
    extra = {k: sd.pop(k) for k in list(sd) if k.startswith("conv0.")}
    return _build_encoder(sd, extra, last_layer, "normalized", "vgg19", "encoder checkpoint")


def encoder_from_cd16x(checkpoint: CheckpointLike, *, last_layer: str | None = None) -> VGGEncoder:
    """:class:`VGGEncoder` from a cd16x ``e{k}.pth`` (keys ``conv0``, ``conv11``...; ``_aux`` heads dropped)."""
    convs: StateDict = {}
    extra: StateDict = {}
    for key, value in load_state_dict(checkpoint).items():
        m = re.fullmatch(r"conv(\d)(\d)(_aux)?\.(weight|bias)", key)
        if key.startswith("conv0."):
            extra[key] = value
        elif m and not m.group(3):
            convs[f"conv{m.group(1)}_{m.group(2)}.{m.group(4)}"] = value
        elif not m:
            raise ConfigError(f"encoder checkpoint: unexpected key {key!r} for the cd16x layout")
    return _build_encoder(convs, extra, last_layer, "normalized", "vgg19", "cd16x encoder checkpoint")


def torchvision_encoder_keys(arch: str) -> dict[int, str]:
    """Index in torchvision's ``vgg{16,19}().features`` -> our conv name (conv, ReLU; pools)."""
    index, out = 0, {}
    for name in layer_names(arch):
        if name.startswith("conv"):
            out[index] = name
            index += 2
        elif name.startswith("pool"):
            index += 1
    return out


def encoder_from_torchvision(
    checkpoint: CheckpointLike, *, arch: str = "vgg19", last_layer: str | None = None
) -> VGGEncoder:
    """ImageNet VGG-16/19 ``features`` from a torchvision checkpoint (``features.N.weight``).

    ``classifier.*`` keys are ignored; inputs stay RGB in [0, 1] (normalised inside).
    """
    mapping = torchvision_encoder_keys(arch)
    convs: StateDict = {}
    for key, value in load_state_dict(checkpoint).items():
        m = re.fullmatch(r"(?:features\.)?(\d+)\.(weight|bias)", key)
        if key.startswith("classifier."):
            continue
        if not m or int(m.group(1)) not in mapping:
            raise ConfigError(f"torchvision {arch} checkpoint: unexpected key {key!r}")
        convs[f"{mapping[int(m.group(1))]}.{m.group(2)}"] = value
    return _build_encoder(convs, {}, last_layer, "imagenet", arch, f"torchvision {arch} checkpoint")


def _build_decoder(sd: StateDict, final_relu: bool, what: str) -> Decoder:
    try:
        w4 = sd["conv4_1.weight"].shape[1]
        w3 = sd["conv4_1.weight"].shape[0]
        w2 = sd["conv3_1.weight"].shape[0]
        w1 = sd["conv2_1.weight"].shape[0]
    except KeyError as exc:
        raise ConfigError(f"{what}: missing {exc.args[0]!r}; not a relu4_1 decoder") from None
    decoder = Decoder(DecoderConfig(widths=(w1, w2, w3, w4), final_relu=final_relu))
    _strict_load(decoder, {f"convs.{k}": v for k, v in sd.items()}, what)
    return decoder


def decoder_from_reference(checkpoint: CheckpointLike) -> Decoder:
    """:class:`Decoder` from pytorch-AdaIN's ``decoder.pth`` (no ReLU after the last conv)."""
    sd = _split_index_keys(load_state_dict(checkpoint), reference_decoder_keys(), "decoder checkpoint")
    return _build_decoder(sd, final_relu=False, what="decoder checkpoint")


def decoder_from_cd16x(checkpoint: CheckpointLike) -> Decoder:
    """:class:`Decoder` from cd16x ``d4.pth`` (final ReLU), or one of our decoder safetensors.

    A ``.safetensors`` file in our layout (``convs.conv4_1.weight``...) carries its
    ``final_relu`` flag in its metadata; without one the cd16x convention (True) applies.
    """
    sd = load_state_dict(checkpoint)
    final_relu = True
    if isinstance(checkpoint, (str, os.PathLike)) and str(checkpoint).endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(str(checkpoint), "pt") as f:
            meta = f.metadata() or {}
        final_relu = meta.get("final_relu", "true").lower() == "true"
    out: StateDict = {}
    for key, value in sd.items():
        m = re.fullmatch(r"(?:convs\.)?conv(\d)_?(\d)\.(weight|bias)", key)
        if not m:
            raise ConfigError(f"decoder checkpoint: unexpected key {key!r} for the cd16x layout")
        out[f"conv{m.group(1)}_{m.group(2)}.{m.group(3)}"] = value
    return _build_decoder(out, final_relu=final_relu, what="cd16x decoder checkpoint")


def detect_layout(sd: StateDict) -> str:
    """Name the key layout of a state dict: "reference", "cd16x", "torchvision" or "adain_nst"."""
    keys = set(sd)
    if any(k.startswith("convs.") for k in keys):
        return "adain_nst"
    if "conv0.weight" in keys or any(re.fullmatch(r"conv\d\d\.weight", k) for k in keys):
        return "cd16x"
    if any(k.startswith("features.") for k in keys):
        return "torchvision"
    if any(re.fullmatch(r"\d+\.weight", k) for k in keys):
        return "reference"
    raise ConfigError(f"unrecognised checkpoint layout (first keys: {sorted(keys)[:4]})")


def load_encoder_any(checkpoint: CheckpointLike, *, last_layer: str | None = None) -> VGGEncoder:
    """Encoder from a file in any supported layout (pytorch-AdaIN, cd16x, ours) or a model folder."""
    if isinstance(checkpoint, (str, os.PathLike)) and Path(checkpoint).is_dir():
        from .hub import load_encoder

        return load_encoder(checkpoint)
    sd = load_state_dict(checkpoint)
    layout = detect_layout(sd)
    if layout == "reference":
        return encoder_from_reference(sd, last_layer=last_layer)
    if layout == "cd16x":
        return encoder_from_cd16x(sd, last_layer=last_layer)
    if layout == "torchvision":
        return encoder_from_torchvision(sd, last_layer=last_layer)
    convs = {k[len("convs.") :]: v for k, v in sd.items() if k.startswith("convs.")}
    extra = {k: v for k, v in sd.items() if not k.startswith("convs.")}
    variant = "normalized" if "conv0.weight" in extra else "imagenet"
    return _build_encoder(convs, extra, last_layer, variant, "vgg19", "encoder checkpoint")


def load_decoder_any(checkpoint: CheckpointLike) -> Decoder:
    """Decoder from a file in any supported layout (pytorch-AdaIN, cd16x, ours, a training checkpoint.pt)."""
    if isinstance(checkpoint, (str, os.PathLike)) and Path(checkpoint).is_dir():
        from .hub import load_model

        return load_model(checkpoint).decoder
    if isinstance(checkpoint, (str, os.PathLike)) and str(checkpoint).endswith(".pt"):
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if isinstance(state, dict) and "decoder_config" in state:  # an `adain-nst train` checkpoint
            decoder = Decoder(DecoderConfig.from_dict(state["decoder_config"]))
            _strict_load(decoder, state["decoder"], f"decoder of training checkpoint {checkpoint}")
            return decoder
    sd = load_state_dict(checkpoint)
    if detect_layout(sd) == "reference":
        return decoder_from_reference(sd)
    return decoder_from_cd16x(checkpoint)
