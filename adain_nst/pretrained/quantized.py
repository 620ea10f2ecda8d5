"""8-bit k-means-quantised weights: uint8 indices into a per-layer table of 256 centroids.

A quantised conv stores ``<name>.weight_q`` (uint8, the weight's shape) and
``<name>.weight_table`` (float32, 256 values); the weight is ``table[q]``. The bundled ImageNet
VGG-19 keeps this form (20 MB of float32 become 5 MB ... 13 MB of indices) and is expanded at
load time. Pure functions on state dicts; nothing here reads files.
"""

from __future__ import annotations

from torch import Tensor

from ..errors import ConfigError

Q_SUFFIX = ".weight_q"
TABLE_SUFFIX = ".weight_table"


def is_quantized(state_dict: dict[str, Tensor]) -> bool:
    """Whether any tensor of ``state_dict`` is a quantised weight (``*.weight_q``)."""
    return any(k.endswith(Q_SUFFIX) for k in state_dict)


def dequantize(state_dict: dict[str, Tensor], what: str = "checkpoint") -> dict[str, Tensor]:
    """``state_dict`` with every ``*.weight_q`` / ``*.weight_table`` pair replaced by ``*.weight`` (float32)."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith(TABLE_SUFFIX):
            continue
        if not key.endswith(Q_SUFFIX):
            out[key] = value
            continue
        base = key[: -len(Q_SUFFIX)]
        table = state_dict.get(base + TABLE_SUFFIX)
        if table is None or table.dim() != 1 or value.dtype.is_floating_point:
            raise ConfigError(f"{what}: {key} needs a 1-d {base + TABLE_SUFFIX} and integer indices")
        if int(value.max()) >= table.numel():
            raise ConfigError(f"{what}: {key} indexes past its {table.numel()}-entry table (corrupt file?)")
        out[base + ".weight"] = table.float()[value.long()]
    orphans = [
        k for k in state_dict if k.endswith(TABLE_SUFFIX) and k[: -len(TABLE_SUFFIX)] + Q_SUFFIX not in state_dict
    ]
    if orphans:
        raise ConfigError(f"{what}: centroid tables without indices: {orphans[:3]}")
    return out


__all__ = ["Q_SUFFIX", "TABLE_SUFFIX", "dequantize", "is_quantized"]
