"""adain-nst: arbitrary style transfer (AdaIN, WCT, EFDM; single and multi-level) and Gatys et al. in PyTorch.

The verbs are :func:`stylize`, :func:`stylize_video`, :func:`export_onnx`, :func:`load_model` and
:func:`list_models`; the building blocks
(:class:`VGGEncoder`, :class:`Decoder`, the transforms :class:`AdaIN` / :class:`WCT` / :class:`EFDM`,
:class:`AdaINModel` and the multi-level :class:`MultiLevelModel`) and the errors are here too.
Subpackages: :mod:`adain_nst.nn` (the modules), :mod:`adain_nst.engine` (the fast executor),
:mod:`adain_nst.pretrained` (weights), :mod:`adain_nst.optimization` (Gatys et al.),
:mod:`adain_nst.train` (decoder training), :mod:`adain_nst.video` (video, the ``video`` extra),
:mod:`adain_nst.export` (ONNX, the ``onnx`` extra); :mod:`adain_nst.architecture` is the one description
of the network. ``docs/architecture.md`` draws how they depend.
"""

from ._version import __version__
from .api import clear_cache, get_model, list_models, load_model, model_from_files, stylize
from .color import coral, transfer_luminance
from .dataset import stylize_dataset
from .errors import (
    AdainNSTError,
    CheckpointError,
    ChecksumError,
    ConfigError,
    DeviceError,
    ExportError,
    ImageReadError,
    ImageTooLargeError,
    InputError,
    MaskError,
    MemoryBudgetError,
    MissingDependencyError,
    VideoReadError,
    WeightsNotFoundError,
)
from .export import export_onnx
from .image import load_image, save_image
from .model import AdaINModel
from .multilevel import MultiLevelModel
from .nn import (
    AdaIN,
    Decoder,
    DecoderConfig,
    EncoderConfig,
    VGGEncoder,
    adaptive_instance_norm,
    calc_mean_std,
    layer_names,
)
from .nn.transforms import EFDM, WCT, efdm, wct
from .optimization import GatysLoss, gatys
from .video import stylize_video

__all__ = [
    "EFDM",
    "WCT",
    "AdaIN",
    "AdaINModel",
    "AdainNSTError",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "Decoder",
    "DecoderConfig",
    "DeviceError",
    "EncoderConfig",
    "ExportError",
    "GatysLoss",
    "ImageReadError",
    "ImageTooLargeError",
    "InputError",
    "MaskError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "MultiLevelModel",
    "VGGEncoder",
    "VideoReadError",
    "WeightsNotFoundError",
    "__version__",
    "adaptive_instance_norm",
    "calc_mean_std",
    "clear_cache",
    "coral",
    "efdm",
    "export_onnx",
    "gatys",
    "get_model",
    "layer_names",
    "list_models",
    "load_image",
    "load_model",
    "model_from_files",
    "save_image",
    "stylize",
    "stylize_dataset",
    "stylize_video",
    "transfer_luminance",
    "wct",
]
