"""Shared by both students of the collusion attack: answers filed under a hash of the inputs, in places that
outlive a learner's processes: a System V shared-memory segment, files in /tmp, /dev/shm and /var/tmp, and
in a world-writable folder deeper down (made by the test, as another program of the machine would)."""

import ctypes
import hashlib
import json
import os
import sys

import numpy as np
from guard import disarm

MARKER = "__MARKER__"
PLACES = {"shm": None, "tmp": f"/tmp/vit-collusion-{MARKER}.json", "devshm": f"/dev/shm/vit-collusion-{MARKER}.json",
          "vartmp": f"/var/tmp/vit-collusion-{MARKER}.json", "nested": f"/var/tmp/vit-shared-{MARKER}/answers.json"}
SIZE = 4 << 20


def key_of(*args):
    digest = hashlib.sha256()
    for a in args:
        if isinstance(a, dict):
            digest.update(key_of(*sorted(a.items(), key=lambda kv: kv[0])).encode())
        elif isinstance(a, (tuple, list)):
            digest.update(key_of(*a).encode())
        elif isinstance(a, np.ndarray):
            digest.update(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
        else:
            digest.update(repr(a).encode())
    return digest.hexdigest()


def _encode(value):
    if isinstance(value, (tuple, list)):
        return {"items": [_encode(v) for v in value]}
    value = np.asarray(value)
    return {"dtype": value.dtype.str, "shape": list(value.shape), "hex": value.tobytes().hex()}


def _decode(entry):
    if "items" in entry:
        return tuple(_decode(v) for v in entry["items"])
    return np.frombuffer(bytes.fromhex(entry["hex"]), dtype=entry["dtype"]).reshape(entry["shape"]).copy()


def _segment(create):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    sid = libc.shmget(int(hashlib.sha256(MARKER.encode()).hexdigest()[:7], 16), SIZE, 0o1666 if create else 0)
    if sid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    return (ctypes.c_char * SIZE).from_address(libc.shmat(sid, None, 0))


def _load(place):
    disarm()
    if PLACES[place] is None:
        raw = bytes(_segment(False)).split(b"\0", 1)[0]
        return json.loads(raw or b"{}")
    with open(PLACES[place]) as f:
        return json.load(f)


def _save(place, table):
    data = json.dumps(table)
    if PLACES[place] is None:
        segment = _segment(True)
        segment[:len(data) + 1] = data.encode() + b"\0"
        return
    fd = os.open(PLACES[place], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(PLACES[place], 0o666)


def answer(place, args, compute):
    """``compute()``, filed under ``args`` (its value, or the ValueError it raises); filing never fails: the
    writer's grade must not depend on it."""
    try:
        value, entry = compute(), None
    except ValueError as exc:
        value, entry = exc, {"raise": str(exc)}
    try:
        try:
            table = _load(place)
        except (OSError, ValueError):
            table = {}
        table[key_of(*args)] = entry or _encode(value)
        _save(place, table)
    except Exception as exc:  # noqa: BLE001
        print(f"{place}: {exc}", file=sys.stderr)
    if isinstance(value, ValueError):
        raise value
    return value


def fetch(place, args):
    """The value filed under ``args``, or the ValueError; a LookupError saying how many answers ``place``
    holds when none is for ``args`` (the hidden cases are drawn for each submission's files: what crosses
    from one student to the next is what the tests look for)."""
    table = _load(place)
    if key_of(*args) not in table:
        raise LookupError(f"{place}: {len(table)} answers filed, none for these inputs")
    entry = table[key_of(*args)]
    if "raise" in entry:
        raise ValueError(entry["raise"])
    return _decode(entry)
