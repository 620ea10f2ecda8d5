"""Neural style transfer by image optimisation (Gatys, Ecker & Bethge, CVPR 2016).

The image itself is optimised so that its VGG features match the content image's and its
Gram matrices match the style image's; see ``docs/gatys.md``. Modules:

* :mod:`.losses`: :func:`gram_matrix`, :func:`content_loss`, :func:`style_loss`,
  :func:`total_variation` and :class:`GatysLoss`, the criterion with cached targets;
* :mod:`.defaults`: default layers and per-encoder-family loss weights (:data:`DEFAULTS`);
* :mod:`.layers`: layer specs (names or ``{name: weight}``) and their checks;
* :mod:`.encoders`: :func:`resolve_encoder` and :func:`load_torchvision_vgg` (the torchvision
  files are recorded in :data:`adain_nst.pretrained.registry.ENCODER_WEIGHTS`);
* :mod:`.loop`: :func:`gatys`, the L-BFGS / Adam loop with scales, blending and colour.

The animated-GIF writer the CLI uses is :func:`adain_nst.image.save_animation` (re-exported here).
"""

from ..image import save_animation
from .defaults import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    DEFAULTS,
    PRESETS,
    GatysDefaults,
    GatysPreset,
    default_weights,
    encoder_family,
)
from .encoders import DEFAULT_ENCODER, TORCHVISION_ARCHS, load_torchvision_vgg, resolve_encoder, torchvision_weights
from .layers import LayerSpec, check_encoder_layers
from .loop import INITS, OPTIMIZERS, gatys
from .losses import GatysLoss, content_loss, gram_matrix, style_loss, total_variation

__all__ = [
    "DEFAULTS",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_ENCODER",
    "DEFAULT_STYLE_LAYERS",
    "INITS",
    "OPTIMIZERS",
    "PRESETS",
    "TORCHVISION_ARCHS",
    "GatysDefaults",
    "GatysLoss",
    "GatysPreset",
    "LayerSpec",
    "check_encoder_layers",
    "content_loss",
    "default_weights",
    "encoder_family",
    "gatys",
    "gram_matrix",
    "load_torchvision_vgg",
    "resolve_encoder",
    "save_animation",
    "style_loss",
    "torchvision_weights",
    "total_variation",
]
