"""Non-ASCII printed, then an error with characters outside the Basic Multilingual Plane."""


def patchify(image, patch_size):
    print("Ausgabe: äöü ✓ 🚀")
    raise RuntimeError("kaputt 🚀 \U0001F600")


def unpatchify(patches, patch_size, image_size):
    return patchify(patches, patch_size)
