"""Hints that are right or silent, numbers that show their difference, cases that vary their axes alike.

Every known mistake of every exercise, fed to the judge as the oracle's own output of that mistake on
every case (no sandbox: the explanation alone is tested), is named, and every other name the hint gives
is a mistake that reproduces the same failures; a mistake that explains only some failing cases is
given with its count; nothing known is named when nothing known explains the failures.  A property is
named only with every other property of the same failing tests; the kinds of every exercise make each
kind, and each pair of kinds, the only property of its tests; the public draw takes every structural value
the hidden draws take, at every place a generator draws one.
"""

import hashlib
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import erf

from vit_lessons.grading import hidden
from vit_lessons.grading.diagnostics import compare, near, pair, share
from vit_lessons.grading.draws import recording
from vit_lessons.grading.engine import Answers, CaseResult, Raised, answers_for, diagnose, judge
from vit_lessons.grading.mistakes import MISTAKES, describe, hint
from vit_lessons.grading.properties import ABOUT, FINE, PHRASES, Part, axes_of, classes, explanations
from vit_lessons.grading.protocol import BREAKS, shorten
from vit_lessons.grading.registry import EXERCISES, Case, public_cases
from vit_lessons.grading.sandbox import Outcome

FUNCTION_MISTAKES = [(ex.name, f, m) for ex in EXERCISES.values() for f, fn in ex.functions.items()
                     for m in fn.mistakes]


def _outcome(value) -> Outcome:
    if isinstance(value, Raised):
        return Outcome("error", error={"type": value.type, "message": "", "where": []})
    return Outcome("value", value=value)


def judged(answers: Answers, outputs: dict[int, object]):
    """(hint, named mistakes) when case i gives ``outputs[i]`` and every other case is right."""
    expected = answers.expected()
    results = []
    for i, case in enumerate(answers.cases):
        got = outputs.get(i, expected[i])
        outcome = Outcome("error", error={"type": case.expect_error, "message": "", "where": []}) \
            if case.expect_error and i not in outputs else _outcome(got)
        results.append(judge(answers.exercise, case, outcome, expected[i], answers, i))
    if all(r.passed for r in results):
        return None, []
    return diagnose(answers.cases, results)


@pytest.mark.parametrize(("name", "func", "mistake"), FUNCTION_MISTAKES,
                         ids=[f"{n}-{f}-{m}" for n, f, m in FUNCTION_MISTAKES])
def test_every_mistake_is_named_and_no_other_that_does_not_explain_it(name, func, mistake):
    ex = EXERCISES[name]
    for kind, cases_of in (("public", public_cases), ("hidden", hidden.cases)):
        answers = answers_for(ex, kind, cases_of)
        outputs = {i: answers.variants(i)[mistake][0] for i, c in enumerate(answers.cases)
                   if c.func == func and not c.expect_error}
        text, named = judged(answers, outputs)
        if text is None:
            pytest.fail(f"{mistake} changes no {kind} case of {func}: the cases cannot tell it from the answer")
        failing = [i for i, o in outputs.items() if not _same(o, answers.expected()[i])]
        if all(isinstance(outputs[i], Raised) for i in failing):  # only raises: the failures' property is named
            assert named and all("=" in n for n in named), (kind, text)
            continue
        assert mistake in named, (kind, text)
        assert hint(mistake) in text
        for other in set(named) - {mistake}:
            variants = answers.variants
            assert all(any(_same(v, outputs[i]) for v in variants(i)[other]) for i in failing), (kind, other, text)


def _same(a, b) -> bool:
    from vit_lessons.grading.diagnostics import matches

    if isinstance(a, Raised) or isinstance(b, Raised):
        return isinstance(a, Raised) and isinstance(b, Raised)
    return matches(a, b)


def _result(passed, explained=(), confirmed=None, label="x", message="off"):
    explained = frozenset(explained)
    return CaseResult(label, passed, message, explained, explained if confirmed is None else frozenset(confirmed))


def test_a_hint_names_a_mistake_alone_only_when_it_explains_every_failing_case():
    cases = [Case("f", (), f"case {i}") for i in range(5)]
    all_four = [_result(True), *(_result(False, {"no_scale"}) for _ in range(4))]
    text, named = diagnose(cases, all_four)
    assert text == hint("no_scale") and named == ["no_scale"]
    three = [_result(True), *(_result(False, {"no_scale"}) for _ in range(3)), _result(False, label="case 4",
                                                                                      message="raised KeyError")]
    text, named = diagnose(cases, three)
    assert text.startswith(f"In 3 of 4 failing tests: {hint('no_scale')} The other failing test: case 4: raised")
    none = [_result(True), *(_result(False, label=f"case {i}", message=f"off {i}") for i in range(1, 5))]
    assert diagnose(cases, none) == ("first failing test: case 1: off 1", [])


def test_an_error_the_mistake_would_raise_too_does_not_name_it_alone():
    cases = [Case("f", (), f"case {i}") for i in range(3)]
    merely_consistent = [_result(True), _result(False, {"mean_over_features"}, ()),
                         _result(False, {"mean_over_features"}, ())]
    text, named = diagnose(cases, merely_consistent)
    assert named == [] and text.startswith("first failing test")
    one_match = [_result(True), _result(False, {"mean_over_features"}), _result(False, {"mean_over_features"}, ())]
    assert diagnose(cases, one_match) == (hint("mean_over_features"), ["mean_over_features"])


def test_two_mistakes_that_explain_everything_are_both_given():
    cases = [Case("f", (), f"case {i}") for i in range(2)]
    results = [_result(False, {"ln_eps_1e-5", "ln_eps_1e-12"}), _result(False, {"ln_eps_1e-5", "ln_eps_1e-12"})]
    text, named = diagnose(cases, results)
    assert text.startswith("One of these explains every failing test:") and sorted(named) == ["ln_eps_1e-12",
                                                                                             "ln_eps_1e-5"]


def test_a_property_that_exactly_the_failing_cases_share_is_named():
    cases = [Case("f", (), "a", meta={"batch": "unbatched", "dtype": "float32"}),
             Case("f", (), "b", meta={"batch": "batched", "dtype": "float32"}),
             Case("f", (), "c", meta={"batch": "batched", "dtype": "float64"}),
             Case("f", (), "d", meta={"batch": "unbatched", "dtype": "float64"})]
    results = [_result(True), _result(False), _result(False), _result(True)]
    text, named = diagnose(cases, results)
    assert named == ["batch=batched"] and text == describe("batch=batched")
    assert text.startswith("Every test with a batch axis fails, and no other:")
    own = {("batch", "batched"): "an advice of its own."}
    assert diagnose(cases, results, own)[0].endswith("An advice of its own.")
    results = [_result(True), _result(True), _result(False), _result(True)]  # batched AND float64
    text, named = diagnose(cases, results)
    assert named == ["batch=batched&dtype=float64"] and "with a batch axis and in float64" in text



def test_the_float64_advice_speaks_of_precision_only_when_the_differences_are_rounding_sized():
    """Every float64 test failing says "checked to 1e-8 ... float32 mixed in" only when the failures are of
    float32 rounding's size; a reshape bug that float32 tests happen to pass is not a precision problem."""
    cases = [Case("f", (), name, meta={"dtype": dtype}) for name, dtype in
             (("a", "float32"), ("b", "float64"), ("c", "float32"), ("d", "float64"))]
    large = [_result(True), _result(False), _result(True), _result(False)]
    text, named = diagnose(cases, large)
    assert named == ["dtype=float64"] and "larger than float32 rounding" in text and "1e-8" not in text
    rounding = [_result(True), replace(_result(False), near=True), _result(True), replace(_result(False), near=True)]
    text, named = diagnose(cases, rounding)
    assert "Float64 is checked to 1e-8" in text and "larger than" not in text
    # what tells them apart: a float32 computation is near, an order of axes gone wrong is not
    rng = np.random.default_rng(0)
    exact = rng.standard_normal((4, 6)) * 30
    assert near(exact.astype(np.float32).astype(np.float64), exact)
    assert near((exact.astype(np.float32), {"k": exact * (1 + 1e-4)}), (exact.astype(np.float32), {"k": exact}))
    assert not near(exact.reshape(6, 4).T.reshape(4, 6), exact) and not near(exact[::-1], exact)
    assert not near(exact.reshape(6, 4), exact) and not near([exact], (exact,)) and not near(None, exact)


def test_one_error_raised_by_every_failing_test_is_the_hint_not_a_mistake_of_a_few():
    """A missing helper module: every test raises ModuleNotFoundError; that the two tests due to raise
    ValueError raised something else is no diagnosis."""
    cases = [Case("f", (), f"case {i}") for i in range(5)]
    error = "ModuleNotFoundError: No module named 'ex05_encoder_block' (at ex08_vit_forward_cls.py:20)"
    results = [CaseResult(f"case {i}", False, f"raised {error}", error=error) for i in range(3)] + \
        [CaseResult(f"case {i}", False, f"should raise ValueError for these inputs; it raised {error}",
                    frozenset({"wrong_error"}), frozenset({"wrong_error"}), error=error) for i in (3, 4)]
    text, named = diagnose(cases, results)
    assert text == f"every failing test raises the same error: {error}" and named == []
    results[0] = CaseResult("case 0", False, "raised KeyError: 'x'", error="KeyError: 'x'")
    assert diagnose(cases, results)[0].startswith("In 2 of 5 failing tests:")

def test_numbers_are_printed_with_the_digits_their_difference_needs():
    assert pair(-0.4328631, -0.4328627) == ("-0.4328631", "-0.4328627")
    assert pair(-0.43286312, -0.43286319) == ("-0.43286312", "-0.43286319")
    assert pair(1.5, 2.0) == ("1.5", "2")
    assert pair(3.0, 3.0) == ("3", "3")
    g, e = pair(0.1 + 1e-13, 0.1)
    assert g != e
    expected = np.array([-0.432862700000001, 1.0])
    ok, message, problem = compare(expected.astype(np.float32), expected, given="float64")
    assert not ok and problem == "float32_result" and "float32 result for a float64 input" in message
    ok, message, problem = compare(expected + np.array([4e-7, 0.0]), expected)
    assert not ok and "got -0.4328623, expected -0.4328627" in message and problem == "float32_precision"


def test_a_share_reads_100_or_0_percent_only_when_it_is():
    assert (share(224, 225), share(1, 225), share(225, 225), share(0, 225)) == ("99.6%", "0.4%", "100%", "0%")
    assert share(99999, 100000) == "99.999%" and share(1, 3) == "33%"


def test_a_cut_line_of_code_ends_at_a_token_with_an_ellipsis():
    line = 'ex07.py, line 31, in forward: h = gelu(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]) + x_residual_long'
    cut = shorten(line, 80)
    assert len(cut) <= 80 and cut.endswith("…") and line.startswith(cut[:-1])
    assert cut[-2] in BREAKS or line[len(cut) - 1] in BREAKS, cut
    assert shorten("short", 80) == "short"


def test_a_dtype_other_than_the_input_s_fails_with_words():
    expected = np.array([0.25, 1.5], dtype=np.float32)
    ok, message, problem = compare(expected.astype(np.float64), expected, given="float32")
    assert not ok and problem == "float64_result"
    assert "float64 result for a float32 input: return float32, the input's dtype" in message
    ok, message, problem = compare(expected.astype(np.float64), expected)  # no input array (sincos_2d)
    assert not ok and "float64 result where float32 is due" in message


def test_float32_values_are_told_from_an_approximation_as_close():
    x = np.linspace(-3, 3, 50)
    exact = 0.5 * x * (1 + erf(x / np.sqrt(2)))
    through_float32 = exact.astype(np.float32).astype(np.float64)
    assert compare(through_float32, exact)[2] == "float32_values"
    approximate = 0.5 * x * (1 + erf(x * 0.7071))
    ok, message, problem = compare(approximate, exact)
    assert not ok and problem == "float32_precision"
    assert "0.7071" in hint("float32_precision") and "approximat" in hint("float32_precision")


def test_a_float64_result_with_the_digits_of_float32_is_told_apart_from_a_mistake():
    from vit_lessons.grading.registry import exercise

    ex = exercise("encoder_block")
    answers = answers_for(ex, "public", public_cases)
    i = next(i for i, c in enumerate(answers.cases) if c.meta.get("dtype") == "float64")
    expected = answers.expected()[i]
    case = answers.cases[i]
    rounded = judge(ex, case, Outcome("value", value=expected.astype(np.float32).astype(np.float64)), expected,
                    answers, i)
    assert not rounded.passed and rounded.explained == {"float32_values"}
    assert "float32 values in a float64 array" in rounded.message
    close = expected * (1 + 3e-7)  # an approximate constant: no float32 anywhere
    approximate = judge(ex, case, Outcome("value", value=close), expected, answers, i)
    assert approximate.explained == {"float32_precision"} and "accurate to only a few digits" in approximate.message
    eps = answers.variants(i)["ln_eps_outside_sqrt"][0]
    mistaken = judge(ex, case, Outcome("value", value=eps), expected, answers, i)
    assert mistaken.explained == {"ln_eps_outside_sqrt"} and "float32" not in mistaken.message
    float32 = judge(ex, case, Outcome("value", value=expected.astype(np.float32)), expected, answers, i)
    assert float32.explained == {"float32_result"}, float32.explained  # not "an eps of 1e-5", invisible in float32


def test_a_wrong_exception_is_reported_in_words():
    ex = EXERCISES["patchify"]
    answers = answers_for(ex, "public", public_cases)
    i = next(i for i, c in enumerate(answers.cases) if c.expect_error)
    result = judge(ex, answers.cases[i], Outcome("error", error={"type": "AssertionError", "message": "bad size",
                                                                 "where": []}), None, answers, i)
    assert "should raise ValueError for these inputs; it raised AssertionError: bad size" in result.message
    assert result.explained == {"wrong_error"}
    result = judge(ex, answers.cases[i], Outcome("value", value=np.zeros(3)), None, answers, i)
    assert result.message.endswith("it returned a value") and result.explained == {"no_value_error"}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_public_cases_cover_every_axis_the_hidden_cases_vary(name):
    ex = EXERCISES[name]
    public, secret = public_cases(name), hidden.cases(name)
    properties = {(c.func, *item) for c in public for item in c.meta.items()}
    assert {(c.func, *item) for c in secret for item in c.meta.items()} <= properties
    assert {c.func for c in public} == set(ex.functions) and {bool(c.expect_error) for c in public} == \
        {bool(c.expect_error) for c in secret}
    assert len(secret) > len(public)  # other values, and more of them


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_public_draw_takes_every_structural_value_the_hidden_draws_take(name):
    """Every pick, recorded with where it was made (the generators' call path) and what it chose: the
    hidden draws' (place, choice) pairs are all in the public draw, so no generator varies a structural
    value (a patch size, d_ff, a batch of one) that the self-check does not try."""
    with recording() as public:
        public_cases(name)
    with recording() as secret:
        hidden.cases(name)
    assert secret, "the generator draws no structural value through pick"
    assert set(secret) <= set(public), sorted(set(secret) - set(public))[:3]


@pytest.mark.parametrize("name", [n for n, ex in EXERCISES.items() if any(c.meta.get("batch") == "batched"
                                                                          for c in public_cases(n))])
def test_a_batch_size_is_never_another_size_of_its_input(name):
    """A batch of B never has B tokens or features, nor (B > 1) B heads: code that reads one axis for another
    (repeats the class token N times, swaps the batch and heads axes) fails the public tests as it fails the
    hidden ones."""
    for c in [*public_cases(name), *hidden.cases(name)]:
        if c.meta.get("batch") == "batched":
            x = next(a for a in c.args if isinstance(a, np.ndarray))
            heads = [a for a in c.args[1:] if isinstance(a, int) and x.shape[0] > 1]
            assert x.shape[0] not in (*x.shape[1:], *heads), (name, c.label)


def test_the_public_draw_is_the_same_in_threads():
    """Two exercises staged at once (threads) each cycle their own picks."""
    names = list(EXERCISES) * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda n: [(c.label, c.drawn) for c in public_cases(n)], names))
    assert together == [[(c.label, c.drawn) for c in public_cases(n)] for n in names]


def _kind_properties(cases):
    kinds = axes_of(cases, designed=True)
    singles = [((a, v), frozenset(m)) for a in kinds for v, m in classes(cases, a).items() if v is not None
               and len([w for w in classes(cases, a) if w is not None]) > 1]
    yield from (((Part(a, (v,)),), m) for (a, v), m in singles)
    for ((a, va), ma), ((b, vb), mb) in itertools.combinations(singles, 2):
        if a != b and ma & mb and ma & mb not in (ma, mb):
            yield (Part(a, (va,)), Part(b, (vb,))), ma & mb


@pytest.mark.parametrize("name", list(EXERCISES))
def test_no_property_s_cases_are_another_s(name):
    """In the public and the hidden draw, the tests of each kind (and of each pair of kinds) are explained by
    that property alone: no other axis's values, no other pair, cover exactly them (a hint could not tell
    them apart)."""
    for cases in (public_cases(name), hidden.cases(name)):
        for condition, members in _kind_properties(cases):
            assert explanations(cases, members, designed=True) == [condition], (name, condition)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_every_property_of_an_exercise_reads_as_english(name):
    for c in [*public_cases(name), *hidden.cases(name)]:
        for item in c.meta.items():
            assert item in PHRASES, item
        for axis, value in c.drawn.items():
            assert ((axis, value) in PHRASES or axis in FINE) and axis in ABOUT, (axis, value)
    advice = " ".join(EXERCISES[name].advice.values())
    if name == "rollout":  # it neither splits features into heads nor has parameters
        assert "features" not in advice and "blocks." not in advice and "1/sqrt" not in advice


def test_a_property_is_named_only_with_every_other_property_of_the_same_tests():
    def case(batch, dtype, patch):
        return Case("f", (), f"{batch} {dtype} {patch}", meta={"batch": batch, "dtype": dtype},
                    drawn={"patch": patch})
    cases = [case("batched", "float32", "2"), case("batched", "float64", "3"), case("unbatched", "float64", "2"),
             case("unbatched", "float32", "3"), case("batched", "float32", "4")]
    text, named = diagnose(cases, [_result(i not in (1, 3)) for i in range(5)])
    assert named == ["patch=3"] and text.startswith("Every test with patch size 3 fails, and no other: Look at")
    text, named = diagnose(cases, [_result(i not in (0, 1, 4)) for i in range(5)])
    assert named == ["batch=batched"], named
    both = [case("batched", "float32", "2"), case("batched", "float64", "2"), case("unbatched", "float64", "3"),
            case("unbatched", "float32", "3")]
    text, named = diagnose(both, [_result(i >= 2) for i in range(4)])
    assert named == ["batch=batched", "patch=2"] and "exactly those of 2 properties" in text
    assert describe("batch=batched") in text and describe("patch=2") in text
    text, named = diagnose(both, [_result(i in (1, 2)) for i in range(4)])  # float32: patch 2 and 3, all
    assert named == ["dtype=float32"]
    rgb = [case("batched", "float32", "2"), case("unbatched", "float64", "2"), case("batched", "float32", "2")]
    for c, C in zip(rgb, ("1", "2", "3"), strict=True):  # assuming 3 channels fails C = 1 and 2
        c.meta["channels"] = "one" if C == "1" else "several"
        c.drawn.update({"channels": C} if C != "1" else {})
    text, named = diagnose(rgb, [_result(i == 2) for i in range(3)])
    assert "channels=one|2" in named and "with a single channel or with 2 channels" in text


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_hidden_cases_are_other_values_than_the_public_ones(name):
    def arrays(cases):
        return [a.tobytes() for c in cases for a in c.args if isinstance(a, np.ndarray)]

    assert not set(arrays(public_cases(name))) & set(arrays(hidden.cases(name)))
    assert [c.label for c in hidden.cases(name)] == [c.label for c in hidden.cases(name)]  # fixed: the same grades
    one, other = hashlib.sha256(b"one submission").digest(), hashlib.sha256(b"another").digest()
    assert arrays(hidden.cases(name, one)) == arrays(hidden.cases(name, one))  # the same files: the same cases
    # other files: other values (what one submission learnt of its cases is of no use to the next), the same kinds
    assert not set(arrays(hidden.cases(name, one))) & set(arrays(hidden.cases(name, other)))
    assert [c.func for c in hidden.cases(name, one)] == [c.func for c in hidden.cases(name, other)]
    assert [bool(c.expect_error) for c in hidden.cases(name, one)] == \
        [bool(c.expect_error) for c in hidden.cases(name)]


def test_the_case_level_mistakes_listed_for_an_exercise_are_those_its_tests_allow():
    """Chapters list them from ``case_mistakes``: the float32 ones only where a test passes float64 inputs,
    the ValueError ones only where a test must raise, the rest everywhere."""
    from vit_lessons.grading import case_mistakes

    rollout = [m for m, _ in case_mistakes("rollout")]
    assert {"returns_none", "not_an_array", "integer_output", "mutates_input", "float32_result"} <= set(rollout)
    assert "no_value_error" not in rollout and "wrong_error" not in rollout
    assert {"no_value_error", "wrong_error", "float32_result"} <= {m for m, _ in case_mistakes("vit_forward")}
    assert all(hint for _, hint in case_mistakes("block_backward"))


def _off(value):
    """``value`` (an array, or a tuple or dict of them) moved off its expected entries."""
    if isinstance(value, tuple):
        return tuple(_off(v) for v in value)
    if isinstance(value, dict):
        return {k: _off(v) for k, v in value.items()}
    return (value * 1.01 + 0.3).astype(value.dtype)


def _entries(value) -> list[float]:
    """The first entries of every array in ``value`` (an array, or a tuple or dict of them)."""
    if isinstance(value, tuple | dict):
        return [v for item in (value.values() if isinstance(value, dict) else value) for v in _entries(item)]
    return [float(v) for v in np.ravel(value)[:50]]


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_hidden_tests_feedback_shows_no_number_made_from_the_expected_values(name):
    """A largest difference or an expected entry in the feedback of a hidden test would let repeated submissions
    home in on the hidden answers; the hidden tests' messages and hint say how many entries are off, and the
    public tests (the self-check) show the numbers."""
    for kind, cases_of in (("hidden", hidden.cases), ("public", public_cases)):
        answers = answers_for(EXERCISES[name], kind, cases_of)
        expected = answers.expected()
        wrong = {i: _off(e) for i, e in enumerate(expected) if e is not None}
        results = [judge(answers.exercise, c, _outcome(wrong.get(i, expected[i])), expected[i], answers, i)
                   for i, c in enumerate(answers.cases) if i in wrong]
        hint, _ = diagnose([c for i, c in enumerate(answers.cases) if i in wrong], results)
        text = " ".join(r.message for r in results) + " " + hint
        assert not any(r.passed for r in results)
        if kind == "public":
            assert "largest |difference|" in text and "expected " in text
            continue
        assert "largest" not in text and "got " not in text, text[:500]
        assert "off by more than the tolerance" in text
        entries = [v for e in expected if e is not None for v in _entries(e)]
        shown = [f"{v:.4g}" for v in entries]  # entries of four significant digits, not round numbers
        assert not [v for v in shown if len(v.lstrip("-0.").replace(".", "")) == 4 and v in text], text[:500]


def test_the_overlapping_windows_hint_reads_only_numpys_and_torchs_shape_errors():
    """Windows that overlap give more tokens than positions: numpy's or torch's error names both counts.  The
    numbers of a learner's own message are no shapes (a message carrying digits once drew this hint)."""
    recognise = MISTAKES["stride_not_patch"].recognise_error
    case = next(c for c in hidden.cases("vit_forward") if not c.expect_error)
    image, P = case.args[1], case.args[2]
    N = (image.shape[0] // P) * (image.shape[1] // P)
    windows = ((image.shape[0] - P) + 1) * ((image.shape[1] - P) + 1)  # stride 1
    assert recognise(case, f"operands could not be broadcast together with shapes (2,{windows},8) ({N},8) ")
    assert recognise(case, f"The size of tensor a ({windows + 1}) must match the size of tensor b ({N + 1}) at "
                           f"non-singleton dimension 1")
    assert not recognise(case, f"@@{windows}|{N}|0123456789@@")
    assert not recognise(case, f"expected {N} tokens, got {windows}")
