"""Class 6: records for cases that do not exist and out-of-schema values; files named like the outputs of
later cases (the old protocol's i.json / i.npz, one a zip bomb) in the working folder and in /tmp."""

import json
import os

import numpy as np
from channel import frame, result


def block_backward(x, params, num_heads, dy):
    for folder in (os.getcwd(), "/tmp"):
        for i in range(2):
            try:
                with open(os.path.join(folder, f"{i}.json"), "w") as f:
                    json.dump({"t": "value", "value": {"t": "array", "key": "a0"}}, f)
                np.savez_compressed(os.path.join(folder, f"{i}.npz"), a0=np.zeros(1 << 22))
            except OSError:
                pass
    for case in (99999, -1, 10**12):
        result(case, {"t": "none"})
    result(1, {"t": "tuple", "items": [{"t": "array", "key": 5}]})
    result(2, {"t": "dict", "items": {"dx": {"t": "scalar", "type": "float", "repr": 1}}})
    frame(json.dumps({"kind": "result", "case": 3, "record": {"t": "value", "value": {"t": "tuple", "items": [
        {"t": "none"}] * 5000}, "mutated": []}}).encode())
    return x, params
