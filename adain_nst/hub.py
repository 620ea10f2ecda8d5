"""Pretrained weights: ``save_pretrained`` folders and downloads from the Hugging Face Hub.

A model folder (local or a Hub repository at one commit) holds:

* ``config.json``: ``format_version``, ``architecture``, encoder and decoder configs, ``eps``;
* ``encoder.safetensors`` / ``decoder.safetensors``: float32 state dicts whose metadata
  repeats what loading must check (encoder variant, decoder ``final_relu``).

This is the only module that imports :mod:`huggingface_hub`. Downloads land in the Hub's own
cache (``HF_HUB_CACHE`` / ``cache_dir``); every file of a registered model is then checked
against the sha256 in :mod:`adain_nst.registry`, since huggingface_hub checks sizes only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from torch import Tensor, nn

from .checkpoints import _strict_load, sha256_file
from .decoder import Decoder, DecoderConfig
from .encoder import EncoderConfig, VGGEncoder
from .errors import ChecksumError, ConfigError, InputError, WeightsNotFoundError
from .model import AdaINModel
from .registry import ALIASES, MODEL_FILES, REGISTRY, ModelSpec, list_models

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARCHITECTURE = "AdaINModel"
CONFIG_NAME = "config.json"
ENCODER_NAME = "encoder.safetensors"
DECODER_NAME = "decoder.safetensors"
WEIGHTS_DIR_ENV = "ADAIN_NST_WEIGHTS_DIR"
LIBRARY_NAME = "adain-nst"
_REPO_ID = re.compile(r"([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w./-]+))?")
_CONFIG_KEYS = {"adain_nst_version", "architecture", "decoder", "encoder", "eps", "format_version", "input"}

PathLike = str | os.PathLike[str]
Source = str | os.PathLike[str] | ModelSpec


def _library_version() -> str:
    from . import __version__

    return __version__


# -- config.json ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` describes: the two architectures and the AdaIN epsilon."""

    encoder: EncoderConfig
    decoder: DecoderConfig
    eps: float = 1e-5
    format_version: int = FORMAT_VERSION

    def to_dict(self, library_version: str | None = None) -> dict[str, Any]:
        return {
            "adain_nst_version": library_version or _library_version(),
            "architecture": ARCHITECTURE,
            "decoder": self.decoder.to_dict(),
            "encoder": self.encoder.to_dict(),
            "eps": self.eps,
            "format_version": self.format_version,
            # The input contract travels with the weights so other tools need not guess it.
            "input": {"layout": "BCHW", "channels": "RGB", "range": [0.0, 1.0]},
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "config.json") -> ModelConfig:
        """Parse and validate a config dict; :class:`ConfigError` names ``where`` and the problem."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
            raise ConfigError(
                f"{where}: format_version {version!r} is not supported by this adain_nst "
                f"(it reads 1..{FORMAT_VERSION}); upgrade adain-nst to load this model"
            )
        if d.get("architecture") != ARCHITECTURE:
            raise ConfigError(f"{where}: architecture {d.get('architecture')!r} is not {ARCHITECTURE!r}")
        unknown = set(d) - _CONFIG_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            encoder = EncoderConfig.from_dict(d["encoder"])
            decoder = DecoderConfig.from_dict(d["decoder"])
            eps = float(d.get("eps", 1e-5))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: malformed encoder/decoder entry ({exc!r})") from None
        return cls(encoder=encoder, decoder=decoder, eps=eps, format_version=version)


def read_config(path: PathLike) -> ModelConfig:
    """Read and validate a ``config.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return ModelConfig.from_dict(data, where=str(path))


# -- safetensors with a canonical header --------------------------------------------------------
def _encoder_metadata(config: EncoderConfig) -> dict[str, str]:
    return {
        "format": "pt",
        "format_version": str(FORMAT_VERSION),
        "kind": "encoder",
        "variant": config.variant,
        "arch": config.arch,
        "last_layer": config.last_layer,
        "widths": ",".join(map(str, config.widths)),
    }


def _decoder_metadata(config: DecoderConfig) -> dict[str, str]:
    return {
        "format": "pt",
        "format_version": str(FORMAT_VERSION),
        "kind": "decoder",
        # checkpoints.decoder_from_cd16x reads this key too, so the file also loads there.
        "final_relu": str(config.final_relu).lower(),
        "widths": ",".join(map(str, config.widths)),
    }


def safetensors_bytes(state_dict: dict[str, Tensor], metadata: dict[str, str]) -> bytes:
    """Serialise ``state_dict`` as float32 safetensors with a deterministic header.

    safetensors writes ``__metadata__`` from a hash map whose order changes from process to
    process; re-emitting the header with sorted keys makes the bytes (and the sha256 the
    registry pins) a function of the weights and metadata alone.
    """
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state_dict.items()}
    raw = save(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, meta


def _check_meta(meta: dict[str, str], expected: dict[str, str], path: Path, keys: Sequence[str]) -> None:
    for key in keys:
        if key not in meta:
            raise ConfigError(f"{path}: safetensors metadata lacks {key!r}; re-save the model with save_pretrained")
        if meta[key] != expected[key]:
            raise ConfigError(
                f"{path}: metadata {key}={meta[key]!r}, expected {expected[key]!r} from config.json; "
                "the folder mixes files of different models"
            )


# -- saving --------------------------------------------------------------------------------
def _write_files(directory: Path, payload: dict[str, bytes]) -> None:
    """Write ``payload`` (file name -> bytes) so that no reader sees a half-written file.

    A new folder is built beside the target and renamed into place in one step. In an
    existing folder each file goes to a temporary name first and all are then renamed, so
    a crash leaves either the old or the new version of every file, never a truncated one.
    """
    tag = uuid.uuid4().hex[:12]
    if not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.parent / f".{directory.name}.tmp-{tag}"
        staging.mkdir()
        try:
            for name, data in payload.items():
                (staging / name).write_bytes(data)
            with contextlib.suppress(OSError):  # someone created the folder meanwhile: fall through
                staging.rename(directory)
                return
        finally:
            if staging.exists():
                for child in staging.iterdir():
                    child.unlink()
                staging.rmdir()
    if not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder")
    temps: list[tuple[Path, Path]] = []
    try:
        for name, data in payload.items():
            tmp = directory / f".{name}.tmp-{tag}"
            tmp.write_bytes(data)
            temps.append((tmp, directory / name))
        for tmp, final in temps:  # config.json is last in payload: weights first, then the description
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)


def save_model(model: AdaINModel, directory: PathLike, *, library_version: str | None = None) -> Path:
    """Write ``model`` as ``config.json`` + ``encoder.safetensors`` + ``decoder.safetensors``.

    Args:
        model: the model to save; weights are stored as contiguous float32 on CPU.
        directory: target folder, created if needed; other files in it are left alone.
        library_version: version recorded in ``config.json`` (default: this adain_nst's);
            the conversion scripts pin it so published files can be reproduced bit for bit.

    Returns:
        ``directory`` as a :class:`Path`.
    """
    if not isinstance(model, AdaINModel):
        raise InputError(f"save_model expects an AdaINModel, got {type(model).__name__}")
    config = ModelConfig(encoder=model.encoder.config, decoder=model.decoder.config, eps=float(model.eps))
    payload = {
        ENCODER_NAME: safetensors_bytes(model.encoder.state_dict(), _encoder_metadata(config.encoder)),
        DECODER_NAME: safetensors_bytes(model.decoder.state_dict(), _decoder_metadata(config.decoder)),
        CONFIG_NAME: (json.dumps(config.to_dict(library_version), sort_keys=True, indent=2) + "\n").encode("utf-8"),
    }
    directory = Path(directory)
    _write_files(directory, payload)
    return directory


# -- checksums -------------------------------------------------------------------------------
def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _evict_from_cache(pointer: Path, cache_root: Path) -> None:
    """Remove a cached file (snapshot link and the blob it points to), only inside ``cache_root``."""
    blob = Path(os.path.realpath(pointer))
    for target in (blob, pointer):
        if _is_within(target.parent, cache_root) and os.path.lexists(target):
            try:
                target.unlink()
            except OSError as exc:  # a read-only cache: the error message below still tells the fix
                logger.warning("could not remove corrupt cached file %s: %s", target, exc)


# -- resolving what to load ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    label: str  # for messages: registry name, repo id or folder
    local_dir: Path | None = None
    repo_id: str | None = None
    revision: str | None = None
    spec: ModelSpec | None = None  # digests to verify against; None: nothing recorded
    override_missing: Path | None = None  # ADAIN_NST_WEIGHTS_DIR/<name> that was looked for


def _resolve(name_or_path: Source, revision: str | None) -> _Source:
    if isinstance(name_or_path, ModelSpec):
        return _spec_source(name_or_path, revision)
    if isinstance(name_or_path, os.PathLike):
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise WeightsNotFoundError(f"model folder not found: {path}")
        return _Source(label=str(path), local_dir=path)
    if not isinstance(name_or_path, str):
        raise InputError(f"expected a model name, Hub repo id or folder, got {type(name_or_path).__name__}")
    if Path(name_or_path).expanduser().is_dir():
        return _Source(label=name_or_path, local_dir=Path(name_or_path).expanduser())
    if name_or_path in REGISTRY or name_or_path in ALIASES:
        return _spec_source(REGISTRY[ALIASES.get(name_or_path, name_or_path)], revision)
    m = _REPO_ID.fullmatch(name_or_path)
    if m is None:
        raise ValueError(
            f"unknown pretrained model {name_or_path!r} (known: {', '.join(list_models())}); it is neither "
            "an existing folder nor a Hub repo id 'org/name' or 'org/name@revision'"
        )
    repo_id, at_revision = m.group(1), m.group(2)
    if at_revision and revision and at_revision != revision:
        raise InputError(f"two revisions given for {repo_id}: {at_revision!r} in the name and {revision!r}")
    revision = at_revision or revision
    for spec in REGISTRY.values():
        # The registered repo at its registered revision is the registered model: verify it.
        if spec.repo_id == repo_id and revision in (None, spec.revision):
            return _spec_source(spec, None)
    return _Source(label=repo_id, repo_id=repo_id, revision=revision)


def _spec_source(spec: ModelSpec, revision: str | None) -> _Source:
    missing = None
    override = os.environ.get(WEIGHTS_DIR_ENV)
    if override:
        folder = Path(override).expanduser() / spec.name
        if folder.is_dir():
            return _Source(label=spec.name, local_dir=folder, spec=spec)
        missing = folder
    if revision is not None and revision != spec.revision:
        logger.warning(
            "%s: revision %s is not the registered one; its files are loaded without sha256 verification",
            spec.name,
            revision,
        )
        return _Source(label=spec.name, repo_id=spec.repo_id, revision=revision, override_missing=missing)
    return _Source(label=spec.name, repo_id=spec.repo_id, revision=spec.revision, spec=spec, override_missing=missing)


def _how_to_get(source: _Source, published: bool = True) -> str:
    name = source.spec.name if source.spec else source.label
    lines = ["To get the weights:"]
    if published:
        lines += [
            "  - run once with network access (files are cached by huggingface_hub; later runs work offline);",
            f"  - or, where there is network, run `adain-nst download {name}` and copy the Hugging Face cache"
            " (HF_HUB_CACHE) to this machine;",
        ]
    else:
        lines.append("  - convert them with the script in weights/ named in the model card;")
    if source.spec is not None:
        where = source.override_missing or Path(f"$ADAIN_NST_WEIGHTS_DIR/{name}")
        lines.append(f"  - or put a save_pretrained folder at {where} (set {WEIGHTS_DIR_ENV}; see docs/weights.md);")
    lines.append("  - or pass the path of a save_pretrained folder instead of a name.")
    return "\n".join(lines)


# -- fetching files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _HubOptions:
    cache_dir: PathLike | None
    local_files_only: bool
    force_download: bool
    token: bool | str | None


def _download_one(source: _Source, filename: str, opts: _HubOptions) -> Path:
    repo_id = source.repo_id or ""  # _resolve sets it for every source without a local folder
    where = f"{filename} of {source.label} ({repo_id}@{source.revision or 'main'})"
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=source.revision,
            cache_dir=opts.cache_dir,
            local_files_only=opts.local_files_only,
            force_download=opts.force_download,
            token=opts.token,
            library_name=LIBRARY_NAME,
            library_version=_library_version(),
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        reason = (
            "local_files_only=True"
            if opts.local_files_only
            else "offline (HF_HUB_OFFLINE) or the Hub cannot be reached"
        )
        cache = opts.cache_dir or hf_constants.HF_HUB_CACHE
        raise WeightsNotFoundError(
            f"{where} is not in the Hugging Face cache ({cache}) and cannot be downloaded ({reason}).\n"
            + _how_to_get(source)
        ) from exc
    except EntryNotFoundError as exc:  # the repository has no such file (HTTP 404 EntryNotFound)
        raise WeightsNotFoundError(f"{where}: the repository has no file {filename!r}") from exc
    except RevisionNotFoundError as exc:
        raise WeightsNotFoundError(f"{where}: revision {source.revision!r} does not exist") from exc
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise WeightsNotFoundError(
            f"{where}: repository {source.repo_id!r} not found, private or gated (pass token= if you have access)"
        ) from exc
    return Path(path)


def _verify(source: _Source, filename: str, path: Path, opts: _HubOptions) -> None:
    if source.spec is None:
        return
    record = source.spec.file(filename)
    if record.sha256 is None:
        return  # only reachable for local folders: downloads of unrecorded files are refused earlier
    actual = sha256_file(path)
    if actual == record.sha256:
        return
    size = path.stat().st_size
    problem = (
        f"{filename} of {source.spec.name} at {path} has sha256 {actual} ({size} bytes) "
        f"but the registry records {record.sha256} ({record.size} bytes)."
    )
    if source.local_dir is not None:
        fix = (
            f" The file is in your folder {source.local_dir}, which was left untouched: replace it with a "
            "good copy (re-run the conversion script), or remove the folder to download from the Hub instead."
        )
    else:
        cache_root = Path(opts.cache_dir or hf_constants.HF_HUB_CACHE).expanduser()
        _evict_from_cache(path, cache_root)
        fix = (
            " The corrupt copy was removed from the Hugging Face cache: call again to download it afresh. "
            "If the mismatch repeats, the server or a proxy serves different bytes than were published."
        )
    raise ChecksumError(problem + fix)


def _fetch(source: _Source, filenames: Sequence[str], opts: _HubOptions) -> dict[str, Path]:
    """Local paths of ``filenames`` of ``source``, each verified against the registry."""
    if source.local_dir is None and source.spec is not None:
        unknown = [f for f in filenames if source.spec.file(f).sha256 is None]
        if unknown:
            raise WeightsNotFoundError(
                f"{source.spec.name}: no sha256 is recorded for {', '.join(unknown)} yet, so the files cannot be "
                f"downloaded verified (see {source.spec.card_path}).\n" + _how_to_get(source, published=False)
            )
    paths: dict[str, Path] = {}
    for filename in filenames:
        if source.local_dir is not None:
            path = source.local_dir / filename
            if not path.is_file():
                raise WeightsNotFoundError(
                    f"{path} is missing: a model folder holds {', '.join(MODEL_FILES)} (as save_pretrained writes)"
                )
        else:
            path = _download_one(source, filename, opts)
        _verify(source, filename, path, opts)
        paths[filename] = path
    return paths


# -- building modules ------------------------------------------------------------------------------
def _load_encoder_file(path: Path, config: ModelConfig) -> VGGEncoder:
    sd, meta = _read_safetensors(path)
    _check_meta(meta, _encoder_metadata(config.encoder), path, ["kind", "format_version", "variant", "arch"])
    encoder = VGGEncoder(config.encoder)
    _strict_load(encoder, sd, str(path))
    return encoder


def _load_decoder_file(path: Path, config: ModelConfig) -> Decoder:
    sd, meta = _read_safetensors(path)
    _check_meta(meta, _decoder_metadata(config.decoder), path, ["kind", "format_version", "final_relu"])
    decoder = Decoder(config.decoder)
    _strict_load(decoder, sd, str(path))
    return decoder


def _place(module: nn.Module, device: str | torch.device | None, dtype: torch.dtype | None) -> None:
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InputError(f"dtype must be a floating torch.dtype such as torch.float16, got {dtype!r}")
    module.eval().requires_grad_(False)
    if device is not None or dtype is not None:
        module.to(device=device, dtype=dtype)


def _prepare(
    name_or_path: Source,
    filenames: Sequence[str],
    revision: str | None,
    cache_dir: PathLike | None,
    local_files_only: bool,
    force_download: bool,
    token: bool | str | None,
) -> tuple[dict[str, Path], ModelConfig]:
    source = _resolve(name_or_path, revision)
    paths = _fetch(source, filenames, _HubOptions(cache_dir, local_files_only, force_download, token))
    return paths, read_config(paths[CONFIG_NAME])


def load_model(
    name_or_path: Source,
    *,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    token: bool | str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> AdaINModel:
    """Load an :class:`AdaINModel` from a folder, a registered name or a Hub repository.

    Args:
        name_or_path: an existing ``save_pretrained`` folder; a registry name such as
            ``"cd16x-adain"`` (pinned revision, sha256-verified; ``$ADAIN_NST_WEIGHTS_DIR/<name>``
            is used instead of a download when it exists); a :class:`ModelSpec`; or a Hub
            repo id ``"org/name"`` / ``"org/name@revision"``.
        revision: Hub branch, tag or commit (registered models default to their pinned
            commit; another revision is loaded without verification, with a warning).
        cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE``).
        local_files_only: never touch the network; a cold cache raises
            :class:`WeightsNotFoundError`.
        force_download: download again even if cached.
        token: Hub token for private repositories.
        device, dtype: where and in which floating dtype the model is returned.

    Returns:
        The model in ``eval()`` mode with ``requires_grad=False`` parameters.

    Raises:
        WeightsNotFoundError: missing files, unknown repo/revision, or offline with a cold cache.
        ChecksumError: a file does not have its registered sha256 (a corrupt cached copy is
            removed first, so the next call downloads it again).
        ConfigError: unsupported ``format_version``, mismatched metadata or state dict.
    """
    paths, config = _prepare(name_or_path, MODEL_FILES, revision, cache_dir, local_files_only, force_download, token)
    encoder = _load_encoder_file(paths[ENCODER_NAME], config)
    decoder = _load_decoder_file(paths[DECODER_NAME], config)
    model = AdaINModel(encoder, decoder, eps=config.eps)
    _place(model, device, dtype)
    return model


def load_encoder(
    name_or_path: Source,
    *,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    token: bool | str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> VGGEncoder:
    """Load only the :class:`VGGEncoder` of a model (fetches ``config.json`` + ``encoder.safetensors``).

    Arguments as :func:`load_model`; Gatys et al. optimisation needs nothing else.
    """
    files = (CONFIG_NAME, ENCODER_NAME)
    paths, config = _prepare(name_or_path, files, revision, cache_dir, local_files_only, force_download, token)
    encoder = _load_encoder_file(paths[ENCODER_NAME], config)
    _place(encoder, device, dtype)
    return encoder


def download(
    name: Source,
    *,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    token: bool | str | None = None,
) -> Path:
    """Fetch and verify every file of a model; returns the folder that holds them.

    For the Hub this is the cache's snapshot folder of the resolved commit, which
    :func:`load_model` accepts as a local folder too.
    """
    source = _resolve(name, revision)
    paths = _fetch(source, MODEL_FILES, _HubOptions(cache_dir, local_files_only, force_download, token))
    return paths[CONFIG_NAME].parent


__all__ = [
    "CONFIG_NAME",
    "DECODER_NAME",
    "ENCODER_NAME",
    "FORMAT_VERSION",
    "MODEL_FILES",
    "WEIGHTS_DIR_ENV",
    "ModelConfig",
    "download",
    "load_encoder",
    "load_model",
    "read_config",
    "safetensors_bytes",
    "save_model",
    "sha256_file",
]
