"""Prepare a machine for grading as root: ``python -m vit_lessons.grading.provision [--slots N]``.

What the grader also does by itself when it runs (idempotent): create the sandbox users ``vitgrader0`` ...
(one per exercise graded at the same time) and, when bubblewrap is not in force, make the secrets
unreadable to them (the solutions, the grader's library, the repository).  This command does both, and
what only it does, because it changes the machine beyond the repository: let those users pass the
folders above the Python installation that others may not
enter (e.g. ``/root`` when Python lives in ``/root/.pyenv``), with an ACL entry that grants only them
only the right to pass (``setfacl -m u:vitgrader0:x /root``; Debian package ``acl``).  Without bubblewrap
this is what lets the sandbox users start Python at all; with bubblewrap it is not needed.

Gradescope's ``setup.sh`` runs it once when the image is built (see the README's "Exercises and grading").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .isolation import SandboxUnavailable, probe, sandbox_users, tighten
from .sandbox import python_roots


def grant_python(users) -> list[str]:
    """Let ``users`` pass every folder above the Python installation that they cannot pass; returns what changed."""
    setfacl = shutil.which("setfacl")
    changed = []
    for root in python_roots():
        for folder in reversed(root.parents):
            mode = folder.stat().st_mode
            if mode & 0o001 or folder == Path("/"):
                continue
            if setfacl is None:
                raise SandboxUnavailable(f"{folder} (mode {mode & 0o777:o}) keeps the sandbox users from Python "
                                         f"and setfacl is missing (Debian: apt-get install acl)")
            for user in (u for u in users if probe(u, [], [], [folder])):  # those who cannot pass it yet
                subprocess.run([setfacl, "-m", f"u:{user.name}:x", str(folder)], check=True, timeout=30)
                changed.append(f"{folder}: {user.name} may pass (ACL)")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vit_lessons.grading.provision",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2, help="exercises graded at the same time (one user each)")
    parser.add_argument("--solutions", type=Path, default=None, help="reference solutions (default: solutions/)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("provision: run as root", file=sys.stderr)
        return 2
    from ..grade import REPO, secrets

    try:
        users = sandbox_users(max(1, args.slots))
        paths = secrets(args.solutions or REPO / "solutions")
        changed = tighten(paths, users) + grant_python(users)
    except (SandboxUnavailable, subprocess.CalledProcessError) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 2
    for line in changed:
        print(line)
    problems = [p for u in users if (p := probe(u, [Path(sys.executable), *python_roots()], paths))]
    for problem in problems:
        print(f"provision: still wrong: {problem}", file=sys.stderr)
    print(f"sandbox users: {', '.join(u.name for u in users)}" + ("" if problems else " (ready)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
