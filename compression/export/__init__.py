"""ONNX export, verification against PyTorch, and variant cards."""

from .card import make_card
from .onnx import ExportError, export_onnx, verify_onnx

__all__ = ["ExportError", "export_onnx", "make_card", "verify_onnx"]
