"""adain-nst: arbitrary style transfer (AdaIN) and Gatys et al. optimisation in PyTorch."""

from importlib.metadata import PackageNotFoundError, version

from .adain import AdaIN, adaptive_instance_norm, calc_mean_std
from .api import clear_cache, get_model, model_from_files, stylize
from .color import coral, transfer_luminance
from .decoder import Decoder, DecoderConfig
from .encoder import EncoderConfig, VGGEncoder, layer_names
from .errors import (
    AdainNSTError,
    ChecksumError,
    ConfigError,
    ImageReadError,
    InputError,
    WeightsNotFoundError,
)

# Binds the name ``adain_nst.gatys`` to the function (the API); the module's other
# names stay importable as ``from adain_nst.gatys import GatysLoss, gram_matrix, ...``.
from .gatys import GatysLoss, gatys
from .image import load_image, save_image
from .model import AdaINModel

try:
    __version__ = version("adain-nst")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "AdaIN",
    "AdaINModel",
    "AdainNSTError",
    "ChecksumError",
    "ConfigError",
    "Decoder",
    "DecoderConfig",
    "EncoderConfig",
    "GatysLoss",
    "ImageReadError",
    "InputError",
    "VGGEncoder",
    "WeightsNotFoundError",
    "__version__",
    "adaptive_instance_norm",
    "calc_mean_std",
    "clear_cache",
    "coral",
    "gatys",
    "get_model",
    "layer_names",
    "load_image",
    "model_from_files",
    "save_image",
    "stylize",
    "transfer_luminance",
]
