"""Pure tensor kernels of the inference engine: weight rewrites and the convs that use them.

* **Winograd F(2x2, 3x3)** (Lavin & Gray 2016) for wide layers;
* **sub-pixel convs**: nearest-upsample + reflect-pad + 3x3 conv as one 2x2 conv with 4x the
  outputs (the three decoder convs after an upsample do 16/36 of the multiply-adds);
* **tap convs**: a few-channel 3x3 conv as a 1x1 conv to its (tap, colour) planes plus shifted adds.

Every function here is numerically the plain conv up to float rounding (tests compare them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .runtime import cpu_has_native_bf16

# Winograd F(2x2, 3x3) (Lavin & Gray 2016): a 4x4 input tile d gives a 2x2 output tile
# A^T [(G g G^T) * (B^T d B)] A with 16 multiplies per channel pair instead of 36. The
# transforms are cheap next to the (tiles x C) @ (C x O) products only for wide layers.
_WINO_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
_WINO_AT = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
# Measured per layer: 1.4-1.9x faster than oneDNN's direct conv at C, O >= 256, even or slower
# at 128 and 64 (the transforms are memory passes over 4x the activations).
WINOGRAD_MIN_CHANNELS = 256


# Largest batch slice the CPU engine runs in one pass, in bytes of one full-resolution
# activation (pixels x first-layer width x 4): half the 32 MiB L3 of the machine measured on.
CPU_CHUNK_BYTES = 16 * 2**20


def winograd_weight(weight: Tensor) -> Tensor:
    """3x3 weight ``(O, C, 3, 3)`` -> Winograd F(2x2, 3x3) weight ``(16, C, O)``, ``G g G^T`` per pair."""
    u = torch.einsum("ik,ockl,jl->ijco", _WINO_G, weight.double(), _WINO_G)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def mkldnn_usable(device: torch.device, dtype: torch.dtype) -> bool:
    return (
        device.type == "cpu"
        and (dtype == torch.float32 or (dtype == torch.bfloat16 and cpu_has_native_bf16()))
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    )


_R = (  # rows of the 2x3 matrices that collapse 3 upsampled taps onto 2 source pixels
    torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64),  # even output row/col
    torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64),  # odd output row/col
)


def subpixel_weight(weight: Tensor) -> Tensor:
    """3x3 weight ``(O, C, 3, 3)`` -> 2x2 weights ``(4 O, C, 2, 2)`` for the four output parities.

    Output pixel ``(2i+a, 2j+b)`` of ``conv3x3(reflect_pad(upsample2x(x)))`` equals group
    ``2a+b`` of ``conv2x2(replicate_pad(x))`` at ``(i+a, j+b)``.
    """
    w = weight.double()
    groups = [torch.einsum("ak,ockl,bl->ocab", _R[a], w, _R[b]) for a in (0, 1) for b in (0, 1)]
    return torch.cat(groups, 0).to(weight.dtype)


def conv(x: Tensor, w: Tensor, b: Tensor | None, padding: int, relu: bool, mkldnn: bool) -> Tensor:
    """3x3 (or 1x1 / 2x2) conv with zero ``padding``, optionally fused with a ReLU (oneDNN on CPU)."""
    if mkldnn:
        attr = "relu" if relu else "none"
        return torch.ops.mkldnn._convolution_pointwise(x, w, b, [padding, padding], [1, 1], [1, 1], 1, attr, [], "")
    y = F.conv2d(x, w, b, padding=padding)
    return F.relu_(y) if relu else y


def max_pool2x2(x: Tensor, ceil_mode: bool = False) -> Tensor:
    """``F.max_pool2d(x, 2, 2, ceil_mode=ceil_mode)`` for inference.

    Even sizes as two elementwise maxima of strided views (rows, then columns): measured 2.6x
    faster than ``max_pool2d``, which also writes an index tensor (16 x 512^2 NHWC: 0.31 vs
    0.82 ms on a Zen 5). Same values, NaN included; keeps the memory format. Odd sizes fall back.
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2 or x.requires_grad:
        return F.max_pool2d(x, 2, 2, ceil_mode=ceil_mode)
    rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def pad1(x: Tensor, mode: str) -> Tensor:
    """Pad by one pixel on every side: ``"reflect"`` or ``"zeros"``."""
    if mode != "reflect":
        return F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[-2:]
    if (
        h * w >= _COPY_PAD_MIN
        and min(h, w) >= 2
        and x.device.type == "cpu"
        and not x.requires_grad
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return _reflect_pad1_copy(x)
    return F.pad(x, (1, 1, 1, 1), mode="reflect")


# Channels-last maps of at least this many positions are reflect-padded by block copies
# (:func:`_reflect_pad1_copy`): at 16 x 256 x 384 0.16 vs 0.30 ms, at 16 x 512^2 0.66 vs 0.86 ms
# (one thread, AMD Zen 5); smaller, wider maps are faster through F.pad.
_COPY_PAD_MIN = 1 << 16


def _reflect_pad1_copy(x: Tensor) -> Tensor:
    """``F.pad(x, (1, 1, 1, 1), mode="reflect")`` of a channels-last ``x`` as five block copies."""
    n, c, h, w = x.shape
    out = torch.empty((n, c, h + 2, w + 2), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    out[:, :, 1:-1, 1:-1] = x
    out[:, :, 0, 1:-1] = x[:, :, 1]
    out[:, :, -1, 1:-1] = x[:, :, -2]
    out[:, :, :, 0] = out[:, :, :, 2]  # the corners come with the columns
    out[:, :, :, -1] = out[:, :, :, -3]
    return out


def conv_winograd(x: Tensor, weight: Tensor, bias: Tensor | None, relu: bool, padding: str) -> Tensor:
    """3x3 conv by Winograd F(2x2, 3x3); ``x`` NHWC with even H and W; ``weight`` from :func:`winograd_weight`."""
    n, c, h, w = x.shape
    o = weight.shape[2]
    th, tw = h // 2, w // 2
    # (n, H+2, W+2, C) view of the padded input; tile (i, j) starts at (2i, 2j).
    xp = pad1(x, padding).permute(0, 2, 3, 1)
    rows = [xp[:, k : k + h : 2] for k in range(4)]  # row k of every tile: (n, th, W+2, C)
    # B^T d along rows, then along columns, written straight into the GEMM operand.
    r = (rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])
    v = torch.empty((16, n * th * tw, c), device=x.device, dtype=x.dtype)
    for i, ri in enumerate(r):
        cols = [ri[:, :, k : k + w : 2] for k in range(4)]
        out = v[4 * i : 4 * i + 4].view(4, n, th, tw, c)
        torch.sub(cols[0], cols[2], out=out[0])
        torch.add(cols[1], cols[2], out=out[1])
        torch.sub(cols[2], cols[1], out=out[2])
        torch.sub(cols[1], cols[3], out=out[3])
    m = torch.bmm(v, weight)  # (16, tiles, O)
    # A^T m A for all tiles at once: a (4 x 16) @ (16 x tiles*O) product, kron(A^T, A^T).
    a = torch.kron(_WINO_AT, _WINO_AT).to(m.dtype)
    y = torch.mm(a, m.view(16, -1)).view(2, 2, n, th, tw, o)
    if bias is not None:
        y += bias
    if relu:
        y.relu_()
    out = torch.empty((n, o, h, w), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    out.permute(0, 2, 3, 1).view(n, th, 2, tw, 2, o).copy_(y.permute(2, 3, 0, 4, 1, 5))
    return out


def conv_subpixel(
    x: Tensor, weight: Tensor, bias: Tensor | None, relu: bool, mkldnn: bool, memory_format: torch.memory_format
) -> Tensor:
    """conv3x3(reflect_pad(upsample2x_nearest(x))) via one 2x2 conv; ``weight`` from :func:`subpixel_weight`."""
    n, _, h, w = x.shape
    o = weight.shape[0] // 4
    y = conv(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, bias, 0, relu, mkldnn)
    out = torch.empty((n, o, 2 * h, 2 * w), device=x.device, dtype=y.dtype, memory_format=memory_format)
    # out[:, c, 2i+a, 2j+b] = y[:, (2a+b) o + c, i+a, j+b]. Four strided copies measured
    # faster than one 6-d as_strided copy of the same addresses.
    out6 = out.view(n, o, h, 2, w, 2)
    for a in (0, 1):
        for b in (0, 1):
            g = 2 * a + b
            out6[:, :, :, a, :, b] = y[:, g * o : (g + 1) * o, a : a + h, b : b + w]
    return out


# The tap form pays when the output conv reads many channels (oneDNN runs a 3-channel-output conv
# at ~10 % of its peak): measured on a Zen 5 (AVX-512), 512^2, the full decoder's 64 -> 3 conv is
# 6 % faster as taps, the cd16x decoders' 16 -> 3 conv 2-3x slower (d4 decode 38 -> 18 ms without).
TAP_MIN_IN_CHANNELS = 64


def tap_weight(weight: Tensor) -> Tensor:
    """3x3 weight ``(O, C, 3, 3)`` -> 1x1 weight ``(9 O, C, 1, 1)``, rows ordered (kh, kw, o)."""
    return weight.permute(2, 3, 0, 1).reshape(9 * weight.shape[0], weight.shape[1], 1, 1)


def conv_taps(x: Tensor, weight: Tensor, bias: Tensor | None, relu: bool, channels_last: bool) -> Tensor:
    """Few-channel 3x3 reflect conv as a 1x1 conv to (tap, channel) planes + shifted adds; float32 out."""
    n, _, h, w = x.shape
    o = weight.shape[0] // 9
    # (9 o, C) @ (C, h w) per image gives the tap planes already planar (contiguous rows for
    # the adds below), whatever x's memory format: a channels_last x is a transposed matrix.
    xm = x.permute(0, 2, 3, 1).reshape(n, h * w, -1).transpose(1, 2) if channels_last else x.flatten(2)
    t = torch.matmul(weight.flatten(1), xm).view(n, 9 * o, h, w).float()
    # A 1x1 conv commutes with padding: pad the 27 tap planes instead of the 64-channel input.
    t = F.pad(t, (1, 1, 1, 1), mode="reflect").view(n, 3, 3, o, h + 2, w + 2)
    out = t[:, 0, 0, :, :h, :w].clone()
    for kh in range(3):
        for kw in range(3):
            if kh or kw:
                out += t[:, kh, kw, :, kh : kh + h, kw : kw + w]
    if bias is not None:
        out += bias.float().view(1, o, 1, 1)
    return F.relu_(out) if relu else out


__all__ = [
    "CPU_CHUNK_BYTES",
    "TAP_MIN_IN_CHANNELS",
    "WINOGRAD_MIN_CHANNELS",
    "conv",
    "conv_subpixel",
    "conv_taps",
    "conv_winograd",
    "max_pool2x2",
    "mkldnn_usable",
    "pad1",
    "subpixel_weight",
    "tap_weight",
    "winograd_weight",
]
