"""THE architecture: one description of the VGG encoders and their mirrored decoders.

Everything that runs or measures the network is derived from the op lists built here:
the differentiable modules (:mod:`adain_nst.nn.encoder`, :mod:`adain_nst.nn.decoder`), the
pytorch-AdaIN-shaped reference (:mod:`adain_nst.nn.reference`, also the ONNX source), the fast
inference engine (:mod:`adain_nst.engine`), the checkpoint key maps
(:mod:`adain_nst.pretrained.formats`), the FLOP counter and the receptive field (tiling halos).

An encoder is ``input -> [conv -> relu]* -> pool -> ...`` up to one of ``relu1_1 .. relu5_4``;
a decoder for level ``relu{k}_1`` mirrors the encoder from that level back to RGB, with a
nearest x2 upsample where the encoder pooled. Three input conventions (``variant``):

==============  ================================  ==========  ===========
variant         input transform (RGB in [0, 1])   padding     pool rounding
==============  ================================  ==========  ===========
``normalized``  learned 1x1 conv ``conv0``        reflection  ceil
                (AdaIN/Gatys VGG-19, cd16x)
``imagenet``    ``(x - mean) / std`` (torchvision)  zeros       floor
``caffe``       BGR, x 255, minus the BGR mean     zeros       floor
                (Oxford/Keras VGG-19)
==============  ================================  ==========  ===========
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import ConfigError

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""The depths a decoder can start from (one per VGG block), shallow to deep."""

BLOCK_DEPTHS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

Padding = Literal["reflect", "zeros"]
OpKind = Literal["input", "conv", "relu", "pool", "up"]


@dataclass(frozen=True)
class Variant:
    """Input convention, padding and pool rounding of an encoder family (see the module table)."""

    name: str
    padding: Padding
    ceil_pool: bool
    learned_input: bool  # a 1x1 ``conv0`` with weights in the checkpoint, else a fixed affine map


VARIANTS = {
    "normalized": Variant("normalized", "reflect", ceil_pool=True, learned_input=True),
    "imagenet": Variant("imagenet", "zeros", ceil_pool=False, learned_input=False),
    "caffe": Variant("caffe", "zeros", ceil_pool=False, learned_input=False),
}


def layer_names(arch: str = "vgg19") -> list[str]:
    """All layer names of ``arch`` in forward order: ``conv1_1, relu1_1, ..., pool5``."""
    if arch not in BLOCK_DEPTHS:
        raise ConfigError(f"unknown VGG arch {arch!r}; expected one of {sorted(BLOCK_DEPTHS)}")
    names: list[str] = []
    for block, depth in enumerate(BLOCK_DEPTHS[arch], start=1):
        for i in range(1, depth + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def block_of(layer: str) -> int:
    """The VGG block (1..5) a layer name such as ``relu4_1`` or ``pool3`` belongs to."""
    return int(layer[4])


def input_affine(variant: str) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]:
    """The fixed input map ``y = M x + b`` of a variant without a learned ``conv0``: ``(M, b)``."""
    if variant == "imagenet":
        m = tuple(tuple(1.0 / s if i == j else 0.0 for j in range(3)) for i, s in enumerate(IMAGENET_STD))
        return m, tuple(-mu / s for mu, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))
    if variant == "caffe":  # output channel i (B, G, R) reads input channel 2 - i, scaled to 0..255
        m = tuple(tuple(255.0 if j == 2 - i else 0.0 for j in range(3)) for i in range(3))
        return m, tuple(-mu for mu in CAFFE_MEAN_BGR)
    raise ConfigError(f"variant {variant!r} has a learned input conv, not a fixed map")


# -- configs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of a :class:`~adain_nst.VGGEncoder`.

    Args:
        widths: output channels of the five conv blocks (full VGG: 64, 128, 256, 512, 512;
            cd16x: 16, 32, 64, 128, 128).
        last_layer: deepest layer that is built; later layers do not exist in the module.
        variant: ``"normalized"``, ``"imagenet"`` or ``"caffe"`` (see :data:`VARIANTS`).
        arch: ``"vgg19"`` or ``"vgg16"`` (block depths 2-2-4-4-4 or 2-2-3-3-3).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    last_layer: str = "relu4_1"
    variant: str = "normalized"
    arch: str = "vgg19"

    def __post_init__(self) -> None:
        if self.arch not in BLOCK_DEPTHS:
            raise ConfigError(f"unknown VGG arch {self.arch!r}; expected one of {sorted(BLOCK_DEPTHS)}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown encoder variant {self.variant!r}; expected one of {tuple(VARIANTS)}")
        if len(self.widths) != 5 or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"widths must be 5 positive ints, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.last_layer not in layer_names(self.arch):
            raise ConfigError(f"unknown layer {self.last_layer!r} for {self.arch}")

    @property
    def layers(self) -> list[str]:
        """Names of the layers this encoder has, in forward order."""
        names = layer_names(self.arch)
        return names[: names.index(self.last_layer) + 1]

    def reaches(self, layer: str) -> bool:
        """Whether ``layer`` is computed by this encoder."""
        return layer in self.layers

    def upto(self, layer: str) -> EncoderConfig:
        """The same encoder cut at ``layer`` (which it must reach)."""
        if not self.reaches(layer):
            raise ConfigError(f"the encoder stops at {self.last_layer}; it cannot be cut at {layer}")
        return EncoderConfig(self.widths, layer, self.variant, self.arch)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        unknown = set(d) - {"widths", "last_layer", "variant", "arch"}
        if unknown:
            raise ConfigError(f"unknown encoder config keys: {sorted(unknown)}")
        return cls(**{**d, "widths": tuple(d.get("widths", cls.widths))})


@dataclass(frozen=True)
class DecoderConfig:
    """Architecture of a :class:`~adain_nst.Decoder`: the mirror of a VGG-19 from ``level`` to RGB.

    Args:
        widths: channels of encoder blocks ``1..k`` that the decoder mirrors, for
            ``level = relu{k}_1`` (full VGG to relu4_1: 64, 128, 256, 512; cd16x d4: 16, 32,
            64, 128). The input has ``widths[-1]`` channels.
        final_relu: a ReLU after the last conv (the cd16x decoders have one; the AdaIN
            paper's decoder has none, so its output is unbounded).
        level: the encoder layer whose features it inverts, one of :data:`LEVELS`.
    """

    widths: tuple[int, ...] = (64, 128, 256, 512)
    final_relu: bool = False
    level: str = "relu4_1"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"decoder level must be one of {LEVELS}, got {self.level!r}")
        k = block_of(self.level)
        if len(self.widths) != k or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"a {self.level} decoder needs {k} positive widths, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

    @property
    def in_channels(self) -> int:
        return self.widths[-1]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecoderConfig:
        unknown = set(d) - {"widths", "final_relu", "level"}
        if unknown:
            raise ConfigError(f"unknown decoder config keys: {sorted(unknown)}")
        return cls(**{**d, "widths": tuple(d.get("widths", cls.widths))})


# -- the op plan --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One step of a network.

    ``kind``: ``"input"`` (1x1 affine map 3 -> 3, learned ``conv0`` or fixed), ``"conv"`` (3x3,
    stride 1, padded by 1 with ``padding``), ``"relu"``, ``"pool"`` (2x2 max, stride 2,
    ``ceil`` rounding or floor) or ``"up"`` (nearest x2). ``name`` is the layer name
    (``conv4_1``, ``relu4_1``, ``pool4``; ``conv0`` for a learned input, ``input`` for a fixed
    one; ``up{k}`` for the upsample that undoes ``pool{k}``).
    """

    kind: OpKind
    name: str
    in_channels: int = 0
    out_channels: int = 0
    padding: Padding = "reflect"
    ceil: bool = True

    @property
    def kernel(self) -> int:
        return 3 if self.kind == "conv" else 1


def encoder_ops(config: EncoderConfig, upto: str | None = None) -> list[Op]:
    """The ops of an encoder, input transform first, up to ``upto`` (default: its last layer)."""
    cfg = config if upto is None else config.upto(upto)
    v = VARIANTS[cfg.variant]
    ops = [Op("input", "conv0" if v.learned_input else "input", 3, 3)]
    cin = 3
    for name in cfg.layers:
        kind = name[:4]
        if kind == "conv":
            cout = cfg.widths[block_of(name) - 1]
            ops.append(Op("conv", name, cin, cout, v.padding))
            cin = cout
        elif kind == "relu":
            ops.append(Op("relu", name, cin, cin))
        else:
            ops.append(Op("pool", name, cin, cin, ceil=v.ceil_pool))
    return ops


def decoder_conv_names(level: str) -> list[str]:
    """Names of a decoder's convs, deepest first: each mirrors (inverts) the encoder conv of that name."""
    k = block_of(level)
    depths = BLOCK_DEPTHS["vgg19"]
    names = [f"conv{k}_1"]
    for block in range(k - 1, 0, -1):
        names += [f"conv{block}_{i}" for i in range(depths[block - 1], 0, -1)]
    return names


def decoder_ops(config: DecoderConfig) -> list[Op]:
    """The ops of a decoder: per conv ``conv -> relu``, and an ``up`` after every ``conv{b}_1`` with b > 1.

    ``conv{b}_i`` for i > 1 keeps the block's width; ``conv{b}_1`` maps it to block b-1's
    (to 3 colours for ``conv1_1``, followed by a ReLU only when ``final_relu``).
    """
    widths = config.widths
    ops: list[Op] = []
    for name in decoder_conv_names(config.level):
        block, index = block_of(name), int(name[6:])
        cin = widths[block - 1]
        cout = cin if index > 1 else (widths[block - 2] if block > 1 else 3)
        ops.append(Op("conv", name, cin, cout, "reflect"))
        if name != "conv1_1" or config.final_relu:
            ops.append(Op("relu", "relu" + name[4:], cout, cout))
        if index == 1 and block > 1:
            ops.append(Op("up", f"up{block - 1}", cout, cout))
    return ops


# -- what follows from a plan -------------------------------------------------------------------------
def output_size(ops: list[Op], height: int, width: int) -> tuple[int, int]:
    """Spatial size after ``ops`` for an ``height x width`` input."""
    h, w = height, width
    for op in ops:
        if op.kind == "pool":
            h, w = (math.ceil(h / 2), math.ceil(w / 2)) if op.ceil else (h // 2, w // 2)
        elif op.kind == "up":
            h, w = 2 * h, 2 * w
    return h, w


def stride(ops: list[Op]) -> int:
    """Input pixels per feature pixel after ``ops`` (encoder: 2 ** pools; inputs are padded to a multiple)."""
    pools = sum(op.kind == "pool" for op in ops) - sum(op.kind == "up" for op in ops)
    return 2 ** max(pools, 0)


def receptive_field(ops: list[Op]) -> int:
    """Side, in input pixels, of the window one output pixel of ``ops`` depends on.

    A 3x3 conv widens it by 2 steps of the current grid, a 2x2 pool by 1 step and doubles the
    step; a nearest upsample halves the step. For an encoder + decoder chain pass both lists
    concatenated; a tile needs a halo of half this on each side for exact results.
    """
    rf, jump = 1.0, 1.0
    for op in ops:
        if op.kind == "conv":
            rf += 2 * jump
        elif op.kind == "pool":
            rf += jump
            jump *= 2
        elif op.kind == "up":
            jump /= 2
    return math.ceil(rf)


def runs_at(ops: list[Op], height: int, width: int | None = None) -> bool:
    """Whether ``ops`` run on a ``height x width`` input (square if ``width`` is None) and leave
    features with a variance (at least 2 values per channel).

    A reflection-padded conv needs >= 2 px per side (the pad must be smaller than the map); a
    floor pool of 1 px leaves none.
    """
    h, w = height, height if width is None else width
    for op in ops:
        if min(h, w) < 1 or (op.kind == "conv" and op.padding == "reflect" and min(h, w) < 2):
            return False
        if op.kind in ("pool", "up"):
            h, w = output_size([op], h, w)
    return min(h, w) >= 1 and h * w >= 2


def min_input_side(ops: list[Op], *, multiple: int = 1) -> int:
    """The smallest side (px) on which ``ops`` run for every aspect ratio (:func:`runs_at` of a square),
    for inputs padded to a ``multiple`` first.

    For a normalised VGG cut at ``relu{k}_1`` with the input padded to its stride (``2 ** (k-1)``)
    this is ``stride + 1``: 9 px for relu4_1, 17 px for relu5_1.
    """
    side = 1
    while not runs_at(ops, side + (-side) % multiple):
        side += 1
    return side


@dataclass(frozen=True)
class ConvCost:
    """One convolution's cost. ``flops`` = 2 x multiply-adds (bias, ReLU, pools not counted)."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    height: int  # output height (stride 1, "same" padding: also the input height)
    width: int
    batch: int

    @property
    def flops(self) -> int:
        return 2 * self.in_channels * self.out_channels * self.kernel**2 * self.height * self.width * self.batch


def conv_costs(ops: list[Op], height: int, width: int, *, batch: int = 1, prefix: str = "") -> list[ConvCost]:
    """Cost of every conv (and the learned 1x1 input conv) of ``ops`` on an ``height x width`` input."""
    costs: list[ConvCost] = []
    h, w = height, width
    for op in ops:
        if op.kind == "conv" or (op.kind == "input" and op.name == "conv0"):
            costs.append(ConvCost(prefix + op.name, op.in_channels, op.out_channels, op.kernel, h, w, batch))
        elif op.kind in ("pool", "up"):
            h, w = output_size([op], h, w)
    return costs


def flops(ops: list[Op], height: int, width: int, *, batch: int = 1) -> int:
    """Conv FLOPs of ``ops`` on ``batch`` inputs of ``height x width`` (see :class:`ConvCost`)."""
    return sum(c.flops for c in conv_costs(ops, height, width, batch=batch))


def sequential_indices(ops: list[Op]) -> dict[str, int]:
    """Index of each conv (and learned input conv) in the ``nn.Sequential`` form of ``ops``.

    The sequential form is the one the original projects publish: reflection padding as its
    own ``ReflectionPad2d`` module before each conv (pytorch-AdaIN), zero padding inside the
    ``Conv2d`` (torchvision); a fixed input map has no module. This fixes the key names
    ``"{index}.weight"`` of both layouts.
    """
    index, out = 0, {}
    for op in ops:
        if op.kind == "input":
            if op.name == "conv0":
                out["conv0"] = index
                index += 1
        elif op.kind == "conv":
            if op.padding == "reflect":
                index += 1
            out[op.name] = index
            index += 1
        else:
            index += 1
    return out


__all__ = [
    "BLOCK_DEPTHS",
    "LEVELS",
    "VARIANTS",
    "ConvCost",
    "DecoderConfig",
    "EncoderConfig",
    "Op",
    "Variant",
    "block_of",
    "conv_costs",
    "decoder_conv_names",
    "decoder_ops",
    "encoder_ops",
    "flops",
    "input_affine",
    "layer_names",
    "min_input_side",
    "output_size",
    "receptive_field",
    "runs_at",
    "sequential_indices",
    "stride",
]
