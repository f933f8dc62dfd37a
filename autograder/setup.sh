#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip (this folder's two
# scripts at its top, the repository beside them) is unpacked in /autograder/source.
set -euo pipefail
cd /autograder/source
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap acl >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r requirements.txt
# the sandbox users (vitgrader0, vitgrader1), the solutions and the repository unreadable to them, and
# the Python installation reachable by them (needed when bubblewrap cannot make namespaces here)
/autograder/venv/bin/python -m vit_lessons.grading.provision
