"""What of the library an exercise may use: one definition, read by the source check and enforced at run time.

Every exercise allows a list of library functions (its chapters' predecessors); every other function of
``vit_lessons`` is denied, by the source reading and in the staged library alike.  For every exercise, no
function reachable in its sandbox computes a hidden case's answer: every callable of every module of the
staged library is called with every hidden case's arguments.  The docstrings say what the definitions
allow.  Exercise 10 forbids torch, whose autograd would compute its answer.
"""

import ast
import json
import pickle
import re
import subprocess
import sys
import textwrap

import pytest

from vit_lessons.grade import grade
from vit_lessons.grading import hidden
from vit_lessons.grading.engine import _denials, answers_for
from vit_lessons.grading.forbidden import violations
from vit_lessons.grading.registry import EXERCISES, INFRASTRUCTURE
from vit_lessons.grading.staging import library_definitions, stage_library

from .grading_helpers import REPO

#: run in a separate process with the staged library first on the path: call everything with every case
PROBE = textwrap.dedent('''
    import copy, importlib, inspect, json, os, pickle, signal, sys, warnings
    import numpy as np
    lib, data, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, lib)
    warnings.simplefilter("ignore")
    cases = pickle.load(open(data, "rb"))
    import vit_lessons
    assert vit_lessons.__file__.startswith(lib), vit_lessons.__file__

    def same(a, b):
        if isinstance(b, tuple):
            return isinstance(a, (tuple, list)) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(b, dict):
            return isinstance(a, dict) and all(k in a and same(a[k], v) for k, v in b.items())
        try:
            a = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)
        except Exception:
            return False
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-4))

    def timeout(*_):
        raise TimeoutError

    signal.signal(signal.SIGALRM, timeout)
    modules = []
    for folder, _, files in os.walk(os.path.join(lib, "vit_lessons")):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), lib)[:-3].replace(os.sep, ".")
                modules.append(rel[:-len(".__init__")] if rel.endswith(".__init__") else rel)
    found, failed, denied = [], [], {}
    for name in sorted(modules):
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            continue
        for attr, fn in sorted(vars(module).items()):
            if not callable(fn) or not str(getattr(fn, "__module__", "")).startswith("vit_lessons"):
                continue
            for i, (args, expected) in enumerate(cases):
                signal.alarm(5)
                try:
                    got = fn(*copy.deepcopy(args))
                except PermissionError as exc:
                    if "not allowed in exercise" in str(exc):
                        denied[attr] = str(exc)
                    break
                except BaseException:
                    continue
                finally:
                    signal.alarm(0)
                if expected is not None and same(got, expected):
                    found.append(f"{name}.{attr} answers case {i}")
    print(json.dumps({"found": found, "failed": failed, "denied": sorted(denied)}), flush=True)
    os._exit(0)  # the report is out: skip the interpreter's teardown of whatever the fuzzed calls left behind
''')


@pytest.mark.parametrize("name", list(EXERCISES))
def test_no_function_reachable_in_an_exercise_s_sandbox_computes_its_answers(tmp_path, name):
    ex = EXERCISES[name]
    library, _, _ = _denials(ex)
    stage_library(tmp_path / "lib", library)
    answers = answers_for(ex, "hidden", hidden.cases)
    data = tmp_path / "cases.pickle"  # the test's own data, read by the test's own probe
    data.write_bytes(pickle.dumps([(c.args, e) for c, e in zip(answers.cases, answers.expected(), strict=True)]))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "lib"), str(data), str(ex.number)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
                               "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["found"] == [], report["found"]
    assert not [f for f in report["failed"] if "vit_lessons.grading" not in f and "No module named" not in f], \
        report["failed"]
    assert {n for n in report["denied"] if not n.startswith("_")} <= set(ex.denied_library)  # _private: calls one


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_source_check_and_the_run_time_denial_are_one_definition(name):
    ex = EXERCISES[name]
    library, _, _ = _denials(ex)
    assert set(library) == set(ex.denied_library)
    definitions = library_definitions()
    for module in INFRASTRUCTURE:
        assert not set(definitions.get(module, ())) & set(ex.denied_library), module
    for denied in ex.denied_library:
        found = violations(f"import vit_lessons as V\n\n\ndef f():\n    return V.{denied}\n", list(ex.all_rules))
        assert found and "is not allowed in this exercise" in found[0], denied
    for allowed in ex.library:
        assert not violations(f"import vit_lessons as V\n\n\ndef f():\n    return V.{allowed}\n", list(ex.all_rules))
    assert not violations("from vit_lessons.encoder import layer_norm\n", list(EXERCISES["block_backward"].all_rules))


def _docstring_names(text: str) -> set[str]:
    return {n.removeprefix("vit_lessons.") for n in re.findall(r"``([\w.]+)``", text)}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_docstrings_say_what_the_definitions_allow(name):
    ex = EXERCISES[name]
    doc = ast.get_docstring(ast.parse((REPO / "solutions" / ex.file).read_text()))
    allowed_text, _, denied_text = doc.partition("Not allowed:")
    functions = {n for names in library_definitions().values() for n in names}
    modules = {m.removeprefix("vit_lessons.") for m in library_definitions()}
    for n in _docstring_names(allowed_text.partition("Allowed:")[2]) & functions:
        assert n not in ex.denied_library, (name, n)
    for n in _docstring_names(denied_text) & (functions | modules):
        if n in modules:
            assert set(library_definitions()[f"vit_lessons.{n}"]) - {n} <= set(ex.denied_library) | {
                d for d in library_definitions()[f"vit_lessons.{n}"] if d.startswith("_")}, (name, n)
        else:
            assert n in ex.denied_library, (name, n)


def test_exercise_10_forbids_torch_in_the_source_and_at_run_time(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex10_block_backward.py").write_text(
        "import torch\n\n\ndef block_backward(x, params, num_heads, dy):\n"
        "    engine = torch._C._ImperativeEngine()\n    return engine, {}\n")
    [result] = grade(folder, only=["block_backward"], timeout=30)
    assert result.score == 0 and "`torch` is not allowed in this exercise" in result.hint, result.hint
    (folder / "ex10_block_backward.py").write_text(
        "def block_backward(x, params, num_heads, dy):\n"
        "    torch = __builtins__['__imp' + 'ort__']('tor' + 'ch')\n"
        "    return torch._C._ImperativeEngine(), {}\n")
    [result] = grade(folder, only=["block_backward"], timeout=30)
    messages = " ".join(c.message for c in result.cases)
    assert result.score == 0 and "torch is not allowed in exercise 10" in messages, messages
