"""Export for deployment without torch: :func:`export_onnx` (also ``adain_nst.export_onnx`` and
``adain-nst export-onnx``) writes the AdaIN model as one ONNX graph, or per-level encoder and
decoder graphs (``split=True``, for WCT and EFDM), with a standalone numpy + onnxruntime runner
(``runner.py``, copied beside the export). ``onnx``/``onnxscript`` come with the ``onnx`` extra
and are imported on first use only.
"""

from .onnx import EXPORTERS, RUNNER_NAME, OnnxExport, export_onnx

__all__ = ["EXPORTERS", "RUNNER_NAME", "OnnxExport", "export_onnx"]
