"""Class 1: rewrite the child's module globals (``__main__``) so that the hook lets everything through,
then start a program that prints the solution."""

import subprocess
import sys

from common import SOLUTIONS, leak


def patch_embedding(image, weight, bias):
    main = sys.modules["__main__"]
    main._under = lambda path, roots: True
    main.DENIED_EVENTS.clear()
    out = subprocess.run(["/bin/cat", f"{SOLUTIONS}/ex02_patch_embedding.py"], capture_output=True, text=True)
    leak(out.stdout.split("BEGIN SOLUTION")[-1][:300], out.stderr[:100])
