"""Exercise 1, as learners write it: patchify and unpatchify with one mistake."""

import math

import numpy as np

MISTAKES = {  # mistake -> the hint the grader must give for it (None: no named hint is required)
    None: None, "flatten_cpp": "flatten_cpp", "no_transpose": "no_transpose", "grid_transposed": "grid_transposed",
    "unpatchify_square_grid": None, "unpatchify_no_transpose": "unpatchify_no_transpose",
    "no_value_error": "no_value_error", "float32_result": "float32_result", "returns_list": "not_an_array",
    "torch_reshape": "wrong_error", "squeeze_channels": "unpatchify:channels=one", "one_side_grid": None,
    "assume_rgb": "channels=one|2", "float64_output": "float64_result",
}


def build(mistake=None):
    m = mistake

    def patchify(image, patch_size):
        P = patch_size
        H, W, C = image.shape
        if m == "assume_rgb":  # "an image has 3 channels"
            H, W, C = *image.shape[:2], 3
        if m == "torch_reshape":
            import torch

            t = torch.from_numpy(image)
            return t.reshape(H // P, P, W // P, P, C).permute(0, 2, 1, 3, 4).reshape(-1, P * P * C).numpy()
        if m == "no_value_error":  # windows cut in a loop: a partial patch at the border is dropped
            return np.stack([image[i:i + P, j:j + P].reshape(-1) for i in range(0, H - P + 1, P)
                             for j in range(0, W - P + 1, P)])
        if H % P or W % P:
            raise ValueError(f"patch_size={P} does not divide {H}x{W}")
        if m == "no_transpose":
            return image.reshape(-1, P * P * C)
        if m == "returns_list":
            return [image[i:i + P, j:j + P].reshape(-1) for i in range(0, H, P) for j in range(0, W, P)]
        g = image.reshape(H // P, P, W // P, P, C)
        g = g.transpose(2, 0, 1, 3, 4) if m == "grid_transposed" else g.transpose(0, 2, 1, 3, 4)
        if m == "flatten_cpp":
            g = g.transpose(0, 1, 4, 2, 3)
        out = g.reshape(-1, P * P * C)
        if m == "float64_output":  # "float64 to be safe"
            return out.astype(np.float64)
        return out.astype(np.float32) if m == "float32_result" else out

    def unpatchify(patches, patch_size, image_size):
        P = patch_size
        H, W = image_size
        C = 3 if m == "assume_rgb" else patches.shape[-1] // (P * P)
        if m == "unpatchify_no_transpose":
            return patches.reshape(H, W, C)
        gh, gw = H // P, W // P
        if m == "unpatchify_square_grid":
            gh = gw = math.isqrt(patches.shape[0])
        if m == "one_side_grid":
            gw = gh
        image = patches.reshape(gh, gw, P, P, C).transpose(0, 2, 1, 3, 4).reshape(gh * P, gw * P, C)
        return np.squeeze(image) if m == "squeeze_channels" else image

    return {"patchify": patchify, "unpatchify": unpatchify}
