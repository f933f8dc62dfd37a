"""What the grader's sandbox costs per exercise: the complete reference solution graded with no
operating-system layer, with the unprivileged user, with bubblewrap, and with both, side by side.

    python benchmarks/sandbox_cost.py [--rounds 3]      # as root, with bubblewrap installed

Every round grades each exercise once under each configuration, the configurations in turn (so that
a busy machine slows them alike), one exercise at a time (``jobs=1``).  Printed per configuration: the
median over rounds of the time for the ten exercises, the mean per exercise, the median of the
per-round ratios to the configuration without layers, and the extra seconds per exercise.  The target
is the README's: grading the complete reference solution in under 10 s (two exercises at a time).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vit_lessons.grade import REPO, grade, secrets  # noqa: E402
from vit_lessons.grading.registry import EXERCISES  # noqa: E402
from vit_lessons.grading.sandbox import Sandbox  # noqa: E402

CONFIGS = ("none", "user", "bwrap", "user,bwrap")


def one_round(boxes: dict) -> dict:
    seconds = {}
    for config, box in boxes.items():
        start = time.perf_counter()
        for name in EXERCISES:
            [result] = grade(REPO / "solutions", only=[name], sandbox=box, jobs=1)
            assert result.passed, (config, name, result.verdict)
        seconds[config] = time.perf_counter() - start
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    boxes = {c: Sandbox.create(c, unsafe=True, slots=1, secrets=secrets(REPO / "solutions")) for c in CONFIGS}
    try:
        rounds = [one_round(boxes) for _ in range(args.rounds)]
    finally:
        for box in boxes.values():
            box.close()
    n = len(EXERCISES)
    print(f"{'layers':<12} {'10 exercises':>13} {'per exercise':>13} {'ratio':>7} {'extra/exercise':>15}")
    base = statistics.median(r["none"] for r in rounds)
    for config in CONFIGS:
        total = statistics.median(r[config] for r in rounds)
        ratio = statistics.median(r[config] / r["none"] for r in rounds)
        print(f"{config:<12} {total:>12.2f}s {total / n:>12.3f}s {ratio:>6.2f}x {(total - base) / n:>+14.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
