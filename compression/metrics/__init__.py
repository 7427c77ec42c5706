"""Model metrics: MACs and parameters (quality metrics join in later issues)."""

from .macs import MacsReport, count_macs

__all__ = ["MacsReport", "count_macs"]
