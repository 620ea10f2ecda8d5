"""Decoder training with the AdaIN paper's recipe: data (:mod:`.data`), losses (:mod:`.losses`), loop (:mod:`.trainer`).

``adain-nst train`` is the command line; ``docs/training.md`` describes the recipe and files.
"""

from .data import ImageFolder, sample_batch
from .losses import STYLE_LAYERS, adain_content_loss, moment_style_loss, style_layers_for
from .trainer import (
    DecoderTrainer,
    StepLosses,
    TrainConfig,
    TrainResult,
    build_trainer,
    export_decoder,
    load_checkpoint,
    save_checkpoint,
    train,
)

__all__ = [
    "STYLE_LAYERS",
    "DecoderTrainer",
    "ImageFolder",
    "StepLosses",
    "TrainConfig",
    "TrainResult",
    "adain_content_loss",
    "build_trainer",
    "export_decoder",
    "load_checkpoint",
    "moment_style_loss",
    "sample_batch",
    "save_checkpoint",
    "style_layers_for",
    "train",
]
