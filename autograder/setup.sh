#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip (this folder's two
# scripts at its top, the repository beside them) is unpacked in /autograder/source.
set -euo pipefail
cd /autograder/source
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap acl >/dev/null
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # the package needs Python 3.11 or newer; Ubuntu 22.04 base images ship 3.10: take 3.11 from deadsnakes
    apt-get install -y -qq software-properties-common >/dev/null
    add-apt-repository -y ppa:deadsnakes/ppa >/dev/null
    apt-get update -qq
    apt-get install -y -qq python3.11 python3.11-venv >/dev/null
    PYTHON=python3.11
fi
"$PYTHON" -m venv /autograder/venv
# torch's CPU build first (PyPI's Linux wheel is the multi-GB CUDA build); requirements.txt pins the same version
/autograder/venv/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q -r requirements.txt
# the sandbox users (vitgrader0, vitgrader1), the solutions and the repository unreadable to them, and
# the Python installation reachable by them (needed when bubblewrap cannot make namespaces here)
/autograder/venv/bin/python -m vit_lessons.grading.provision
