"""The inference engine: the plan of an encoder/decoder pair compiled for speed, same arithmetic.

:class:`~adain_nst.VGGEncoder` and :class:`~adain_nst.Decoder` stay plain ``nn.Module`` stacks
because the Gatys optimiser and decoder training differentiate through them. :class:`Engine`
compiles the same op lists (:mod:`adain_nst.architecture`) and weights, *for one level* (the
decoder's), into a frozen inference-only executor with the tricks measured to pay on CPU
(numbers in ``docs/benchmarks.md``):

* **channels_last** activations and weights (oneDNN's fast direct-conv layout);
* **conv + ReLU fused** in one oneDNN call;
* a learned **1x1 input conv folded** into the first 3x3 conv (a pointwise affine map commutes
  with reflection padding; with zero padding it does not, so it runs on its own there);
* **sub-pixel**, **Winograd** and **tap** convs (:mod:`adain_nst.engine.kernels`);
* the transform (AdaIN, interpolation, alpha) as **one per-channel affine map**;
* **bfloat16** on request (``dtype="auto"`` where native), float16 on CUDA on request;
* **2x2 max pooling** as two elementwise maxima (no index tensor);
* glibc **heap retention** between calls and during a big call (:mod:`adain_nst.engine.runtime`).

In float32 every output equals the reference modules' to float rounding (``tests/engine``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_image_batch
from ..architecture import Op, encoder_ops
from ..errors import ConfigError, InputError
from ..nn.decoder import Decoder
from ..nn.encoder import VGGEncoder
from ..nn.transforms import adain_affine
from . import kernels
from .runtime import (
    RETAIN_MIN_BYTES,
    RETAIN_MODES,
    cpu_has_native_bf16,
    resolve_dtype,
    retain_freed_memory,
    retained_heap,
    steady_heap,
)


# -- options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InferenceOptions:
    """How :class:`Engine` runs; every switch is one measured optimisation.

    Args:
        dtype: compute dtype: ``None`` (default: float32, the same numbers on every machine),
            ``"auto"`` (bf16 where it is native, else float32; see
            :func:`~adain_nst.engine.runtime.resolve_dtype`), ``torch.float32``,
            ``torch.bfloat16`` or ``torch.float16`` (CUDA); results are always float32.
        channels_last: NHWC activations and weights.
        fuse_relu: conv + ReLU in one oneDNN call (CPU only).
        subpixel: fold nearest-upsample + 3x3 conv into a 2x2 sub-pixel conv.
        border_fix: reflection padding via zero-padded conv + recomputed border (off: the
            strip convs and border writes cost more than the padded copies they save).
        tap_output_conv: the 64 -> 3 conv as a 1x1 conv to 27 taps + shifted adds.
        winograd: Winograd F(2x2, 3x3) for 3x3 layers with >= 256 input and output channels
            (float32, CPU, channels_last).
        retain_memory: ``"call"`` (default): glibc keeps up to 128 MiB of free heap between
            calls (``steady_heap``), and on big images (full-resolution activation >=
            ``RETAIN_MIN_BYTES``, e.g. the full model at >= 512^2) reuses freed memory within a
            call and gives it back after (``retained_heap``); ``"process"`` (or ``True``): keep
            it for good (``retain_freed_memory``, faster repeated calls, the process stays at its peak
            size); ``"off"`` (or ``False``). glibc only; a no-op elsewhere.
        compile: wrap the engine's encoder and decoder passes in ``torch.compile`` (turns
            ``winograd`` off: inductor fails on it in torch 2.13; falls back to eager with a
            warning if compilation fails). Measured slower than the eager engine on CPU.
    """

    dtype: torch.dtype | str | None = None
    channels_last: bool = True
    fuse_relu: bool = True
    subpixel: bool = True
    border_fix: bool = False
    tap_output_conv: bool = True
    winograd: bool = True
    retain_memory: bool | str = "call"
    compile: bool = False

    def __post_init__(self) -> None:
        mode = self.retain_memory
        if isinstance(mode, bool):
            mode = "process" if mode else "off"
        if mode not in RETAIN_MODES:
            raise InputError(f"retain_memory must be one of {RETAIN_MODES} (or a bool), got {self.retain_memory!r}")
        object.__setattr__(self, "retain_memory", mode)

    def with_(self, **changes: Any) -> InferenceOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)


REFERENCE_LIKE = InferenceOptions(
    channels_last=False,
    fuse_relu=False,
    subpixel=False,
    border_fix=False,
    tap_output_conv=False,
    winograd=False,
    retain_memory="off",
)
"""Engine options that do the reference's operations in its order (for ablations)."""


@dataclass
class _Layer:
    """One prepared conv: weight already in the engine's dtype and memory format."""

    kind: str  # "conv" (3x3, padded), "subpixel" (upsample + 3x3), "taps" (few-channel output)
    weight: Tensor
    bias: Tensor | None
    relu: bool
    padding: str = "reflect"
    winograd: Tensor | None = None  # (16, C, O) transformed weight, for wide layers


def _compiled_or_eager(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``torch.compile(fn)``, falling back to ``fn`` (with a warning) if compilation fails."""
    compiled = torch.compile(fn, dynamic=False)
    failed = False

    def run(x: Tensor) -> Tensor:
        nonlocal failed
        if not failed:
            try:
                return compiled(x)
            except Exception as exc:  # inductor/dynamo errors have no common base class
                failed = True
                warnings.warn(f"torch.compile failed, running eagerly: {exc!s:.200}", RuntimeWarning, stacklevel=2)
        return fn(x)

    return run


class Engine:
    """Frozen inference-only executor of an encoder (cut at the decoder's level) and a decoder.

    Build it with :meth:`adain_nst.AdaINModel.inference_engine`, which rebuilds it when weights,
    device or options change; an engine holds copies of the weights it was built from.

    Args:
        encoder: a VGG encoder that reaches ``decoder.level`` (any variant).
        decoder: the decoder; its level fixes where the encoder is cut.
        options: see :class:`InferenceOptions`.
        eps: variance epsilon of the AdaIN statistics.
    """

    def __init__(
        self, encoder: VGGEncoder, decoder: Decoder, options: InferenceOptions | None = None, eps: float = 1e-5
    ) -> None:
        self.options = options or InferenceOptions()
        if self.options.compile and self.options.winograd:
            # torch 2.13's inductor fails on the Winograd tile views ("vr must not be None").
            self.options = self.options.with_(winograd=False)
        if not encoder.config.reaches(decoder.level):
            raise ConfigError(f"the encoder stops at {encoder.config.last_layer}, before the decoder's {decoder.level}")
        self.level = decoder.level
        self.device = next(decoder.parameters()).device
        self.dtype = resolve_dtype(self.options.dtype, self.device)
        if self.dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_has_native_bf16():
            # Allowed (the user asked for it) but emulated bf16 convs run 10-100x slower than fp32.
            warnings.warn(
                "this CPU has no native bfloat16 convolutions; bf16 inference will be much slower than float32",
                RuntimeWarning,
                stacklevel=3,
            )
        self.eps = eps
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        self.mkldnn = self.options.fuse_relu and kernels.mkldnn_usable(self.device, self.dtype)
        if self.options.retain_memory == "process" and self.device.type == "cpu":
            retain_freed_memory()
        elif self.options.retain_memory == "call" and self.device.type == "cpu":
            steady_heap()
        ops = encoder_ops(encoder.config, upto=self.level)
        self.first_width = next(op.out_channels for op in ops if op.kind == "conv")
        self.pools = sum(op.kind == "pool" for op in ops)  # the level's stride is 2**pools
        self.input_map: tuple[Tensor, Tensor] | None = None
        self.encoder_steps = self._compile_encoder(encoder, ops)
        self.decoder_steps = self._compile_decoder(decoder)
        self.weights_key: tuple[Any, ...] = ()  # set by AdaINModel.inference_engine
        self._encode: Callable[[Tensor], Tensor] = self._encode_eager
        self._decode: Callable[[Tensor], Tensor] = self._decode_eager
        if self.options.compile:
            self._encode = _compiled_or_eager(self._encode_eager)
            self._decode = _compiled_or_eager(self._decode_eager)

    # -- compiling the plan ---------------------------------------------------------------------
    def _winograd(self, w: Tensor, padding: str) -> Tensor | None:
        """Winograd weight for a wide 3x3 layer when the engine runs it (float32 CPU NHWC)."""
        wide = min(w.shape[0], w.shape[1]) >= kernels.WINOGRAD_MIN_CHANNELS
        usable = self.device.type == "cpu" and self.dtype == torch.float32 and self.options.channels_last
        if not (self.options.winograd and wide and usable):
            return None
        return kernels.winograd_weight(w.detach().double()).to(self.device, self.dtype)

    def _finish(self, w: Tensor) -> Tensor:
        return w.detach().to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def _bias(self, b: Tensor | None) -> Tensor | None:
        return None if b is None else b.detach().to(self.device, self.dtype).contiguous()

    @staticmethod
    def _fused_relu(ops: list[Op], i: int) -> bool:
        return i + 1 < len(ops) and ops[i + 1].kind == "relu"

    def _compile_encoder(self, encoder: VGGEncoder, ops: list[Op]) -> list[_Layer | Op]:
        """Convs prepared, ReLUs fused into them, pools kept as ops; the input map folded where exact."""
        if ops[0].name == "conv0":
            m = encoder.conv0.weight.detach().double()[:, :, 0, 0]  # (3, 3): y = M x + c
            c = encoder.conv0.bias.detach().double()
        else:
            m = encoder.input_weight.detach().double()[:, :, 0, 0]
            c = encoder.input_bias.detach().double()
        first_conv = next(op for op in ops if op.kind == "conv")
        fold = first_conv.padding == "reflect"
        if not fold:  # zero padding of (M x + c) is not (M pad(x) + c): the map runs on its own
            self.input_map = (self._finish(m.view(3, 3, 1, 1).float()), self._bias(c.float()))
        steps: list[_Layer | Op] = []
        for i, op in enumerate(ops):
            if op.kind == "conv":
                conv = encoder.convs[op.name]
                w = conv.weight.detach().double()
                b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
                if op is first_conv and fold:
                    # Folding in float64 keeps the folded weights exact to float32 rounding.
                    b = b + w.sum((2, 3)) @ c.to(w.device)
                    w = torch.einsum("oikl,ij->ojkl", w, m.to(w.device))
                layer = _Layer("conv", self._finish(w), self._bias(b), self._fused_relu(ops, i), op.padding)
                layer.winograd = self._winograd(w, op.padding)
                steps.append(layer)
            elif op.kind == "pool":
                steps.append(op)
        return steps

    def _compile_decoder(self, decoder: Decoder) -> list[_Layer | Op]:
        ops = decoder.ops
        last_conv = max(i for i, op in enumerate(ops) if op.kind == "conv")
        steps: list[_Layer | Op] = []
        upsampled = False  # the input of the next conv is a nearest-upsampled map
        for i, op in enumerate(ops):
            if op.kind == "up":
                if self.options.subpixel:
                    upsampled = True  # folded into the next conv
                else:
                    steps.append(op)
                continue
            if op.kind != "conv":
                continue
            conv = decoder.convs[op.name]
            relu = self._fused_relu(ops, i)
            w, b = conv.weight.detach(), conv.bias
            if upsampled:
                bias = self._bias(b.repeat(4) if b is not None else None)
                layer = _Layer("subpixel", self._finish(kernels.subpixel_weight(w)), bias, relu)
            elif (
                i == last_conv
                and self.options.tap_output_conv
                and op.out_channels <= 4
                and (op.in_channels >= kernels.TAP_MIN_IN_CHANNELS)
            ):
                layer = _Layer("taps", self._finish(kernels.tap_weight(w)), self._bias(b), relu)
            else:
                layer = _Layer("conv", self._finish(w), self._bias(b), relu)
                layer.winograd = self._winograd(w, "reflect")
            steps.append(layer)
            upsampled = False
        return steps

    # -- running ----------------------------------------------------------------------------------
    def _conv_padded(self, x: Tensor, layer: _Layer) -> Tensor:
        """3x3 conv of ``x`` padded by 1 (reflect or zeros), as the reference computes it."""
        h, w = x.shape[-2:]
        if layer.winograd is not None and h % 2 == 0 and w % 2 == 0:
            return kernels.conv_winograd(x, layer.winograd, layer.bias, layer.relu, layer.padding)
        if layer.padding == "zeros":
            return kernels.conv(x, layer.weight, layer.bias, 1, layer.relu, self.mkldnn)
        if self.options.border_fix and h >= 3 and w >= 3 and x.shape[1] > 4:
            return self._conv_border_fix(x, layer)
        return kernels.conv(kernels.pad1(x, "reflect"), layer.weight, layer.bias, 0, layer.relu, self.mkldnn)

    def _conv_border_fix(self, x: Tensor, layer: _Layer) -> Tensor:
        """Reflect conv as a zero-padded conv with the one-pixel border recomputed (an ablation)."""
        h, w = x.shape[-2:]
        n = x.shape[0]

        def run(t: Tensor) -> Tensor:
            return kernels.conv(t, layer.weight, layer.bias, 0, layer.relu, self.mkldnn)

        y = kernels.conv(x, layer.weight, layer.bias, 1, layer.relu, self.mkldnn)
        # Rows 0 and h-1 see input rows (1, 0, 1) and (h-2, h-1, h-2); reflect-pad them sideways.
        rows = x[:, :, [1, 0, 1, h - 2, h - 1, h - 2]]
        r = run(F.pad(torch.cat([rows[:, :, :3], rows[:, :, 3:]], 0), (1, 1, 0, 0), mode="reflect"))
        y[:, :, :1] = r[:n]
        y[:, :, h - 1 :] = r[n:]
        cols = x[:, :, :, [1, 0, 1, w - 2, w - 1, w - 2]]
        c = run(F.pad(torch.cat([cols[..., :3], cols[..., 3:]], 0), (0, 0, 1, 1), mode="reflect"))
        y[..., :1] = c[:n]
        y[..., w - 1 :] = c[n:]
        return y

    def _run(self, x: Tensor, steps: list[_Layer | Op]) -> Tensor:
        for step in steps:
            if isinstance(step, Op):
                if step.kind == "pool":
                    x = kernels.max_pool2x2(x, step.ceil)
                else:
                    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            elif step.kind == "subpixel":
                x = kernels.conv_subpixel(x, step.weight, step.bias, step.relu, self.mkldnn, self.memory_format)
            elif step.kind == "taps":
                x = kernels.conv_taps(x, step.weight, step.bias, step.relu, self.options.channels_last)
            else:
                x = self._conv_padded(x, step)
        return x

    def _encode_eager(self, x: Tensor) -> Tensor:
        if self.input_map is not None:
            x = F.conv2d(x, *self.input_map)
        return self._run(x, self.encoder_steps)

    def _decode_eager(self, x: Tensor) -> Tensor:
        return self._run(x, self.decoder_steps).float()

    def _input(self, image: Tensor) -> Tensor:
        return image.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def encode(self, image: Tensor) -> Tensor:
        """Features of ``image`` ``(B, 3, H, W)`` in [0, 1] at the engine's level.

        Returned in the engine's dtype and memory format.
        """
        check_image_batch(image, "image")
        pixels = image.shape[-2] * image.shape[-1]
        with self.memory_scope(pixels):
            return self._chunked(self._encode, self._input(image), pixels)

    def decode(self, feat: Tensor) -> Tensor:
        """Image ``(B, 3, s h, s w)`` float32 from level features ``(B, C, h, w)``."""
        pixels = feat.shape[-2] * feat.shape[-1] * 4**self.pools
        return self._chunked(
            self._decode, feat.to(self.device, self.dtype).contiguous(memory_format=self.memory_format), pixels
        )

    def batch_chunk(self, pixels: int) -> int:
        """Images per pass for full-resolution images of ``pixels`` pixels (all of them off the CPU).

        On CPU a pass's full-resolution activation is kept within
        :data:`~adain_nst.engine.kernels.CPU_CHUNK_BYTES`: the convs are compute-bound already
        for one such image, so a bigger pass only adds cache misses (cd16x e5 at 512^2: one pass of
        2 images 84 ms, two passes of 1 image 61 ms).
        """
        if self.device.type != "cpu":
            return 2**31
        return max(1, kernels.CPU_CHUNK_BYTES // (pixels * self.first_width * 4))

    def _chunked(self, fn: Callable[[Tensor], Tensor], x: Tensor, pixels: int) -> Tensor:
        chunk = self.batch_chunk(pixels)
        if x.shape[0] <= chunk:
            return fn(x)
        return torch.cat([fn(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])

    def adain(
        self, content_feat: Tensor, style_feats: Sequence[Tensor], weights: Sequence[float], alpha: float
    ) -> Tensor:
        """``alpha * sum_i w_i AdaIN(c, s_i) + (1 - alpha) * c`` in one pass (see ``adain_affine``)."""
        return adain_affine(content_feat, style_feats, weights, alpha, self.eps)

    def stylize(self, content: Tensor, style_feats: Sequence[Tensor], weights: Sequence[float], alpha: float) -> Tensor:
        """Decoder output ``(B, 3, H, W)`` float32 for ``content`` whose H, W are multiples of the stride.

        On CPU a batch runs in chunks (:meth:`batch_chunk`). Style features with batch 1 are
        shared by every content; batch B ones pair up.
        """
        with self.memory_scope(content.shape[-2] * content.shape[-1]):
            n = content.shape[0]
            chunk = self.batch_chunk(content.shape[-2] * content.shape[-1])
            outs = []
            for i in range(0, n, chunk):
                feats = [f if f.shape[0] == 1 else f[i : i + chunk] for f in style_feats]
                outs.append(self.decode(self.adain(self.encode(content[i : i + chunk]), feats, weights, alpha)))
            return outs[0] if len(outs) == 1 else torch.cat(outs)

    def memory_scope(self, pixels: int) -> contextlib.AbstractContextManager[bool]:
        """The allocator setting for a call on images of ``pixels`` pixels.

        :func:`~adain_nst.engine.runtime.retained_heap` for ``retain_memory="call"`` on CPU when one
        full-resolution activation is at least :data:`~adain_nst.engine.runtime.RETAIN_MIN_BYTES`;
        smaller ones are below glibc's own (dynamic) mmap threshold, so glibc already reuses
        their memory, and retaining and trimming around the call measured slower.
        """
        big = pixels * self.first_width * 4 >= RETAIN_MIN_BYTES
        if self.options.retain_memory == "call" and self.device.type == "cpu" and big:
            return retained_heap()
        return contextlib.nullcontext(False)


__all__ = ["REFERENCE_LIKE", "Engine", "InferenceOptions"]
