"""The results pipe's reader trusts nothing: every malformed frame is refused before an array is built."""

import json
import struct

import numpy as np
import pytest

from vit_lessons.grading import protocol


def frame(header, payload=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", len(raw)) + raw + payload


def result(case=0, value=None, arrays=(), payload=b""):
    return frame({"kind": "result", "case": case, "arrays": list(arrays),
                  "record": {"t": "value", "value": value or {"t": "none"}, "mutated": []}}, payload)


def test_a_well_formed_exchange_round_trips(tmp_path):
    import os

    r, w = os.pipe()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    protocol.send(w, {"kind": "started", "case": 0})
    protocol.send(w, {"kind": "result", "case": 0, "record": {"t": "value", "mutated": [], "value": {
        "t": "tuple", "items": [{"t": "array", "key": 0}, {"t": "scalar", "type": "float", "repr": "1.5"}]}}}, [a])
    os.close(w)
    data = os.read(r, 1 << 20)
    frames = protocol.parse(data, 1 << 20)
    assert [f["kind"] for f in frames] == ["started", "result"]
    np.testing.assert_array_equal(frames[1]["arrays"][0], a)
    assert frames[1]["record"]["value"]["items"][1] == {"t": "scalar", "type": "float", "repr": "1.5"}


MALFORMED = {
    "garbage": b"\xff\xfe garbage",
    "truncated length": b"\x00\x00",
    "header longer than the data": struct.pack(">I", 100) + b"{}",
    "header over 64 kB": struct.pack(">I", 1 << 20) + b"{" * (1 << 20),
    "not UTF-8": frame(b'{"kind": "started", "case": 0, "x": "\xff\xfe"}'),
    "nested 30 000 deep": frame(b"[" * 30000 + b"]" * 30000),
    "unknown kind": frame({"kind": "score", "case": 0}),
    "negative case": frame({"kind": "started", "case": -1}),
    "case not an int": frame({"kind": "started", "case": "0"}),
    "object dtype": result(arrays=[{"dtype": "|O", "shape": [2]}], payload=b"\0" * 16),
    "big-endian dtype": result(arrays=[{"dtype": ">f4", "shape": [1]}], payload=b"\0" * 4),
    "lying shape (2**39 float64)": result(arrays=[{"dtype": "<f8", "shape": [1 << 39]}], payload=b"\0" * 64),
    "negative dimension": result(arrays=[{"dtype": "<f4", "shape": [-1]}]),
    "nine dimensions": result(arrays=[{"dtype": "<f4", "shape": [1] * 9}], payload=b"\0" * 4),
    "fewer bytes than declared": result(arrays=[{"dtype": "<f4", "shape": [4]}], payload=b"\0" * 8),
    "array not declared": result(value={"t": "array", "key": 3}),
    "unknown node": result(value={"t": "pickle", "data": "..."}),
    "value tree too deep": result(value=json.loads('{"t": "list", "items": [' * 20 + '{"t": "none"}' + "]}" * 20)),
    "too many nodes": result(value={"t": "list", "items": [{"t": "none"}] * 5000}),
    "scalar text not a string": result(value={"t": "scalar", "type": "float", "repr": 1}),
    "error record without strings": frame({"kind": "import_error", "record": {"t": "error", "type": 1}}),
    "record neither value nor error": frame({"kind": "result", "case": 0, "record": {"t": "exit"}}),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_frames_are_refused(data):
    good = frame({"kind": "started", "case": 0})
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse(good + data, 1 << 20)
    assert [f["kind"] for f in info.value.frames] == ["started"]  # what came before is kept


def test_the_byte_budget_is_checked_before_any_array_is_built():
    payload = np.zeros(1000, np.float64).tobytes()
    data = result(arrays=[{"dtype": "<f8", "shape": [1000]}], payload=payload)
    assert protocol.parse(data, 8000)[0]["arrays"][0].shape == (1000,)
    with pytest.raises(protocol.ProtocolError, match="more than 7999 bytes"):
        protocol.parse(data, 7999)
    with pytest.raises(protocol.ProtocolError, match="more than"):
        protocol.parse(data * 3, 20_000)  # the budget is for all the frames together


def test_learner_text_arrives_printable():
    """Lone surrogates and terminal escapes in an error message are replaced, not passed to the terminal."""
    record = {"t": "error", "type": "ValueError", "message": "\udcff \x1b[2J\x1b[31mred\x07 é\nnext", "where": []}
    [got] = protocol.parse(frame({"kind": "import_error", "record": record}), 1 << 10)
    assert got["record"]["message"] == "? ?[2J?[31mred? é\nnext"


def _child_module():
    import importlib.util
    from pathlib import Path

    path = Path(protocol.__file__).with_name("_child.py")
    spec = importlib.util.spec_from_file_location("_vit_child_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ODD_RESULTS = {
    "float128": lambda: np.arange(4, dtype=np.longdouble) / 3,
    "complex256": lambda: np.arange(4, dtype=np.clongdouble) * 1j,
    "big-endian float32": lambda: np.arange(4, dtype=">f4"),
    "70 arrays": lambda: [np.zeros(2)] * 70,
    "11 dimensions": lambda: np.zeros((1,) * 11),
    "27 000 numbers in lists": lambda: [[[0.5] * 30] * 30] * 30,
    "150 arrays in a dict with long keys": lambda: {"k" * 90 + str(i): np.zeros(1) for i in range(150)},
    "3 000 None": lambda: [[None] * 100] * 30,
    "a 0-d array": lambda: np.array(2.5, dtype=np.float32),
}


@pytest.mark.parametrize("name", sorted(ODD_RESULTS))
def test_the_learner_s_side_never_writes_a_frame_the_grader_refuses(name):
    """Whatever a function returns, the child's frame parses: converted (float128 as float64, said so) or
    described ("too large to send"), never malformed, which would cost every test of the exercise."""
    import os
    from types import SimpleNamespace

    child = _child_module()
    module = SimpleNamespace(__name__="ex", f=ODD_RESULTS[name])
    case = {"func": "f", "args": {"t": "tuple", "items": []}, "arg_names": []}
    record, arrays = child.run_case(module, case, [], "/nonexistent", child.Sent(protocol, [0]))
    r, w = os.pipe()
    protocol.send(w, {"kind": "result", "case": 0, "record": record}, arrays)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 20):
        data += chunk
    os.close(r)
    [frame] = protocol.parse(data, 64 << 20)
    if name in ("float128", "complex256"):
        sent = frame["arrays"][0]
        assert sent.sent_dtype == str(ODD_RESULTS[name]().dtype) and sent.dtype in (np.float64, np.complex128)
        np.testing.assert_allclose(sent, ODD_RESULTS[name]().astype(sent.dtype))
    if name == "a 0-d array":  # its shape arrives as it is: () is not the (1,) a docstring may ask for
        assert frame["arrays"][0].shape == () and frame["arrays"][0] == 2.5


def test_the_feedback_shows_whole_tests_within_its_length_limit():
    """Gradescope's output of an exercise is cut at MAX_OUTPUT characters: at a test's end, saying which tests
    are left out, never in the middle of a message."""
    from vit_lessons.grading.engine import CaseResult, ExerciseResult
    from vit_lessons.grading.gradescope import MAX_OUTPUT, test_output
    from vit_lessons.grading.registry import EXERCISES

    message = "raised PermissionError: torch's aten::conv2d is not allowed in exercise 2: write it yourself " * 2
    cases = [CaseResult(f"image (8, 8, 3) float32, patch {i}", False, message) for i in range(60)]
    result = ExerciseResult(EXERCISES["patch_embedding"], 0.0, 10.0, "0 of 60 tests passed", cases, hint="A hint.")
    out = test_output(result)
    assert len(out) <= MAX_OUTPUT and out.startswith("0 of 60 tests passed\nHint: A hint.\n")
    shown = out.count("FAIL test")
    assert 0 < shown < 60 and out.endswith(f"(tests {shown + 1}-60 not shown: the feedback's length limit)")
    assert out.count(message.strip()) == shown
    short = ExerciseResult(EXERCISES["patch_embedding"], 0.0, 10.0, "0 of 2 tests passed", cases[:2])
    assert "not shown" not in test_output(short) and test_output(short).count(message.strip()) == 2
