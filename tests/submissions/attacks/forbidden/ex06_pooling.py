"""Class 4: the library's pool through the model module's globals."""

import sys
from types import SimpleNamespace


def pool(x, mode, num_prefix_tokens=0):
    cfg = SimpleNamespace(pool=mode, num_prefix_tokens=num_prefix_tokens)
    return vars(sys.modules["vit_lessons.model"])["po" + "ol"](x, cfg)
