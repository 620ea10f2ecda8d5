"""The Ray backend of dataset jobs (``pip install adain-nst[ray]``): the same batches, on Ray actors.

A Ray Data pipeline over the job's pending batch numbers: ``map_batches`` on actors that each
hold a model and a style cache (:class:`~.runner.BatchWorker`) reads the batch's images,
computes it with :func:`~.runner.compute_batch` and writes its outputs atomically; the driver
journals the records it gets back and writes the manifest. Outputs and manifest are those of
the local backend, since every batch is the same and computed by the same code.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import torch

from ..engine.runtime import dtype_name, resolve_dtype
from . import journal
from .runner import BatchLoader, BatchWorker, DatasetJob, DatasetResult, _progress, finish, resume_state


class _Stylizer:
    """A Ray actor: one model and style cache, many batches."""

    def __init__(self, job: DatasetJob, device: str, dtype: Any) -> None:
        self.job = job
        self.worker = BatchWorker(job, device=device, dtype=dtype)
        self.batches = {b.number: b for b in job.batches}

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        records: list[str] = []
        for number in rows["batch"].tolist():
            batch = self.batches[int(number)]
            _, images, errors = BatchLoader(self.job.src, [batch])[0]
            for rec in self.worker.run(batch, images, errors, lambda fn, *a: fn(*a)):
                records.append(json.dumps(rec, sort_keys=True))
        return {"record": np.array(records, dtype=object)}


def run_ray(
    job: DatasetJob,
    *,
    device: torch.device,
    dtype: Any,
    ray_address: str | None,
    progress: bool | None,
    concurrency: int = 1,
    retry_failed: bool = False,
) -> DatasetResult:
    """Run ``job`` on Ray (a cluster at ``ray_address``, else a local one started and stopped here)."""
    import ray  # the optional extra

    started = not ray.is_initialized()
    if started:
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    # Our bar (or none) instead of Ray Data's progress bars and execution banners on stdout.
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        journal.open_job(job.dst, job.options)
        pending = resume_state(job, retry_failed=retry_failed)
        t0 = time.perf_counter()
        computed = 0
        if pending:
            ds = ray.data.from_items([{"batch": b.number} for b in pending], override_num_blocks=len(pending))
            ds = ds.map_batches(
                _Stylizer,
                batch_size=1,
                concurrency=concurrency,
                fn_constructor_kwargs={"job": job, "device": str(device), "dtype": dtype},
                num_gpus=1 if device.type == "cuda" else 0,
            )
            total = sum(len(b.items) for b in pending)
            with journal.Journal(job.dst, "ray") as log, _progress(total, 0, progress, "stylize-dataset[ray]") as bar:
                for row in ds.iter_rows():
                    rec = json.loads(row["record"])
                    log.write(rec)
                    computed += "error" not in rec
                    bar.update(1)
        seconds = time.perf_counter() - t0
        done_all, errors_all = finish(job)
    finally:
        if started:
            ray.shutdown()
    return DatasetResult(
        job.dst,
        len(done_all),
        computed,
        len(job.items) - sum(len(b.items) for b in pending),
        list(errors_all.values()),
        seconds,
        dtype_name(resolve_dtype(dtype, device)),
    )


__all__ = ["run_ray"]
