"""Neural style transfer by image optimisation (Gatys, Ecker & Bethge, CVPR 2016).

The image itself is optimised, in pixel space, so that its VGG features match the content
image's at the content layers and its Gram matrices match the style image's at the style
layers. Slow (hundreds of forward/backward passes) but the quality reference that
feed-forward methods such as AdaIN are compared against.

Pieces:

* functional losses: :func:`gram_matrix`, :func:`content_loss`, :func:`style_loss`,
  :func:`total_variation`;
* :class:`GatysLoss`, a criterion that encodes the content and style targets once, caches
  them, and returns the weighted sum for an image;
* :func:`gatys`, the optimisation loop (L-BFGS or Adam, optional coarse-to-fine scales,
  style blending, colour preservation), taking and returning any image kind that
  :meth:`adain_nst.AdaINModel.stylize` takes;
* :data:`TORCHVISION_VGG_WEIGHTS`: the published torchvision ImageNet VGG-16/19 files
  (URL, size, full sha256) that the ``"imagenet"`` encoder variant loads.

Loss definitions (``F`` = features ``(B, C, H, W)`` of one layer, ``G = F F^T / (C H W)``)::

    content_l = mean((F_l(x) - F_l(c))**2)
    style_l   = mean((G_l(x) - sum_i w_i G_l(s_i))**2)
    tv        = mean((x[..., 1:, :] - x[..., :-1, :])**2) + mean((x[..., 1:] - x[..., :-1])**2)
    total     = content_weight * sum_l a_l content_l + style_weight * sum_l b_l style_l + tv_weight * tv

with per-layer weights ``a_l``, ``b_l`` (a plain list of layers: equal weights summing to 1).
:data:`DEFAULTS` holds the weights used when none are given, per encoder family.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_style_weights as normalize_style_weights
from .._io import sha256_file
from ..color import check_color_mode, coral, transfer_luminance
from ..errors import ChecksumError, InputError
from ..image import ImageLike, from_tensor, resize_shorter, to_tensor
from ..nn.encoder import VGGEncoder
from ..nn.plan import layer_names

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")

LayerSpec = Sequence[str] | Mapping[str, float]
EncoderLike = VGGEncoder | str | os.PathLike[str]
Callback = Callable[[int, dict[str, float]], Any]
Snapshot = Callable[[int, Tensor], Any]


# --------------------------------------------------------------------------------------------
# functional losses
# --------------------------------------------------------------------------------------------
def gram_matrix(feat: Tensor, normalize: bool = True) -> Tensor:
    """Gram matrix of feature maps: channel-by-channel inner products over positions.

    Args:
        feat: ``(B, C, H, W)`` features.
        normalize: divide by the number of elements of one feature map stack, ``C * H * W``,
            so the value does not grow with the image size.

    Returns:
        ``(B, C, C)``, symmetric; ``G[b, i, j] = sum_hw feat[b, i] * feat[b, j] / (C * H * W)``.
    """
    if feat.dim() != 4:
        raise InputError(f"features must be (B, C, H, W), got shape {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    flat = feat.reshape(b, c, h * w)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    return gram / (c * h * w) if normalize else gram


def content_loss(input_feat: Tensor, target_feat: Tensor) -> Tensor:
    """Mean squared difference of two feature maps (the Gatys content loss, averaged).

    Args:
        input_feat: ``(B, C, H, W)``.
        target_feat: ``(B, C, H, W)`` or ``(1, C, H, W)`` (broadcast over the batch).

    Returns:
        scalar tensor.
    """
    if input_feat.shape[1:] != target_feat.shape[1:]:
        raise InputError(
            f"content features differ in shape: {tuple(input_feat.shape)} vs {tuple(target_feat.shape)} "
            "(the image being optimised must have the content image's size)"
        )
    return F.mse_loss(input_feat, target_feat.expand_as(input_feat))


def style_loss(input_feat: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference between the Gram matrix of ``input_feat`` and a target Gram.

    Args:
        input_feat: ``(B, C, H, W)`` features of the image being optimised.
        target: a target Gram matrix ``(B or 1, C, C)`` (see :func:`gram_matrix`), or the
            style image's features ``(B or 1, C, H', W')``, whose Gram matrix is then taken
            here; sizes may differ from ``input_feat``'s.

    Returns:
        scalar tensor: ``mean((gram_matrix(input_feat) - target_gram) ** 2)`` over ``B*C*C``.
    """
    target_gram = gram_matrix(target) if target.dim() == 4 else target
    gram = gram_matrix(input_feat)
    if target_gram.dim() != 3 or target_gram.shape[1:] != gram.shape[1:]:
        raise InputError(f"style target of shape {tuple(target.shape)} does not fit features {tuple(input_feat.shape)}")
    return F.mse_loss(gram, target_gram.expand_as(gram))


def total_variation(image: Tensor) -> Tensor:
    """Squared total variation: mean squared difference of vertical plus of horizontal neighbours.

    Args:
        image: ``(B, C, H, W)`` with ``H, W >= 2``; for RGB in [0, 1] the result is in [0, 2].

    Returns:
        scalar tensor; averaging (rather than summing) keeps it independent of the image size.
    """
    if image.dim() != 4 or image.shape[-1] < 2 or image.shape[-2] < 2:
        raise InputError(f"total_variation needs (B, C, H, W) with H, W >= 2, got {tuple(image.shape)}")
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


# --------------------------------------------------------------------------------------------
# option checks
# --------------------------------------------------------------------------------------------
def _check_weight(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (v >= 0.0 and math.isfinite(v)):  # also rejects NaN
        raise InputError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _layer_weights(layers: LayerSpec, what: str) -> dict[str, float]:
    """Normalise a layer spec to ``{name: weight}``; a plain sequence gets equal weights summing to 1."""
    if isinstance(layers, str):
        raise InputError(f"{what} must be a sequence of layer names or a {{name: weight}} mapping, not {layers!r}")
    if isinstance(layers, Mapping):
        out = {str(k): _check_weight(f"{what} weight of {k!r}", v) for k, v in layers.items()}
    else:
        names = list(layers)
        if len(set(names)) != len(names):
            raise InputError(f"{what} lists a layer twice: {names}")
        out = {str(n): 1.0 / len(names) for n in names} if names else {}
    return out


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


# --------------------------------------------------------------------------------------------
# the criterion
# --------------------------------------------------------------------------------------------
class GatysLoss(nn.Module):
    """Weighted content + style (Gram) + total-variation loss with cached targets.

    Call :meth:`set_content` and :meth:`set_style` (or :meth:`set_targets`) once: the
    targets are encoded without gradients and kept; every later call only encodes the image
    being optimised, and only up to the deepest layer needed.

    Args:
        encoder: a :class:`VGGEncoder` reaching every requested layer; it is put in eval
            mode and its parameters are frozen (shared, not copied).
        content_layers: layer names (equal weights summing to 1) or ``{name: weight}``.
        style_layers: the same for the style (Gram) term; ``None``: relu1_1..relu5_1 with the
            encoder family's layer weights (:data:`DEFAULTS`).
        content_weight, style_weight, tv_weight: factors of the three terms, >= 0; ``None``
            takes the encoder family's value from :data:`DEFAULTS`, so ``GatysLoss(encoder)``
            is the criterion :func:`gatys` optimises by default.

    ``forward(image)`` takes ``(B, 3, H, W)`` RGB (nominally [0, 1]) at the content
    target's size and returns the scalar total; :meth:`losses` returns every term.
    """

    def __init__(
        self,
        encoder: VGGEncoder,
        *,
        content_layers: LayerSpec = DEFAULT_CONTENT_LAYERS,
        style_layers: LayerSpec | None = None,
        content_weight: float | None = None,
        style_weight: float | None = None,
        tv_weight: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, VGGEncoder):
            raise InputError(f"encoder must be a VGGEncoder, got {type(encoder).__name__}")
        defaults = default_weights(encoder)
        self.content_layers = _layer_weights(content_layers, "content_layers")
        s_layers = defaults.style_layers if style_layers is None else style_layers
        self.style_layers = _layer_weights(s_layers, "style_layers")
        check_encoder_layers(encoder, list(self.content_layers), "content_layers")
        check_encoder_layers(encoder, list(self.style_layers), "style_layers")
        # None: the encoder family's tuned value.
        cw = defaults.content_weight if content_weight is None else content_weight
        sw = defaults.style_weight if style_weight is None else style_weight
        tw = defaults.tv_weight if tv_weight is None else tv_weight
        self.content_weight = _check_weight("content_weight", cw)
        self.style_weight = _check_weight("style_weight", sw)
        self.tv_weight = _check_weight("tv_weight", tw)
        self.encoder = encoder.eval().requires_grad_(False)
        self._content_targets: dict[str, Tensor] = {}
        self._style_targets: dict[str, Tensor] = {}

    # Layers whose features the optimised image needs, in the encoder's forward order.
    def _layers(self) -> list[str]:
        wanted = {n for n, w in self.content_layers.items() if w > 0 and self.content_weight > 0}
        wanted |= {n for n, w in self.style_layers.items() if w > 0 and self.style_weight > 0}
        return [n for n in self.encoder.layer_names if n in wanted]

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @torch.no_grad()
    def set_content(self, content: Tensor) -> None:
        """Encode and cache the content target. ``content``: ``(B, 3, H, W)`` RGB in [0, 1]."""
        _check_image(content, "content")
        layers = list(self.content_layers)
        self._content_targets = {k: v.detach().clone() for k, v in self.encoder(content, layers).items()}

    @torch.no_grad()
    def set_style(self, style: Tensor | Sequence[Tensor], style_weights: Sequence[float] | None = None) -> None:
        """Encode and cache the style target: the weighted mean of the styles' Gram matrices.

        Blending Gram matrices gives the same gradients as the weighted sum of per-style
        losses (they differ by a constant), at the cost of one Gram per layer.

        Args:
            style: ``(1 or B, 3, H, W)`` RGB in [0, 1], or a list of them (any sizes).
            style_weights: one weight >= 0 per style, normalised to sum 1 (default equal).
        """
        styles = [style] if isinstance(style, Tensor) else list(style)
        if not styles:
            raise InputError("at least one style image is needed")
        weights = normalize_style_weights(style_weights, len(styles))
        layers = list(self.style_layers)
        targets: dict[str, Tensor] = {}
        for i, (s, w) in enumerate(zip(styles, weights, strict=True)):
            _check_image(s, f"style {i}")
            for name, feat in self.encoder(s, layers).items():
                g = gram_matrix(feat) * w
                targets[name] = targets[name] + g if name in targets else g
        self._style_targets = targets

    def set_targets(
        self, content: Tensor, style: Tensor | Sequence[Tensor], style_weights: Sequence[float] | None = None
    ) -> None:
        """:meth:`set_content` and :meth:`set_style` in one call."""
        self.set_content(content)
        self.set_style(style, style_weights)

    def losses(self, image: Tensor) -> dict[str, Tensor]:
        """Every term for ``image`` ``(B, 3, H, W)``.

        Returns:
            ``{"total", "content", "style", "tv"}`` (weighted terms; ``total`` is their sum)
            plus ``"content/<layer>"`` and ``"style/<layer>"`` (unweighted per-layer losses);
            all scalar tensors connected to ``image``'s graph.
        """
        need_content = self.content_weight > 0 and bool(self.content_layers)
        need_style = self.style_weight > 0 and bool(self.style_layers)
        if need_content and not self._content_targets:
            raise InputError("no content target: call set_content() first")
        if need_style and not self._style_targets:
            raise InputError("no style target: call set_style() first")
        layers = self._layers()
        feats = self.encoder(image, layers) if layers else {}
        zero = image.new_zeros(())
        out: dict[str, Tensor] = {}
        c_total, s_total = zero, zero
        for name, w in self.content_layers.items():
            if name in feats and name in self._content_targets:
                loss = content_loss(feats[name], self._content_targets[name])
                out[f"content/{name}"] = loss
                c_total = c_total + w * loss
        for name, w in self.style_layers.items():
            if name in feats and name in self._style_targets:
                loss = style_loss(feats[name], self._style_targets[name])
                out[f"style/{name}"] = loss
                s_total = s_total + w * loss
        tv = total_variation(image) * self.tv_weight if self.tv_weight > 0 else zero
        out["content"] = c_total * self.content_weight
        out["style"] = s_total * self.style_weight
        out["tv"] = tv
        out["total"] = out["content"] + out["style"] + tv
        return out

    def forward(self, image: Tensor) -> Tensor:
        """Weighted total loss (scalar) of ``image`` ``(B, 3, H, W)``."""
        return self.losses(image)["total"]

    def extra_repr(self) -> str:
        return (
            f"content_layers={self.content_layers}, style_layers={self.style_layers}, "
            f"content_weight={self.content_weight:g}, style_weight={self.style_weight:g}, tv_weight={self.tv_weight:g}"
        )


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{name} must be a (B, 3, H, W) tensor, got {shape}")


# --------------------------------------------------------------------------------------------
# per-encoder defaults
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GatysDefaults:
    """Loss weights :func:`gatys` uses for an encoder family when the caller gives none.

    ``style_layers`` maps the default style layers to their weights; ``source`` says how
    the numbers were found (see ``docs/gatys.md``).
    """

    content_weight: float
    style_weight: float
    tv_weight: float
    style_layers: Mapping[str, float]
    source: str


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
    "imagenet": GatysDefaults(
        content_weight=1.0,
        style_weight=5e5,
        tv_weight=0.0,
        style_layers=GATYS_PAPER_LAYERS,
        source="not calibrated: the normalised VGG-19's setting; torchvision's features have another "
        "scale, so tune style_weight",
    ),
}


def encoder_family(encoder: VGGEncoder) -> str:
    """``"imagenet"``, ``"cd16x"`` (widths 16..128) or ``"vgg19-normalized"`` (anything else)."""
    if encoder.config.variant == "imagenet":
        return "imagenet"
    if encoder.config.widths[1:] == (32, 64, 128, 128):  # cd16x e1 alone has 24 channels in conv1
        return "cd16x"
    return "vgg19-normalized"


def default_weights(encoder: VGGEncoder) -> GatysDefaults:
    """The :class:`GatysDefaults` for ``encoder``'s family."""
    return DEFAULTS[encoder_family(encoder)]


# --------------------------------------------------------------------------------------------
# the optimisation loop
# --------------------------------------------------------------------------------------------
DEFAULT_ENCODER = "vgg19-adain"  # the registered model whose encoder reaches relu5_1


def resolve_encoder(encoder: EncoderLike | None) -> VGGEncoder:
    """A :class:`VGGEncoder` as given, or loaded from a checkpoint file, registry name, Hub repo or folder.

    * a :class:`VGGEncoder` is used as is;
    * an existing file is read in any supported key layout (pytorch-AdaIN
      ``vgg_normalised.pth``, cd16x ``e5.pth``, torchvision ``vgg16/vgg19-*.pth`` (the
      published files are checked against their sha256), or ours);
    * anything else goes to :func:`adain_nst.hub.load_encoder` (imported only then);
      ``None`` is :data:`DEFAULT_ENCODER`.
    """
    if isinstance(encoder, VGGEncoder):
        return encoder
    if isinstance(encoder, nn.Module):
        raise InputError(f"encoder must be a VGGEncoder, got {type(encoder).__name__}")
    if encoder is not None and Path(encoder).is_file():
        return _encoder_from_file(Path(encoder))
    from .hub import load_encoder

    return load_encoder(DEFAULT_ENCODER if encoder is None else encoder)


def _encoder_from_file(path: Path) -> VGGEncoder:
    from .checkpoints import detect_layout, encoder_from_torchvision, load_encoder_any, load_state_dict

    for spec in TORCHVISION_VGG_WEIGHTS.values():
        if path.name == spec.filename:  # the published file: verify it, as the registry would
            return load_torchvision_vgg(path, arch=spec.arch)
    sd = load_state_dict(path)
    if detect_layout(sd) != "torchvision":
        return load_encoder_any(sd)
    # VGG-16 and VGG-19 share the feature indices up to conv3_3; past it they differ.
    indices = {int(k.split(".")[1]) for k in sd if k.startswith("features.")}
    vgg16_only = {17, 24, 26}
    arch = "vgg16" if indices & vgg16_only else "vgg19"
    return encoder_from_torchvision(sd, arch=arch)


def _check_steps(steps: int | Sequence[int], n_scales: int) -> list[int]:
    if isinstance(steps, int):
        values = [steps] * n_scales
    elif isinstance(steps, Sequence) and not isinstance(steps, str):
        values = list(steps)
    else:
        raise InputError(f"steps must be an int >= 1 or one int per scale, got {steps!r}")
    if len(values) != n_scales:
        raise InputError(f"steps has {len(values)} entries for {n_scales} scale(s)")
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise InputError(f"steps must be an int >= 1 (per scale), got {steps!r}")
    return values


def _check_scales(scales: Sequence[int] | None, content_size: int | None) -> list[int | None]:
    if scales is None:
        return [content_size]
    values = list(scales)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 16 for s in values):
        raise InputError(f"scales must be shorter-side sizes in px (ints >= 16), got {scales!r}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise InputError(f"scales must increase (coarse to fine), got {scales!r}")
    if content_size is not None and content_size != values[-1]:
        raise InputError(f"content_size={content_size} disagrees with the last scale {values[-1]}; give one of them")
    return list(values)


def _resize_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)


def _scaled(x: Tensor, factor: float) -> Tensor:
    """``x`` resized by ``factor`` (shorter side at least 16 px)."""
    if factor == 1.0:
        return x
    short = max(16, round(min(x.shape[-2:]) * factor))
    return resize_shorter(x, short)


def gatys(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    encoder: EncoderLike | None = None,
    content_layers: LayerSpec = DEFAULT_CONTENT_LAYERS,
    style_layers: LayerSpec | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    optimizer: str = "lbfgs",
    steps: int | Sequence[int] = 300,
    lr: float | None = None,
    init: str | ImageLike = "content",
    scales: Sequence[int] | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | None = None,
    seed: int = 0,
    callback: Callback | None = None,
    progress: bool = True,
    content_size: int | None = None,
    style_size: int | None = None,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 0,
) -> Any:
    """Stylise ``content`` with ``style`` by optimising the image (Gatys et al. 2016).

    Args:
        content: the photo: path, PIL image, numpy array or tensor, RGB in [0, 1] (see
            :func:`adain_nst.image.to_tensor`). A batch ``(B, 3, H, W)`` is optimised jointly.
        style: one style image of any of those kinds, or a list of them to blend.
        encoder: a :class:`VGGEncoder` (used as is, on its device), a checkpoint file, or a
            registry name, Hub repo id or local folder (see :func:`resolve_encoder`);
            ``None``: :data:`DEFAULT_ENCODER`. It must reach every layer used.
        content_layers: names, or ``{name: weight}``; default ``("relu4_2",)``.
        style_layers: names, or ``{name: weight}``; default relu1_1..relu5_1 with the
            encoder family's layer weights (:data:`DEFAULTS`).
        content_weight, style_weight, tv_weight: weights of the three terms (>= 0);
            ``None`` takes the encoder family's value from :data:`DEFAULTS`.
        optimizer: ``"lbfgs"`` (a step is one iteration: about 2 forward/backward passes with
            its line search) or ``"adam"`` (one pass per step).
        steps: optimiser steps per scale: an int, or one int per entry of ``scales``.
        lr: step size; default 1.0 for L-BFGS, 0.02 (pixel units) for Adam.
        init: ``"content"`` (start from the content), ``"noise"`` (uniform [0, 1] noise drawn
            from ``seed``) or an image of any accepted kind (resized to the first scale).
        scales: coarse-to-fine shorter-side sizes in px, e.g. ``(256, 512)``; each scale
            starts from the previous result upsampled, with fresh optimiser state. The output
            has the last scale's size. ``None``: one pass at the content's (resized) size.
        style_weights: blending weights, one per style, >= 0 (normalised to sum 1).
        preserve_color: ``None``/``False``, ``"coral"`` (or ``True``: recolour the styles to
            the content's colour statistics first) or ``"luminance"`` (keep the content's
            chrominance in the result).
        seed: seeds the noise init; the optimisation itself is deterministic, so equal
            inputs and seeds give equal outputs on CPU.
        callback: called after every step as ``callback(step, losses)``, ``step`` counting
            from 1 across all scales and ``losses`` the floats ``total``, ``content``,
            ``style``, ``tv`` (weighted) and ``scale`` (index of the current scale).
        progress: show a tqdm bar with the step and losses.
        content_size: resize the content so its shorter side is this many px first.
        style_size: the same for the styles (at the last scale; coarser scales shrink the
            styles by the same factor as the content, so the texture scale stays put).
        snapshot: called as ``snapshot(step, image)`` every ``snapshot_every`` steps and
            after the last one, with the current image ``(B, 3, H, W)`` on the CPU, in [0, 1].
        snapshot_every: see ``snapshot``; 0 only calls it after the last step.

    Returns:
        The result as the same kind as ``content`` (a path gives a PIL image), at the
        (resized) content's size or the last scale's, values clamped to [0, 1].

    Optimisation: pixels are optimised directly and kept in [0, 1] by projection: after
    every step they are clamped, gradients pushing a pixel further out of range are
    zeroed, and L-BFGS's curvature pair is recomputed from the step actually taken, so its
    Hessian model stays consistent. Unconstrained L-BFGS drifts far outside [0, 1] (a final
    clamp then ruins the image), and L-BFGS without a line search can blow up, so each step
    uses a strong-Wolfe line search (about 2 forward/backward passes per step on average).
    """
    # -- validate everything before any heavy work --
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if isinstance(init, str) and init not in INITS:
        raise InputError(f"init must be one of {INITS} or an image, got {init!r}")
    sizes = _check_scales(scales, content_size)
    step_counts = _check_steps(steps, len(sizes))
    if lr is None:
        lr = 1.0 if optimizer == "lbfgs" else 0.02
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a number > 0, got {lr!r}")
    if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or snapshot_every < 0:
        raise InputError(f"snapshot_every must be an int >= 0, got {snapshot_every!r}")
    mode = check_color_mode(preserve_color)
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles_in:
        raise InputError("at least one style image is needed")
    blend = normalize_style_weights(style_weights, len(styles_in))
    for name, value in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
        if value is not None:
            _check_weight(name, value)
    c_spec = _layer_weights(content_layers, "content_layers")
    s_spec = None if style_layers is None else _layer_weights(style_layers, "style_layers")

    criterion = GatysLoss(
        resolve_encoder(encoder),
        content_layers=c_spec,
        style_layers=s_spec,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
    )
    if criterion.content_weight == criterion.style_weight == criterion.tv_weight == 0:
        raise InputError("content_weight, style_weight and tv_weight are all 0: nothing to optimise")
    device = criterion.device

    x_full, kind = to_tensor(content, "content")
    x_full = x_full.to(device)
    styles_full = [to_tensor(s, f"style {i}")[0].to(device) for i, s in enumerate(styles_in)]
    if style_size is not None:
        styles_full = [resize_shorter(s, style_size) for s in styles_full]
    init_img = None if isinstance(init, str) else to_tensor(init, "init")[0].to(device)
    final = sizes[-1] if sizes[-1] is not None else min(x_full.shape[-2:])
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    total_steps = sum(step_counts)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, desc="gatys", unit="step")
    done = 0

    def report(step: int, index: int, parts: Mapping[str, Tensor]) -> None:
        losses = {k: float(parts[k]) for k in ("total", "content", "style", "tv")}
        if not math.isfinite(losses["total"]):
            raise InputError(f"the loss became {losses['total']} at step {step}; lower lr or the loss weights")
        losses["scale"] = float(index)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                scale=f"{index + 1}/{len(sizes)}",
                total=f"{losses['total']:.3g}",
                content=f"{losses['content']:.3g}",
                style=f"{losses['style']:.3g}",
            )
        if callback is not None:
            callback(step, losses)

    image: Tensor | None = None
    try:
        for index, (size, n_steps) in enumerate(zip(sizes, step_counts, strict=True)):
            target = resize_shorter(x_full, size)
            hw = (int(target.shape[-2]), int(target.shape[-1]))
            factor = (size / final) if size is not None else 1.0
            styles = [_scaled(s, factor) for s in styles_full]
            if mode == "coral":
                # Recolour at every scale so the target colours follow the content exactly.
                styles = [coral(s, target).clamp(0.0, 1.0) for s in styles]
            criterion.set_targets(target, styles, blend)
            if image is not None:
                start = _resize_to(image, hw)
            elif init_img is not None:
                start = _resize_to(init_img, hw).expand_as(target)
            elif init == "noise":
                start = torch.rand(target.shape, generator=generator).to(device)
            else:
                start = target

            def on_step(
                k: int, parts: Mapping[str, Tensor], pixels: Tensor, index: int = index, base: int = done
            ) -> None:
                step = base + k
                report(step, index, parts)
                # The last image is snapshotted below, after colour preservation.
                if snapshot is not None and snapshot_every and step % snapshot_every == 0 and step < total_steps:
                    snapshot(step, pixels.detach().clamp(0.0, 1.0).cpu())

            image = _optimise(criterion, start, optimizer, float(lr), n_steps, on_step)
            done += n_steps
    finally:
        if bar is not None:
            bar.close()

    assert image is not None
    out = image.clamp(0.0, 1.0)
    if mode == "luminance":
        out = transfer_luminance(out, resize_shorter(x_full, sizes[-1])).clamp(0.0, 1.0)
    if snapshot is not None:
        snapshot(done, out.cpu())
    return from_tensor(out, kind)


StepHook = Callable[[int, Mapping[str, Tensor], Tensor], None]


def _optimise(
    criterion: GatysLoss, start: Tensor, optimizer: str, lr: float, n_steps: int, on_step: StepHook
) -> Tensor:
    """Run ``n_steps`` projected optimiser steps from ``start``; returns the final pixels.

    ``on_step(k, losses, pixels)`` is called once per step k = 1..n_steps with the losses
    of the image after step k (measured by the first evaluation of step k + 1, or by one
    extra forward after the last step) and that image.
    """
    pixels = start.detach().clone().contiguous().requires_grad_(True)
    if optimizer == "lbfgs":
        # max_iter=1: one step() is one L-BFGS iteration, so steps, callbacks and the bar count
        # the same thing (the history lives in the optimizer state across calls). max_eval
        # bounds the strong-Wolfe line search; the tolerances are off because we stop by count
        # and the losses can be tiny in absolute terms.
        optim: torch.optim.Optimizer = torch.optim.LBFGS(
            [pixels],
            lr=lr,
            max_iter=1,
            max_eval=20,
            history_size=100,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    else:
        optim = torch.optim.Adam([pixels], lr=lr)
    # The first evaluation of step k + 1 measures the image step k left (projected): report
    # it then, before the optimiser moves the pixels.
    report_step = [0]

    def closure() -> Tensor:
        optim.zero_grad(set_to_none=False)
        parts = criterion.losses(pixels)
        parts["total"].backward()
        if report_step[0]:
            on_step(report_step[0], {k: v.detach() for k, v in parts.items()}, pixels)
            report_step[0] = 0
        with torch.no_grad():
            # Projected gradient: a pixel at a bound whose gradient points outward cannot move.
            g = pixels.grad
            assert g is not None
            g.masked_fill_(((pixels <= 0) & (g > 0)) | ((pixels >= 1) & (g < 0)), 0.0)
        return parts["total"]

    for k in range(n_steps):
        before = pixels.detach().clone() if optimizer == "lbfgs" else None
        report_step[0] = k
        if optimizer == "lbfgs":
            optim.step(closure)
        else:
            closure()
            optim.step()
        with torch.no_grad():
            pixels.clamp_(0.0, 1.0)
        if before is not None:
            _fix_lbfgs_step(optim, pixels, before)
    with torch.no_grad():
        on_step(n_steps, criterion.losses(pixels), pixels)
    return pixels.detach()


def _fix_lbfgs_step(optim: torch.optim.Optimizer, pixels: Tensor, before: Tensor) -> None:
    """Make L-BFGS's next curvature pair use the step actually taken (after clamping).

    torch's LBFGS forms ``s = d * t`` from its stored direction and step length; replacing
    ``d`` by ``(x_new - x_old) / t`` keeps ``s`` equal to the real displacement, so the pair
    ``(s, y)`` describes the objective and is not corrupted by the projection.
    """
    state = optim.state[pixels]
    t = state.get("t")
    if state.get("d") is None or t is None or float(t) == 0.0:
        return
    state["d"] = (pixels.detach() - before).flatten() / t


# --------------------------------------------------------------------------------------------
# torchvision ImageNet VGG weights (the "imagenet" encoder variant)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchvisionVGGWeights:
    """A published torchvision ImageNet VGG checkpoint (``features.N.*`` + ``classifier.*`` keys).

    ``sha256`` is the full digest of the file at ``url``; torchvision's own hash check
    compares only the 8 hex digits in the file name.
    """

    arch: str
    url: str
    filename: str
    sha256: str
    num_bytes: int
    license: str = "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of use also apply"
    docs: str = "https://pytorch.org/vision/stable/models/vgg.html"


# Digests as published by many independent projects that pin these files (e.g. LibreYOLO's
# weight table and several download scripts); each agrees with the 8-hex prefix torchvision
# puts in the file name. Not recomputed here: these machines cannot download the files.
TORCHVISION_VGG_WEIGHTS: dict[str, TorchvisionVGGWeights] = {
    "vgg16": TorchvisionVGGWeights(
        arch="vgg16",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        num_bytes=553_433_881,
    ),
    "vgg19": TorchvisionVGGWeights(
        arch="vgg19",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        filename="vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        num_bytes=574_673_361,
    ),
}


def load_torchvision_vgg(
    path: str | os.PathLike[str],
    *,
    arch: str = "vgg19",
    last_layer: str = "relu5_1",
    check_sha256: bool = True,
) -> VGGEncoder:
    """``"imagenet"`` :class:`VGGEncoder` from a torchvision ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``.

    Args:
        path: the downloaded checkpoint (see :data:`TORCHVISION_VGG_WEIGHTS` for the URLs).
        arch: ``"vgg16"`` or ``"vgg19"``.
        last_layer: build up to this layer (Gatys needs relu5_1 at most); the classifier
            and deeper convs are dropped.
        check_sha256: compare the file with the published full digest first and raise
            :class:`ChecksumError` on a mismatch; turn off for retrained or converted files.

    Returns:
        the encoder in eval mode, frozen; inputs RGB in [0, 1] (ImageNet mean/std applied inside).
    """
    if arch not in TORCHVISION_VGG_WEIGHTS:
        raise InputError(f"arch must be one of {sorted(TORCHVISION_VGG_WEIGHTS)}, got {arch!r}")
    p = Path(path)
    if not p.is_file():
        spec = TORCHVISION_VGG_WEIGHTS[arch]
        raise FileNotFoundError(f"checkpoint not found: {p} (download {spec.url})")
    if check_sha256:
        spec = TORCHVISION_VGG_WEIGHTS[arch]
        actual = sha256_file(p)
        if actual != spec.sha256:
            raise ChecksumError(
                f"{p} has sha256 {actual}, expected {spec.sha256} for torchvision's {spec.filename}; "
                "download it again, or pass check_sha256=False for a file you trust"
            )
    from .checkpoints import encoder_from_torchvision

    return encoder_from_torchvision(p, arch=arch, last_layer=last_layer)


# --------------------------------------------------------------------------------------------
# animation
# --------------------------------------------------------------------------------------------
def save_animation(
    frames: Sequence[Tensor],
    path: str | os.PathLike[str],
    *,
    frame_ms: int = 100,
    last_frame_ms: int = 1500,
) -> Path:
    """Write images as an animated GIF (looping), atomically: temp file, then rename.

    Args:
        frames: ``(3, H, W)`` or ``(1, 3, H, W)`` tensors in [0, 1] (clamped); frames of other
            sizes (coarser scales) are resized to the last frame's size.
        path: output file; its suffix must be ``.gif``.
        frame_ms: display time of each frame, milliseconds.
        last_frame_ms: display time of the final frame, so the result can be seen.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import secrets

    from PIL import Image

    from .image import ImageKind

    out = Path(path)
    if out.suffix.lower() != ".gif":
        raise InputError(f"the animation must be a .gif file, got {out}")
    if not frames:
        raise InputError("no frames to write")
    images = []
    for f in frames:
        x = f.detach().float().cpu()
        images.append(from_tensor(x if x.dim() == 4 else x.unsqueeze(0), ImageKind("pil")))
    size = images[-1].size
    images = [im if im.size == size else im.resize(size, Image.Resampling.BICUBIC) for im in images]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    out.parent.mkdir(parents=True, exist_ok=True)
    # os.open with mode 0o666 lets the umask decide the permissions (mkstemp would make the
    # finished file private, 0o600); O_EXCL keeps the temp name ours.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            images[0].save(
                fh, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False
            )
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
