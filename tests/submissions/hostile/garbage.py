"""A submission that returns things that are not logits."""


class Logits:
    pass


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    return Logits() if seed % 2 else "logits"
