"""Exercise 2, as learners write it: the patch embedding as one matrix product, with one mistake."""

import numpy as np

MISTAKES = {None: None, "patch_order_cpp": "patch_order_cpp", "flatten_cpp": "flatten_cpp",
            "grid_transposed": "grid_transposed", "no_patch_bias": "no_patch_bias", "stride_one": "stride_not_patch",
            "float32_result": "float32_result", "float32_precision": "float32_values",
            "no_value_error": "no_value_error", "int_zeros": "integer_output", "assume_rgb": "channels=one|2",
            "float64_output": "float64_result"}


def build(mistake=None):
    m = mistake

    def patch_embedding(image, weight, bias):
        D, C, P, _ = weight.shape
        H, W, _ = image.shape
        if m == "assume_rgb":  # the book's RGB example, 3 channels hard-coded
            C = 3
        if m == "stride_one" or m == "no_value_error":  # windows cut in a loop (a VALID convolution)
            s = 1 if m == "stride_one" else P
            patches = np.stack([image[i:i + P, j:j + P].reshape(-1) for i in range(0, H - P + 1, s)
                                for j in range(0, W - P + 1, s)])
        else:
            if H % P or W % P:
                raise ValueError(f"patch_size={P} does not divide {H}x{W}")
            g = image.reshape(H // P, P, W // P, P, C)
            g = g.transpose(2, 0, 1, 3, 4) if m == "grid_transposed" else g.transpose(0, 2, 1, 3, 4)
            if m == "flatten_cpp":
                g = g.transpose(0, 1, 4, 2, 3)
            patches = g.reshape(-1, P * P * C)
        kernel = weight.reshape(D, -1) if m == "patch_order_cpp" else weight.transpose(0, 2, 3, 1).reshape(D, -1)
        if m == "float32_result":
            patches = patches.astype(np.float32)
        if m == "float32_precision":
            return (patches.astype(np.float32) @ kernel.T + bias).astype(image.dtype)
        if m == "int_zeros":
            out = np.zeros((patches.shape[0], D), dtype=int)
            out[:] = patches @ kernel.T + bias
            return out
        if m == "float64_output":  # "in float64 whatever the input"
            return patches.astype(np.float64) @ kernel.T.astype(np.float64) + bias
        tokens = patches @ kernel.T.astype(patches.dtype)
        return tokens if m == "no_patch_bias" else tokens + bias.astype(patches.dtype)

    return {"patch_embedding": patch_embedding}
