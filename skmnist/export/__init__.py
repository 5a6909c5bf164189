"""Export of fitted models to other runtimes: ONNX."""

from ._onnx import to_onnx

__all__ = ["to_onnx"]
