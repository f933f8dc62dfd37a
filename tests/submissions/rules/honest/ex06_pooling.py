"""Honest exercise 6: postponed annotations, ``__all__``, a dataclass, a generator, a ``compile`` of its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["pool"]


@dataclass(frozen=True)
class Rule:
    mode: str
    prefix: int

    def rows(self, n: int) -> range:
        return range(0, 1) if self.mode == "cls" else range(self.prefix, n)


def compile(mode: str, num_prefix_tokens: int) -> Rule:  # noqa: A001 - the learner's own compile
    return Rule(mode, num_prefix_tokens)


def tokens(x: np.ndarray, rows: range):
    for r in rows:
        yield x[..., r, :]


def pool(x: np.ndarray, mode: str, num_prefix_tokens: int = 0) -> np.ndarray:
    rule = compile(mode, num_prefix_tokens)
    picked = list(tokens(x, rule.rows(x.shape[-2])))
    return picked[0] if mode == "cls" else np.mean(np.stack(picked, axis=-2), axis=-2, dtype=x.dtype)
