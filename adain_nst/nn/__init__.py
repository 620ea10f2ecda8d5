"""The networks: one architecture description (:mod:`.plan`) and the modules built from it."""

from .decoder import Decoder
from .encoder import VGGEncoder
from .plan import LEVELS, DecoderConfig, EncoderConfig, layer_names
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
