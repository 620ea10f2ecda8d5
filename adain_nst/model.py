"""AdaINModel: VGG encoder + AdaIN + decoder, and the user-facing ``stylize``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adain import adain_target, check_alpha, normalize_style_weights
from .color import check_color_mode, coral, transfer_luminance
from .decoder import Decoder
from .encoder import VGGEncoder
from .errors import ConfigError, InputError
from .image import ImageLike, from_tensor, resize_shorter, to_tensor
from .inference import InferenceEngine, InferenceOptions, resolve_dtype

StyleInput = Tensor | Sequence[Tensor]

# The decoder upsamples three times by 2: inputs are padded to a multiple of 8 and the
# output cropped back, so any H x W comes back at exactly H x W.
_STRIDE = 8


def _pad_to_stride(x: Tensor) -> tuple[Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % _STRIDE, (-w) % _STRIDE
    if ph == 0 and pw == 0:
        return x, h, w
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


class AdaINModel(nn.Module):
    """Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

    Args:
        encoder: a normalised VGG encoder that reaches at least ``relu4_1``.
        decoder: a :class:`Decoder` whose input width equals the encoder's relu4_1 width.
        eps: AdaIN variance epsilon.
    """

    def __init__(self, encoder: VGGEncoder, decoder: Decoder, eps: float = 1e-5) -> None:
        super().__init__()
        if "relu4_1" not in encoder.layer_names:
            raise ConfigError(f"the encoder must reach relu4_1; it stops at {encoder.config.last_layer}")
        if encoder.channels["relu4_1"] != decoder.in_channels:
            raise ConfigError(
                f"encoder relu4_1 has {encoder.channels['relu4_1']} channels "
                f"but the decoder takes {decoder.in_channels}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.eps = eps
        # Options of the inference engine behind stylize(); see optimize_for_inference().
        self.inference_options = InferenceOptions()
        self._engines: dict[tuple[Any, ...], InferenceEngine] = {}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- tensor API --------------------------------------------------------------------------
    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features of ``image`` ``(B, 3, H, W)`` in [0, 1] -> ``(B, C, ceil(H/8), ceil(W/8))``."""
        return self.encoder(image, ("relu4_1",))["relu4_1"]

    def encode_style(self, style: StyleInput, *, fast: bool | None = None) -> list[Tensor]:
        """Encode one or more style images once, to reuse with many contents.

        The result can be passed to :meth:`forward` or :meth:`stylize` as ``style_feats=``.

        Args:
            style: ``(B or 1, 3, H, W)`` tensor in [0, 1], or a list of them.
            fast: use the inference engine (see :meth:`optimize_for_inference`; features may be
                channels_last / bfloat16). ``None``: when autograd is off (``torch.no_grad`` or
                ``torch.inference_mode``), else the differentiable encoder.

        Returns:
            one ``(B, C, ceil(H/8), ceil(W/8))`` relu4_1 map per style.
        """
        styles = [style] if isinstance(style, Tensor) else list(style)
        if not styles:
            raise InputError("at least one style image is needed")
        for i, s in enumerate(styles):
            if not isinstance(s, Tensor) or s.dim() != 4 or s.shape[1] != 3:
                shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise InputError(f"style {i} must be a (B, 3, H, W) tensor, got {shape}")
        if fast is None:
            fast = not torch.is_grad_enabled()
        if fast:
            engine = self.inference_engine()
            return [engine.encode(s) for s in styles]
        return [self.encode(s) for s in styles]

    def forward(
        self,
        content: Tensor,
        style: StyleInput | None = None,
        alpha: float = 1.0,
        *,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool | str | None = False,
        style_feats: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Stylise ``content`` with ``style``; returns the raw (unclamped) decoder output.

        Args:
            content: ``(B, 3, H, W)`` float RGB in [0, 1]; any H, W >= 16.
            style: ``(B or 1, 3, H', W')`` tensor, or a list of them (any sizes) to interpolate.
            alpha: degree of stylisation in [0, 1]; 0 reconstructs the content.
            style_weights: one weight >= 0 per style, normalised to sum 1 (default: equal).
            preserve_color: ``False``, ``True``/``"coral"`` (recolour the style to the
                content first) or ``"luminance"`` (keep the content's chrominance).
            style_feats: precomputed :meth:`encode_style` output instead of ``style``
                (not with ``"coral"``, which needs the style pixels).

        Returns:
            ``(B, 3, H, W)``, same size as ``content``.
        """
        alpha = check_alpha(alpha)
        mode = check_color_mode(preserve_color)
        if content.dim() != 4 or content.shape[1] != 3:
            raise InputError(f"content must be a (B, 3, H, W) tensor, got shape {tuple(content.shape)}")
        if style_feats is None:
            if style is None:
                raise InputError("pass style images or precomputed style_feats")
            styles = [style] if isinstance(style, Tensor) else list(style)
            if mode == "coral":
                styles = [coral(s, content) for s in styles]
            style_feats = self.encode_style(styles, fast=False)
        elif mode == "coral":
            raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
        weights = normalize_style_weights(style_weights, len(style_feats))
        padded, h, w = _pad_to_stride(content)
        content_feat = self.encode(padded)
        target = adain_target(content_feat, style_feats, weights, alpha, self.eps)
        out = self.decoder(target)[..., :h, :w]
        if mode == "luminance":
            out = transfer_luminance(out, content)
        return out

    # -- inference engine --------------------------------------------------------------------
    def _apply(self, fn: Any, recurse: bool = True) -> AdaINModel:
        # .to() / .cuda() / .half() make new weights: engines hold copies of the old ones.
        self.__dict__.get("_engines", {}).clear()
        return super()._apply(fn, recurse)

    def optimize_for_inference(
        self,
        *,
        dtype: torch.dtype | str | None = "auto",
        channels_last: bool = True,
        compile: bool = False,
        retain_memory: bool | str = "call",
        **flags: bool,
    ) -> AdaINModel:
        """Choose how :meth:`stylize` (and :meth:`encode_style` without autograd) run; returns ``self``.

        :meth:`forward` is unaffected: it stays the differentiable reference computation.

        Args:
            dtype: ``"auto"`` (the default: bfloat16 on CPUs with native bf16 -- AVX512-BF16
                or AMX -- and on CUDA GPUs that support it, else float32), ``None`` or
                ``torch.float32`` (bit-for-bit the reference arithmetic up to rounding order),
                ``torch.bfloat16`` or ``torch.float16`` (CUDA only). Results are float32 either
                way; bf16 output is >= 42 dB PSNR from float32 (see ``docs/benchmarks.md``).
            channels_last: NHWC activations (faster on CPU and on CUDA tensor cores).
            compile: wrap the engine's encoder/decoder passes in ``torch.compile`` (slow first
                call per input shape; measured no faster than the eager engine on CPU).
            retain_memory: glibc heap policy around each call: ``"call"`` (default) reuses
                freed activations' memory within a call on big images (>= 32 MiB
                activations) and returns it to the OS after
                (:func:`adain_nst.inference.retained_heap`; ~30 % faster at 512^2);
                ``"process"``/``True`` keeps it for good (faster repeated calls; the process stays
                at its peak size; :func:`adain_nst.inference.retain_freed_memory`); ``"off"``/``False``.
            flags: other :class:`adain_nst.inference.InferenceOptions` switches
                (``fuse_relu``, ``subpixel``, ``border_fix``, ``tap_output_conv``), for ablations.
        """
        opts = InferenceOptions(
            dtype=dtype, channels_last=channels_last, compile=compile, retain_memory=retain_memory, **flags
        )
        resolve_dtype(opts.dtype, self.device)  # reject a bad dtype now, not on the first call
        self.inference_options = opts
        self._engines.clear()
        return self

    def inference_engine(self, *, dtype: torch.dtype | str | None = None) -> InferenceEngine:
        """The engine :meth:`stylize` uses (built on first use, rebuilt after weights change).

        ``dtype`` overrides :attr:`inference_options`' dtype for this engine.
        """
        opts = self.inference_options if dtype is None else self.inference_options.with_(dtype=dtype)
        # Any in-place weight update bumps _version; .to()/load_state_dict swap or bump tensors.
        weights_key = tuple((p.data_ptr(), p._version) for p in self.parameters())
        key = (opts, self.device)
        cached = self._engines.get(key)
        if cached is None or cached.weights_key != weights_key:
            with torch.no_grad():
                cached = InferenceEngine(self, opts)
            cached.weights_key = weights_key
            self._engines[key] = cached
        return cached

    # -- user-facing API -----------------------------------------------------------------------
    @torch.inference_mode()
    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike] | None = None,
        alpha: float = 1.0,
        *,
        style_feats: Sequence[Tensor] | None = None,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool | str | None = False,
        content_size: int | None = None,
        style_size: int | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> Any:
        """Stylise an image given as a path, PIL image, numpy array or tensor.

        Runs the inference engine (see :meth:`optimize_for_inference`), not :meth:`forward`.

        Args:
            content: the photo. Paths and PIL images give a PIL image back; numpy arrays
                an array of the same dtype and layout; tensors a tensor of the same rank. A
                ``(B, 3, H, W)`` tensor is a batch, stylised in one pass (faster per image).
            style: one style image (any accepted kind) or a list of them to interpolate.
            alpha: degree of stylisation in [0, 1].
            style_feats: instead of ``style``, features from :meth:`encode_style` computed once
                and reused for many contents (not with ``preserve_color="coral"``).
            style_weights: interpolation weights, one per style, >= 0 (normalised to sum 1).
            preserve_color: ``False``, ``"coral"`` (or ``True``) or ``"luminance"``.
            content_size: resize the content so its shorter side is this many px first
                (the result has that size); ``None`` keeps the original size.
            style_size: the same for every style image.
            dtype: compute dtype for this call (default: the model's inference options).

        Returns:
            The stylised image, values in [0, 1], at the (resized) content's exact size.
        """
        alpha = check_alpha(alpha)
        mode = check_color_mode(preserve_color)
        styles_in: list[ImageLike] = []
        if style_feats is not None:
            if style is not None:
                raise InputError("pass style images or style_feats, not both")
            if mode == "coral":
                raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
            style_feats = list(style_feats)
            self._check_style_feats(style_feats)
            n_styles = len(style_feats)
        else:
            if style is None:
                raise InputError("pass style images or precomputed style_feats")
            styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
            if not styles_in:
                raise InputError("at least one style image is needed")
            n_styles = len(styles_in)
        weights = normalize_style_weights(style_weights, n_styles)  # fail before any heavy work
        x, kind = to_tensor(content, "content")
        device = self.device
        x = resize_shorter(x.to(device), content_size)
        styles = [resize_shorter(to_tensor(s, f"style {i}")[0].to(device), style_size) for i, s in enumerate(styles_in)]
        engine = self.inference_engine(dtype=dtype)
        try:
            pixels = max(t.shape[-2] * t.shape[-1] for t in [x, *styles])
            with engine.memory_scope(pixels):  # one scope for the style and content passes
                if style_feats is None:
                    if mode == "coral":
                        styles = [coral(s, x) for s in styles]
                    style_feats = [engine.encode(s) for s in styles]
                padded, h, w = _pad_to_stride(x)
                out = engine.stylize(padded, style_feats, weights, alpha)[..., :h, :w]
                if mode == "luminance":
                    out = transfer_luminance(out, x)
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            h, w = x.shape[-2:]
            raise InputError(
                f"not enough {device.type.upper()} memory to stylise a {w}x{h} image: "
                "pass content_size=... (e.g. 1024) or use a smaller image"
            ) from None
        return from_tensor(out, kind)

    def _check_style_feats(self, feats: Sequence[Tensor]) -> None:
        if not feats:
            raise InputError("style_feats is empty: pass at least one encode_style() result")
        c = self.decoder.in_channels
        for i, f in enumerate(feats):
            if not isinstance(f, Tensor) or f.dim() != 4 or f.shape[1] != c:
                shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
                raise InputError(f"style_feats[{i}] must be a (B, {c}, h, w) tensor from encode_style(), got {shape}")

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_reference_checkpoint(
        cls,
        vgg: str | os.PathLike[str] | dict[str, Tensor],
        decoder: str | os.PathLike[str] | dict[str, Tensor],
    ) -> AdaINModel:
        """Model from pytorch-AdaIN files (``vgg_normalised.pth`` + ``decoder.pth``).

        Paths to ``.pth`` / ``.safetensors`` files or state dicts; float16 is cast to
        float32; encoder layers past relu4_1 are accepted and dropped.
        """
        enc = VGGEncoder.from_reference_checkpoint(vgg, last_layer="relu4_1")
        return cls(enc, Decoder.from_reference_checkpoint(decoder)).eval()

    @classmethod
    def from_cd16x_checkpoint(
        cls,
        encoder: str | os.PathLike[str] | dict[str, Tensor],
        decoder: str | os.PathLike[str] | dict[str, Tensor],
    ) -> AdaINModel:
        """Model from the cd16x family: ``e4.pth`` (or e5) + ``d4.pth`` or our decoder ``.safetensors``."""
        enc = VGGEncoder.from_cd16x_checkpoint(encoder, last_layer="relu4_1")
        return cls(enc, Decoder.from_cd16x_checkpoint(decoder)).eval()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **kwargs: Any) -> AdaINModel:
        """Registered model name, Hub repo id or local ``save_pretrained`` folder.

        Keyword arguments: ``revision``, ``cache_dir``, ``local_files_only``, ``device``,
        ``dtype`` (see :func:`adain_nst.hub.load_model`).
        """
        from .hub import load_model

        return load_model(name_or_path, **kwargs)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Write ``config.json``, ``encoder.safetensors`` and ``decoder.safetensors`` to ``directory``."""
        from .hub import save_model

        save_model(self, directory)
