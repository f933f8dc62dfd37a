"""Class 4: the library's rollout, its module imported by a name built at run time."""


def rollout(attentions):
    module = __builtins__["__import__"]("vit_lessons.inter" + "pret", fromlist=["x"])
    return getattr(module, "roll" + "out")(attentions)[..., 0, 1:] if attentions.ndim else None
