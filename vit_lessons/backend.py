"""One source, two engines: the few places where numpy and torch differ.

Every formula in ``vit_lessons`` is written once against the array API standard
(``xp = namespace(x)``: ``xp.exp``, ``xp.matmul``, ``xp.mean``, ...), so the same
function runs on numpy arrays (reading, teaching, grading) and on torch tensors
(training with autograd, on a GPU if there is one).  What the standard lacks,
``erf`` for the exact GELU, is dispatched here and nowhere else, and so is moving
arrays between the engines (:func:`like`, :func:`to_numpy`, :func:`to_torch`).
"""

from __future__ import annotations

import sys

import array_api_compat
import numpy as np


def namespace(*arrays):
    """The array-API namespace shared by ``arrays`` (numpy's or torch's).

    Tensors are recognised first, by a plain ``isinstance``, so that ``torch.compile`` reads the
    lookup as a constant instead of tracing array_api_compat's cached type tests.
    """
    if arrays and all(is_torch(a) for a in arrays):
        import array_api_compat.torch as xp

        return xp
    return array_api_compat.array_namespace(*arrays)


def is_torch(x) -> bool:
    """True for a torch tensor (torch is imported only by code that makes tensors)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_array(x) -> bool:
    """True for a numpy array or a torch tensor."""
    return isinstance(x, np.ndarray) or is_torch(x)


def is_float32_or_64(x) -> bool:
    """True for an array or tensor of dtype float32 or float64 (the library computes in these two;
    half precision is not tested)."""
    if is_torch(x):
        import torch

        return x.dtype in (torch.float32, torch.float64)  # dtype constants: torch.compile reads them in its graph
    return x.dtype in (np.float32, np.float64)


def device(x):
    """The device of ``x`` (``"cpu"`` for numpy)."""
    return x.device if is_torch(x) else array_api_compat.device(x)


def erf(x):
    """The error function, element-wise, in the namespace of ``x`` (numpy via scipy)."""
    if is_torch(x):
        import torch

        return torch.special.erf(x)
    from scipy.special import erf as scipy_erf

    return scipy_erf(x).astype(x.dtype, copy=False)


def like(value, ref):
    """``value`` (numpy array or tensor) as an array of ``ref``'s kind, dtype and device.

    A value already of that kind, dtype and device is returned as it is, so torch
    tensors keep their autograd history.
    """
    if is_torch(ref):
        import torch

        return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    if is_torch(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=ref.dtype)


def to_numpy(x) -> np.ndarray:
    """A numpy view or copy of an array or tensor (detached from autograd)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_torch(params: dict, dtype=None, device=None, requires_grad: bool = False) -> dict:
    """The same parameters as torch tensors (e.g. leaves for autograd), copied: changing them
    leaves ``params`` as it was.  params: name -> numpy array or tensor.  dtype (a ``torch.dtype``,
    e.g. ``torch.float32``) and device default to each array's own."""
    import torch

    from .checks import check_array, check_instance

    check_instance("params", params, dict, how=" of name -> numpy array or torch tensor")
    if dtype is not None:
        check_instance("dtype", dtype, torch.dtype, how=" such as torch.float32")
    out = {}
    for k, v in params.items():
        check_array(f"params[{k!r}]", v)
        t = v.detach().clone() if is_torch(v) else torch.from_numpy(np.array(v))
        out[k] = t.to(dtype=dtype or t.dtype, device=device).requires_grad_(requires_grad)
    return out
