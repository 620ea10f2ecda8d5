"""Stylising a dataset: plan, resume, load in workers, compute in batches, write in the background.

One process computes the batches :func:`~.plan.shard` gives its rank (``torchrun`` sets the
rank and world size; gloo on CPU, NCCL on CUDA); rank 0 writes the manifest once every rank
is done. Ray (:mod:`.ray_backend`) runs the same batches on actors. Either way a batch is
computed by :func:`compute_batch`, so the outputs do not depend on where it ran.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from .. import pipeline
from .._checks import check_alpha, check_positive_int
from .._io import sha256_file
from ..api import get_model
from ..engine.runtime import dtype_name, resolve_device, resolve_dtype
from ..errors import ImageReadError, ImageTooLargeError, InputError, one_line
from ..image import image_size, list_images, load_image, save_image, to_tensor
from ..nn.transforms import check_transform
from ..pretrained.registry import DEFAULT_FAMILY
from . import journal
from .plan import Batch, Item, check_format, make_batches, plan_items, relative, shard

BACKENDS = ("local", "ray")
_SAVE_OPTIONS = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"quality": 95}}
"""JPEG and WebP outputs are written at quality 95 (Pillow's default, 75, blurs painted texture)."""


@dataclass(frozen=True)
class DatasetJob:
    """A planned job: folders, options, every output (``items``) in its ``batches``, plan-time errors."""

    src: Path
    dst: Path
    styles_dir: Path
    options: dict[str, Any]
    items: tuple[Item, ...]
    batches: tuple[Batch, ...]
    errors: dict[str, dict[str, Any]]


@dataclass
class DatasetResult:
    """What :func:`stylize_dataset` did, over the whole job (all ranks)."""

    dst: Path
    outputs: int
    computed: int
    skipped: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dtype: str = "float32"
    rank: int = 0
    world_size: int = 1

    @property
    def images_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def plan_job(
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
    fmt: str | None = None,
) -> DatasetJob:
    """Validate the options, list the images, read their sizes (headers only) and plan every output.

    Inputs whose header cannot be read become errors of the job here (they are not items).
    """
    check_alpha(alpha)
    check_positive_int(styles_per_image, "styles_per_image")
    check_positive_int(batch_size, "batch_size")
    for name, size in (("content_size", content_size), ("style_size", style_size)):
        if size is not None:
            check_positive_int(size, name, minimum=16)
    if transform is not None:
        check_transform(transform)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an integer, got {seed!r}")
    if model is not None and not isinstance(model, str):
        raise InputError("a dataset job names its model (a registry name, Hub repo or folder), so the manifest can")
    fmt = check_format(fmt)
    src_p, dst_p, styles_p = Path(src), Path(dst), Path(styles)
    if dst_p.exists() and not dst_p.is_dir():
        raise InputError(f"DST {dst_p} is a file; give a folder")
    if dst_p.resolve() == src_p.resolve() or src_p.resolve() in dst_p.resolve().parents:
        raise InputError(f"DST {dst_p} is inside SRC {src_p}: a rerun would stylise the outputs; choose another DST")
    content_files = list_images(src_p, recursive=True, what="content")
    style_files = [relative(p, styles_p) for p in list_images(styles_p, recursive=True, what="style")]
    contents: list[str] = []
    sizes: list[tuple[int, int]] = []
    errors: dict[str, dict[str, Any]] = {}
    for path in content_files:
        rel = relative(path, src_p)
        try:
            sizes.append(image_size(path))
            contents.append(rel)
        except (ImageReadError, ImageTooLargeError) as exc:
            errors[rel] = {"content": rel, "error": one_line(exc)}
    options = {
        "styles_per_image": styles_per_image,
        "seed": seed,
        "alpha": float(alpha),
        "transform": transform,
        "levels": None if levels is None else list(levels),
        "model": model,
        "content_size": content_size,
        "style_size": style_size,
        "batch_size": batch_size,
        "format": fmt,
    }
    items = plan_items(
        contents, sizes, style_files, per_image=styles_per_image, seed=seed, fmt=fmt, content_size=content_size
    )
    batches = make_batches(items, batch_size)
    return DatasetJob(src_p, dst_p, styles_p, options, tuple(items), tuple(batches), errors)


# -- loading ---------------------------------------------------------------------------------------
def load_content(path: Path, size: tuple[int, int]) -> Tensor:
    """``(3, H, W)`` float32 in [0, 1] at ``size`` = ``(H, W)`` (bicubic, antialiased, from a reduced decode)."""
    x, _ = to_tensor(load_image(path, size=min(size)), "content")
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return x[0]


class BatchLoader(torch.utils.data.Dataset):
    """Loads the content images of a batch (for a DataLoader's workers); failures are returned, not raised."""

    def __init__(self, src: Path, batches: Sequence[Batch]) -> None:
        self.src = src
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[int, dict[str, Tensor], dict[str, str]]:
        images: dict[str, Tensor] = {}
        errors: dict[str, str] = {}
        batch = self.batches[i]
        for item in batch.items:
            if item.content in images or item.content in errors:
                continue
            try:
                images[item.content] = load_content(self.src / item.content, item.size)
            except (ImageReadError, ImageTooLargeError, InputError) as exc:
                errors[item.content] = one_line(exc)
        return i, images, errors


# -- computing -------------------------------------------------------------------------------------
class StyleCache:
    """Each style image encoded once, at every level of the cascade (features kept on the device).

    Safe to share between threads: a style two batches need at once is encoded by one of them.
    """

    def __init__(self, root: Path, cascade: pipeline.Cascade, size: int | None, device: torch.device, dtype: Any):
        self.root, self.cascade, self.size, self.device, self.dtype = root, cascade, size, device, dtype
        self._feats: dict[str, Future[pipeline.StyleFeatures]] = {}
        self._lock = threading.Lock()

    def get(self, rel: str) -> pipeline.StyleFeatures:
        with self._lock:
            entry = self._feats.get(rel)
            mine = entry is None
            if entry is None:
                entry = self._feats[rel] = Future()
        if mine:
            try:
                entry.set_result(self._encode(rel))
            except BaseException as exc:
                with self._lock:  # not cached: the next batch that needs it tries again
                    del self._feats[rel]
                entry.set_exception(exc)
                raise
        return entry.result()

    def _encode(self, rel: str) -> pipeline.StyleFeatures:
        return pipeline.encode_style_images(
            self.cascade,
            [self.root / rel],
            size=self.size,
            device=self.device,
            dtype=self.dtype,
            names=[f"style {rel}"],
        )

    def __len__(self) -> int:
        return len(self._feats)


def compute_batch(
    cascade: pipeline.Cascade,
    styles: StyleCache,
    items: Sequence[Item],
    images: dict[str, Tensor],
    alpha: float,
    *,
    dtype: Any,
    device: torch.device,
) -> np.ndarray:
    """Stylise ``items`` (all of one size) in one pass; ``(B, H, W, 3)`` uint8.

    Every item has its own style (:func:`pipeline.run_cascade` with ``assignment``).
    """
    names = sorted({it.style for it in items})
    per_style = [styles.get(n) for n in names]
    feats = {lvl: [f[lvl][0] for f in per_style] for lvl in cascade.levels}
    # Each image to the device first: from the loader's pinned memory that copy is asynchronous.
    content = torch.stack([images[it.content].to(device, non_blocking=True) for it in items])
    alphas = dict.fromkeys(cascade.levels, alpha)
    with torch.inference_mode():
        out = pipeline.run_cascade(
            cascade,
            content,
            feats,
            [1.0],
            alphas,
            dtype=dtype,
            backend="engine",
            assignment=[names.index(it.style) for it in items],
        )
    return (out.float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()).copy()


def write_output(dst: Path, item: Item, pixels: np.ndarray, record: dict[str, Any]) -> dict[str, Any]:
    """Save one output atomically; its manifest record with the file's sha256."""
    path = dst / item.output
    save_image(Image.fromarray(pixels), path, **_SAVE_OPTIONS.get(path.suffix.lower(), {}))
    h, w = pixels.shape[:2]
    return {**record, "sha256": sha256_file(path), "width": w, "height": h}


def item_record(job: DatasetJob, item: Item, cascade: pipeline.Cascade, model_name: str, dtype: str) -> dict[str, Any]:
    """The manifest fields of an output that do not depend on its pixels (transform and levels as run)."""
    o = job.options
    return {
        "content": item.content,
        "output": item.output,
        "style": item.style,
        "index": item.index,
        "alpha": o["alpha"],
        "transform": cascade.transform,
        "levels": list(cascade.levels),
        "model": model_name,
        "seed": o["seed"],
        "dtype": dtype,
    }


class BatchWorker:
    """Computes and writes whole batches of a job; used by every backend (local ranks, Ray actors)."""

    def __init__(self, job: DatasetJob, *, device: str | torch.device | None, dtype: Any) -> None:
        self.job = job
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        o = job.options
        self.model = get_model(o["model"], device=self.device)
        self.model_name = o["model"] or DEFAULT_FAMILY
        self.cascade = self.model.cascade(o["transform"], o["levels"])
        self.styles = StyleCache(job.styles_dir, self.cascade, o["style_size"], self.device, self.dtype)
        for pair in self.cascade.pairs:  # built now, not by two threads at once
            pair.inference_engine(dtype=self.dtype)

    def run(
        self, batch: Batch, images: dict[str, Tensor], load_errors: dict[str, str], save: Callable[..., Any]
    ) -> list[Future[dict[str, Any]] | dict[str, Any]]:
        """Compute ``batch``; ``save(fn, *args)`` runs a write (now or in a thread). Returns records or futures."""
        results: list[Future[dict[str, Any]] | dict[str, Any]] = []
        ok: list[Item] = []
        for item in batch.items:
            if item.content in load_errors:
                results.append({"content": item.content, "output": item.output, "error": load_errors[item.content]})
            else:
                ok.append(item)
        try:
            pipeline.check_min_side(self.cascade, *batch.size, f"content {batch.items[0].content}", "content_size")
        except InputError as exc:  # too small: every image of this size fails alike
            ok, results = (
                [],
                [*results, *({"content": it.content, "output": it.output, "error": one_line(exc)} for it in ok)],
            )
        if not ok:
            return results
        pixels = compute_batch(
            self.cascade, self.styles, ok, images, self.job.options["alpha"], dtype=self.dtype, device=self.device
        )
        name = dtype_name(self.dtype)
        for item, px in zip(ok, pixels, strict=True):
            results.append(
                save(
                    write_output,
                    self.job.dst,
                    item,
                    px,
                    item_record(self.job, item, self.cascade, self.model_name, name),
                )
            )
        return results


# -- the local / torchrun backend -----------------------------------------------------------------
def dist_context() -> tuple[int, int]:
    """``(rank, world_size)``: from an initialised process group, else torchrun's environment, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def rank_device(device: torch.device, env: Mapping[str, str] | None = None) -> torch.device:
    """This rank's device: under torchrun a bare ``"cuda"`` is ``cuda:LOCAL_RANK`` (one GPU per
    rank, as NCCL needs); an explicit index, the CPU and a single process are kept as given."""
    env = os.environ if env is None else env
    if device.type == "cuda" and device.index is None and int(env.get("WORLD_SIZE", 1)) > 1:
        return torch.device("cuda", int(env.get("LOCAL_RANK", 0)))
    return device


def init_distributed(device: torch.device) -> bool:
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA); ``True`` if this call created it."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1 or torch.distributed.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's collectives run on the current device
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def pending_batches(job: DatasetJob, settled: set[str] | dict[str, Any]) -> list[Batch]:
    """Batches with an output not settled yet (a batch is always recomputed whole)."""
    return [b for b in job.batches if any(it.output not in settled for it in b.items)]


def resume_state(job: DatasetJob, *, retry_failed: bool = False) -> list[Batch]:
    """The batches still to compute: those with an output neither written and verified nor failed.

    Inputs that failed in an earlier run count as settled (their error is recorded) unless
    ``retry_failed``.
    """
    records = journal.read_journals(job.dst)
    settled = set(journal.verified_records(job.dst, records))
    if not retry_failed:
        settled |= {rec["output"] for rec in records if "error" in rec and "output" in rec}
    return pending_batches(job, settled)


def finish(job: DatasetJob) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Merge the journals into ``manifest.jsonl`` and ``errors.jsonl``; returns (done, errors)."""
    records = journal.read_journals(job.dst)
    done = journal.verified_records(job.dst, records)
    wanted = {it.output for it in job.items}
    done = {k: v for k, v in done.items() if k in wanted}
    errors = dict(job.errors)
    for rec in records:
        if "error" in rec and rec.get("output") not in done:
            errors[rec["content"]] = {"content": rec["content"], "error": rec["error"]}
    journal.write_manifest(job.dst, done, errors)
    return done, errors


def _progress(total: int, initial: int, progress: bool | None, desc: str) -> Any:
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, initial=initial, desc=desc, unit="img", disable=not show, smoothing=0.1)


def run_local(
    job: DatasetJob,
    *,
    device: torch.device,
    dtype: Any,
    workers: int,
    progress: bool | None,
    retry_failed: bool = False,
    streams: int | None = None,
) -> DatasetResult:
    rank, world = dist_context()
    if rank == 0:
        journal.open_job(job.dst, job.options)  # before any rank writes
    _barrier()
    if rank:
        journal.check_job(job.dst, job.options)  # rank 0 wrote it: the others only compare
    pending = resume_state(job, retry_failed=retry_failed)
    todo = {b.number for b in pending}
    # Shard the job's batches, not the pending ones: a batch's rank never depends on history.
    mine = [b for b in shard(job.batches, rank, world) if b.number in todo]
    worker = BatchWorker(job, device=device, dtype=dtype)
    t0 = time.perf_counter()
    n_mine = sum(len(b.items) for b in mine)
    loader = torch.utils.data.DataLoader(
        BatchLoader(job.src, mine),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        pin_memory=device.type == "cuda",  # page-locked batches copy to the GPU asynchronously
    )
    bar = _progress(n_mine, 0, progress, f"stylize-dataset[{rank}]" if world > 1 else "stylize-dataset")
    with journal.Journal(job.dst, f"rank{rank}") as log, bar:
        biggest = max((b.size[0] * b.size[1] for b in mine), default=0)
        computed = _run_batches(loader, mine, worker, log, bar, streams or default_streams(worker.device, biggest))
    seconds = time.perf_counter() - t0
    _barrier()
    failed: list[dict[str, Any]] = []
    outputs = 0
    if rank == 0:
        done_all, errors_all = finish(job)
        outputs, failed = len(done_all), list(errors_all.values())
    return DatasetResult(
        job.dst,
        outputs,
        computed,
        len(job.items) - sum(len(b.items) for b in pending),
        failed,
        seconds,
        dtype_name(worker.dtype),
        rank,
        world,
    )


Records = list[Future[dict[str, Any]] | dict[str, Any]]


def _run_batches(
    loader: Iterable[tuple[int, dict[str, Tensor], dict[str, str]]],
    batches: Sequence[Batch],
    worker: BatchWorker,
    log: journal.Journal,
    bar: Any,
    streams: int,
) -> int:
    """Compute the loader's batches, ``streams`` at a time, and journal their records in batch order.

    Writes run in a background thread. Returns the outputs computed. If a batch fails, what
    finished before it is journaled (a rerun skips it) and the error propagates.
    """
    computed = 0
    queued: Records = []
    running: deque[tuple[int, Future[Records]]] = deque()

    def settle(keep: int) -> None:
        """Take finished batches in order until ``keep`` are running; journal the writes done."""
        nonlocal computed, queued
        while len(running) > keep:
            j, fut = running.popleft()
            results = fut.result()
            queued = _drain(queued, log, keep=len(batches[j].items))  # bounds the writes in flight
            computed += sum(1 for r in results if not isinstance(r, dict))
            queued.extend(results)
            bar.update(len(batches[j].items))

    with (
        ThreadPoolExecutor(1) as writer,
        ThreadPoolExecutor(streams) as compute,
        _threads_per_stream(streams, worker.device),
    ):
        try:
            for i, images, errors in loader:
                settle(keep=streams - 1)
                running.append((i, compute.submit(worker.run, batches[i], images, errors, writer.submit)))
            settle(keep=0)
            _drain(queued, log, keep=0)
        except BaseException:
            _journal_finished(queued, [fut for _, fut in running], log)
            raise
    return computed


def _journal_finished(queued: Records, running: Sequence[Future[Records]], log: journal.Journal) -> None:
    """After a failure: journal every record whose write succeeded, in order; drop the rest."""
    for fut in running:
        if not fut.cancel():
            try:
                queued = [*queued, *fut.result()]
            except BaseException:  # the batch that failed: its error propagates
                break
    for head in queued:
        try:
            log.write(head if isinstance(head, dict) else head.result())
        except BaseException:  # a failed write is redone by the rerun
            continue


def default_streams(device: torch.device, pixels: int = 0) -> int:
    """Batches computed at once: two on a CPU with two or more threads for images of up to
    :data:`TWO_STREAMS_MAX_PIXELS` (``pixels``: the job's biggest), else one.

    Two streams of half the threads each keep every core busy through the steps that do not
    parallelise (padding, statistics, small late-level convs) and the decoding and writing
    that share the cores; one stream of all threads waits at every step's barrier instead.
    Bigger images parallelise well within each conv, and two at once would double the memory.
    """
    two = device.type == "cpu" and torch.get_num_threads() >= 2 and pixels <= TWO_STREAMS_MAX_PIXELS
    return 2 if two else 1


TWO_STREAMS_MAX_PIXELS = 1 << 20
"""Images up to 1 MP (1024 x 1024) get two streams by default (measured at 256 and 512 px)."""


@contextlib.contextmanager
def _threads_per_stream(streams: int, device: torch.device) -> Iterator[None]:
    """Split the intra-op threads among ``streams`` concurrent batches (CPU) for the block."""
    before = torch.get_num_threads()
    if streams > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, before // streams))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _drain(queued: Records, log: journal.Journal, keep: int) -> Records:
    """Journal finished writes in order until at most ``keep`` are outstanding (bounds memory)."""
    while len(queued) > keep or (queued and (isinstance(queued[0], dict) or queued[0].done())):
        head = queued.pop(0)
        log.write(head if isinstance(head, dict) else head.result())
    return queued


def iter_items(job: DatasetJob) -> Iterator[Item]:
    """Every item of the job in batch order."""
    for b in job.batches:
        yield from b.items


__all__ = [
    "BACKENDS",
    "TWO_STREAMS_MAX_PIXELS",
    "BatchLoader",
    "BatchWorker",
    "DatasetJob",
    "DatasetResult",
    "StyleCache",
    "compute_batch",
    "dist_context",
    "finish",
    "init_distributed",
    "item_record",
    "iter_items",
    "load_content",
    "pending_batches",
    "plan_job",
    "rank_device",
    "resume_state",
    "run_local",
    "write_output",
]
