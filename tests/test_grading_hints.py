"""Hints that are right or silent, numbers that show their difference, cases that vary their axes alike.

Every known mistake of every exercise, fed to the judge as the oracle's own output of that mistake on
every case (no sandbox: the explanation alone is tested), is named, and every other name the hint gives
is a mistake that reproduces the same failures; a mistake that explains only some failing cases is
given with its count; nothing known is named when nothing known explains the failures.
"""

import numpy as np
import pytest

from vit_lessons.grading import hidden
from vit_lessons.grading.diagnostics import compare, pair
from vit_lessons.grading.engine import Answers, CaseResult, Raised, answers_for, diagnose, judge
from vit_lessons.grading.mistakes import describe, hint
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
    results = [_result(True), _result(True), _result(False), _result(True)]  # batched AND float64
    text, named = diagnose(cases, results)
    assert named == ["batch=batched&dtype=float64"] and "with a batch axis and in float64" in text


def test_numbers_are_printed_with_the_digits_their_difference_needs():
    assert pair(-0.4328631, -0.4328627) == ("-0.4328631", "-0.4328627")
    assert pair(-0.43286312, -0.43286319) == ("-0.43286312", "-0.43286319")
    assert pair(1.5, 2.0) == ("1.5", "2")
    assert pair(3.0, 3.0) == ("3", "3")
    g, e = pair(0.1 + 1e-13, 0.1)
    assert g != e
    expected = np.array([-0.432862700000001, 1.0])
    ok, message, problem = compare(expected.astype(np.float32), expected)
    assert not ok and problem == "float32_result" and "float32 result for a float64 input" in message
    ok, message, problem = compare(expected + np.array([4e-7, 0.0]), expected)
    assert not ok and "got -0.4328623, expected -0.4328627" in message and problem == "float32_precision"


def test_a_float64_result_with_the_digits_of_float32_is_told_apart_from_a_mistake():
    from vit_lessons.grading.registry import exercise

    ex = exercise("encoder_block")
    answers = answers_for(ex, "public", public_cases)
    i = next(i for i, c in enumerate(answers.cases) if c.meta.get("dtype") == "float64")
    expected = answers.expected()[i]
    case = answers.cases[i]
    rounded = judge(ex, case, Outcome("value", value=expected.astype(np.float32).astype(np.float64)), expected,
                    answers, i)
    assert not rounded.passed and rounded.explained == {"float32_precision"}
    assert "the digits of a float32 computation" in rounded.message
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
    for cases in (public, secret):  # no property's cases are exactly another's (a hint could not tell them)
        groups = {}
        for i, c in enumerate(cases):
            for item in c.meta.items():
                groups.setdefault(item, set()).add(i)
        seen = {}
        for item, members in groups.items():
            assert frozenset(members) not in seen, (name, item, seen.get(frozenset(members)))
            seen[frozenset(members)] = item
    assert len(secret) > len(public)  # other values, and more of them


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_hidden_cases_are_other_values_than_the_public_ones(name):
    def arrays(cases):
        return [a.tobytes() for c in cases for a in c.args if isinstance(a, np.ndarray)]

    assert not set(arrays(public_cases(name))) & set(arrays(hidden.cases(name)))
    assert [c.label for c in hidden.cases(name)] == [c.label for c in hidden.cases(name)]  # fixed: the same grades


def test_the_case_level_mistakes_listed_for_an_exercise_are_those_its_tests_allow():
    """Chapters list them from ``case_mistakes``: the float32 ones only where a test passes float64 inputs,
    the ValueError ones only where a test must raise, the rest everywhere."""
    from vit_lessons.grading import case_mistakes

    rollout = [m for m, _ in case_mistakes("rollout")]
    assert {"returns_none", "not_an_array", "integer_output", "mutates_input", "float32_result"} <= set(rollout)
    assert "no_value_error" not in rollout and "wrong_error" not in rollout
    assert {"no_value_error", "wrong_error", "float32_result"} <= {m for m, _ in case_mistakes("vit_forward")}
    assert all(hint for _, hint in case_mistakes("block_backward"))
