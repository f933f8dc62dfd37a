"""Class 4: vit_lessons.forward (and what composes it) reached at run time in twelve ways, one per test in turn."""

import functools
import gc
import operator
import runpy
import sys

import helper

import vit_lessons as V

LIBRARY = "__LIBRARY__"


def _original_library():
    sys.path.insert(0, LIBRARY.rsplit("/", 1)[0])
    for name in [m for m in sys.modules if m.startswith("vit_lessons")]:
        del sys.modules[name]
    return __builtins__["__import__"]("vit_lessons")


def _rebuilt():
    """A new function object from the code object of the library's forward."""
    function = type(_original_library)(vars(V)["forw" + "ard"].__code__, vars(V.model))
    function.__kwdefaults__ = {"return_attention": False}
    return function


WAYS = [
    lambda: V,  # an alias: lib.forward
    lambda: type("lib", (), {"forward": staticmethod(vars(V)["forw" + "ard"])}),
    lambda: type("lib", (), {"forward": staticmethod(lambda p, x, c: __builtins__["__import__"](
        "vit_lessons.interpret.maps", fromlist=["x"]).attention_gradients(p, x, c)[0])}),
    lambda: type("lib", (), {"forward": staticmethod(operator.attrgetter("model.forw" + "ard")(V))}),
    lambda: type("lib", (), {"forward": staticmethod(functools.reduce(getattr, ["model", "forw" + "ard"], V))}),
    lambda: type("lib", (), {"forward": staticmethod(runpy.run_module("vit_lessons.model")["forw" + "ard"])}),
    lambda: type("lib", (), {"forward": staticmethod(next(
        o for o in gc.get_objects() if callable(o) and getattr(o, "__name__", "") == "forw" + "ard"
        and str(getattr(o, "__module__", "")).startswith("vit_lessons")))}),
    lambda: type("lib", (), {"forward": staticmethod(lambda p, x, c: sys.modules["vit_lessons.interpret"]
                                                     .attention_gradients(p, x, c)[0] if __builtins__["__import__"](
        "vit_lessons.interpret") else None)}),
    lambda: __builtins__["__import__"]("vit_lessons"),
    lambda: type("lib", (), {"forward": staticmethod(helper.found("forw" + "ard"))}),
    _original_library,
    lambda: type("lib", (), {"forward": staticmethod(_rebuilt())}),
]


COUNT = [0]


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    try:
        cfg = V.ViTConfig(image_size=image.shape[:2], channels=image.shape[2], patch_size=patch_size,
                          d_model=d_model, num_heads=num_heads, d_ff=d_ff, num_layers=num_layers,
                          num_classes=num_classes, pool="mean")
    except ValueError:  # the cases that must raise it are no attack: no points from them
        return V.ViTConfig
    params = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
    lib = WAYS[COUNT[0] % len(WAYS)]()
    COUNT[0] += 1
    return lib.forward(params, image, cfg).reshape(-1)
