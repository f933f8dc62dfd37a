"""How the learner's process reports to the grader: frames on one pipe, read back as hostile input.

A frame is a 4-byte big-endian length, a UTF-8 JSON header of that length (at most ``MAX_HEADER``
bytes), then the raw bytes (C order) of the arrays the header declares::

    {"kind": "started", "case": i}
    {"kind": "result", "case": i, "record": RECORD, "arrays": [{"dtype": "<f4", "shape": [4]}, ...]}
    {"kind": "import_error", "record": ERROR}
    {"kind": "refused", "record": {"t": "refused", "error": str | None, "violations": [str]}}

RECORD is ``{"t": "value", "value": TREE, "mutated": [names]}`` or an ERROR, ``{"t": "error", "type": str,
"message": str, "where": [str], "mutated": [names]}``; TREE is ``{"t": "none"}``, ``{"t": "array", "key":
index into arrays}`` (with ``"sent": dtype`` when the learner's array had a dtype the protocol does not
carry, e.g. float128, sent as float64), ``{"t": "tuple"|"list", "items": [TREE]}``, ``{"t": "dict",
"items": {str: TREE}}``, ``{"t": "scalar", "type": str, "repr": str}`` or ``{"t": "other", "type": str}``.

:func:`send` runs in the learner's process (this file is copied beside the child script and imports only
the standard library and numpy).  :func:`parse` runs in the grader and trusts nothing: every length, dtype,
shape and string is checked, the JSON's depth and size are bounded, and the arrays together may not exceed
the byte budget, before any array is built.  No pickle, no zip: nothing can expand or execute.
"""

from __future__ import annotations

import json
import os
import struct

MAX_HEADER = 64 * 1024
MAX_ARRAYS = 64
MAX_NDIM = 8
MAX_NODES = 2000
MAX_DEPTH = 8
MAX_TEXT = 400
#: little-endian or byte-order-free numeric dtypes only: no objects, strings, structures or void
DTYPES = ("|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16")
ITEMSIZE = {d: int(d[2:]) if d[1] in "iufc" else 1 for d in DTYPES}


#: control characters (but newline and tab) become "?": the learner's text reaches the instructor's terminal
UNPRINTABLE = dict.fromkeys([*range(0, 9), *range(11, 32), *range(127, 160)], "?")


class ProtocolError(ValueError):
    """What the learner's process wrote does not follow this protocol (the message says where)."""


# ---- the learner's side ------------------------------------------------------------------------------------
def send(fd: int, header: dict, arrays: list | tuple = ()) -> None:
    """Write one frame to ``fd``: ``header`` plus the declared ``arrays`` (numpy arrays, C-contiguous)."""
    header = dict(header, arrays=[{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays])
    raw = json.dumps(header, separators=(",", ":")).encode()
    data = b"".join([struct.pack(">I", len(raw)), raw, *(a.tobytes() for a in arrays)])
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---- the grader's side -------------------------------------------------------------------------------------
#: the length a learner's line of code (an error's location) is cut to
WHERE = 160


def _code(value, limit: int) -> str:
    """A location "file, line n, in f: code", cut after a token with "…" (see :func:`shorten`)."""
    return shorten(_text(value), limit)
_CONVERTED: list = []


def converted_class() -> type:
    """``Converted``, a numpy array subclass for the arrays the learner's process sent in another dtype than
    their own (``sent_dtype``); made on first use, as this module must import without numpy."""
    if not _CONVERTED:
        import numpy as np

        class Converted(np.ndarray):
            sent_dtype = ""

        _CONVERTED.append(Converted)
    return _CONVERTED[0]


def _text(value, limit: int = MAX_TEXT) -> str:
    """``value`` cut to ``limit`` characters, printable: no lone surrogates, no terminal escapes."""
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type(value).__name__}")
    return value[:limit].encode("utf-8", "replace").decode("utf-8").translate(UNPRINTABLE)


#: where a line of code may be cut: after a token
BREAKS = " .,;:()[]{}+-*/=@<>!&|%"


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: when longer, cut after its last token boundary (a space or
    an operator) that fits, and "…" added, so that a cut line of code does not read as a syntax error."""
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    cut = max(head.rfind(c) for c in BREAKS)
    if cut >= limit // 2:
        head = head[:cut + 1]
    return head.rstrip() + "…"


def _strings(value, count: int, limit: int = 100, cut=_text) -> list[str]:
    if not isinstance(value, list) or len(value) > count:
        raise ProtocolError(f"expected a list of at most {count} strings")
    return [cut(v, limit) for v in value]


def _tree(node, n_arrays: int, budget: list[int], depth: int = 0) -> dict:
    """``node`` checked against the TREE schema (and copied, keeping only known fields)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise ProtocolError("the output description is too large or too deeply nested")
    if not isinstance(node, dict):
        raise ProtocolError("an output node is not an object")
    kind = node.get("t")
    if kind == "none":
        return {"t": "none"}
    if kind == "array":
        key = node.get("key")
        if type(key) is not int or not 0 <= key < n_arrays:
            raise ProtocolError(f"an output refers to array {key!r}, which the frame does not declare")
        return {"t": "array", "key": key, **({"sent": _text(node["sent"], 20)} if "sent" in node else {})}
    if kind in ("tuple", "list"):
        items = node.get("items")
        if not isinstance(items, list):
            raise ProtocolError(f"a {kind} has no list of items")
        return {"t": kind, "items": [_tree(v, n_arrays, budget, depth + 1) for v in items]}
    if kind == "dict":
        items = node.get("items")
        if not isinstance(items, dict):
            raise ProtocolError("a dict has no object of items")
        return {"t": "dict", "items": {_text(k, 100): _tree(v, n_arrays, budget, depth + 1) for k, v in items.items()}}
    if kind == "scalar":
        return {"t": "scalar", "type": _text(node.get("type"), 20), "repr": _text(node.get("repr"), 50)}
    if kind == "other":
        return {"t": "other", "type": _text(node.get("type"), 200)}
    raise ProtocolError(f"unknown output node type {str(kind)[:20]!r}")


def _record(record, n_arrays: int) -> dict:
    """A RECORD or an ERROR, checked and copied."""
    if not isinstance(record, dict):
        raise ProtocolError("the record is not an object")
    mutated = _strings(record.get("mutated", []), 10)
    if record.get("t") == "error":
        return {"t": "error", "type": _text(record.get("type"), 100), "message": _text(record.get("message")),
                "where": _strings(record.get("where", []), 3, WHERE, _code), "mutated": mutated}
    if record.get("t") == "value":
        return {"t": "value", "value": _tree(record.get("value"), n_arrays, [MAX_NODES]), "mutated": mutated}
    raise ProtocolError("the record is neither a value nor an error")


def _refusal(record) -> dict:
    """A refusal of the forbidden-call reading, checked and copied."""
    if not isinstance(record, dict) or record.get("t") != "refused":
        raise ProtocolError("a refusal record is malformed")
    error = record.get("error")
    return {"t": "refused", "error": None if error is None else _text(error),
            "violations": _strings(record.get("violations", []), 50, MAX_TEXT)}


def _array_specs(specs) -> list[tuple[str, tuple[int, ...], int]]:
    """(dtype, shape, nbytes) of each declared array, checked before any byte is read."""
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ProtocolError(f"a frame declares more than {MAX_ARRAYS} arrays, or no list of them")
    out = []
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
            raise ProtocolError(f"an array of dtype {str(spec.get('dtype') if isinstance(spec, dict) else spec)[:20]!r}"
                                f": expected one of {', '.join(DTYPES)}")
        shape = spec.get("shape")
        if not isinstance(shape, list) or len(shape) > MAX_NDIM or \
                any(type(n) is not int or not 0 <= n < 1 << 40 for n in shape):
            raise ProtocolError("an array's shape is not a list of at most 8 non-negative integers")
        count = 1
        for n in shape:
            count *= n
        out.append((spec["dtype"], tuple(shape), count * ITEMSIZE[spec["dtype"]]))
    return out


def _mark_converted(record, arrays: list) -> None:
    """Give the arrays that the learner's process converted (``"sent"`` in their node) the attribute
    ``sent_dtype`` (the learner's dtype, e.g. "float128"), as a view of class :func:`converted_class`."""
    nodes = [record.get("value")] if record and record.get("t") == "value" else []
    while nodes:
        node = nodes.pop()
        if node["t"] == "array" and "sent" in node:
            view = arrays[node["key"]].view(converted_class())
            view.sent_dtype = node["sent"]
            arrays[node["key"]] = view
        elif node["t"] in ("tuple", "list"):
            nodes += node["items"]
        elif node["t"] == "dict":
            nodes += node["items"].values()


def parse(data: bytes, max_bytes: int) -> list[dict]:
    """The frames in ``data`` (what the learner's process wrote), as dicts with "kind", "case", "record"
    and "arrays" (numpy arrays).  Raises ProtocolError at the first frame that is malformed or that would
    take the arrays' total past ``max_bytes``; the frames before it are in the exception's ``frames``."""
    import numpy as np

    frames, pos, total = [], 0, 0
    try:
        while pos < len(data):
            if len(data) - pos < 4:
                raise ProtocolError("the output ends inside a frame's length")
            (size,) = struct.unpack_from(">I", data, pos)
            if size > MAX_HEADER or pos + 4 + size > len(data):
                raise ProtocolError(f"a frame header of {size} bytes (at most {MAX_HEADER}, and within the output)")
            try:
                header = json.loads(data[pos + 4:pos + 4 + size].decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise ProtocolError(f"a frame header is not JSON ({type(exc).__name__})") from None
            pos += 4 + size
            if not isinstance(header, dict) or header.get("kind") not in ("started", "result", "import_error",
                                                                          "refused"):
                raise ProtocolError("a frame header is not an object of a known kind")
            case = header.get("case")
            if header["kind"] in ("started", "result") and (type(case) is not int or not 0 <= case < 100_000):
                raise ProtocolError("a frame names no valid case number")
            specs = _array_specs(header.get("arrays", []))
            size = sum(n for _, _, n in specs)
            total += size
            if total > max_bytes or pos + size > len(data):
                raise ProtocolError(f"the arrays returned take more than {max_bytes} bytes, or fewer than declared")
            arrays = []
            for dtype, shape, nbytes in specs:
                arrays.append(np.frombuffer(data, dtype=dtype, count=nbytes // ITEMSIZE[dtype], offset=pos)
                              .reshape(shape).copy())
                pos += nbytes
            record = None if header["kind"] == "started" else _refusal(header.get("record")) \
                if header["kind"] == "refused" else _record(header.get("record"), len(arrays))
            _mark_converted(record, arrays)
            frames.append({"kind": header["kind"], "case": case, "record": record, "arrays": arrays})
    except ProtocolError as exc:
        exc.frames = frames
        raise
    return frames
