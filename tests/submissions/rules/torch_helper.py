"""A helper that no exercise imports: its ``import torch`` must not make the grader load torch."""

import torch  # noqa: F401
