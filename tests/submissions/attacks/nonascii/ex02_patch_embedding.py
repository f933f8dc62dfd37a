"""An error while the file is imported (shown in the verdict), not ASCII."""

raise ImportError("Modul fehlt: «numpy» ✗")


def patch_embedding(image, weight, bias):
    return image
