"""AdaINModel: a VGG encoder, adaptive instance normalisation and a decoder (Huang & Belongie 2017)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import pipeline
from ._checks import check_alpha, check_image_batch
from .engine.executor import Engine, InferenceOptions
from .engine.runtime import resolve_dtype
from .errors import ConfigError, InputError
from .image import ImageLike
from .nn.decoder import Decoder
from .nn.encoder import VGGEncoder
from .nn.transforms import check_transform
from .pretrained import formats, hub, pairing
from .pretrained.folder import ModelConfig, read_decoder_file, read_encoder_file, write_model_folder

StyleInput = Tensor | Sequence[Tensor]


class AdaINModel(nn.Module):
    """Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

    The encoder runs up to the decoder's level (``relu4_1`` for the paper's model); an encoder
    that reaches deeper (``relu5_1`` for Gatys or the style loss) is cut there.

    Args:
        encoder: a VGG encoder that reaches ``decoder.level``.
        decoder: a :class:`~adain_nst.Decoder` whose input width equals the encoder's width there.
        eps: AdaIN variance epsilon.
    """

    def __init__(self, encoder: VGGEncoder, decoder: Decoder, eps: float = 1e-5) -> None:
        super().__init__()
        level = decoder.level
        if not encoder.config.reaches(level):
            raise ConfigError(
                f"the encoder must reach {level} (the decoder's level); it stops at {encoder.config.last_layer}"
            )
        if encoder.channels[level] != decoder.in_channels:
            raise ConfigError(
                f"encoder {level} has {encoder.channels[level]} channels but the decoder takes {decoder.in_channels}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.eps = eps
        # How stylize() runs; see optimize_for_inference().
        self.inference_options = InferenceOptions()
        self._engines: dict[tuple[Any, ...], Engine] = {}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def level(self) -> str:
        """The encoder layer the decoder inverts, e.g. ``"relu4_1"``."""
        return self.decoder.level

    @property
    def stride(self) -> int:
        """Input pixels per feature pixel at :attr:`level`; inputs are padded to a multiple of it."""
        return self.decoder.upscale

    @property
    def config(self) -> ModelConfig:
        """What ``config.json`` records for this model."""
        return ModelConfig(encoder=self.encoder.config, decoder=self.decoder.config, eps=float(self.eps))

    # -- tensor API (differentiable reference) ---------------------------------------------------------
    def encode(self, image: Tensor) -> Tensor:
        """Features at :attr:`level` of ``image`` ``(B, 3, H, W)`` in [0, 1] -> ``(B, C, ceil(H/s), ceil(W/s))``."""
        return self.encoder(image, (self.level,))[self.level]

    def encode_style(
        self, style: StyleInput, *, fast: bool = False, dtype: torch.dtype | str | None = None
    ) -> list[Tensor]:
        """Encode one or more style images once, to reuse with many contents (``style_feats=``).

        Args:
            style: ``(B or 1, 3, H, W)`` tensor in [0, 1], or a list of them.
            fast: use the inference engine (no autograd; features channels_last, in ``dtype``)
                instead of the differentiable encoder.
            dtype: the engine's precision when ``fast`` (see :meth:`stylize`).

        Returns:
            one ``(B, C, h, w)`` feature map at :attr:`level` per style.
        """
        styles = [style] if isinstance(style, Tensor) else list(style)
        if not styles:
            raise InputError("at least one style image is needed")
        for i, s in enumerate(styles):
            check_image_batch(s, f"style {i}")
        if fast:
            engine = self.inference_engine(dtype=dtype)
            with torch.inference_mode():
                return [engine.encode(s) for s in styles]
        return [self.encode(s) for s in styles]

    def forward(
        self,
        content: Tensor,
        style: StyleInput | None = None,
        alpha: float = 1.0,
        *,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool | str | Sequence[bool | str | None] | None = False,
        style_feats: Sequence[Tensor] | None = None,
        masks: Any = None,
        region_alpha: Sequence[float] | None = None,
    ) -> Tensor:
        """Stylise ``content`` with ``style``; returns the raw (unclamped) decoder output.

        The reference computation, differentiable, in the model's own dtype.

        Args:
            content: ``(B, 3, H, W)`` float RGB in [0, 1]; any H, W (padded to the stride inside).
            style: ``(B or 1, 3, H', W')`` tensor, or a list of them (any sizes) to interpolate.
            alpha: degree of stylisation in [0, 1]; 0 reconstructs the content.
            style_weights: one weight >= 0 per style, normalised to sum 1 (default: equal).
            preserve_color: ``False``, ``True``/``"coral"`` (recolour the style to the
                content first) or ``"luminance"`` (keep the content's chrominance).
            style_feats: precomputed :meth:`encode_style` output instead of ``style``
                (not with ``"coral"``, which needs the style pixels).
            masks, region_alpha: spatial control, as :meth:`stylize`.

        Returns:
            ``(B, 3, H, W)``, same size as ``content``.
        """
        cascade = self.cascade()
        return pipeline.reference_forward(
            cascade,
            content,
            style,
            cascade.check_alphas(check_alpha(alpha), None),
            style_weights=style_weights,
            preserve_color=preserve_color,
            style_feats=style_feats,
            masks=masks,
            region_alpha=region_alpha,
        )

    # -- inference engine ------------------------------------------------------------------------------
    def _apply(self, fn: Any, recurse: bool = True) -> AdaINModel:
        # .to() / .cuda() / .half() make new weights: engines hold copies of the old ones.
        self.__dict__.get("_engines", {}).clear()
        return super()._apply(fn, recurse)

    def optimize_for_inference(
        self,
        *,
        dtype: torch.dtype | str | None = None,
        channels_last: bool = True,
        compile: bool = False,
        retain_memory: bool | str = "call",
        **flags: bool,
    ) -> AdaINModel:
        """Choose how :meth:`stylize` runs by default; returns ``self``. :meth:`forward` is unaffected.

        Args:
            dtype: ``None`` (default: float32, the same numbers on every machine), ``"auto"``
                (bfloat16 on CPUs with native bf16 -- AVX512-BF16 or AMX -- and on CUDA GPUs
                that support it, else float32), ``torch.bfloat16`` or ``torch.float16`` (CUDA
                only). Results are float32 either way; bf16 output is >= 42 dB PSNR from
                float32 (see ``docs/benchmarks.md``).
            channels_last: NHWC activations (faster on CPU and on CUDA tensor cores).
            compile: wrap the engine's passes in ``torch.compile`` (slow first call per input
                shape; measured no faster than the eager engine on CPU).
            retain_memory: glibc heap policy around each call: ``"call"`` (default), ``"process"``
                / ``True`` or ``"off"`` / ``False`` (see :class:`~adain_nst.engine.InferenceOptions`).
            flags: other :class:`~adain_nst.engine.InferenceOptions` switches (``fuse_relu``,
                ``subpixel``, ``border_fix``, ``tap_output_conv``, ``winograd``), for ablations.
        """
        opts = InferenceOptions(
            dtype=dtype, channels_last=channels_last, compile=compile, retain_memory=retain_memory, **flags
        )
        resolve_dtype(opts.dtype, self.device)  # reject a bad dtype now, not on the first call
        self.inference_options = opts
        self._engines.clear()
        return self

    def inference_engine(self, *, dtype: torch.dtype | str | None = None) -> Engine:
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
                cached = Engine(self.encoder, self.decoder, opts, self.eps)
            cached.weights_key = weights_key
            self._engines[key] = cached
        return cached

    # -- user-facing API -------------------------------------------------------------------------------
    def cascade(self, transform: str | None = None, levels: Sequence[str] | None = None) -> pipeline.Cascade:
        """What :meth:`stylize` runs: this pair alone, with ``transform`` (default AdaIN).

        ``levels`` may only name this model's level; several levels need a family
        (:class:`~adain_nst.MultiLevelModel`, e.g. ``adain_nst.load_model("cd16x")``).
        """
        name = check_transform("adain" if transform is None else transform)
        if levels is not None and tuple(levels) != (self.level,):
            raise InputError(
                f"this model has one level ({self.level}); levels={list(levels)} needs a model family with "
                "encoder/decoder pairs at those depths, e.g. adain_nst.load_model('cd16x')"
            )
        return pipeline.Cascade(name, (self,))

    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike] | None = None,
        alpha: float = 1.0,
        *,
        transform: str | None = None,
        levels: Sequence[str] | None = None,
        level_alpha: Mapping[str, float] | None = None,
        style_feats: Sequence[Tensor] | None = None,
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
        """Stylise an image given as a path, PIL image, numpy array or tensor.

        Args:
            content: the photo. Paths and PIL images give a PIL image back; numpy arrays
                an array of the same dtype and layout; tensors a tensor of the same rank. A
                ``(B, 3, H, W)`` tensor is a batch, stylised in one pass (faster per image).
            style: one style image (any accepted kind) or a list of them to interpolate.
            alpha: degree of stylisation in [0, 1].
            transform: ``"adain"`` (default: what the decoder was trained for), ``"wct"`` or
                ``"efdm"`` at this model's level (see :mod:`adain_nst.nn.transforms`).
            levels, level_alpha: as :meth:`adain_nst.MultiLevelModel.stylize`; this model has one
                level, so only ``(self.level,)`` is accepted (others are refused with the reason).
            style_feats: instead of ``style``, features from :meth:`encode_style` computed once
                and reused for many contents (not with ``preserve_color="coral"``).
            style_weights: interpolation weights, one per style, >= 0 (normalised to sum 1).
            preserve_color: ``False``, ``"coral"`` (or ``True``) or ``"luminance"``.
            content_size: resize the content so its shorter side is this many px first
                (the result has that size); ``None`` keeps the original size.
            style_size: the same for every style image.
            dtype: precision of this call: ``None`` (the model's inference options; float32
                unless :meth:`optimize_for_inference` chose otherwise), ``"auto"``,
                ``torch.float32``, ``torch.bfloat16`` or ``torch.float16`` (CUDA).
            backend: ``"engine"`` (fast) or ``"reference"`` (:meth:`forward`, float32 only).
            masks: spatial control (``docs/masks.md``): one mask per style (paths, PIL images,
                numpy arrays or tensors; binary or soft in [0, 1]; any size with the content's
                aspect ratio); ``style`` is then a list with one style per mask, an entry
                ``None`` keeps the content in its region. Each region's content statistics are
                measured inside its mask and the transforms are blended by the masks at every
                level. Uncovered pixels keep the content; overlaps are normalised to sum 1.
                ``preserve_color`` may then be a list (one mode per mask).
            region_alpha: with ``masks``, one strength in [0, 1] per mask (multiplies ``alpha``).
            max_memory: a memory budget, bytes or a string (``"2GB"`` = 2e9, ``"2GiB"`` = 2**31):
                host RAM on CPU, device memory on CUDA. A content whose estimate exceeds it is
                stylised in tiles with the whole image's statistics (``docs/highres.md``); a budget
                too small even for the smallest tiles raises
                :class:`~adain_nst.errors.MemoryBudgetError` stating the minimum. ``None``: tiles
                only when the estimate exceeds the available memory, with a ``UserWarning``.
            progress: a progress bar over the tiles of a tiled call (``None``: when stderr is a terminal).

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
            level_alpha=level_alpha,
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

    # -- constructors ----------------------------------------------------------------------------------
    @classmethod
    def from_checkpoints(
        cls,
        encoder: formats.CheckpointLike,
        decoder: formats.CheckpointLike,
        *,
        eps: float = 1e-5,
        check_pairing: bool = True,
    ) -> AdaINModel:
        """Model from an encoder and a decoder checkpoint in any layout of :mod:`adain_nst.pretrained.formats`.

        The encoder is cut at the decoder's level. ``check_pairing``: refuse files that do not
        belong together (:mod:`adain_nst.pretrained.pairing`: e.g. the cd16x ``e5`` with the
        relu4_1 decoder, which runs but gives a wrong image) with a
        :class:`~adain_nst.errors.ConfigError` naming the files that do; ``False`` skips the check.
        """
        return cls._from_files(encoder, decoder, None, eps=eps, check_pairing=check_pairing)

    @classmethod
    def _from_files(
        cls,
        encoder: formats.CheckpointLike,
        decoder: formats.CheckpointLike,
        layout: str | None,
        *,
        eps: float = 1e-5,
        check_pairing: bool = True,
    ) -> AdaINModel:
        enc_what, dec_what = formats.describe(encoder, "encoder"), formats.describe(decoder, "decoder")
        dec_config, dec_state, dec_meta = formats.read_decoder_with_metadata(decoder, layout=layout)
        enc_config, enc_state = formats.read_encoder(encoder, layout=layout)  # as stored, not cut
        if check_pairing:
            pairing.check_pairing(
                enc_config,
                dec_config,
                encoder_state=enc_state,
                decoder_metadata=dec_meta,
                encoder_name=str(encoder) if isinstance(encoder, (str, os.PathLike)) else "the encoder state dict",
                decoder_name=str(decoder) if isinstance(decoder, (str, os.PathLike)) else "the decoder state dict",
            )
        if not enc_config.reaches(dec_config.level):
            raise ConfigError(f"{enc_what} only reaches {enc_config.last_layer}; the decoder needs {dec_config.level}")
        enc_config, enc_state = formats.cut_encoder(enc_config, enc_state, dec_config.level)
        enc = VGGEncoder.from_state_dict(enc_config, enc_state, enc_what)
        dec = Decoder.from_state_dict(dec_config, dec_state, dec_what)
        return cls(enc, dec, eps).eval()

    @classmethod
    def from_reference_checkpoint(
        cls, vgg: formats.CheckpointLike, decoder: formats.CheckpointLike, *, check_pairing: bool = True
    ) -> AdaINModel:
        """Model from pytorch-AdaIN files (``vgg_normalised.pth`` + ``decoder.pth``).

        Paths to ``.pth`` / ``.safetensors`` files or state dicts; float16 is cast to
        float32; encoder layers past relu4_1 are accepted and dropped. ``check_pairing``: as
        :meth:`from_checkpoints`.
        """
        return cls._from_files(vgg, decoder, "reference", check_pairing=check_pairing)

    @classmethod
    def from_cd16x_checkpoint(
        cls, encoder: formats.CheckpointLike, decoder: formats.CheckpointLike, *, check_pairing: bool = True
    ) -> AdaINModel:
        """Model from the cd16x family: ``e{k}.pth`` + ``d{k}.pth`` or our decoder ``.safetensors``.

        ``check_pairing``: as :meth:`from_checkpoints` (``e{k}`` belongs with ``d{k}``).
        """
        return cls._from_files(encoder, decoder, "cd16x", check_pairing=check_pairing)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        **hub_kwargs: Any,
    ) -> AdaINModel:
        """Registered model name, Hub repo id or local ``save_pretrained`` folder.

        Args:
            name_or_path: see :func:`adain_nst.pretrained.hub.fetch_model_files`.
            device: where the model is returned.
            dtype: floating dtype of the returned weights (default float32).
            hub_kwargs: ``revision``, ``cache_dir``, ``local_files_only``, ``force_download``,
                ``token`` (see :class:`~adain_nst.pretrained.hub.HubOptions`).

        Returns:
            The model in ``eval()`` mode with ``requires_grad=False`` parameters.
        """
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise InputError(f"dtype must be a floating torch.dtype such as torch.float16, got {dtype!r}")
        paths, config = hub.fetch_model_files(name_or_path, ("encoder", "decoder"), **hub_kwargs)
        enc = VGGEncoder.from_state_dict(
            config.encoder, read_encoder_file(paths["encoder"], config.encoder), str(paths["encoder"])
        )
        dec = Decoder.from_state_dict(
            config.decoder, read_decoder_file(paths["decoder"], config.decoder), str(paths["decoder"])
        )
        model = cls(enc, dec, eps=config.eps).eval().requires_grad_(False)
        if device is not None or dtype is not None:
            model.to(device=device, dtype=dtype)
        return model

    def save_pretrained(self, directory: str | os.PathLike[str], *, library_version: str | None = None) -> None:
        """Write ``config.json``, ``encoder.safetensors`` and ``decoder.safetensors`` to ``directory``."""
        write_model_folder(
            directory,
            self.config,
            self.encoder.state_dict(),
            self.decoder.state_dict(),
            library_version=library_version,
        )


__all__ = ["AdaINModel"]
