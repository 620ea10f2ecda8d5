"""Stylising whole datasets: seeded, resumable, batched, sharded over ``torchrun`` ranks or Ray actors.

:func:`stylize_dataset` (``adain-nst stylize-dataset``) is the entry point; :mod:`.plan` decides
every output, its style and its batch; :mod:`.journal` records what is done and writes the
manifest; :mod:`.runner` computes batches locally or per rank; :mod:`.ray_backend` on Ray.
"""

from __future__ import annotations

from .job import stylize_dataset
from .journal import ERRORS, MANIFEST
from .plan import FORMATS, Batch, Item, assign_styles, make_batches, output_name, shard
from .runner import BACKENDS, DatasetJob, DatasetResult, plan_job

__all__ = [
    "BACKENDS",
    "ERRORS",
    "FORMATS",
    "MANIFEST",
    "Batch",
    "DatasetJob",
    "DatasetResult",
    "Item",
    "assign_styles",
    "make_batches",
    "output_name",
    "plan_job",
    "shard",
    "stylize_dataset",
]
