"""The quality judge: features from a named encoder -> content and style measures.

A :class:`Judge` measures a stylised image with the AdaIN paper's definitions
(Huang & Belongie 2017, eqs. 11-12; see :mod:`adain_nst.train.losses`), in its own
encoder's feature space:

* content loss: ``MSE(E(output), AdaIN(E(content), E(style)))`` at ``content_layer``;
* style loss: sum over ``style_layers`` of MSE(channel mean) + MSE(channel std) between
  ``E(output)`` and ``E(style)``.

and, with :meth:`Judge.content_distance`, how far the output moved from the photo itself:

* content distance: ``MSE(E(output), E(content))`` at a layer (default ``relu4_1``). Unlike
  the content loss, its target does not depend on the style, so it compares the content kept
  by methods that aim at different feature statistics (multi-level WCT, EFDM, ...).

Lower is better for all three. Use an encoder other than the one that stylised (e.g. the cd16x
``e5`` for models on ``e4``), so the measure is not the quantity the decoder was trained on.
``benchmarks/quality.py`` and the tests use it; any :class:`~adain_nst.VGGEncoder` plugs in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .architecture import layer_names
from .errors import InputError
from .image import ImageLike, to_tensor
from .nn.encoder import VGGEncoder
from .nn.transforms import adaptive_instance_norm
from .optimization.losses import gram_matrix
from .pretrained import formats
from .train.losses import STYLE_LAYERS, adain_content_loss, moment_style_loss


class QualityScore(NamedTuple):
    """What :meth:`Judge.measure` returns: two non-negative floats, lower is better."""

    content_loss: float
    style_loss: float


class Judge:
    """Measures stylised images with a fixed encoder (frozen, eval mode).

    Args:
        encoder: any :class:`~adain_nst.VGGEncoder` that reaches ``content_layer`` and
            every style layer.
        content_layer: layer of the content loss (the paper: ``"relu4_1"``).
        style_layers: layers of the style loss (the paper: relu1_1..relu4_1).
        name: how reports name the measuring network (e.g. ``"cd16x e5"``).
        eps: the AdaIN variance epsilon of the content target.
    """

    def __init__(
        self,
        encoder: VGGEncoder,
        *,
        content_layer: str = "relu4_1",
        style_layers: Sequence[str] = STYLE_LAYERS,
        name: str | None = None,
        eps: float = 1e-5,
    ) -> None:
        if isinstance(style_layers, str) or not style_layers:
            raise InputError(f"style_layers must be a non-empty sequence of layer names, got {style_layers!r}")
        encoder.check_layers([content_layer, *style_layers])
        self.encoder = encoder.eval().requires_grad_(False)
        self.content_layer = content_layer
        self.style_layers = tuple(style_layers)
        self.layers = tuple(dict.fromkeys([*self.style_layers, content_layer]))
        self.name = name or f"{encoder.config.arch} {encoder.config.variant}"
        self.eps = eps

    def __repr__(self) -> str:
        return f"Judge({self.name!r}, content_layer={self.content_layer!r}, style_layers={self.style_layers!r})"

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: formats.CheckpointLike,
        *,
        content_layer: str = "relu4_1",
        style_layers: Sequence[str] = STYLE_LAYERS,
        name: str | None = None,
        layout: str | None = None,
    ) -> Judge:
        """Judge on an encoder file in any supported layout, cut after the deepest layer it needs.

        ``name`` defaults to the file's stem (``"e5"``).
        """
        order = layer_names()
        wanted = [content_layer, *style_layers]
        unknown = [n for n in wanted if n not in order]
        if unknown:
            raise InputError(f"unknown layer(s) {unknown}; layers are named like 'relu4_1'")
        last = max(wanted, key=order.index)
        encoder = VGGEncoder.from_checkpoint(checkpoint, last_layer=last, layout=layout)
        if name is None and isinstance(checkpoint, (str, os.PathLike)):
            name = Path(checkpoint).stem
        return cls(encoder, content_layer=content_layer, style_layers=style_layers, name=name)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        content_layer: str = "relu4_1",
        style_layers: Sequence[str] = STYLE_LAYERS,
        device: str | torch.device | None = None,
        **hub_kwargs: Any,
    ) -> Judge:
        """Judge on the encoder of a registered model, Hub repo or ``save_pretrained`` folder."""
        encoder = VGGEncoder.from_pretrained(name_or_path, device=device, **hub_kwargs)
        return cls(encoder, content_layer=content_layer, style_layers=style_layers, name=str(name_or_path))

    def _image(self, image: ImageLike, what: str) -> Tensor:
        x, _ = to_tensor(image, what)
        param = next(self.encoder.parameters())
        return x.to(param.device, param.dtype)

    @torch.no_grad()
    def features(self, image: ImageLike) -> dict[str, Tensor]:
        """The judge's features of ``image`` at :attr:`layers` (``(B, C, h, w)`` each)."""
        return self.encoder(self._image(image, "image"), self.layers)

    @torch.no_grad()
    def measure(self, output: ImageLike, content: ImageLike, style: ImageLike) -> QualityScore:
        """``(content_loss, style_loss)`` of the stylised ``output`` of ``content`` and ``style``.

        Args:
            output: the stylised image, RGB in [0, 1] (any kind :func:`adain_nst.image.to_tensor`
                accepts: path, PIL, numpy, ``(3, H, W)`` or ``(B, 3, H, W)`` tensor), with the
                content's size.
            content: the photo that was stylised (batch of B or 1).
            style: the style image (batch of B or 1; any size).

        Returns:
            :class:`QualityScore`, each loss the mean over the batch.
        """
        out = self._image(output, "output")
        con = self._image(content, "content")
        sty = self._image(style, "style")
        _check_sizes(out, con, sty)
        fo = self.encoder(out, self.layers)
        fc = self.encoder(con, (self.content_layer,))[self.content_layer]
        fs = self.encoder(sty, self.layers)
        target = adaptive_instance_norm(fc, fs[self.content_layer], self.eps).expand_as(fo[self.content_layer])
        lc = adain_content_loss(fo[self.content_layer].float(), target.float())
        ls = moment_style_loss([fo[k].float() for k in self.style_layers], [fs[k].float() for k in self.style_layers])
        return QualityScore(float(lc), float(ls))

    @torch.no_grad()
    def content_distance(self, output: ImageLike, content: ImageLike, layer: str = "relu4_1") -> float:
        """How far ``output`` is from ``content`` itself: ``MSE(E(output), E(content))`` at ``layer``.

        The mean over all elements (batch, channels, positions) of the squared difference of the
        judge's features of the two images, in float32. 0 for the content itself; it grows as the
        output's structure (and, at shallow layers, its colours) departs from the photo's. Unlike
        the content loss of :meth:`measure`, whose target is AdaIN of the content's features
        towards the style's, it does not depend on the style, so methods that match different
        statistics (AdaIN, WCT, EFDM; one level or several) are compared on the same footing.

        Args:
            output: the stylised image, RGB in [0, 1] (any kind :meth:`measure` takes), with the
                content's size.
            content: the photo that was stylised (batch of B or 1).
            layer: any layer the judge's encoder reaches (not only :attr:`content_layer`).

        Returns:
            A non-negative float, lower is closer to the content.
        """
        self.encoder.check_layers([layer])
        out = self._image(output, "output")
        con = self._image(content, "content")
        _check_sizes(out, con)
        fo = self.encoder(out, (layer,))[layer].float()
        fc = self.encoder(con, (layer,))[layer].float().expand_as(fo)
        return float(torch.mean((fo - fc) ** 2))

    @torch.no_grad()
    def gram_distances(
        self, output: ImageLike, style: ImageLike, layers: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Per layer, ``mean((G(E(output)) - G(E(style)))^2)`` with Gram matrices normalised by C H W.

        The Gatys et al. style measure (the quantity their optimisation minimises), per layer so
        a report can show where a method matches the style. ``layers`` default to
        :attr:`style_layers`; sizes of ``output`` and ``style`` may differ.
        """
        names = list(self.style_layers if layers is None else layers)
        self.encoder.check_layers(names)
        fo = self.encoder(self._image(output, "output"), names)
        fs = self.encoder(self._image(style, "style"), names)
        return {n: float(torch.mean((gram_matrix(fo[n].float()) - gram_matrix(fs[n].float())) ** 2)) for n in names}

    @classmethod
    def vgg19(cls, *, device: str | torch.device | None = None) -> Judge:
        """The perceptual judge: the bundled ImageNet VGG-19 (Simonyan & Zisserman), offline.

        Content at ``relu4_2`` (Gatys et al.'s content layer), style at relu1_1 .. relu5_1. Two
        methods are fit to it: Gatys et al. optimise its Gram matrices, and the ``cd16x-adain``
        decoder was trained on its relu1_1 .. relu4_1 mean/std; for that decoder the Gram
        distances (:meth:`gram_distances`) are the measure it was not trained on.
        """
        encoder = VGGEncoder.from_pretrained("vgg19-imagenet", device=device)
        return cls(encoder, content_layer="relu4_2", style_layers=GRAM_LAYERS, name="VGG-19 ImageNet")


GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""Gatys et al.'s style layers (and the perceptual judge's)."""


def _check_sizes(out: Tensor, content: Tensor, style: Tensor | None = None) -> None:
    """The output at the content's size; content (and style) batches of the output's size or 1."""
    if out.shape[-2:] != content.shape[-2:]:
        raise InputError(
            f"output is {out.shape[-1]}x{out.shape[-2]} but the content is {content.shape[-1]}x{content.shape[-2]}: "
            "measure the output at the content's size"
        )
    others = [content] if style is None else [content, style]
    if any(t.shape[0] not in (1, out.shape[0]) for t in others):
        style_part = "" if style is None else f", style {style.shape[0]}"
        raise InputError(
            f"batch sizes differ: output {out.shape[0]}, content {content.shape[0]}{style_part} "
            f"({'content and style need' if style is not None else 'the content needs'} the output's batch size or 1)"
        )


__all__ = ["GRAM_LAYERS", "Judge", "QualityScore"]
