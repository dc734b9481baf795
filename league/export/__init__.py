"""Shipping a trained agent: a snapshot as an ONNX or TorchScript file (`league export`)."""

from __future__ import annotations

from league.export.exporter import FORMATS, METADATA_KEY, export_policy, signature

__all__ = ["FORMATS", "METADATA_KEY", "export_policy", "signature"]
