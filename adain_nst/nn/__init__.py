"""The networks built from the one architecture description (:mod:`adain_nst.architecture`): modules,
their nn.Sequential reference form, and the feature transforms."""

from ..architecture import LEVELS, DecoderConfig, EncoderConfig, layer_names
from .decoder import Decoder
from .encoder import VGGEncoder
from .transforms import AdaIN, adain_target, adaptive_instance_norm, calc_mean_std

__all__ = [
    "LEVELS",
    "AdaIN",
    "Decoder",
    "DecoderConfig",
    "EncoderConfig",
    "VGGEncoder",
    "adain_target",
    "adaptive_instance_norm",
    "calc_mean_std",
    "layer_names",
]
