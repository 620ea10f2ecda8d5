"""Layer specs and loss-weight checks of Gatys et al. optimisation.

A layer spec is a sequence of layer names (equal weights summing to 1) or a
``{name: weight}`` mapping; :func:`layer_weights` turns either into the mapping, and
:func:`check_encoder_layers` says which names an encoder cannot provide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..architecture import layer_names
from ..errors import InputError
from ..nn.encoder import VGGEncoder

LayerSpec = Sequence[str] | Mapping[str, float]


def check_weight(name: str, value: float) -> float:
    """``value`` as a finite float >= 0 (a loss weight); :class:`InputError` naming ``name`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (v >= 0.0 and math.isfinite(v)):  # also rejects NaN
        raise InputError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def layer_weights(layers: LayerSpec, what: str) -> dict[str, float]:
    """Normalise a layer spec to ``{name: weight}``; a plain sequence gets equal weights summing to 1.

    ``what`` names the argument in messages (``"style_layers"``). Names are not checked
    against an encoder here (see :func:`check_encoder_layers`).
    """
    if isinstance(layers, str):
        raise InputError(f"{what} must be a sequence of layer names or a {{name: weight}} mapping, not {layers!r}")
    if isinstance(layers, Mapping):
        return {str(k): check_weight(f"{what} weight of {k!r}", v) for k, v in layers.items()}
    names = list(layers)
    if len(set(names)) != len(names):
        raise InputError(f"{what} lists a layer twice: {names}")
    return {str(n): 1.0 / len(names) for n in names} if names else {}


def check_encoder_layers(encoder: VGGEncoder, layers: Sequence[str], what: str = "layers") -> None:
    """Raise :class:`InputError` if a layer name is unknown or deeper than ``encoder`` reaches."""
    known = layer_names(encoder.config.arch)
    unknown = [n for n in layers if n not in known]
    if unknown:
        raise InputError(
            f"unknown {what} {unknown} for a {encoder.config.arch} encoder; names look like "
            f"'relu4_2' (valid: {known[0]} .. {known[-1]})"
        )
    too_deep = [n for n in layers if n not in encoder.layer_names]
    if too_deep:
        raise InputError(
            f"{what} {too_deep} are deeper than this encoder reaches (it stops at {encoder.config.last_layer}); "
            "load an encoder that reaches them, e.g. VGGEncoder.from_cd16x_checkpoint('e5.pth') for relu5_1"
        )


__all__ = ["LayerSpec", "check_encoder_layers", "check_weight", "layer_weights"]
