"""The learner's self-check, per exercise, as a learner runs it from the shell, against the target of 5 s.

    python benchmarks/self_check.py [--rounds 3]

Each round runs ``python -m vit_lessons.grading check NAME`` in a fresh process (Python's start, the
imports, the public cases' expected values, the learner's process and its cases: all a learner waits
for) on a copy of the reference solutions, every exercise in turn, so that a busy machine slows them
alike.  Printed per exercise: the median seconds over rounds, the slowest round, and the median's share
of the 5 s target; then the load average.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vit_lessons.grade import REPO  # noqa: E402
from vit_lessons.grading.registry import EXERCISES  # noqa: E402

TARGET_SECONDS = 5.0


def one_check(folder: Path, name: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grading", "check", name], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0 and "Well done" in proc.stdout, (name, proc.stdout[-500:], proc.stderr[-500:])
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="self_check_") as tmp:
        shutil.copytree(REPO / "solutions", Path(tmp) / "exercises")
        rounds = [{name: one_check(Path(tmp), name) for name in EXERCISES} for _ in range(args.rounds)]
    print(f"{'exercise':<22} {'median':>8} {'slowest':>8} {'of target':>10}")
    for name in EXERCISES:
        times = [r[name] for r in rounds]
        median = statistics.median(times)
        print(f"{name:<22} {median:>7.2f}s {max(times):>7.2f}s {median / TARGET_SECONDS:>9.2f}x")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
