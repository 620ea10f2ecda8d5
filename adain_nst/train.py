"""Training AdaIN decoders with the paper's recipe (Huang & Belongie 2017, sec. 6).

Loss: ``content_weight * L_c + style_weight * L_s`` where ``L_c`` is the MSE between the
relu4_1 features of the decoded image and the AdaIN target ``t``, and ``L_s`` sums, over
relu1_1..relu4_1, the MSE between the channel means and between the channel stds of the
decoded image and of the style image. Adam, lr 1e-4 with inverse decay
``lr / (1 + lr_decay * step)``, batch 8, images resized (shorter side 512) and randomly
cropped to 256.

Every random choice at step ``k`` (images and crops) is drawn from a generator seeded with
``(seed, k)``, so a run resumed from a checkpoint sees exactly the batches the
uninterrupted run would have seen.
"""

from __future__ import annotations

import functools
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

import numpy as np
import torch
from torch import Tensor

from .adain import adaptive_instance_norm
from .checkpoints import load_decoder_any, load_encoder_any
from .decoder import Decoder, DecoderConfig
from .encoder import VGGEncoder
from .errors import ImageReadError, InputError
from .image import list_images, load_image
from .losses import STYLE_LAYERS, content_loss, style_loss


@dataclass
class TrainConfig:
    """Options of :func:`train`; defaults are the AdaIN paper's.

    Sizes are in px; ``lr_decay`` is per step; ``checkpoint_every`` in steps.
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
    final_relu: bool | None = None  # None: from the init decoder (cd16x: True), else False

    def validate(self) -> None:
        for name in ("iters", "batch_size", "size", "crop", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "style_weight", "content_weight", "lr_decay"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise InputError(f"{name} must be finite and >= 0, got {v}")
        if self.crop > self.size:
            raise InputError(f"crop ({self.crop}) must not exceed size ({self.size})")
        if self.crop % 8:
            raise InputError(f"crop must be a multiple of 8, got {self.crop}")


class ImageFolder:
    """Images of a folder, resized so the shorter side is ``size``, as uint8 CHW tensors.

    Unreadable files are skipped with a warning and counted in ``skipped``.
    """

    def __init__(self, directory: str | os.PathLike[str], size: int, cache: bool = True) -> None:
        self.files = list_images(directory, recursive=True)
        self.size = size
        self.cache: dict[int, Tensor] | None = {} if cache else None
        self.bad: set[int] = set()

    @property
    def skipped(self) -> int:
        return len(self.bad)

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int) -> Tensor | None:
        if index in self.bad:
            return None
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        try:
            im = load_image(self.files[index])
        except (ImageReadError, InputError) as exc:
            self.bad.add(index)
            warnings.warn(f"skipping unreadable training image: {exc}", stacklevel=2)
            return None
        scale = self.size / min(im.size)
        new = (max(self.size, round(im.width * scale)), max(self.size, round(im.height * scale)))
        im = im.resize(new, resample=3)  # bicubic
        t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()
        if self.cache is not None:
            self.cache[index] = t
        return t


@functools.lru_cache(maxsize=8)
def _epoch_permutation(n: int, seed: int, epoch: int, stream: int) -> tuple[int, ...]:
    # Cached: every image of a batch needs it, and shuffling 1k+ indices per image adds up.
    perm = list(range(n))
    random.Random(f"{seed}:epoch{epoch}:{stream}").shuffle(perm)
    return tuple(perm)


def _step_generator(seed: int, step: int, stream: int) -> random.Random:
    return random.Random(f"{seed}:{step}:{stream}")


def sample_batch(folder: ImageFolder, batch: int, crop: int, seed: int, step: int, stream: int) -> Tensor:
    """Deterministic batch for ``step``: an infinite shuffled pass over ``folder`` plus random crops.

    Epoch ``e`` visits the images in a permutation seeded by ``(seed, e)``; the crops
    come from a generator seeded by ``(seed, step)``. Returns ``(batch, 3, crop, crop)`` in [0, 1].
    """
    n = len(folder)
    rng = _step_generator(seed, step, stream)
    out: list[Tensor] = []
    position = step * batch
    attempts = 0
    while len(out) < batch:
        epoch, offset = divmod(position, n)
        image = folder.get(_epoch_permutation(n, seed, epoch, stream)[offset])
        position += 1
        attempts += 1
        if image is None:
            if folder.skipped >= n:
                raise InputError(f"no readable images in {Path(folder.files[0]).parent}")
            continue
        _, h, w = image.shape
        top, left = rng.randint(0, h - crop), rng.randint(0, w - crop)
        out.append(image[:, top : top + crop, left : left + crop])
    return torch.stack(out).float().div_(255.0)


@dataclass
class StepLosses:
    content: float
    style: float
    total: float


class DecoderTrainer:
    """Holds the frozen encoder, the trained decoder and the optimiser; one call = one step."""

    def __init__(self, config: TrainConfig, encoder: VGGEncoder, decoder: Decoder) -> None:
        self.config = config
        self.device = torch.device(config.device)
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.encoder = encoder.to(self.device, memory_format=memory_format).eval().requires_grad_(False)
        self.decoder = decoder.to(self.device, memory_format=memory_format).train().requires_grad_(True)
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=config.lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp and self.device.type == "cuda")
        self.step = 0

    def lr_at(self, step: int) -> float:
        return self.config.lr / (1.0 + self.config.lr_decay * step)

    def _autocast(self) -> Any:
        enabled = self.config.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=enabled)

    def train_step(self, content: Tensor, style: Tensor) -> StepLosses:
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        content = content.to(self.device, memory_format=self.memory_format, non_blocking=True)
        style = style.to(self.device, memory_format=self.memory_format, non_blocking=True)
        with self._autocast():
            with torch.no_grad():
                c_feat = self.encoder(content, ("relu4_1",))["relu4_1"]
                s_feats = self.encoder(style, STYLE_LAYERS)
                target = adaptive_instance_norm(c_feat, s_feats["relu4_1"])
            image = self.decoder(target)
            g_feats = self.encoder(image, STYLE_LAYERS)
        # Statistics in float32: std of fp16 features loses too much precision.
        loss_c = content_loss(g_feats["relu4_1"].float(), target.float())
        loss_s = style_loss([g_feats[k].float() for k in STYLE_LAYERS], [s_feats[k].float() for k in STYLE_LAYERS])
        loss = cfg.content_weight * loss_c + cfg.style_weight * loss_s
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.step}; lower the lr or style weight")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return StepLosses(loss_c.item(), loss_s.item(), loss.item())

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "decoder": {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()},
            "decoder_config": self.decoder.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decoder.load_state_dict(state["decoder"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, then rename (a crash never corrupts ``path``)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export_decoder(decoder: Decoder, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> Path:
    """Write the decoder weights as safetensors (our key layout), atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"final_relu": str(decoder.config.final_relu).lower(), "format": "adain_nst.decoder", **(metadata or {})}
    sd = {k: v.detach().cpu().float().contiguous() for k, v in decoder.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file(sd, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class TrainResult:
    out: Path
    step: int
    last: StepLosses | None
    skipped_images: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _iter_steps(start: int, stop: int, progress: bool) -> Iterator[int]:
    if not progress:
        yield from range(start, stop)
        return
    from tqdm.auto import tqdm

    bar = tqdm(range(start, stop), initial=start, total=stop, desc="train", unit="step")
    yield from bar


def build_trainer(config: TrainConfig) -> DecoderTrainer:
    """Load the encoder (any supported layout) and the initial decoder for ``config``."""
    encoder = load_encoder_any(config.encoder, last_layer="relu4_1")
    if config.init_decoder:
        decoder = load_decoder_any(config.init_decoder)
        if config.final_relu is not None and config.final_relu != decoder.config.final_relu:
            decoder = _with_final_relu(decoder, config.final_relu)
    else:
        widths = tuple(encoder.channels[f"relu{k}_1"] for k in range(1, 5))
        torch.manual_seed(config.seed)
        decoder = Decoder(DecoderConfig(widths=widths, final_relu=bool(config.final_relu)))
    if decoder.in_channels != encoder.channels["relu4_1"]:
        raise InputError(
            f"decoder takes {decoder.in_channels} channels but the encoder's relu4_1 has {encoder.channels['relu4_1']}"
        )
    return DecoderTrainer(config, encoder, decoder)


def _with_final_relu(decoder: Decoder, final_relu: bool) -> Decoder:
    new = Decoder(DecoderConfig(widths=decoder.config.widths, final_relu=final_relu))
    new.load_state_dict(decoder.state_dict())
    return new


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train a decoder; checkpoints, a JSON-lines log and the exported decoder go to ``config.out``.

    Files in ``out``: ``checkpoint.pt`` (decoder, optimiser, step, RNG; atomic),
    ``log.jsonl`` (one line per ``log_every`` steps), ``decoder.safetensors`` (final
    weights, our layout) and ``train_config.json``.

    Args:
        resume: continue from ``out/checkpoint.pt`` if present (exactly: same batches,
            same optimiser state).
        progress: show a tqdm bar.
        stop_after: stop after this many steps in this call (for tests and time-boxed runs);
            the checkpoint is written so a later ``resume=True`` call continues.
    """
    config.validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(config)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        trainer.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False))
    elif not resume and ckpt.exists():
        raise InputError(f"{ckpt} exists: pass resume=True (--resume) or choose another --out")
    contents = ImageFolder(config.content_dir, config.size, config.cache_images)
    styles = ImageFolder(config.style_dir, config.size, config.cache_images)
    (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2, sort_keys=True))
    start, t0 = trainer.step, time.perf_counter()
    stop = config.iters if stop_after is None else min(config.iters, start + stop_after)
    last: StepLosses | None = None
    history: list[dict[str, float]] = []
    with open(out / "log.jsonl", "a") as log:
        for step in _iter_steps(start, stop, progress):
            c = sample_batch(contents, config.batch_size, config.crop, config.seed, step, 0)
            s = sample_batch(styles, config.batch_size, config.crop, config.seed, step, 1)
            last = trainer.train_step(c, s)
            record = {"step": trainer.step, "content": last.content, "style": last.style, "loss": last.total}
            history.append(record)
            if trainer.step % config.log_every == 0 or trainer.step == stop:
                elapsed = time.perf_counter() - t0
                log.write(json.dumps({**record, "lr": trainer.lr_at(step), "seconds": round(elapsed, 2)}) + "\n")
                log.flush()
            if trainer.step % config.checkpoint_every == 0 or trainer.step == stop:
                atomic_torch_save(trainer.state_dict(), ckpt)
    if trainer.step >= config.iters:
        export_decoder(trainer.decoder, out / "decoder.safetensors", {"step": str(trainer.step)})
    skipped = contents.skipped + styles.skipped
    if skipped:
        warnings.warn(f"{skipped} unreadable training image(s) were skipped", stacklevel=2)
    return TrainResult(out, trainer.step, last, skipped, time.perf_counter() - t0, history)
