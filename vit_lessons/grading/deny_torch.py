"""Deny an exercise's forbidden torch functions inside the learner's process, whatever path reaches them.

Copied beside the child script and run after torch is imported, before the learner's code.  Two levels:

- the dispatcher: a kernel that raises is registered, for every backend and autograd key, on each aten
  operator behind a forbidden name (``layer_norm`` -> ``aten::layer_norm`` and ``aten::native_layer_norm``),
  so ``F.layer_norm``, ``nn.LayerNorm``, ``torch.ops.aten.native_layer_norm``, ``torch._C._VariableFunctions``
  and any torch function that calls the operator all raise.  The registering object is kept alive by a
  leaked reference and is invisible to ``gc``, so it cannot be found and destroyed;
- Python: every loaded ``torch`` module's attribute that is one of the forbidden objects (by name, then by
  identity, so ``torch.nn.modules.normalization.LayerNorm`` too) is replaced by a function that raises,
  after importing the modules that re-implement operators in Python (``torch._refs``, ``torch._decomp``).

Limits, stated plainly: code that re-imports torch's modules, or walks C types (``object.__subclasses__()``),
can reach Python-level originals again; the denied operators stay denied.  Autograd is not an operator:
exercise 10's denial stops ``.backward()``, ``torch.autograd.grad``, ``torch.func`` and
``torch.autograd.functional`` however they are named, but code that drives autograd's C++ engine
(``torch._C._ImperativeEngine().run_backward``) or calls a graph's ``grad_fn`` nodes itself gets gradients;
forbidding torch in exercise 10 (its docstring allows numpy and scipy) would close that.  All of this is
about the exercises' rules: the learner's process is inside the operating-system boundary either way.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
import warnings

#: forbidden name -> the aten operators behind it
OPERATORS = {
    "layer_norm": ("layer_norm", "native_layer_norm"),
    "gelu": ("gelu",),
    "conv2d": ("convolution", "_convolution", "conv1d", "conv2d", "conv3d", "mkldnn_convolution",
               "_slow_conv2d_forward", "thnn_conv2d", "slow_conv3d", "slow_conv_dilated2d", "slow_conv_dilated3d",
               "_nnpack_spatial_convolution", "conv_tbc", "_conv_depthwise2d", "convolution_overrideable"),
    "unfold": ("im2col", "unfold"),
    "fold": ("col2im",),
    "scaled_dot_product_attention": ("scaled_dot_product_attention", "_scaled_dot_product_attention_math",
                                     "_scaled_dot_product_flash_attention_for_cpu",
                                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                                     "_scaled_dot_product_cudnn_attention",
                                     "_scaled_dot_product_fused_attention_overrideable"),
    "multi_head_attention_forward": ("_native_multi_head_attention",),
    "TransformerEncoderLayer": ("_transformer_encoder_layer_fwd",),
    "autograd": ("_make_dual",),
    "func": ("_make_dual",),
}
ALIASES = {"LayerNorm": "layer_norm", "GELU": "gelu", "Conv2d": "conv2d", "convolution": "conv2d",
           "Unfold": "unfold", "Fold": "fold", "MultiheadAttention": "multi_head_attention_forward",
           "TransformerEncoder": "TransformerEncoderLayer"}
#: forbidden name -> Python objects behind it that another name reaches ("module.attr" paths)
PYTHON = {
    "layer_norm": ("torch.nn.functional.layer_norm",),
    "multi_head_attention_forward": ("torch.nn.functional.multi_head_attention_forward",),
    "MultiheadAttention": ("torch.nn.functional.multi_head_attention_forward",),
    "autograd": ("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
                 "torch.autograd.functional.jacobian", "torch.autograd.functional.hessian",
                 "torch.autograd.functional.vjp", "torch.autograd.functional.jvp", "torch.autograd.functional.hvp",
                 "torch.autograd.functional.vhp", "torch.autograd.variable.Variable._execution_engine"),
    "backward": ("torch.autograd.backward", "torch.Tensor.backward"),
    "requires_grad_": ("torch.Tensor.requires_grad_",),
    "func": ("torch.func.*",),
}
#: modules that re-implement operators in Python, imported before the sweep so that they are swept too
REIMPLEMENTATIONS = ("torch._refs", "torch._refs.nn.functional", "torch._decomp", "torch._decomp.decompositions",
                     "torch.func", "torch.autograd.functional")
DISPATCH_KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional",
                 "CPU", "Autograd", "MkldnnCPU", "QuantizedCPU", "SparseCPU", "SparseCsrCPU", "NestedTensorCPU",
                 "Meta", "AutocastCPU", "FuncTorchBatched")


class Denied:
    """What a forbidden torch function becomes: calling it (or reading its attributes) raises."""

    def __init__(self, message: str):
        object.__setattr__(self, "_message", message)

    def __call__(self, *args, **kwargs):
        raise PermissionError(object.__getattribute__(self, "_message"))

    def __getattr__(self, name):  # AttributeError, so that torch's own hasattr() checks keep working
        raise AttributeError(object.__getattribute__(self, "_message"))

    def __repr__(self):
        return f"<denied: {object.__getattribute__(self, '_message')}>"


def _deny_operators(operators: set[str], message: str) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(message)

    import torch

    library = torch._C._dispatch_library("IMPL", "aten", "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op in sorted(operators):
            for key in DISPATCH_KEYS:
                try:
                    library.impl(op, key, refuse)
                except Exception:  # noqa: BLE001, S112 - an operator that has no such key (or does not exist)
                    continue
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(library))  # alive for good, referenced by nothing


def _objects(path: str) -> list[tuple[object, str]]:
    """(owner, attribute) pairs a PYTHON path names: "module.attr", "module.Class.attr" or "module.*"."""
    head, _, attr = path.rpartition(".")
    owner = sys.modules.get(head)
    if owner is None:
        module, _, cls = head.rpartition(".")
        owner = getattr(sys.modules.get(module), cls, None)
    if owner is None:
        return []
    if attr == "*":
        return [(owner, a) for a, v in vars(owner).items() if not a.startswith("_") and callable(v)]
    return [(owner, attr)] if hasattr(owner, attr) else []


def _torch_modules():
    return [m for k, m in list(sys.modules.items()) if (k == "torch" or k.startswith("torch.")) and m is not None]


def _sweep(name: str, stub: Denied) -> None:
    """Replace the objects behind ``name`` by ``stub``: where PYTHON says, and wherever a loaded torch
    module holds one of them (under any attribute name)."""
    originals = {}
    operators = set(OPERATORS.get(ALIASES.get(name, name), ()))
    for module in _torch_modules():
        for n in (name, *operators):
            value = vars(module).get(n)
            if callable(value):
                originals[id(value)] = value
    for owner, attr in [pair for path in PYTHON.get(name, ()) for pair in _objects(path)]:
        value = getattr(owner, attr)
        if callable(value) or attr == "_execution_engine":
            originals[id(value)] = value
            setattr(owner, attr, stub)
    for module in _torch_modules():
        for attr, value in list(vars(module).items()):
            if originals.get(id(value)) is value and not attr.startswith("__"):
                try:
                    setattr(module, attr, stub)
                except (AttributeError, TypeError):  # a module object that refuses new values (torch's configs)
                    continue
    table = getattr(sys.modules.get("torch._decomp"), "decomposition_table", {})
    for op in list(table):
        if str(getattr(op, "__name__", "")).split(".")[0] in operators:
            table[op] = stub


def deny(names: list[str], exercise: int) -> None:
    """Make the torch functions ``names`` (as the exercise's rules name them) raise for good."""
    for module in REIMPLEMENTATIONS:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112
            continue
    done: set[str] = set()
    for name in names:
        message = f"torch's {name} is not allowed in exercise {exercise}: write it yourself"
        operators = set(OPERATORS.get(ALIASES.get(name, name), ())) - done
        _deny_operators(operators, message)
        done |= operators
        _sweep(name, Denied(message))
