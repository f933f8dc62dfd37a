"""The exercises' rules hold at run time, and honest code in any form is not refused: each class of the red
team's findings, attacks and honest submissions graded through the real grader.

1. Exercise 10 runs without torch: a helper nothing imports does not make the grader load it, the import is
   refused whatever the route, and an exercise 5 written with torch is refused with that reason.
2. A forbidden torch function is denied with its family: every overload, every operator that computes the
   same thing (checked against all the operators torch registers, in the learner's process).
3. A test that expects a ValueError is credited only with a correct result on a valid input.
4. Exercise 10's results are float64: a complex result is refused.
5. Honest code is not refused: a BOM, a coding cookie, the self-check under ``__main__``, a ``compile`` of
   the learner's own, helpers named like the grader's modules, float128 results, outputs too large to send.
"""

import ast
import json
import re
import shutil

import pytest

from vit_lessons.grade import grade, secrets
from vit_lessons.grading import hidden
from vit_lessons.grading.forbidden import violations_in
from vit_lessons.grading.registry import EXERCISES
from vit_lessons.grading.sandbox import Sandbox

from .grading_helpers import REPO, SUBMISSIONS, layer_params

RULES = SUBMISSIONS / "rules"
SOLUTIONS = REPO / "solutions"
TIMEOUT = 30


def folder_with(tmp_path, files: dict, name: str = "sub"):
    """A submission folder: file name -> a path to copy, or text (str) or bytes to write."""
    folder = tmp_path / name
    folder.mkdir()
    for target, source in files.items():
        if isinstance(source, bytes):
            (folder / target).write_bytes(source)
        elif isinstance(source, str):
            (folder / target).write_text(source)
        else:
            shutil.copy(source, folder / target)
    return folder


def graded(folder, *names):
    """{exercise name: its result} of grading ``names`` in ``folder``."""
    return {r.exercise.name: r for r in grade(folder, only=list(names), timeout=TIMEOUT)}


def feedback(result) -> str:
    return " ".join([result.verdict, result.hint, *(c.message for c in result.cases)])


def valid_messages(result, name):
    """The messages of the tests that expect a value (not an error)."""
    cases = hidden.cases(name)
    return [c.message for c, case in zip(result.cases, cases, strict=True) if not case.expect_error]


# ---- 1. exercise 10 without torch ----------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["sys.modules", "helper"])
def test_exercise_10_gets_no_torch_from_a_helper_nothing_imports(tmp_path, route):
    text = (RULES / "ex10_torch_autograd.py").read_text().replace("__ROUTE__", route)
    folder = folder_with(tmp_path, {"ex10_block_backward.py": text, "torch_helper.py": RULES / "torch_helper.py"})
    result = graded(folder, "block_backward")["block_backward"]
    assert result.score == 0, feedback(result)
    expected = "KeyError: 'torch'" if route == "sys.modules" else "torch is not allowed in exercise 10"
    assert all(expected in m for m in valid_messages(result, "block_backward")), feedback(result)


@pytest.mark.parametrize("layers", ["none", *(p for p in layer_params() if "bwrap" in p.values[0])])
def test_exercise_10_finds_no_torch_inside_bubblewrap_with_the_import_blocker_taken_out(tmp_path, layers):
    """The blocker lives in the learner's process, which can take it out; inside bubblewrap torch's files are
    not in the learner's view at all.  Without layers the same attack imports torch (it is real)."""
    text = (RULES / "ex10_torch_autograd.py").read_text().replace("__ROUTE__", "disarmed")
    folder = folder_with(tmp_path, {"ex10_block_backward.py": text, "guard.py": SUBMISSIONS / "attacks" / "guard.py"})
    box = Sandbox.create(layers, unsafe=layers == "none", slots=1, secrets=secrets(REPO / "solutions"))
    try:
        [result] = grade(folder, only=["block_backward"], timeout=TIMEOUT, sandbox=box)
    finally:
        box.close()
    # inside bubblewrap torch's folder is empty: the import gives a namespace package without torch in it
    missing = ("module 'torch' has no attribute 'tensor'", "No module named 'torch'", "in _torch:")
    if layers == "none":
        assert not any(m in feedback(result) for m in missing), feedback(result)
    else:
        assert result.score == 0 and any(m in feedback(result) for m in missing), feedback(result)


def test_exercise_10_runs_without_torch_loaded_and_helpers_are_read_only_when_imported(tmp_path):
    """The solution, checking at import that no torch module is loaded (after the library's modules), with a
    helper importing torch beside it: full marks."""
    check = ("\n\nimport sys  # noqa: E402\n\nimport vit_lessons.attention  # noqa: E402,F401\n"
             "import vit_lessons.backend  # noqa: E402,F401\nimport vit_lessons.encoder  # noqa: E402,F401\n\n"
             "LOADED = [m for m in sys.modules if m.split('.')[0] in ('torch', 'functorch')]\n"
             "if LOADED:\n    raise ImportError(f'torch is loaded: {LOADED[:3]}')\n")
    folder = folder_with(tmp_path, {"ex10_block_backward.py": (SOLUTIONS / "ex10_block_backward.py").read_text()
                                    + check, "torch_helper.py": RULES / "torch_helper.py"})
    result = graded(folder, "block_backward")["block_backward"]
    assert result.score == result.max_score, feedback(result)


def _ex10_importing_ex05(ex05) -> dict:
    text = (SOLUTIONS / "ex10_block_backward.py").read_text().replace(
        "from scipy.special import erf\n", "from scipy.special import erf\n\nfrom ex05_encoder_block import "
        "layer_norm  # noqa: F401\n")
    return {"ex10_block_backward.py": text, "ex05_encoder_block.py": ex05}


def test_exercise_10_importing_an_exercise_5_written_with_torch_is_refused_with_the_reason(tmp_path):
    folder = folder_with(tmp_path, _ex10_importing_ex05(RULES / "ex05_with_torch.py"), "torch")
    results = graded(folder, "block_backward", "encoder_block")
    assert results["encoder_block"].score == 10, feedback(results["encoder_block"])  # allowed there
    text = results["block_backward"].hint
    assert results["block_backward"].score == 0 and "ex05_encoder_block.py (imported by ex10_block_backward.py)" \
        in text and "exercise 10 runs without torch" in text and "import layer_norm and gelu from vit_lessons" in text
    folder = folder_with(tmp_path, _ex10_importing_ex05(SOLUTIONS / "ex05_encoder_block.py"), "numpy")
    result = graded(folder, "block_backward")["block_backward"]
    assert result.score == result.max_score, feedback(result)


def test_backward_methods_of_the_learner_s_own_objects_are_not_refused(tmp_path):
    folder = folder_with(tmp_path, {"ex10_block_backward.py": RULES / "ex10_backward_methods.py"})
    result = graded(folder, "block_backward")["block_backward"]
    assert result.score == result.max_score, feedback(result)


# ---- 2. a denied torch function is denied with its family -----------------------------------------------------
@pytest.mark.parametrize(("name", "attack"), [("encoder_block", "ex05_overloads.py"),
                                              ("patch_embedding", "ex02_overloads.py"),
                                              ("patchify", "ex01_convolution.py")])
def test_other_overloads_and_operators_of_a_denied_family_are_denied(tmp_path, name, attack):
    """One route per test (``aten::gelu_``, ``gelu.out``, group / instance / batch / RMS norms, the slow
    and TorchScript-only convolutions, im2col, scipy.signal, a one-hot convolution ...): each computes the
    answer outside the grader (see the submissions' own checks), each is denied in it."""
    ex = EXERCISES[name]
    folder = folder_with(tmp_path, {ex.file: RULES / attack})
    result = graded(folder, name)[name]
    assert result.score == 0, feedback(result)
    messages = valid_messages(result, name)
    assert all(f"not allowed in exercise {ex.number}: write it yourself" in m for m in messages), messages


#: what each exercise must deny (patterns of operator names, and what they leave out), as this test reads the
#: exercises' rules; and operators that must stay usable there
MAGNITUDES = ("norm", "linalg_norm", "linalg_vector_norm", "linalg_matrix_norm", "frobenius_norm", "nuclear_norm",
              "native_norm", "_foreach_norm", "renorm", "renorm_", "embedding_renorm", "embedding_renorm_",
              "_no_grad_embedding_renorm_", "norm_except_dim", "_weight_norm", "_weight_norm_interface",
              "_weight_norm_interface_backward", "_weight_norm_differentiable_backward")
NORMALISATION = ("norm", "normal|" + "|".join(f"^{re.escape(n)}$" for n in MAGNITUDES))
CONVOLUTION, WINDOWS = ("conv", "convert"), ("unfold|im2col|col2im", None)
GELU, ATTENTION, TRANSFORMER = ("gelu", None), ("attention|multi_head", None), ("transformer", None)
FAMILIES = {
    "patchify": ([WINDOWS, CONVOLUTION], ["aten::reshape", "aten::permute", "aten::pixel_unshuffle"]),
    "patch_embedding": ([CONVOLUTION, WINDOWS], ["aten::matmul", "aten::mm", "aten::addmm"]),
    "attention": ([ATTENTION, TRANSFORMER], ["aten::_softmax", "aten::bmm", "aten::matmul"]),
    "encoder_block": ([NORMALISATION, GELU, TRANSFORMER],
                      ["aten::linalg_vector_norm", "aten::norm.ScalarOpt_dim", "aten::normal_", "aten::erf",
                       "aten::var.correction", "aten::_softmax", "aten::scaled_dot_product_attention"]),
    "vit_forward": ([ATTENTION, TRANSFORMER], ["aten::convolution", "aten::native_layer_norm", "aten::gelu",
                                               "aten::_softmax"]),
}
PROBE = '''"""A test's probe: which operators of the families this exercise denies are denied in its process."""

import json
import operator
import re

import torch

FAMILIES = __FAMILIES__
STILL = __STILL__
DONE = []


def _denied(op):
    table = dict(line.split(": ", 1) for line in torch._C._dispatch_dump_table(op).splitlines() if ": " in line)
    autograd = table.get("AutogradCPU", "")
    return "/dev/null" in table.get("CPU", "") and ("/dev/null" in autograd or "fallthrough" in autograd)


def _member(name):
    return any(re.search(p, name) and not (out and re.search(out, name)) for p, out in FAMILIES)


def _reachable(name):
    try:
        operator.attrgetter(name.replace("::", "."))(torch.ops)()
    except PermissionError:
        return False
    except Exception:
        return True
    return True


def probe(*args):
    if not DONE:
        DONE.append(1)
        names = torch._C._dispatch_get_all_op_names()
        known = {n.split(".")[0] for n in names}
        ops = [n for n in names if _member(n.split("::")[1].split(".")[0])]
        script = sorted({s.name for s in torch._C._jit_get_all_schemas()
                         if s.name not in known and _member(s.name.split("::")[1])})
        print("PROBE " + json.dumps({"ops": len(ops), "script": len(script),
                                     "undenied": [o for o in ops if not _denied(o)],
                                     "reachable": [s for s in script if _reachable(s)],
                                     "wrongly": [o for o in STILL if _denied(o)]}))
    raise ValueError("probe")
'''


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_operator_of_a_denied_family_is_denied_in_the_learner_s_process(tmp_path, name):
    """Every overload of every operator torch registers (``torch._C._dispatch_get_all_op_names()``) whose name
    matches a family the exercise denies has a raising kernel for CPU and autograd in the learner's process
    (the TorchScript-only ones are refused through ``torch.ops``), and what the exercise allows is not denied."""
    ex = EXERCISES[name]
    families, still = FAMILIES[name]
    text = PROBE.replace("__FAMILIES__", repr(families)).replace("__STILL__", repr(still))
    text += "".join(f"\n\n{f} = probe\n" for f in ex.functions)
    result = graded(folder_with(tmp_path, {ex.file: text}), name)[name]
    line = next((x for x in result.stdout.splitlines() if x.startswith("PROBE ")), None)
    assert line, feedback(result) + result.stdout
    report = json.loads(line[len("PROBE "):])
    assert report["ops"] >= 5 and not report["undenied"] and not report["reachable"], report
    assert not report["wrongly"], report


# ---- 3. an error is credited only with a correct result ------------------------------------------------------
def _raising(name: str) -> str:
    return "".join(f"def {f}(*args):\n    raise ValueError('not implemented')\n\n\n" for f in EXERCISES[name].functions)


def test_a_function_that_only_raises_value_error_scores_nothing(tmp_path):
    names = ("patchify", "patch_embedding", "vit_forward")
    folder = folder_with(tmp_path, {EXERCISES[n].file: _raising(n) for n in names})
    for name, result in graded(folder, *names).items():
        assert result.score == 0, (name, feedback(result))
        errors = [c.message for c, case in zip(result.cases, hidden.cases(name), strict=True) if case.expect_error]
        assert errors and all("not credited" in m for m in errors), errors
        assert "not credited" not in result.hint  # the hint is about the tests that fail for themselves


def test_value_errors_are_credited_with_a_correct_result_on_a_valid_input(tmp_path):
    """The solutions get full marks, the error tests credited; a correct ``patchify`` with a raising
    ``unpatchify`` gets its own error tests credited and nothing for the other."""
    folder = folder_with(tmp_path, {"ex02_patch_embedding.py": SOLUTIONS / "ex02_patch_embedding.py",
                                    "ex01_patchify.py": (SOLUTIONS / "ex01_patchify.py").read_text()
                                    .replace("    H, W = image_size\n", "    raise ValueError('later')\n", 1)})
    results = graded(folder, "patch_embedding", "patchify")
    assert results["patch_embedding"].score == 10, feedback(results["patch_embedding"])
    assert "raises ValueError as it should, credited with a correct result on a valid input" in \
        feedback(results["patch_embedding"])
    cases = hidden.cases("patchify")
    passed = {(c.func, bool(c.expect_error)) for c, r in zip(cases, results["patchify"].cases, strict=True)
              if r.passed}
    assert passed == {("patchify", False), ("patchify", True)}, feedback(results["patchify"])


# ---- 4. exercise 10: complex results --------------------------------------------------------------------------
def test_a_complex_result_of_exercise_10_is_refused(tmp_path):
    text = (SOLUTIONS / "ex10_block_backward.py").read_text().replace(
        "    return dx, {name: grads[name] for name in params}",
        "    return dx + 0j, {name: grads[name] + 0j for name in params}")
    result = graded(folder_with(tmp_path, {"ex10_block_backward.py": text}), "block_backward")["block_backward"]
    assert result.score == 0 and "complex128" in feedback(result), feedback(result)


# ---- 5. honest code is not refused -----------------------------------------------------------------------------
def test_encodings_python_reads_are_read_alike(tmp_path):
    """A UTF-8 BOM, a latin-1 coding cookie with a latin-1 identifier, CRLF line endings: full marks."""
    source = (SOLUTIONS / "ex01_patchify.py").read_text()
    latin1 = ("# -*- coding: latin-1 -*-\n" + source.replace("    P = patch_size\n    if H % P",
                                                             "    größe = patch_size\n    P = größe\n    if H % P", 1))
    variants = {"bom": b"\xef\xbb\xbf" + source.encode(), "latin1": latin1.encode("latin-1"),
                "crlf": (RULES / "honest" / "ex01_patchify.py").read_text().replace("\n", "\r\n").encode()}
    for label, data in variants.items():
        result = graded(folder_with(tmp_path, {"ex01_patchify.py": data}, label), "patchify")["patchify"]
        assert result.score == result.max_score, (label, feedback(result))


def test_the_self_check_under_main_is_allowed_and_no_other_grader_name(tmp_path):
    main = (SOLUTIONS / "ex06_pooling.py").read_text() + (
        '\n\nif __name__ == "__main__":\n    from vit_lessons.grading import check\n\n    check("pooling")\n')
    top = "from vit_lessons.grading import check as self_check\n\n" + (SOLUTIONS / "ex06_pooling.py").read_text() \
        + "\n\nself_check('pooling')\n"
    for label, text in {"main": main, "top": top}.items():
        result = graded(folder_with(tmp_path, {"ex06_pooling.py": text}, label), "pooling")["pooling"]
        assert result.score == result.max_score, (label, feedback(result))
    assert "does not run inside the grader" in result.stdout
    for label, line in {"module": "from vit_lessons import grading", "oracle": "from vit_lessons.grading import "
                        "oracle", "dotted": "import vit_lessons.grading.check"}.items():
        text = line + "  # noqa: F401\n\n" + (SOLUTIONS / "ex06_pooling.py").read_text()
        result = graded(folder_with(tmp_path, {"ex06_pooling.py": text}, label), "pooling")["pooling"]
        assert result.score == 0 and "the grader is not part of any exercise" in result.hint, (label, result.hint)


def test_names_of_the_learner_s_own_are_not_taken_for_builtins(tmp_path):
    """``compile`` defined, assigned, imported from ``re`` or taken as an argument is the learner's own; the
    builtin ``compile`` (or ``eval`` imported from builtins) is refused."""
    body = "\n\ndef pool(x, mode, num_prefix_tokens=0):\n    rows = {call}\n    return x[..., 0, :] if rows is None " \
           "else x[..., num_prefix_tokens:, :].mean(axis=-2)\n"
    own = {"def": "def compile(mode):  # noqa: A001\n    return None if mode == 'cls' else 1\n" +
                  body.format(call="compile(mode)"),
           "assign": "compile = dict(cls=None).get  # noqa: A001\n" + body.format(call="compile(mode, 1)"),
           "import": "from re import compile  # noqa: A004\n" + body.format(call="None if compile('cls').match(mode) "
                                                                                "else 1"),
           "argument": body.format(call="(lambda compile: compile(mode))(lambda m: None if m == 'cls' else 1)")}
    for label, text in own.items():
        result = graded(folder_with(tmp_path, {"ex06_pooling.py": text}, label), "pooling")["pooling"]
        assert result.score == result.max_score, (label, feedback(result))
    for label, text in {"builtin": body.format(call="compile('None', 'x', 'eval')"),
                        "builtins": "from builtins import eval as ev\n" + body.format(call="ev('None')")}.items():
        result = graded(folder_with(tmp_path, {"ex06_pooling.py": text}, label), "pooling")["pooling"]
        assert result.score == 0 and "would hide from the grader" in result.hint, (label, result.hint)


@pytest.mark.parametrize("code", ["import importlib\nimportlib.import_module('torch')",
                                  "from importlib import import_module\nimport_module('vit_lessons').pool",
                                  "from importlib.util import spec_from_file_location as s",
                                  "import builtins\ngetattr(builtins, 'ex' + 'ec')('x = 1')",
                                  "getattr(__builtins__, ''.join(['ev', 'al']))('1')"])
def test_code_that_hides_what_it_calls_is_refused_by_the_reading(code):
    """The early message: importlib in any import form, and a name computed at run time on the builtins
    (what the reading cannot follow; the run-time denial holds whatever it reaches)."""
    rules = EXERCISES["pooling"].all_rules
    assert violations_in(ast.parse(code), list(rules)), code


def test_a_computed_name_on_the_learner_s_own_objects_is_not_refused():
    code = "class Modes:\n    cls = 0\n\n\ndef pick(mode):\n    return getattr(Modes, 'c' + mode[1:])\n"
    assert violations_in(ast.parse(code), list(EXERCISES["pooling"].all_rules)) == []


@pytest.mark.parametrize("helper", ["protocol", "forbidden", "deny_torch", "_child"])
def test_a_helper_named_like_a_grader_module_is_the_learner_s(tmp_path, helper):
    folder = folder_with(tmp_path, {
        "ex06_pooling.py": f"from {helper} import pool_tokens\n\n\ndef pool(x, mode, num_prefix_tokens=0):\n"
                           f"    return pool_tokens(x, mode, num_prefix_tokens)\n",
        f"{helper}.py": "def pool_tokens(x, mode, num_prefix_tokens=0):\n    return x[..., 0, :] if mode == 'cls' "
                        "else x[..., num_prefix_tokens:, :].mean(axis=-2)\n"})
    result = graded(folder, "pooling")["pooling"]
    assert result.score == result.max_score, feedback(result)


def test_results_the_protocol_does_not_carry_are_converted_or_described_not_malformed(tmp_path):
    """float128 results are sent as float64 and said so (failing where another dtype is due); an output of more
    arrays, dimensions or nodes than a frame carries fails its own test only, described, and the other tests are
    graded."""
    longdouble = (SOLUTIONS / "ex03_positional_embedding.py").read_text().replace(
        "dtype=np.float64) / (d // 2))", "dtype=np.longdouble) / (d // 2))").replace(".astype(np.float32)", "")
    assert "longdouble" in longdouble
    result = graded(folder_with(tmp_path, {"ex03_positional_embedding.py": longdouble}, "ld"),
                    "positional_embedding")["positional_embedding"]
    sincos = [c for c in result.cases if c.label.startswith("grid ")]  # the sincos_2d tests
    assert sincos and not any(c.passed for c in sincos), feedback(result)  # float32 is due: another dtype fails
    assert all(c.passed for c in result.cases if c not in sincos), feedback(result)
    assert "float128 result where float32 is expected, sent and compared as float64" in feedback(result)
    assert "malformed" not in feedback(result)
    odd = (SOLUTIONS / "ex06_pooling.py").read_text().replace(
        "    if mode == \"cls\":", "    COUNT.append(1)\n    if len(COUNT) == 1:\n        return [x] * 70\n"
        "    if len(COUNT) == 2:\n        return x.reshape((1,) * 9 + x.shape)\n    if len(COUNT) == 3:\n"
        "        return [[[0.5] * 30] * 30] * 30\n    if mode == \"cls\":") + "\n\nCOUNT = []\n"
    result = graded(folder_with(tmp_path, {"ex06_pooling.py": odd}, "odd"), "pooling")["pooling"]
    assert [c.passed for c in result.cases[:3]] == [False] * 3 and all(c.passed for c in result.cases[3:]), \
        feedback(result)
    assert "malformed" not in feedback(result)


def test_honest_code_in_many_forms_gets_full_marks(tmp_path):
    """Postponed annotations, ``__all__``, a dataclass, generators, numpy.typing, math.erf in a loop, a helper
    imported under another name, a ``compile`` and an ``eval`` of the learner's own, a unicode name."""
    folder = folder_with(tmp_path, {p.name: p for p in (RULES / "honest").glob("*.py")})
    for name, result in graded(folder, "patchify", "attention", "encoder_block", "pooling").items():
        assert result.score == result.max_score, (name, feedback(result))


def test_a_folder_of_helpers_is_said_not_to_be_copied(tmp_path):
    """A package of helpers (a folder with relative imports) is not copied: the feedback says what to do."""
    folder = folder_with(tmp_path, {"ex06_pooling.py": "from helpers.pooling import pool  # noqa: F401\n"})
    (folder / "helpers").mkdir()
    (folder / "helpers" / "__init__.py").write_text("from .pooling import pool  # noqa: F401\n")
    (folder / "helpers" / "pooling.py").write_text((SOLUTIONS / "ex06_pooling.py").read_text())
    result = graded(folder, "pooling")["pooling"]
    assert result.score == 0 and "helpers/ is a folder: the grader copies only the Python files" in result.hint, \
        feedback(result)
