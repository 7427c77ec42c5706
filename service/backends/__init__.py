"""Inference backends: onnxruntime in process (CPU) and NVIDIA Triton (through tritonclient)."""

from .base import Backend, BackendError, Inference, InputError
from .onnx_cpu import OnnxCpuBackend
from .triton import TritonBackend

__all__ = ["Backend", "BackendError", "Inference", "InputError", "OnnxCpuBackend", "TritonBackend"]
