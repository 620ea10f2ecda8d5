"""The fast inference engine: the plan compiled (:mod:`.executor`), its kernels (:mod:`.kernels`)
and the machine policy it runs under (:mod:`.runtime`: precision, device, heap)."""

from .executor import REFERENCE_LIKE, Engine, InferenceOptions
from .runtime import cpu_has_native_bf16, resolve_device, resolve_dtype

__all__ = ["REFERENCE_LIKE", "Engine", "InferenceOptions", "cpu_has_native_bf16", "resolve_device", "resolve_dtype"]
