"""Interactive widgets for the book (anywidgets that also run on the static site): the attention explorer
(chapters 9 and 9b) and the attention playground (chapter 4)."""

from .explorer import AttentionExplorer, dequantize, explorer_with_controls, quantize, storage
from .playground import AttentionPlayground

__all__ = ["AttentionExplorer", "AttentionPlayground", "dequantize", "explorer_with_controls", "quantize", "storage"]
