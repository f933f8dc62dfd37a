"""Write the learner's stubs in ``exercises/`` from the reference solutions in ``solutions/``.

A solution marks what the learner writes, nbgrader-style::

    # BEGIN SOLUTION hint: one sentence that helps
    ...the reference code...
    # END SOLUTION

In the stub the block becomes ``raise NotImplementedError("Exercise N: <hint>")`` at the block's
indentation; a block whose BEGIN line has no hint (e.g. imports only the solution needs) is dropped.
Everything outside the markers (signatures, docstrings, allowed imports) is copied, so stubs and
solutions cannot drift: ``test_stubs_are_generated_from_the_solutions`` in ``tests/test_grading.py``
checks that ``exercises/`` is exactly what this module writes.

    python -m vit_lessons.grading.make_stubs [--solutions DIR] [--exercises DIR] [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*\S))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
REPO = Path(__file__).resolve().parents[2]


def stub_source(solution: str, label: str) -> str:
    """The stub text of one solution file.  ``label`` (e.g. "Exercise 7") prefixes every hint."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(solution.splitlines(), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside a solution block")
            inside = True
            if begin["hint"]:
                hint = f"{label}: {begin['hint']}".replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'{begin["indent"]}raise NotImplementedError(')
                out.append(f'{begin["indent"]}    "{hint}")')
        elif END.match(line):
            if not inside:
                raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a BEGIN SOLUTION block is not closed by END SOLUTION")
    text = "\n".join(out) + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)  # dropping a block must not leave extra blank lines


def stubs(solutions_dir: Path) -> dict[str, str]:
    """File name -> stub text for every ``exNN_*.py`` in ``solutions_dir``."""
    result = {}
    for path in sorted(Path(solutions_dir).glob("ex[0-9][0-9]_*.py")):
        result[path.name] = stub_source(path.read_text(), f"Exercise {int(path.name[2:4])}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, default=REPO / "solutions")
    parser.add_argument("--exercises", type=Path, default=REPO / "exercises")
    parser.add_argument("--check", action="store_true", help="only report stubs that differ; exit 1 if any")
    args = parser.parse_args(argv)
    differ = []
    for name, text in stubs(args.solutions).items():
        target = args.exercises / name
        if target.exists() and target.read_text() == text:
            continue
        differ.append(name)
        if not args.check:
            target.write_text(text)
    verb = "differ" if args.check else "written"
    print(f"{len(differ)} stub(s) {verb}: {', '.join(differ) or '-'}")
    return 1 if (args.check and differ) else 0


if __name__ == "__main__":
    sys.exit(main())
