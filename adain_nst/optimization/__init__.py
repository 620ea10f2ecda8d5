"""Gatys et al. neural style transfer by image optimisation (placeholder while being split)."""

from ._old_gatys import GatysLoss, gatys

__all__ = ["GatysLoss", "gatys"]
