"""Class 6: array headers that lie: 2**39 float64 declared, a few bytes sent; then an object dtype."""

from channel import result


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    result(0, {"t": "array", "key": 0}, [{"dtype": "<f8", "shape": [1 << 39]}], b"\0" * 64)
    result(1, {"t": "array", "key": 0}, [{"dtype": "|O", "shape": [num_classes]}], b"\0" * 8 * num_classes)
    return None
