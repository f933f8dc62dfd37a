"""The exercises' definitions, one module each, named like the learner's file (``ex07_vit_forward.py``
defines exercise 7).  Importing this package registers every module ``exNN_*.py`` in it, so adding an
exercise is adding its module here (and its solution in ``solutions/``).
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ex")):
    importlib.import_module(f"{__name__}.{_module}")
