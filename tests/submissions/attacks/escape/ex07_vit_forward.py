"""Class 3: the hidden tests' source and compiled .pyc, the original library on the path, the grader's
reference computation imported from it."""

import glob
import sys

from common import LIBRARY, disarm, leak, read


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    disarm()
    texts = [read(f"{LIBRARY}/grading/hidden/__init__.py")]
    texts += [read(p, 200) for p in glob.glob(f"{LIBRARY}/grading/hidden/__pycache__/*.pyc")]
    texts += [read(f"{LIBRARY}/grading/oracle.py")]
    sys.path.insert(0, LIBRARY.rsplit("/", 1)[0])
    try:
        for name in [m for m in sys.modules if m.startswith("vit_lessons")]:
            del sys.modules[name]
        name = "vit_lessons.grad" + "ing.hidden"
        getattr(sys.modules["builtins"], "__imp" + "ort__")(name)
        texts.append(f"seed {sys.modules[name].SEED}")
    except Exception as exc:  # noqa: BLE001
        texts.append(f"import: {type(exc).__name__}: {exc}"[:200])
    leak(*texts)
