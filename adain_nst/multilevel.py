"""MultiLevelModel: encoder/decoder pairs at several depths, run coarse to fine (Li et al. 2017).

The multi-level pipeline of Universal Style Transfer: the image is encoded at the deepest level,
its features are transformed towards the style's (AdaIN, WCT or EFDM), decoded, re-encoded at the
next level with that level's encoder, transformed, decoded, ... down to the finest. With
reconstruction decoders (they invert features faithfully) it stylises strongly with no training
for the transform; the coarse levels carry the style's large structures and colours, the fine
ones its texture. The paper's single pass (AdaIN at relu4_1 with a decoder trained for AdaIN)
stays available as ``transform="adain", levels=("relu4_1",)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import pipeline
from ._checks import check_alpha, check_image_batch
from .architecture import LEVELS
from .errors import ConfigError, InputError
from .image import ImageLike
from .model import AdaINModel
from .nn.decoder import Decoder
from .nn.encoder import VGGEncoder
from .nn.transforms import check_transform
from .pretrained.bundled import bundled_path
from .pretrained.registry import BUNDLED_FILES, FAMILIES, REGISTRY

COARSE_TO_FINE = tuple(reversed(LEVELS))


def check_levels(levels: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """``levels`` as a tuple if they are known, available, distinct and ordered coarse to fine."""
    if isinstance(levels, str):
        raise InputError(f"levels must be a sequence of layer names, not the string {levels!r}")
    chosen = tuple(levels)
    if not chosen:
        raise InputError("levels is empty: name at least one of " + ", ".join(available))
    unknown = [lvl for lvl in chosen if lvl not in LEVELS]
    if unknown:
        raise InputError(f"unknown level(s) {unknown}; levels are {', '.join(COARSE_TO_FINE)}")
    missing = [lvl for lvl in chosen if lvl not in available]
    if missing:
        raise InputError(f"this model has no encoder/decoder pair at {missing}; it has {', '.join(available)}")
    ordered = tuple(sorted(set(chosen), key=COARSE_TO_FINE.index))
    if ordered != chosen:
        raise InputError(f"levels must be distinct and run coarse to fine: {list(ordered)}, not {list(chosen)}")
    return chosen


class MultiLevelModel(nn.Module):
    """Encoder/decoder pairs at several levels, stylising coarse to fine.

    Args:
        pairs: an :class:`AdaINModel` per level (``{"relu5_1": ..., "relu1_1": ...}``), each an
            encoder and the decoder that reconstructs its features.
        adain: optional single-level model whose decoder was trained with the AdaIN losses at its
            level; ``transform="adain"`` with ``levels=(adain.level,)`` runs it.
        transform: the default transform, ``"adain"``, ``"wct"`` or ``"efdm"``.
        levels: the default levels, coarse to fine (default: every level, deepest first).
        level_alpha: per-level factors of ``alpha`` used with the default levels.
    """

    def __init__(
        self,
        pairs: Mapping[str, AdaINModel],
        adain: AdaINModel | None = None,
        *,
        transform: str = "adain",
        levels: Sequence[str] | None = None,
        level_alpha: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if not pairs:
            raise ConfigError("a multi-level model needs at least one encoder/decoder pair")
        for level, pair in pairs.items():
            if not isinstance(pair, AdaINModel) or pair.level != level:
                raise ConfigError(f"pairs[{level!r}] must be an AdaINModel whose decoder inverts {level}")
        self.pairs = nn.ModuleDict({lvl: pairs[lvl] for lvl in COARSE_TO_FINE if lvl in pairs})
        self.adain = adain
        self.default_transform = check_transform(transform)
        self.default_levels = check_levels(levels or self.levels, self.levels)
        self.default_level_alpha = {
            lvl: check_alpha(a, f"level_alpha[{lvl!r}]") for lvl, a in (level_alpha or {}).items()
        }

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels this model has a pair at, coarse to fine."""
        return tuple(self.pairs.keys())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def cascade(self, transform: str | None = None, levels: Sequence[str] | None = None) -> pipeline.Cascade:
        """What a call runs: the transform and the pairs, coarse to fine (defaults: the model's)."""
        name = check_transform(self.default_transform if transform is None else transform)
        chosen = self.default_levels if levels is None else check_levels(levels, self._all_levels)
        if self.adain is not None and name == "adain" and chosen == (self.adain.level,):
            return pipeline.Cascade(name, (self.adain,))
        missing = [lvl for lvl in chosen if lvl not in self.pairs]
        if missing:
            raise InputError(f"this model has no reconstruction pair at {missing} for transform {name!r}")
        return pipeline.Cascade(name, tuple(self.pairs[lvl] for lvl in chosen))

    @property
    def _all_levels(self) -> tuple[str, ...]:
        extra = (self.adain.level,) if self.adain is not None else ()
        return tuple(lvl for lvl in COARSE_TO_FINE if lvl in self.pairs or lvl in extra)

    def _level_alpha(self, levels: Sequence[str] | None, level_alpha: Mapping[str, float] | None) -> Any:
        if level_alpha is not None or levels is not None or not self.default_level_alpha:
            return level_alpha
        return self.default_level_alpha

    def encode_style(
        self,
        style: Tensor | Sequence[Tensor],
        *,
        transform: str | None = None,
        levels: Sequence[str] | None = None,
        fast: bool = False,
        dtype: torch.dtype | str | None = None,
    ) -> pipeline.StyleFeatures:
        """Encode style image(s) once at every level a call will run, for many contents (``style_feats=``).

        Args:
            style: ``(B or 1, 3, H, W)`` tensor in [0, 1], or a list of them.
            transform, levels: those of the calls the features are for (defaults: the model's).
            fast: the inference engine (no autograd; ``dtype`` applies) instead of the modules.

        Returns:
            ``{level: [one (B, C, h, w) map per style]}``.
        """
        styles = [style] if isinstance(style, Tensor) else list(style)
        if not styles:
            raise InputError("at least one style image is needed")
        for i, s in enumerate(styles):
            check_image_batch(s, f"style {i}")
        cascade = self.cascade(transform, levels)
        if fast:
            with torch.inference_mode():
                return pipeline.encode_styles(cascade, styles, dtype=dtype, backend="engine")
        return pipeline.encode_styles(cascade, styles, dtype=None, backend="reference")

    def forward(
        self,
        content: Tensor,
        style: Tensor | Sequence[Tensor] | None = None,
        alpha: float = 1.0,
        *,
        transform: str | None = None,
        levels: Sequence[str] | None = None,
        level_alpha: Mapping[str, float] | None = None,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool | str | Sequence[bool | str | None] | None = False,
        style_feats: Mapping[str, Sequence[Tensor]] | None = None,
        masks: Any = None,
        region_alpha: Sequence[float] | None = None,
    ) -> Tensor:
        """The differentiable reference cascade; ``(B, 3, H, W)`` in, the raw last decoder output out.

        Arguments as :meth:`stylize`, on tensors; between levels the image is clamped to [0, 1].
        """
        cascade = self.cascade(transform, levels)
        alphas = cascade.check_alphas(check_alpha(alpha), self._level_alpha(levels, level_alpha))
        return pipeline.reference_forward(
            cascade,
            content,
            style,
            alphas,
            style_weights=style_weights,
            preserve_color=preserve_color,
            style_feats=style_feats,
            masks=masks,
            region_alpha=region_alpha,
        )

    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike] | None = None,
        alpha: float = 1.0,
        *,
        transform: str | None = None,
        levels: Sequence[str] | None = None,
        level_alpha: Mapping[str, float] | None = None,
        style_feats: Mapping[str, Sequence[Tensor]] | None = None,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool | str | Sequence[bool | str | None] | None = False,
        content_size: int | None = None,
        style_size: int | None = None,
        dtype: torch.dtype | str | None = None,
        backend: str = "engine",
        masks: Any = None,
        region_alpha: Sequence[float] | None = None,
        max_memory: int | str | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Stylise an image given as a path, PIL image, numpy array or tensor, coarse to fine.

        Args:
            content, style, style_weights, preserve_color, content_size, style_size, dtype,
                backend, masks, region_alpha, max_memory, progress: as
                :meth:`adain_nst.AdaINModel.stylize` (masks are blended at every level of the
                cascade; tiles are decoded level by level into a full image before the next).
            alpha: degree of stylisation in [0, 1] at every level (times the model's default
                per-level factors when ``levels`` and ``level_alpha`` are not given).
            transform: ``"adain"``, ``"wct"`` or ``"efdm"`` (default: the model's).
            levels: layer names coarse to fine, e.g. ``("relu5_1", "relu4_1", "relu3_1")``
                (default: the model's); ``("relu4_1",)`` with ``"adain"`` is the paper's single
                pass with the AdaIN-trained decoder.
            level_alpha: per-level alpha, ``{"relu1_1": 0.5, ...}`` (others get ``alpha``).
            style_feats: :meth:`encode_style` output for the same transform and levels.

        Returns:
            The stylised image, values in [0, 1], at the (resized) content's exact size.
        """
        return pipeline.stylize(
            self,
            content,
            style,
            alpha,
            transform=transform,
            levels=levels,
            level_alpha=self._level_alpha(levels, level_alpha),
            style_feats=style_feats,
            style_weights=style_weights,
            preserve_color=preserve_color,
            content_size=content_size,
            style_size=style_size,
            dtype=dtype,
            backend=backend,
            masks=masks,
            region_alpha=region_alpha,
            max_memory=max_memory,
            progress=progress,
        )

    @classmethod
    def from_pretrained(cls, name: str = "cd16x", *, device: str | torch.device | None = None) -> MultiLevelModel:
        """A registered family (see ``adain-nst models``): its bundled pairs, never the network."""
        spec = FAMILIES.get(name)
        if spec is None:
            raise InputError(f"unknown model family {name!r}; families: {', '.join(sorted(FAMILIES))}")
        encoders: dict[str, VGGEncoder] = {}

        def encoder(key: str) -> VGGEncoder:  # one module per file: the AdaIN model shares e4 with its pair
            if key not in encoders:
                encoders[key] = VGGEncoder.from_checkpoint(bundled_path(BUNDLED_FILES[key]))
            return encoders[key]

        def decoder(key: str) -> Decoder:
            return Decoder.from_checkpoint(bundled_path(BUNDLED_FILES[key]))

        pairs = {level: AdaINModel(encoder(e), decoder(d)).eval() for level, e, d in spec.pairs}
        adain = None
        adain_spec = REGISTRY.get(spec.adain_model or "")
        if adain_spec is not None and adain_spec.bundled is not None:
            adain = AdaINModel(encoder(adain_spec.bundled[0]), decoder(adain_spec.bundled[1]), adain_spec.eps).eval()
        elif adain_spec is not None:
            adain = AdaINModel.from_pretrained(adain_spec.name)
        model = cls(pairs, adain, transform=spec.transform, levels=spec.levels, level_alpha=dict(spec.level_alpha))
        model.eval().requires_grad_(False)
        return model.to(device) if device is not None else model


__all__ = ["COARSE_TO_FINE", "MultiLevelModel", "check_levels"]
