"""The one on-disk model format: a folder with ``config.json`` and two safetensors files.

* ``config.json``: ``format_version``, ``architecture``, encoder and decoder configs, ``eps``
  and the input contract;
* ``encoder.safetensors`` / ``decoder.safetensors``: float32 state dicts in our key layout,
  whose metadata repeats what loading must check (encoder variant, decoder ``final_relu``).

Files are written with a canonical header (the bytes, and so the sha256 the registry pins,
depend on the weights alone) and atomically. Format 2 added the decoder ``level``; format 1
folders (relu4_1 decoders) still load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._io import atomic_write_bytes
from .._version import __version__
from ..architecture import DecoderConfig, EncoderConfig
from ..errors import ConfigError
from .formats import StateDict, read_file

FORMAT_VERSION = 2
ARCHITECTURE = "AdaINModel"
CONFIG_NAME = "config.json"
ENCODER_NAME = "encoder.safetensors"
DECODER_NAME = "decoder.safetensors"
MODEL_FILES = (CONFIG_NAME, ENCODER_NAME, DECODER_NAME)
"""The files of a model folder, in the order they are fetched and verified."""
FILE_OF_PART = {"config": CONFIG_NAME, "encoder": ENCODER_NAME, "decoder": DECODER_NAME}
_CONFIG_KEYS = {"adain_nst_version", "architecture", "decoder", "encoder", "eps", "format_version", "input"}


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` describes: the two architectures and the AdaIN epsilon."""

    encoder: EncoderConfig
    decoder: DecoderConfig
    eps: float = 1e-5
    format_version: int = FORMAT_VERSION

    def to_dict(self, library_version: str | None = None) -> dict[str, Any]:
        return {
            "adain_nst_version": library_version or __version__,
            "architecture": ARCHITECTURE,
            "decoder": self.decoder.to_dict(),
            "encoder": self.encoder.to_dict(),
            "eps": self.eps,
            "format_version": FORMAT_VERSION,
            # The input contract travels with the weights so other tools need not guess it.
            "input": {"layout": "BCHW", "channels": "RGB", "range": [0.0, 1.0]},
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = CONFIG_NAME) -> ModelConfig:
        """Parse and validate a config dict; :class:`ConfigError` names ``where`` and the problem."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
            raise ConfigError(
                f"{where}: format_version {version!r} is not supported by this adain_nst "
                f"(it reads 1..{FORMAT_VERSION}); upgrade adain-nst to load this model"
            )
        if d.get("architecture") != ARCHITECTURE:
            raise ConfigError(f"{where}: architecture {d.get('architecture')!r} is not {ARCHITECTURE!r}")
        unknown = set(d) - _CONFIG_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        if version >= 2 and isinstance(d.get("decoder"), dict) and "level" not in d["decoder"]:
            raise ConfigError(f"{where}: format_version {version} needs the decoder's 'level' (e.g. \"relu4_1\")")
        try:
            encoder = EncoderConfig.from_dict(d["encoder"])
            decoder = DecoderConfig.from_dict(d["decoder"])
            eps = float(d.get("eps", 1e-5))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: malformed encoder/decoder entry ({exc!r})") from None
        if not encoder.reaches(decoder.level):
            raise ConfigError(
                f"{where}: the encoder stops at {encoder.last_layer}, before the decoder's {decoder.level}"
            )
        return cls(encoder=encoder, decoder=decoder, eps=eps, format_version=version)


def read_config(path: str | os.PathLike[str]) -> ModelConfig:
    """Read and validate a ``config.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return ModelConfig.from_dict(data, where=str(path))


def encoder_metadata(config: EncoderConfig) -> dict[str, str]:
    return {
        "format": "pt",
        "format_version": str(FORMAT_VERSION),
        "kind": "encoder",
        "variant": config.variant,
        "arch": config.arch,
        "last_layer": config.last_layer,
        "widths": ",".join(map(str, config.widths)),
    }


def decoder_metadata(config: DecoderConfig) -> dict[str, str]:
    return {
        "format": "pt",
        "format_version": str(FORMAT_VERSION),
        "kind": "decoder",
        "final_relu": str(config.final_relu).lower(),
        "level": config.level,
        "widths": ",".join(map(str, config.widths)),
    }


def safetensors_bytes(
    state_dict: dict[str, Tensor],
    metadata: dict[str, str],
    *,
    dtype: torch.dtype = torch.float32,
    keep_float32: tuple[str, ...] = (),
) -> bytes:
    """Serialise ``state_dict`` as safetensors with a deterministic header.

    Floating tensors are stored in ``dtype`` (float32, or float16 for the bundled weights),
    except keys starting with one of ``keep_float32``; integer tensors keep their dtype. Readers
    cast floating tensors to float32.
    safetensors writes ``__metadata__`` from a hash map whose order changes from process to
    process; re-emitting the header with sorted keys makes the bytes (and the sha256 the
    registry pins) a function of the weights and metadata alone.
    """
    from safetensors.torch import save

    def stored(key: str, value: Tensor) -> Tensor:
        if not value.is_floating_point():  # integer tensors (quantised indices) keep their dtype
            return value.detach().to("cpu").contiguous()
        target = torch.float32 if key.startswith(keep_float32) else dtype
        return value.detach().to("cpu", target).contiguous()

    tensors = {k: stored(k, v) for k, v in state_dict.items()}
    raw = save(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]


def _check_meta(meta: dict[str, str], expected: dict[str, str], path: Path, keys: Sequence[str]) -> None:
    for key in keys:
        if key not in meta:
            raise ConfigError(f"{path}: safetensors metadata lacks {key!r}; re-save the model with save_pretrained")
        if meta[key] != expected[key]:
            raise ConfigError(
                f"{path}: metadata {key}={meta[key]!r}, expected {expected[key]!r} from config.json; "
                "the folder mixes files of different models"
            )


def read_encoder_file(path: str | os.PathLike[str], config: EncoderConfig) -> StateDict:
    """The state dict of a folder's ``encoder.safetensors``, its metadata checked against ``config``."""
    sd, meta = _read_part(path)
    _check_meta(meta, encoder_metadata(config), Path(path), ["kind", "variant", "arch"])
    return sd


def read_decoder_file(path: str | os.PathLike[str], config: DecoderConfig) -> StateDict:
    """The state dict of a folder's ``decoder.safetensors``, its metadata checked against ``config``."""
    sd, meta = _read_part(path)
    keys = ["kind", "final_relu"] + ([] if meta["format_version"] == "1" else ["level"])  # format 1: relu4_1
    _check_meta(meta, decoder_metadata(config), Path(path), keys)
    return sd


def _read_part(path: str | os.PathLike[str]) -> tuple[StateDict, dict[str, str]]:
    sd, meta = read_file(path)
    version = meta.get("format_version")
    if version is None:
        raise ConfigError(
            f"{path}: safetensors metadata lacks 'format_version'; re-save the model with save_pretrained"
        )
    if not version.isdigit() or not 1 <= int(version) <= FORMAT_VERSION:
        raise ConfigError(
            f"{path}: format_version {version!r} is not supported by this adain_nst (it reads 1..{FORMAT_VERSION}); "
            "upgrade adain-nst to load this model"
        )
    return sd, meta


def write_model_folder(
    directory: str | os.PathLike[str],
    config: ModelConfig,
    encoder_state: dict[str, Tensor],
    decoder_state: dict[str, Tensor],
    *,
    library_version: str | None = None,
) -> Path:
    """Write a model folder: weights first, ``config.json`` last, each file atomically.

    A crash leaves every file either in its old or its new version, never truncated; other
    files in ``directory`` are left alone. ``library_version`` (default: this adain_nst's) is
    recorded in ``config.json``; conversion scripts pin it so published files reproduce.
    """
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    atomic_write_bytes(out / ENCODER_NAME, safetensors_bytes(encoder_state, encoder_metadata(config.encoder)))
    atomic_write_bytes(out / DECODER_NAME, safetensors_bytes(decoder_state, decoder_metadata(config.decoder)))
    text = json.dumps(config.to_dict(library_version), sort_keys=True, indent=2) + "\n"
    atomic_write_bytes(out / CONFIG_NAME, text.encode("utf-8"))
    return out


__all__ = [
    "CONFIG_NAME",
    "DECODER_NAME",
    "ENCODER_NAME",
    "FORMAT_VERSION",
    "MODEL_FILES",
    "ModelConfig",
    "decoder_metadata",
    "encoder_metadata",
    "read_config",
    "read_decoder_file",
    "read_encoder_file",
    "safetensors_bytes",
    "write_model_folder",
]
