"""Shared by the attacks on the results pipe: its descriptor, and frames written by hand."""

import json
import os
import struct
import sys

FD = int(sys.argv[3])


def frame(header: bytes, payload: bytes = b"") -> None:
    os.write(FD, struct.pack(">I", len(header)) + header + payload)


def result(case: int, value: dict, arrays=(), payload: bytes = b"") -> None:
    header = {"kind": "result", "case": case, "record": {"t": "value", "value": value, "mutated": []},
              "arrays": list(arrays)}
    frame(json.dumps(header).encode(), payload)
