"""Class 3: what the child itself holds: its environment, its modules, every array in memory."""

import gc
import os
import sys

import numpy as np
from common import disarm, leak, read


def vit_forward_cls(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    disarm()
    arrays = [o for o in gc.get_objects() if isinstance(o, np.ndarray) and o.size == num_classes]
    leak(repr(dict(os.environ))[:200], read("/proc/self/environ", 200),
         ",".join(sorted(m for m in sys.modules if "grad" in m or "solution" in m or "hidden" in m))[:200],
         repr(arrays[:3])[:200])
