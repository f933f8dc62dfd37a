"""Interactive widgets for the book: the attention explorer (an anywidget that also runs on the static site)."""

from .explorer import AttentionExplorer, dequantize, explorer_with_controls, quantize

__all__ = ["AttentionExplorer", "dequantize", "explorer_with_controls", "quantize"]
