"""Deny an exercise's forbidden torch functions inside the learner's process, whatever path reaches them.

Copied beside the child script and run after torch is imported, before the learner's code.  A forbidden
name stands for a family of operators, everything in torch that computes the same thing: the operators
whose names match the family's pattern among all those torch registers (every namespace: ``aten``,
``quantized``, ``mkldnn`` ...), each with every overload (``aten::gelu``, ``gelu_``, ``gelu.out``):

- ``layer_norm`` / ``LayerNorm``: every normalisation layer (names containing "norm": group norm with one
  group, instance and batch norm of the transposed tokens, RMS norm of the centred tokens all compute
  LayerNorm), but not the vector and matrix norms (``norm``, ``linalg_vector_norm`` ...), weight and
  spectral norms, or the random draws (``normal``): a norm is a reduction to write LayerNorm with;
- ``gelu`` / ``GELU``: names containing "gelu";
- ``conv2d`` / ``Conv2d`` / ``convolution``: names containing "conv" (not "convert"): plain, transposed,
  depthwise, slow, mkldnn and quantized convolutions;
- ``unfold`` / ``fold`` (and their classes): the sliding windows, "unfold", "im2col" and "col2im";
- ``scaled_dot_product_attention``, ``MultiheadAttention``, ``multi_head_attention_forward``: names
  containing "attention" or "multi_head";
- ``TransformerEncoder(Layer)``: names containing "transformer" (the block's fused kernels).

Two levels:

- the dispatcher: a kernel that raises is registered, for every backend and autograd key, on each overload
  of each operator of the family, so ``F.group_norm``, ``torch.ops.aten.gelu_``, ``aten::gelu.out``,
  ``torch._C._VariableFunctions`` and any torch function that calls such an operator raise.  The
  registering objects are kept alive by leaked references and are invisible to ``gc``, so they cannot be
  found and destroyed.  The few operators of a family that only TorchScript knows (``prim::
  mkldnn_convolution``) have no dispatcher entry: ``torch.ops`` and ``torch._C._jit_get_operation`` refuse
  them;
- Python: every loaded ``torch`` module's attribute that is one of the forbidden objects (by name, then by
  identity, so ``torch.nn.modules.normalization.LayerNorm`` too) is replaced by a function that raises, and
  so are the Python re-implementations of the family (``torch._refs``, ``torch._decomp``, the Python
  functions of ``torch.nn.functional``, such as ``local_response_norm``), imported first to be swept too.

Limits, stated plainly: code that re-imports torch's modules, or walks C types (``object.__subclasses__()``),
can reach Python-level originals again, and TorchScript compiled from a string still resolves a
TorchScript-only operator; the dispatcher's operators stay denied.  Exercise 10, where torch's autograd
would compute the answer, runs without torch at all (it is never loaded, and its import is refused).  All
of this is about the exercises' rules: the learner's process is inside the operating-system boundary
either way.
"""

from __future__ import annotations

import ctypes
import importlib
import re
import sys
import warnings

#: family -> (what it is, in the messages; the pattern of its operators' names; the names it leaves out)
FAMILIES = {
    "normalisation": ("normalisation layer", r"norm",
                      r"normal|^norm$|linalg|vector_norm|matrix_norm|frobenius|nuclear|^native_norm$|foreach_norm"
                      r"|renorm|norm_except_dim|weight_norm|spectral_norm|clip_grad|total_norm"),
    "gelu": ("GELU", r"gelu", None),
    "convolution": ("convolution", r"conv", r"convert"),
    "windows": ("sliding-window operator (unfold, fold)", r"unfold|im2col|col2im", None),
    "attention": ("attention operator", r"attention|multi_head", None),
    "transformer": ("fused transformer block", r"transformer", None),
}
#: forbidden name (as the exercises' rules name it) -> its family
FAMILY_OF = {"layer_norm": "normalisation", "LayerNorm": "normalisation", "gelu": "gelu", "GELU": "gelu",
             "conv2d": "convolution", "Conv2d": "convolution", "convolution": "convolution",
             "unfold": "windows", "Unfold": "windows", "fold": "windows", "Fold": "windows",
             "scaled_dot_product_attention": "attention", "MultiheadAttention": "attention",
             "multi_head_attention_forward": "attention", "TransformerEncoderLayer": "transformer",
             "TransformerEncoder": "transformer"}
#: forbidden name -> Python objects behind it that another name reaches ("module.attr" paths)
PYTHON = {
    "layer_norm": ("torch.nn.functional.layer_norm",),
    "multi_head_attention_forward": ("torch.nn.functional.multi_head_attention_forward",),
    "MultiheadAttention": ("torch.nn.functional.multi_head_attention_forward",),
}
#: modules that re-implement operators in Python, imported before the sweep so that they are swept too
REIMPLEMENTATIONS = ("torch._refs", "torch._refs.nn.functional", "torch._decomp", "torch._decomp.decompositions",
                     "torch.nn.functional")
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


def in_family(family: str, name: str) -> bool:
    """Whether the operator (or function) ``name`` ("gelu_", "native_group_norm", without namespace or
    overload) belongs to ``family``."""
    _, pattern, left_out = FAMILIES[family]
    return bool(re.search(pattern, name)) and not (left_out and re.search(left_out, name))


def family_operators(families: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """family -> (the dispatcher's operators of it, "ns::name" or "ns::name.overload", every overload; the
    TorchScript-only operators of it, "ns::name")."""
    import torch

    names = torch._C._dispatch_get_all_op_names()
    known = {n.split(".")[0] for n in names}
    script = {s.name for s in torch._C._jit_get_all_schemas()} - known
    return {f: (sorted(n for n in names if in_family(f, n.split("::")[1].split(".")[0])),
                sorted(n for n in script if in_family(f, n.split("::")[1]))) for f in families}


def _refusal(text: str):
    """A kernel that raises PermissionError(``text``)."""

    def refuse(*args, **kwargs):
        raise PermissionError(text)

    return refuse


def _deny_operators(operators: list[str], message: str) -> None:
    """Register a kernel that raises ``message`` on each operator ("ns::name[.overload]") for every key."""
    import torch

    libraries = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op in operators:
            namespace, name = op.split("::")
            if namespace not in libraries:
                libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "")

            refuse = _refusal(message.format(op=op))
            for key in DISPATCH_KEYS:
                try:
                    libraries[namespace].impl(name, key, refuse)
                except Exception:  # noqa: BLE001, S112 - an operator that has no such key
                    continue
    for library in libraries.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(library))  # alive for good, referenced by nothing


def _deny_script_only(operators: list[str], message: str) -> None:
    """Refuse the TorchScript-only ``operators`` through ``torch.ops`` and ``torch._C._jit_get_operation``."""
    import torch

    for op in operators:
        namespace, name = op.split("::")
        setattr(getattr(torch.ops, namespace), name, Denied(message.format(op=op)))
    original = torch._C._jit_get_operation
    refused = {op: message.format(op=op) for op in operators}

    def get_operation(name, *args, **kwargs):
        if name in refused:
            raise PermissionError(refused[name])
        return original(name, *args, **kwargs)

    torch._C._jit_get_operation = get_operation


def _objects(path: str) -> list[tuple[object, str]]:
    """(owner, attribute) pairs a PYTHON path names: "module.attr" or "module.Class.attr"."""
    head, _, attr = path.rpartition(".")
    owner = sys.modules.get(head)
    if owner is None:
        module, _, cls = head.rpartition(".")
        owner = getattr(sys.modules.get(module), cls, None)
    return [(owner, attr)] if owner is not None and hasattr(owner, attr) else []


def _torch_modules():
    return [m for k, m in list(sys.modules.items()) if (k == "torch" or k.startswith("torch.")) and m is not None]


def _originals(names: list[str], families: dict[str, set[str]], exercise: int) -> dict[int, tuple]:
    """id -> (object, the message of its stub) for every object behind the forbidden ``names``: attributes
    of those names, or of one of the ``families``' operators ("group_norm"), in every loaded torch module, the
    families' functions in torch and its Python re-implementations, the PYTHON paths, and the families'
    decompositions."""
    found: dict[int, tuple] = {}

    def add(value, label, family=None):
        if callable(value) and not isinstance(value, Denied) and id(value) not in found:
            why = f" (every torch {FAMILIES[family][0]} is denied here)" if family else ""
            found[id(value)] = (value, f"torch's {label} is not allowed in exercise {exercise}: write it yourself{why}")

    for owner, attr in [pair for name in names for path in PYTHON.get(name, ()) for pair in _objects(path)]:
        add(getattr(owner, attr), attr)
    table = getattr(sys.modules.get("torch._decomp"), "decomposition_table", {})
    for module in _torch_modules():
        python_side = module.__name__ == "torch" or module.__name__.startswith(REIMPLEMENTATIONS)
        for attr, value in list(vars(module).items()):
            if attr in names:
                add(value, attr)
            elif not attr.startswith("__"):
                for family, operators in families.items():
                    if attr in operators or (python_side and in_family(family, attr.lower())):
                        add(value, attr, family)
    for op, value in table.items():
        name = getattr(getattr(op, "_schema", None), "name", "::").split("::")[1]
        for family in families:
            if in_family(family, name):
                add(value, name, family)
    return found


def _sweep(names: list[str], families: dict[str, set[str]], exercise: int) -> None:
    """Replace the objects behind ``names`` (and ``families``) by stubs that raise, wherever a loaded torch
    module holds one of them (under any attribute name), and in the decomposition table."""
    originals = _originals(names, families, exercise)
    stubs = {key: Denied(message) for key, (_, message) in originals.items()}
    for owner, attr in [pair for name in names for path in PYTHON.get(name, ()) for pair in _objects(path)]:
        if id(getattr(owner, attr)) in stubs:
            setattr(owner, attr, stubs[id(getattr(owner, attr))])
    for module in _torch_modules():
        for attr, value in list(vars(module).items()):
            if id(value) in stubs and originals[id(value)][0] is value and not attr.startswith("__"):
                try:
                    setattr(module, attr, stubs[id(value)])
                except (AttributeError, TypeError):  # a module object that refuses new values (torch's configs)
                    continue
    table = getattr(sys.modules.get("torch._decomp"), "decomposition_table", {})
    for op, value in list(table.items()):
        if id(value) in stubs and originals[id(value)][0] is value:
            table[op] = stubs[id(value)]


def deny(names: list[str], exercise: int) -> None:
    """Make the torch functions ``names`` (as the exercise's rules name them) and their families raise for good."""
    for module in REIMPLEMENTATIONS:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112
            continue
    families = list(dict.fromkeys(FAMILY_OF[n] for n in names if n in FAMILY_OF))
    operators = {}
    for family, (dispatcher, script_only) in family_operators(families).items():
        message = (f"torch's {{op}} is not allowed in exercise {exercise}: write it yourself (every torch "
                   f"{FAMILIES[family][0]} is denied here)")
        _deny_operators(dispatcher, message)
        _deny_script_only(script_only, message)
        operators[family] = {op.split("::")[1].split(".")[0] for op in dispatcher + script_only}
    _sweep(names, operators, exercise)
