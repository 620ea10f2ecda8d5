"""Training AdaIN decoders with the paper's recipe (Huang & Belongie 2017, sec. 6).

Loss: ``content_weight * L_c + style_weight * L_s`` (see :mod:`.losses`): ``L_c`` is the
MSE between the decoded image's features at the decoder's level (relu4_1 in the paper) and
the AdaIN target ``t``; ``L_s`` sums, over relu1_1..relu4_1, the MSE between the channel
means and between the channel stds of the decoded image and of the style image. Adam, lr
1e-4 with inverse decay ``lr / (1 + lr_decay * step)``, batch 8, images resized (shorter
side 512) and randomly cropped to 256. Batches are deterministic per step (:mod:`.data`),
so a resumed run reproduces the uninterrupted one.

Precision (``TrainConfig.dtype``): ``None`` trains in float32; ``"bfloat16"`` uses bf16
autocast (CUDA, or a CPU with native bf16); ``"float16"`` uses fp16 autocast with a
gradient scaler (CUDA only). Loss statistics are always taken in float32. A checkpoint
records the run's config, precision included, and a resumed run keeps it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .._io import atomic_write, atomic_write_bytes
from ..architecture import DecoderConfig
from ..engine import runtime
from ..errors import CheckpointError, ConfigError, DeviceError, InputError, WeightsNotFoundError
from ..nn.decoder import Decoder
from ..nn.encoder import VGGEncoder
from ..nn.transforms import adaptive_instance_norm
from ..pretrained.bundled import bundled_path
from ..pretrained.folder import DECODER_NAME, decoder_metadata, safetensors_bytes
from ..pretrained.formats import ENCODER_FINGERPRINT
from ..pretrained.pairing import encoder_fingerprint
from ..pretrained.registry import ENCODER_WEIGHTS
from .data import CONTENT_STREAM, STYLE_STREAM, ImageFolder, sample_batch
from .losses import adain_content_loss, moment_style_loss, style_layers_for

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
CONFIG_NAME = "train_config.json"
CHECKPOINT_FORMAT = "adain_nst.train"
CHECKPOINT_VERSION = 2  # 2: the config records its dtype; the file loads with weights_only=True

RUN_FIELDS = (
    "batch_size",
    "lr",
    "lr_decay",
    "style_weight",
    "content_weight",
    "size",
    "crop",
    "seed",
    "dtype",
    "loss_encoder",
    "style_layer_weights",
)
"""Options that define a run's numbers: a resumed run keeps the recorded values."""


@dataclass
class TrainConfig:
    """Options of :func:`train`; defaults are the AdaIN paper's.

    Sizes are in px; ``lr_decay`` is per step; ``checkpoint_every`` and ``log_every`` in steps.
    ``dtype``: ``None`` (float32), ``"float32"``, ``"bfloat16"`` (CUDA, or a CPU with native
    bf16), ``"float16"`` (CUDA), or ``"auto"`` (bfloat16 where native, else float32).
    ``amp`` is the deprecated spelling of ``dtype="float16"`` on CUDA (on CPU it did nothing).
    ``final_relu``: ``None`` takes it from the initial decoder (cd16x: True), else False.
    ``loss_encoder``: the network of the style loss (a checkpoint file or a bundled encoder's
    registry name such as ``"vgg19-imagenet"``); ``None`` is ``encoder`` itself, as in the
    paper. The content loss is always taken by ``encoder``, whose features the AdaIN target is.
    ``style_layer_weights``: one factor (>= 0) per style layer, relu1_1 first (four for a relu4_1
    decoder); ``None`` weighs every layer 1, as in the paper. On a 0..255-scale loss network
    such as the ImageNet VGG-19 the relu4_1 term is ~90 % of the plain sum, so the colours and
    fine texture of the shallow layers barely count without them.
    ``snapshot_every``: also export the decoder every that many steps as
    ``decoder-step{N}.safetensors`` (snapshots to average, ``weights/average_decoders.py``).
    """

    content_dir: str
    style_dir: str
    encoder: str
    out: str
    init_decoder: str | None = None
    iters: int = 5000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    size: int = 512
    crop: int = 256
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = True
    checkpoint_every: int = 100
    log_every: int = 10
    cache_images: bool = True
    final_relu: bool | None = None
    dtype: str | None = None
    loss_encoder: str | None = None
    style_layer_weights: tuple[float, ...] | None = None
    snapshot_every: int | None = None

    def __post_init__(self) -> None:
        if self.style_layer_weights is not None:
            self.style_layer_weights = tuple(float(w) for w in self.style_layer_weights)
        if isinstance(self.dtype, torch.dtype):
            self.dtype = runtime.dtype_name(self.dtype)
        if self.amp:
            warnings.warn(
                "TrainConfig.amp / --amp is deprecated: use dtype='float16' / --dtype float16 (CUDA only)",
                DeprecationWarning,
                stacklevel=3,
            )

    def validate(self) -> None:
        """Raise :class:`InputError` for an option out of range (before any file is read)."""
        for name in ("iters", "batch_size", "size", "crop", "checkpoint_every", "log_every", "snapshot_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "style_weight", "content_weight", "lr_decay"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise InputError(f"{name} must be finite and >= 0, got {v}")
        weights = self.style_layer_weights
        if weights is not None and (not weights or not all(w >= 0 and math.isfinite(w) for w in weights)):
            raise InputError(f"style_layer_weights must be finite numbers >= 0, one per style layer, got {weights}")
        if self.crop > self.size:
            raise InputError(f"crop ({self.crop}) must not exceed size ({self.size})")
        if self.crop % 8:
            raise InputError(f"crop must be a multiple of 8, got {self.crop}")
        if self.dtype is not None and self.dtype != "auto" and self.dtype not in runtime.DTYPES:
            raise InputError(f"unknown dtype {self.dtype!r}; expected one of {sorted(runtime.DTYPES)}, 'auto' or None")


# -- precision -----------------------------------------------------------------------------------------
def requested_dtype(config: TrainConfig, device: torch.device) -> str | None:
    """The precision ``config`` asks for as a canonical name, or ``None`` (not given: float32 for a new run).

    ``"auto"`` is resolved for ``device``; the deprecated ``amp`` flag means float16 on CUDA
    and nothing elsewhere (as it always did).
    """
    dtype = config.dtype
    if dtype is None:
        name = None
    elif dtype == "auto":
        name = runtime.dtype_name(runtime.resolve_dtype("auto", device))
    elif dtype in runtime.DTYPES:
        name = runtime.dtype_name(runtime.DTYPES[dtype])
    else:
        raise InputError(f"unknown dtype {dtype!r}; expected one of {sorted(runtime.DTYPES)}, 'auto' or None")
    if config.amp and device.type == "cuda":
        if name not in (None, "float16"):
            raise InputError(f"amp=True means float16, which conflicts with dtype={dtype!r}; pass only dtype")
        name = "float16"
    return name


def training_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The autocast dtype for training on ``device`` (``None``: float32).

    Raises :class:`DeviceError` where the precision is not native: bfloat16 needs CUDA with
    bf16 support or a CPU with native bf16 (emulated bf16 is 10-100x slower than float32);
    float16 needs CUDA.
    """
    try:
        resolved = runtime.resolve_dtype(dtype, device)
    except DeviceError:  # float16 on CPU; say it for training
        raise DeviceError("float16 training is for CUDA; on CPU train in float32 (dtype=None) or bfloat16") from None
    if resolved == torch.float32:
        return resolved
    if device.type == "cuda":
        if resolved == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise DeviceError("this CUDA GPU does not support bfloat16: train with dtype='float16' or None")
        return resolved
    if device.type == "cpu" and resolved == torch.bfloat16:
        if not runtime.cpu_has_native_bf16():
            raise DeviceError(
                "bfloat16 training needs a CPU with native bf16 (AVX512-BF16 or AMX); this one would emulate it "
                "10-100x slower than float32: train with dtype=None (float32) or on a CUDA GPU"
            )
        return resolved
    raise DeviceError(f"{runtime.dtype_name(resolved)} training is not supported on {device.type}; use dtype=None")


# -- one step ------------------------------------------------------------------------------------------
@dataclass
class StepLosses:
    """Losses of one step (floats): content, style and the weighted total."""

    content: float
    style: float
    total: float


class DecoderTrainer:
    """Holds the frozen encoder, the trained decoder and the optimiser; one :meth:`train_step` = one step.

    The decoder inverts features at its own level (any of relu1_1..relu5_1); the encoder
    must reach that level and the style layers (:func:`.losses.style_layers_for`).
    ``config.dtype`` and ``config.device`` choose the precision and device (see
    :func:`training_dtype`); :attr:`config` afterwards records the canonical dtype name.
    """

    def __init__(
        self, config: TrainConfig, encoder: VGGEncoder, decoder: Decoder, loss_encoder: VGGEncoder | None = None
    ) -> None:
        self.device = runtime.resolve_device(config.device)
        self.dtype = training_dtype(requested_dtype(config, self.device), self.device)
        self.config = dataclasses.replace(config, dtype=runtime.dtype_name(self.dtype), amp=False)
        self.level = decoder.level
        self.style_layers = style_layers_for(self.level)
        weights = config.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):
            raise InputError(
                f"style_layer_weights has {len(weights)} entries; a {self.level} decoder's style layers are "
                f"{', '.join(self.style_layers)}: give one weight each"
            )
        (loss_encoder or encoder).check_layers(self.style_layers)
        encoder.check_layers([self.level])
        if encoder.channels[self.level] != decoder.in_channels:
            raise ConfigError(
                f"the decoder takes {decoder.in_channels} channels but the encoder's {self.level} has "
                f"{encoder.channels[self.level]}: they are not from the same network family"
            )
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.encoder = encoder.to(self.device, memory_format=memory_format).eval().requires_grad_(False)
        self.loss_encoder = (
            None
            if loss_encoder is None
            else loss_encoder.to(self.device, memory_format=memory_format).eval().requires_grad_(False)
        )
        self.decoder = decoder.to(self.device, memory_format=memory_format).train().requires_grad_(True)
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=config.lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)
        self.step = 0

    @property
    def dtype_name(self) -> str:
        """``"float32"``, ``"bfloat16"`` or ``"float16"``: the precision of the steps."""
        return runtime.dtype_name(self.dtype)

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based): ``lr / (1 + lr_decay * step)``."""
        return self.config.lr / (1.0 + self.config.lr_decay * step)

    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)

    def train_step(self, content: Tensor, style: Tensor) -> StepLosses:
        """One optimiser step on ``content`` and ``style`` batches ``(B, 3, H, W)`` in [0, 1]."""
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        content = content.to(self.device, memory_format=self.memory_format, non_blocking=True)
        style = style.to(self.device, memory_format=self.memory_format, non_blocking=True)
        layers = self.style_layers
        judge = self.loss_encoder or self.encoder
        with self._autocast():
            with torch.no_grad():
                c_feat = self.encoder(content, (self.level,))[self.level]
                s_feats = self.encoder(style, layers if judge is self.encoder else (self.level,))
                target = adaptive_instance_norm(c_feat, s_feats[self.level])
                if judge is not self.encoder:
                    s_feats = judge(style, layers)
            image = self.decoder(target)
            g_feats = judge(image, layers)
            g_level = g_feats[self.level] if judge is self.encoder else self.encoder(image, (self.level,))[self.level]
        # Statistics in float32: the std of low-precision features loses too much.
        loss_c = adain_content_loss(g_level.float(), target.float())
        loss_s = moment_style_loss(
            [g_feats[k].float() for k in layers], [s_feats[k].float() for k in layers], cfg.style_layer_weights
        )
        loss = cfg.content_weight * loss_c + cfg.style_weight * loss_s
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.step}; lower the lr or style weight")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return StepLosses(loss_c.item(), loss_s.item(), loss.item())

    # -- checkpoints -------------------------------------------------------------------------------
    @property
    def encoder_fingerprint(self) -> str:
        """The encoder this decoder is trained with, as pairing checks it (recorded in checkpoints and exports)."""
        return encoder_fingerprint(self.encoder.state_dict(), self.level)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as plain dicts, tensors, tuples and numbers.

        Loads with ``torch.load(weights_only=True)``; ``"decoder"`` + ``"decoder_config"``
        make it usable as a decoder file (:meth:`Decoder.from_checkpoint`).
        """
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "decoder": {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()},
            "decoder_config": self.decoder.config.to_dict(),
            ENCODER_FINGERPRINT: self.encoder_fingerprint,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "dtype": self.dtype_name,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (decoder, optimiser, scaler, step, RNG)."""
        self.decoder.load_state_dict(state["decoder"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "python" in rng:
            random.setstate(rng["python"])


def save_checkpoint(trainer: DecoderTrainer, path: str | os.PathLike[str]) -> Path:
    """Write ``trainer.state_dict()`` to ``path`` atomically (a crash never leaves a truncated file)."""
    return atomic_write(path, lambda f: torch.save(trainer.state_dict(), f))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A training checkpoint, read with ``torch.load(weights_only=True)`` (no pickle code runs)."""
    p = Path(path)
    if not p.is_file():
        raise WeightsNotFoundError(f"training checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointError(f"cannot read training checkpoint {p} (truncated or not a checkpoint?): {exc}") from exc
    needed = ("decoder", "decoder_config", "optimizer", "step", "config")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise CheckpointError(f"{p} is not an adain-nst training checkpoint (it lacks {', '.join(needed)})")
    return state


def recorded_dtype(recorded: dict[str, Any]) -> str:
    """The precision a recorded config ran in; checkpoints from before ``dtype`` derive it from ``amp``."""
    if recorded.get("dtype"):
        return str(recorded["dtype"])
    cuda = str(recorded.get("device", "cpu")).startswith("cuda")
    return "float16" if recorded.get("amp") and cuda else "float32"


def resumed_config(
    config: TrainConfig,
    recorded: dict[str, Any],
    decoder_config: dict[str, Any] | None = None,
    where: str = "the checkpoint",
) -> TrainConfig:
    """The config a resumed run uses: the recorded :data:`RUN_FIELDS` (dtype included), the rest from ``config``.

    A field of :data:`RUN_FIELDS` that ``config`` sets to something other than its default
    and the recorded value is a conflict: :class:`InputError` names each one. ``dtype=None``
    or ``"auto"`` keeps the recorded precision; a ``final_relu`` other than the checkpoint's
    decoder has (``decoder_config``) conflicts too. ``iters``, the folders, the device and
    the logging options may change between calls.
    """
    device = runtime.resolve_device(config.device)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    kept: dict[str, Any] = {}
    conflicts: list[str] = []
    for name in RUN_FIELDS:
        if name == "dtype":
            old: Any = recorded_dtype(recorded)
            new: Any = None if config.dtype == "auto" else requested_dtype(config, device)
        else:
            if name not in recorded:
                continue
            old, new = recorded[name], getattr(config, name)
            if isinstance(old, list):  # a config read back from train_config.json has lists for tuples
                old = tuple(old)
        if new not in (old, defaults[name]):
            conflicts.append(f"{name}={new!r} (recorded: {old!r})")
        kept[name] = old
    relu = None if decoder_config is None else bool(decoder_config.get("final_relu"))
    if relu is not None and config.final_relu is not None and config.final_relu != relu:
        conflicts.append(f"final_relu={config.final_relu!r} (the checkpoint's decoder: {relu!r})")
    if conflicts:
        raise InputError(
            f"{where} was recorded with other settings than this call passes: {'; '.join(conflicts)}. "
            "A resumed run keeps its recorded settings: drop these options, or start a new run in another out folder"
        )
    if recorded.get("init_decoder") is not None:
        kept["init_decoder"] = recorded["init_decoder"]  # provenance: the weights come from the checkpoint
    return dataclasses.replace(config, **kept, amp=False)


# -- export --------------------------------------------------------------------------------------------
def export_decoder(decoder: Decoder, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> Path:
    """Write ``decoder`` as float32 safetensors in our layout, atomically.

    The metadata carries ``kind``, ``level``, ``final_relu``, ``widths`` and ``format_version``
    (:func:`adain_nst.pretrained.folder.decoder_metadata`), so the file loads with
    :meth:`Decoder.from_checkpoint` and as the ``decoder.safetensors`` of a
    ``save_pretrained`` folder of the same architecture. ``metadata`` adds entries (e.g.
    ``step``); it cannot override those.
    """
    meta = {**(metadata or {}), **decoder_metadata(decoder.config)}
    return atomic_write_bytes(path, safetensors_bytes(decoder.state_dict(), meta))


# -- the run -------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train` did: ``step`` reached, the last step's losses, one record per step of this call."""

    out: Path
    step: int
    last: StepLosses | None
    skipped_images: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    dtype: str = "float32"
    config: TrainConfig | None = None


def _iter_steps(start: int, stop: int, progress: bool) -> Iterator[int]:
    if not progress:
        yield from range(start, stop)
        return
    yield from tqdm(range(start, stop), initial=start, total=stop, desc="train", unit="step")


def build_trainer(config: TrainConfig, state: dict[str, Any] | None = None) -> DecoderTrainer:
    """Load the encoder (any supported layout) and the decoder for ``config``.

    The decoder comes from ``state`` (a loaded checkpoint, when resuming), else from
    ``config.init_decoder`` (any layout and level), else it is a new relu4_1 decoder seeded
    by ``config.seed``. The encoder is cut after the deepest layer the losses need.
    """
    decoder: Decoder | None = None
    if state is not None:
        decoder = Decoder.from_state_dict(DecoderConfig.from_dict(state["decoder_config"]), state["decoder"])
    elif config.init_decoder:
        decoder = Decoder.from_checkpoint(config.init_decoder)
        if config.final_relu is not None and config.final_relu != decoder.config.final_relu:
            new_config = dataclasses.replace(decoder.config, final_relu=config.final_relu)
            decoder = Decoder.from_state_dict(new_config, decoder.state_dict())
    level = decoder.level if decoder is not None else "relu4_1"
    last = style_layers_for(level)[-1]
    encoder = load_encoder(config.encoder, level if config.loss_encoder else last)
    loss_encoder = load_encoder(config.loss_encoder, last) if config.loss_encoder else None
    if decoder is None:
        widths = tuple(encoder.channels[f"relu{k}_1"] for k in range(1, 5))
        torch.manual_seed(config.seed)
        decoder = Decoder(DecoderConfig(widths=widths, final_relu=bool(config.final_relu)))
    return DecoderTrainer(config, encoder, decoder, loss_encoder)


def load_encoder(name_or_path: str, last_layer: str) -> VGGEncoder:
    """An encoder cut after ``last_layer``, from a checkpoint file (any layout) or a bundled encoder's name."""
    weights = ENCODER_WEIGHTS.get(str(name_or_path))
    if weights is not None and weights.bundled and not Path(name_or_path).exists():
        return VGGEncoder.from_checkpoint(bundled_path(weights.file), last_layer=last_layer)
    return VGGEncoder.from_checkpoint(name_or_path, last_layer=last_layer)


def _export(trainer: DecoderTrainer, path: Path) -> None:
    meta = {
        "step": str(trainer.step),
        "train_dtype": trainer.dtype_name,
        ENCODER_FINGERPRINT: trainer.encoder_fingerprint,
    }
    export_decoder(trainer.decoder, path, meta)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train a decoder; checkpoints, a JSON-lines log and the exported decoder go to ``config.out``.

    Files in ``out``: ``checkpoint.pt`` (decoder, optimiser, step, RNG, config with its
    dtype; atomic; loads with ``torch.load(weights_only=True)``), ``log.jsonl`` (one line per
    ``log_every`` steps), ``train_config.json`` (the options in effect) and, once ``iters``
    steps are done, ``decoder.safetensors`` (see :func:`export_decoder`).

    Args:
        resume: continue from ``out/checkpoint.pt`` if present (exactly: same batches,
            same optimiser state, the recorded precision and hyper-parameters; see
            :func:`resumed_config` for what may change).
        progress: show a tqdm bar.
        stop_after: stop after this many steps in this call (for tests and time-boxed runs);
            the checkpoint is written so a later ``resume=True`` call continues.
    """
    config.validate()
    out = Path(config.out)
    ckpt = out / CHECKPOINT_NAME
    state: dict[str, Any] | None = None
    if ckpt.exists():
        if not resume:
            raise InputError(f"{ckpt} exists: pass resume=True (--resume) or choose another --out")
        state = load_checkpoint(ckpt)
        config = resumed_config(config, state["config"], state["decoder_config"], str(ckpt))
    try:
        trainer = build_trainer(config, state)
    except DeviceError as exc:
        if state is None:
            raise
        raise DeviceError(f"{exc} (a resumed run keeps the precision {ckpt} records: {config.dtype})") from None
    if state is not None:
        trainer.load_state_dict(state)
    config = trainer.config
    out.mkdir(parents=True, exist_ok=True)
    contents = ImageFolder(config.content_dir, config.size, config.cache_images)
    styles = ImageFolder(config.style_dir, config.size, config.cache_images)
    text = json.dumps(asdict(config), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(out / CONFIG_NAME, text.encode("utf-8"))
    start, t0 = trainer.step, time.perf_counter()
    stop = config.iters if stop_after is None else min(config.iters, start + stop_after)
    last: StepLosses | None = None
    history: list[dict[str, float]] = []
    with open(out / LOG_NAME, "a", encoding="utf-8") as log:
        for step in _iter_steps(start, stop, progress):
            c = sample_batch(contents, config.batch_size, config.crop, config.seed, step, CONTENT_STREAM)
            s = sample_batch(styles, config.batch_size, config.crop, config.seed, step, STYLE_STREAM)
            last = trainer.train_step(c, s)
            record = {"step": trainer.step, "content": last.content, "style": last.style, "loss": last.total}
            history.append(record)
            if trainer.step % config.log_every == 0 or trainer.step == stop:
                elapsed = round(time.perf_counter() - t0, 2)
                extra = {"lr": trainer.lr_at(step), "dtype": trainer.dtype_name, "seconds": elapsed}
                log.write(json.dumps({**record, **extra}) + "\n")
                log.flush()
            if trainer.step % config.checkpoint_every == 0 or trainer.step == stop:
                save_checkpoint(trainer, ckpt)
            if config.snapshot_every and trainer.step % config.snapshot_every == 0:
                _export(trainer, out / f"decoder-step{trainer.step}.safetensors")
    if trainer.step >= config.iters:
        _export(trainer, out / DECODER_NAME)
    skipped = contents.skipped + styles.skipped
    if skipped:
        warnings.warn(f"{skipped} unreadable training image(s) were skipped", stacklevel=2)
    seconds = time.perf_counter() - t0
    return TrainResult(out, trainer.step, last, skipped, seconds, history, trainer.dtype_name, config)


__all__ = [
    "CHECKPOINT_NAME",
    "RUN_FIELDS",
    "DecoderTrainer",
    "StepLosses",
    "TrainConfig",
    "TrainResult",
    "build_trainer",
    "export_decoder",
    "load_checkpoint",
    "load_encoder",
    "recorded_dtype",
    "requested_dtype",
    "resumed_config",
    "save_checkpoint",
    "train",
    "training_dtype",
]
