"""Default layers and loss weights of Gatys et al. optimisation, per encoder family.

:func:`adain_nst.gatys` and :class:`~adain_nst.optimization.GatysLoss` take every weight the
caller leaves out from :data:`DEFAULTS`, keyed by :func:`encoder_family`. How each number was
found is in ``docs/gatys.md`` and in each record's ``source``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..nn.encoder import VGGEncoder

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class GatysDefaults:
    """Loss weights :func:`adain_nst.gatys` uses for an encoder family when the caller gives none.

    ``style_layers`` maps the default style layers to their weights (summing to 1);
    ``source`` says how the numbers were found (see ``docs/gatys.md``); ``optimizer`` is the
    one :func:`adain_nst.gatys` uses when none is given (``"lbfgs"`` or ``"lbfgs-wolfe"``).
    """

    content_weight: float
    style_weight: float
    tv_weight: float
    style_layers: Mapping[str, float]
    source: str
    optimizer: str = "lbfgs-wolfe"


def _normalised(raw: Mapping[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


# Gatys et al. weight every style layer equally in *their* normalisation, E_l = sum((G - A)^2)
# / (4 N_l^2 M_l^2) with unnormalised Grams; in ours (Gram / (C H W), then the mean over
# C x C) that is a weight proportional to N_l^2, the layer's channel count squared.
GATYS_PAPER_LAYERS = _normalised(
    {"relu1_1": 64**2, "relu2_1": 128**2, "relu3_1": 256**2, "relu4_1": 512**2, "relu5_1": 512**2}
)

# cd16x features are far from the normalised VGG's (relu1_1/relu2_1 means ~4-10 instead of ~1),
# so the same weights would leave only the two shallowest layers in play (fine colour noise).
# Each layer is weighted by 1 / (median Gram loss between content and style at that layer)
# over the 11 x 20 eval pairs at 256 px, so every layer starts with an equal share.
CD16X_MEDIAN_STYLE_LOSS = {"relu1_1": 10.8, "relu2_1": 14.3, "relu3_1": 0.194, "relu4_1": 0.00253, "relu5_1": 0.0235}
CD16X_LAYERS = _normalised({k: 1.0 / v for k, v in CD16X_MEDIAN_STYLE_LOSS.items()})

# Chosen on the bundled ImageNet VGG-19 (docs/gatys.md, benchmarks/gatys_acceptance.py): on 10
# eval pairs at 256 px, 100 L-BFGS steps cut the Gram loss 12x..84x while the relu4_2 distance to
# the content stays under half the style's (at most 0.48). 1e2 (chosen with a line search on 2
# pairs) went to 0.70 once steps took one pass; 20 to 0.53.
STYLE_WEIGHT_VGG19_IMAGENET = 12.0

DEFAULTS: dict[str, GatysDefaults] = {
    "cd16x": GatysDefaults(
        content_weight=1.0,
        style_weight=5e3,
        tv_weight=0.0,
        style_layers=CD16X_LAYERS,
        source="measured: eval pairs at 192 px, 150-200 L-BFGS steps, style weights 1e3..4.5e5 compared "
        "by eye and by loss (docs/gatys.md)",
    ),
    "vgg19-normalized": GatysDefaults(
        content_weight=1.0,
        style_weight=5e5,
        tv_weight=0.0,
        style_layers=GATYS_PAPER_LAYERS,
        source="estimated: the cd16x setting carried over through the cd16x distillation heads, which map "
        "cd16x features to full VGG-19 ones (the real weights are not available where this was measured)",
    ),
    "vgg19-imagenet": GatysDefaults(
        content_weight=1.0,
        style_weight=STYLE_WEIGHT_VGG19_IMAGENET,
        tv_weight=0.0,
        style_layers=GATYS_PAPER_LAYERS,
        source="measured: the bundled ImageNet VGG-19 on 10 eval pairs at 256 px, 100 L-BFGS steps from the "
        "content, style weights 12..1e2 compared by the Gram-loss reduction (>= 10x) and the relu4_2 content "
        "distance (<= half the style's) (docs/gatys.md, benchmarks/gatys_acceptance.py); L-BFGS without a "
        "line search (one pass per step, as neural-style and pastiche; guarded against blow-ups): on "
        "this network it reached a lower Gram loss per step than with the strong-Wolfe search, at half the cost",
        optimizer="lbfgs",
    ),
    "imagenet": GatysDefaults(
        content_weight=1.0,
        style_weight=5e5,
        tv_weight=0.0,
        style_layers=GATYS_PAPER_LAYERS,
        source="not calibrated: the normalised VGG-19's setting; torchvision's features have another "
        "scale, so tune style_weight",
    ),
}

# Encoder variants trained on ImageNet without the normalisation (torchvision's, caffe's):
# their feature scale is not calibrated here, so they share the "imagenet" record.
_IMAGENET_VARIANTS = ("imagenet", "caffe")
_CD16X_WIDTHS = (32, 64, 128, 128)  # blocks 2-5; cd16x e1 alone has 24 channels in conv1


def encoder_family(encoder: VGGEncoder) -> str:
    """The :data:`DEFAULTS` key of ``encoder``.

    ``"vgg19-imagenet"`` (the Oxford/Caffe VGG-19: caffe input, full widths; the bundled
    default), ``"imagenet"`` (other ImageNet-input variants: torchvision's), ``"cd16x"``
    (widths 16..128) or ``"vgg19-normalized"`` (any other normalised VGG).
    """
    cfg = encoder.config
    if cfg.variant == "caffe" and cfg.arch == "vgg19" and cfg.widths == (64, 128, 256, 512, 512):
        return "vgg19-imagenet"
    if encoder.config.variant in _IMAGENET_VARIANTS:
        return "imagenet"
    if encoder.config.widths[1:] == _CD16X_WIDTHS:
        return "cd16x"
    return "vgg19-normalized"


@dataclass(frozen=True)
class GatysPreset:
    """A named recipe for :func:`adain_nst.gatys`: which encoder, and the family defaults of it.

    Arguments given explicitly to :func:`~adain_nst.gatys` override the preset's.
    """

    encoder: str
    description: str


PRESETS: dict[str, GatysPreset] = {
    "gatys2016": GatysPreset(
        "vgg19-imagenet",
        "Gatys, Ecker & Bethge (CVPR 2016): the ImageNet VGG-19, content relu4_2, style relu1_1..relu5_1 "
        "equally weighted in the paper's normalisation, L-BFGS without a line search (the default)",
    ),
    "fast": GatysPreset(
        "cd16x-e5",
        "the 16x-compressed cd16x e5 encoder: about 10x fewer FLOPs per step, a sharper, less painterly look; "
        "L-BFGS with a strong-Wolfe line search (without one it can blow up on these features)",
    ),
}
"""Named recipes; ``adain-nst gatys --preset NAME``. The default is ``"gatys2016"``."""


def default_weights(encoder: VGGEncoder) -> GatysDefaults:
    """The :class:`GatysDefaults` for ``encoder``'s family (see :func:`encoder_family`)."""
    return DEFAULTS[encoder_family(encoder)]


__all__ = [
    "CD16X_LAYERS",
    "CD16X_MEDIAN_STYLE_LOSS",
    "DEFAULTS",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "GATYS_PAPER_LAYERS",
    "PRESETS",
    "STYLE_WEIGHT_VGG19_IMAGENET",
    "GatysDefaults",
    "GatysPreset",
    "default_weights",
    "encoder_family",
]
