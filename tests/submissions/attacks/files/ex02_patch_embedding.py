"""Class 5: a regular file whose helper (sol02.py, made by the test) is a symbolic link to the solution."""

from sol02 import patch_embedding  # noqa: F401
