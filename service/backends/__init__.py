"""Inference backends: onnxruntime in process (CPU) and NVIDIA Triton (through tritonclient)."""

from .base import Backend, BackendError, Inference
from .onnx_cpu import OnnxCpuBackend
from .triton import TritonBackend

__all__ = ["Backend", "BackendError", "Inference", "OnnxCpuBackend", "TritonBackend"]
