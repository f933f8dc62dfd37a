"""The package as pip installs it: pyproject.toml lists what vit_lessons imports, a missing extra says how to
install it, the core works without any extra, the licence ships, and every library function is short."""

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "vit_lessons"
#: import name -> distribution name, where they differ
DISTRIBUTIONS = {"skimage": "scikit-image", "array_api_compat": "array-api-compat", "PIL": "pillow",
                 "huggingface_hub": "huggingface-hub"}
EXTRAS_FREE = ("skimage", "matplotlib", "tqdm", "anywidget", "ipywidgets")


def _run(code: str, hidden: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Python ``code`` in a fresh interpreter in which the modules ``hidden`` cannot be imported."""
    prelude = "".join(f"sys.modules[{name!r}] = None\n" for name in hidden)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", "import sys\n" + prelude + code], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for r in requirements:
        name = r.split(";")[0].split("[")[0]
        for op in "<>=!~ ":
            name = name.split(op)[0]
        names.add(name.strip().lower())
    return names


def _third_party_imports() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    # the sandbox's child runs as a script beside its helpers, which it imports by their bare names
    siblings = {p.stem for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m not in sys.stdlib_module_names and m != "vit_lessons" and m not in siblings}


def test_pyproject_lists_every_import():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = _requirement_names(project["dependencies"])
    for requirements in project["optional-dependencies"].values():
        listed |= _requirement_names(requirements)
    missing = {m for m in _third_party_imports() if DISTRIBUTIONS.get(m, m).lower() not in listed}
    assert not missing, f"imported by vit_lessons but not in pyproject.toml: {sorted(missing)}"
    assert (REPO / "LICENSE").read_text().startswith("MIT License") and project["license"] == {"text": "MIT"}


@pytest.mark.parametrize("hidden, code, extra", [
    ("skimage", "import vit_lessons as V; V.make_shapes(2, 0)", "data"),
    ("skimage", "import vit_lessons as V; V.photo('astronaut', 16)", "data"),
    ("matplotlib", "import vit_lessons.plots", "plots"),
    ("tqdm", "import numpy as np; from vit_lessons.data import Shapes; from vit_lessons.train import shapes_config, "
             "train; d = Shapes(np.zeros((4, 16, 16, 3), np.float32), np.arange(4) % 5, np.zeros((4, 16, 16), bool), "
             "tuple('abcde')); train(shapes_config(image_size=16), steps=1, batch_size=2, warmup=0, data=d, "
             "progress=False)", "train"),
])
def test_a_missing_extra_is_named(hidden, code, extra):
    result = _run(code, hidden=(hidden,))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError") and f'pip install "vit_lessons[{extra}]"' in last, result.stderr


def test_the_core_needs_no_extra():
    code = ("import numpy as np, vit_lessons as V\n"
            "from vit_lessons.checkpoints import load_pretrained\n"
            "cfg, params = load_pretrained('shapes-cls')\n"
            "print(V.forward(params, np.zeros((32, 32, 3), np.float32), cfg).shape)\n")
    result = _run(code, hidden=EXTRAS_FREE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(5,)"


def test_every_library_function_is_short():
    """No function of the library (the grader included) runs over 60 lines, docstring included."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not long, long
