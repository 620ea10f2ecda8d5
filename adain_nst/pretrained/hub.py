"""Where the weights of a model are: a folder, a registered name or a Hub repo -> verified local paths.

A model folder (local, or a Hub repository at one commit) has the layout of
:mod:`adain_nst.pretrained.folder`. This is the only module that imports :mod:`huggingface_hub`,
and it builds no module: callers read the paths it returns. Downloads land in the Hub's own
cache (``HF_HUB_CACHE`` / ``cache_dir``); every file of a registered model is then checked
against the sha256 in :mod:`adain_nst.pretrained.registry`, since huggingface_hub checks sizes only.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .._io import sha256_file
from .._version import __version__
from ..errors import ChecksumError, InputError, WeightsNotFoundError
from .bundled import ROOT as BUNDLED_ROOT
from .bundled import bundled_path
from .folder import CONFIG_NAME, FILE_OF_PART, MODEL_FILES, ModelConfig, read_config
from .registry import ALIASES, DEFAULT_MODEL, REGISTRY, ModelSpec, list_models

logger = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "ADAIN_NST_WEIGHTS_DIR"
LIBRARY_NAME = "adain-nst"
_REPO_ID = re.compile(r"([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w./-]+))?")
PathLike = str | os.PathLike[str]
Source = str | os.PathLike[str] | ModelSpec


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
    bundled: bool = False  # the package ships the files (spec.bundled_files)


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
    if spec.is_bundled and revision is None:
        return _Source(label=spec.name, spec=spec, bundled=True)
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
    lines.append("  - or pass the path of a save_pretrained folder instead of a name,")
    lines.append("    or your own files: adain_nst.model_from_files('e4.pth', 'decoder.safetensors');")
    bundled = [n for n in list_models() if REGISTRY[n].is_bundled]
    lines.append(
        f"  - or use a model bundled with the package, which works offline: {', '.join(bundled)} "
        f"(default: {DEFAULT_MODEL}), e.g. adain_nst.load_model({DEFAULT_MODEL!r})."
    )
    return "\n".join(lines)


@functools.lru_cache(maxsize=8)
def _reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens (one try, at most ``timeout`` seconds).

    huggingface_hub retries a failed connection five times with back-off (~25 s when there is no
    network); one quick probe first lets an unreachable Hub fail at once. Remembered per process.
    """
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


# -- fetching files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HubOptions:
    """How files are fetched from the Hub (the keywords every ``from_pretrained`` accepts).

    Args:
        revision: branch, tag or commit (registered models default to their pinned commit;
            another revision is loaded without sha256 verification, with a warning).
        cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE``).
        local_files_only: never touch the network; a cold cache raises
            :class:`~adain_nst.WeightsNotFoundError`.
        force_download: download again even if cached.
        token: Hub token for private repositories.
    """

    revision: str | None = None
    cache_dir: PathLike | None = None
    local_files_only: bool = False
    force_download: bool = False
    token: bool | str | None = None


def _download_one(source: _Source, filename: str, opts: HubOptions) -> Path:
    repo_id = source.repo_id or ""  # _resolve sets it for every source without a local folder
    where = f"{filename} of {source.label} ({repo_id}@{source.revision or 'main'})"
    offline = opts.local_files_only or hf_constants.HF_HUB_OFFLINE
    if not offline and not _reachable(hf_constants.ENDPOINT):
        cached = try_to_load_from_cache(repo_id, filename, cache_dir=opts.cache_dir, revision=source.revision)
        if isinstance(cached, str) and not opts.force_download:
            return Path(cached)  # offline, but the cache has it
        raise WeightsNotFoundError(
            f"{where} is not in the Hugging Face cache and the Hub ({hf_constants.ENDPOINT}) cannot be reached "
            "from this machine.\n" + _how_to_get(source)
        )
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
            library_version=__version__,
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


def _verify(source: _Source, filename: str, path: Path, opts: HubOptions) -> None:
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


def _fetch(source: _Source, filenames: Sequence[str], opts: HubOptions) -> dict[str, Path]:
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


# -- the entry points ---------------------------------------------------------------------------------
def fetch_model_files(
    name_or_path: Source, parts: Sequence[str] = ("encoder", "decoder"), **hub_kwargs: object
) -> tuple[dict[str, Path], ModelConfig]:
    """Verified local paths of a model's ``config.json`` and ``parts``, and its parsed config.

    Args:
        name_or_path: an existing model folder; a registry name such as ``"cd16x-adain"``
            (pinned revision, sha256-verified; ``$ADAIN_NST_WEIGHTS_DIR/<name>`` is used
            instead of a download when it exists); a :class:`ModelSpec`; or a Hub repo id
            ``"org/name"`` / ``"org/name@revision"``.
        parts: which weight files besides the config: ``"encoder"`` and/or ``"decoder"``.
        hub_kwargs: the fields of :class:`HubOptions`.

    Returns:
        ``({"config": path, "encoder": path, ...}, ModelConfig)``; a bundled model has no
        ``"config"`` path (its config is the registry record's).

    Raises:
        WeightsNotFoundError: missing files, unknown repo/revision, or offline with a cold cache.
        ChecksumError: a file does not have its registered sha256 (a corrupt cached copy is
            removed first, so the next call downloads it again).
        ConfigError: unsupported ``format_version`` or a malformed config.
    """
    try:
        opts = HubOptions(**hub_kwargs)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InputError(f"unknown Hub option: {exc}") from None
    unknown = [p for p in parts if p not in FILE_OF_PART or p == "config"]
    if unknown:
        raise InputError(f"unknown model part(s) {unknown}; expected 'encoder' and/or 'decoder'")
    source = _resolve(name_or_path, opts.revision)
    if source.bundled and source.spec is not None:
        spec = source.spec
        records = dict(zip(("encoder", "decoder"), spec.bundled_files, strict=True))
        config = ModelConfig(encoder=spec.encoder, decoder=spec.decoder, eps=spec.eps)
        return {part: bundled_path(records[part]) for part in parts}, config
    files = [CONFIG_NAME, *(FILE_OF_PART[p] for p in parts)]
    paths = _fetch(source, files, opts)
    by_part = {part: paths[name] for part, name in FILE_OF_PART.items() if name in paths}
    return by_part, read_config(paths[CONFIG_NAME])


def download(name: Source, **hub_kwargs: object) -> Path:
    """Fetch and verify every file of a model; returns the folder that holds them.

    For the Hub this is the cache's snapshot folder of the resolved commit, which the
    loaders accept as a local folder too; for a bundled model, the package's weights folder
    (nothing is downloaded). ``hub_kwargs``: the fields of :class:`HubOptions`.
    """
    paths, _ = fetch_model_files(name, ("encoder", "decoder"), **hub_kwargs)
    return paths["config"].parent if "config" in paths else BUNDLED_ROOT


__all__ = ["WEIGHTS_DIR_ENV", "HubOptions", "download", "fetch_model_files"]
