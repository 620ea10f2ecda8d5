"""The entry point of dataset jobs: :func:`stylize_dataset` plans the job and runs it on a backend."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from .._checks import check_positive_int
from ..engine.runtime import resolve_device, resolve_dtype
from ..errors import InputError
from .ray_backend import run_ray
from .runner import BACKENDS, DatasetResult, init_distributed, plan_job, rank_device, run_local


def stylize_dataset(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    styles: str | os.PathLike[str],
    *,
    styles_per_image: int = 1,
    seed: int = 0,
    alpha: float = 1.0,
    transform: str | None = None,
    levels: Sequence[str] | None = None,
    model: str | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    batch_size: int = 8,
    workers: int = 0,
    streams: int | None = None,
    fmt: str | None = None,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
) -> DatasetResult:
    """Stylise every image under ``src`` into ``dst`` (same relative paths), resumably.

    Args:
        src: folder of content images, walked recursively (hidden files skipped).
        dst: output folder; also holds ``manifest.jsonl``, ``errors.jsonl`` and the job's
            journals (``.adain-nst-job/``). Rerunning the same call resumes.
        styles: folder of style images (recursive).
        styles_per_image: N outputs per content, each with another style (``<stem>_s<k>``).
        seed: with the relative path, decides each image's styles (never the order or the
            number of workers or processes).
        alpha, transform, levels, model, content_size, style_size: as :func:`adain_nst.stylize`
            (``model`` by name, so the manifest can record it).
        batch_size: images of the same size computed together.
        workers: DataLoader worker processes decoding and resizing (0: in this process).
        streams: batches computed at once by threads of this process, the intra-op threads
            split among them (``None``: 2 on a CPU with 2 or more threads for images of up to
            1 MP, else 1). On a CPU two
            streams keep the cores busy through the steps that do not parallelise and the
            decoding and writing that share them (AMD Zen 5, 2 cores, 256 px: 1.24x -> 1.38-1.43x
            the throughput of a one-image-at-a-time loop). Outputs do not depend on it.
        fmt: ``None`` keeps each input's format; ``"png"``, ``"jpg"``, ... converts (JPEG and
            WebP at quality 95).
        dtype, device: precision and device (``dtype="auto"``: bf16 where native; on CUDA
            ``torch.float16`` is AMP-like half precision).
        backend: ``"local"`` (this process, or each ``torchrun`` rank) or ``"ray"``
            (``pip install adain-nst[ray]``; ``ray_address`` of a cluster, default a local one).
        retry_failed: on resume, try the inputs that failed before again (default: they stay
            in ``errors.jsonl``; a rerun only does what was not attempted).
        progress: a bar with images/s (``None``: when stderr is a terminal).

    Returns:
        A :class:`DatasetResult`; failed inputs are in ``errors.jsonl`` and ``result.failed``.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check_positive_int(workers, "workers", minimum=0)
    if streams is not None:
        check_positive_int(streams, "streams")
    dev = rank_device(resolve_device(device))
    resolve_dtype(dtype, dev)  # an unusable precision is refused before any work
    job = plan_job(
        src,
        dst,
        styles,
        styles_per_image=styles_per_image,
        seed=seed,
        alpha=alpha,
        transform=transform,
        levels=levels,
        model=model,
        content_size=content_size,
        style_size=style_size,
        batch_size=batch_size,
        fmt=fmt,
    )
    if backend == "ray":
        return run_ray(
            job, device=dev, dtype=dtype, ray_address=ray_address, progress=progress, retry_failed=retry_failed
        )
    created = init_distributed(dev)
    try:
        return run_local(
            job,
            device=dev,
            dtype=dtype,
            workers=workers,
            streams=streams,
            progress=progress,
            retry_failed=retry_failed,
        )
    finally:
        if created:
            torch.distributed.destroy_process_group()


__all__ = ["stylize_dataset"]
