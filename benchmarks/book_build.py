"""How long the book takes to build: a clean build (no `_build`, so no execution cache) and a rebuild
with nothing changed, each with the README's command.  Targets: <= 180 s and <= 30 s.

    python benchmarks/book_build.py [--in-place]

By default the book is built in a fresh temporary copy of the repository's files (those git tracks
plus new ones it does not ignore), so the working tree's `_build` is left alone; `--in-place`
deletes and rebuilds the repository's own `_build`.  Every chapter is executed in the clean build
(`execute_notebooks: cache` with an empty cache); the rebuild must execute none.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"clean build": 180.0, "rebuild, nothing changed": 30.0}


def build(root: Path) -> tuple[float, str]:
    """Run `jupyter-book build ROOT --warningiserror --keep-going`; return (seconds, log)."""
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
               "--warningiserror", "--keep-going"]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = run.stdout + run.stderr
    if run.returncode != 0 or "Finished generating HTML for book" not in log:
        sys.exit(f"the build failed (exit {run.returncode}):\n{log[-4000:]}")
    return seconds, log


def copy_of_repository(destination: Path) -> Path:
    """The repository's tracked and new (not ignored) files, copied under ``destination``."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-place", action="store_true", help="rebuild the repository's own _build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="book-build-") as tmp:
        root = REPO if args.in_place else copy_of_repository(Path(tmp) / "repo")
        shutil.rmtree(root / "_build", ignore_errors=True)
        clean, clean_log = build(root)
        again, again_log = build(root)
    executed = clean_log.count("Executed notebook in")
    re_executed = again_log.count("Executed notebook in")
    print(f"book build on {root if args.in_place else 'a fresh copy of the repository'}")
    for (name, target), seconds, note in zip(TARGETS.items(), (clean, again),
                                             (f"{executed} pages executed", f"{re_executed} executed"), strict=True):
        verdict = "ok" if seconds <= target else "OVER TARGET"
        print(f"  {name:<26}{seconds:7.1f} s   target <= {target:5.0f} s   {verdict:<12}({note})")
    print(f"  rebuild / clean build     {again / clean:7.2f}")
    if re_executed:
        sys.exit("the rebuild executed notebooks again: the execution cache did not hold")


if __name__ == "__main__":
    main()
