"""Which calls a submission may not make, checked by reading its code (never by running it).

The names a file imports are tracked through aliases (``import torch.nn.functional as F``,
``from torch.nn import functional as F``, ``from vit_lessons import forward as f``) and every use is
resolved to a dotted name (``F.scaled_dot_product_attention`` -> ``torch.nn.functional.
scaled_dot_product_attention``).  A rule forbids a name in a package wherever it is re-exported
(``vit_lessons.forward`` and ``vit_lessons.model.forward`` alike).  ``getattr(x, "name")`` and
``x.__dict__["name"]`` with a forbidden name, ``eval``/``exec``/``__import__``/``importlib`` (which would
hide a call from this reading) are refused too.

Limits, stated honestly: a file may import a helper module of its own that makes the call; only the
exercise's own file is read (imports of the learner's other exercise files are allowed and those files
are checked when their exercise is graded).  The check keeps honest learners honest; it is not a proof.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """Forbid ``names`` (attribute names) under the package ``root`` (e.g. "torch", "vit_lessons"),
    or the whole package when ``names`` is empty; root "*" forbids the attribute names on any object
    (e.g. ``.backward``).  ``why`` is shown to the learner."""

    root: str
    names: tuple[str, ...]
    why: str


DYNAMIC = {"eval", "exec", "compile", "__import__"}


def _resolve(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """Dotted name of ``a.b.c`` with the first part replaced by what it was imported as."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id)
    if base is None:
        return None
    return ".".join([base, *reversed(parts)])


def violations(source: str, rules: list[Rule], filename: str = "<submission>") -> list[str]:
    """One message per forbidden use in ``source`` (an empty list when there is none).

    Raises SyntaxError when the code does not parse.
    """
    tree = ast.parse(source, filename=filename)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found: dict[str, str] = {}

    def check_name(dotted: str, line: int, shown: str) -> None:
        parts = dotted.split(".")
        for rule in rules:
            if parts[0] != rule.root:
                continue
            if not rule.names or any(p in rule.names for p in parts[1:]):
                key = f"{shown} (line {line})"
                found.setdefault(key, f"line {line}: `{shown}` is not allowed in this exercise: {rule.why}")

    forbidden_names = {n for r in rules for n in r.names}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{node.module}.{a.name}" for a in node.names] if node.module and node.level == 0 else []
            for m in mods:
                check_name(m, line, m)
                if m.endswith(".*") and any(m.split(".")[0] == r.root for r in rules):
                    found.setdefault(f"star {line}", f"line {line}: `from {m[:-2]} import *` is not allowed in this "
                                     f"exercise: import the names you use, so the grader can read them")
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "importlib" for a in node.names):
                found.setdefault(f"importlib {line}", f"line {line}: `importlib` is not allowed in an exercise: "
                                 f"import modules with plain import statements, so the grader can read them")
        elif isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
            dotted = _resolve(node, aliases)
            if dotted:
                check_name(dotted, line, ast.unparse(node))
            for rule in rules:
                if rule.root == "*" and node.attr in rule.names:
                    found.setdefault(f"{node.attr} {line}", f"line {line}: `.{node.attr}` is not allowed in this "
                                     f"exercise: {rule.why}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in aliases:
                check_name(aliases[node.id], line, node.id)
            if node.id in DYNAMIC:
                found.setdefault(f"{node.id} {line}", f"line {line}: `{node.id}` is not allowed in an exercise: "
                                 f"it would hide from the grader which functions your code calls")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and name.value in forbidden_names:
                found.setdefault(f"getattr {line}", f"line {line}: `getattr(..., {name.value!r})` is not allowed "
                                 f"in this exercise: `{name.value}` is one of its forbidden functions")
            elif not isinstance(name, ast.Constant):
                target = _resolve(node.args[0], aliases) if isinstance(node.args[0], (ast.Name, ast.Attribute)) \
                    else None
                if target and any(target.split(".")[0] == r.root for r in rules):
                    found.setdefault(f"getattr {line}", f"line {line}: `getattr` with a computed name on "
                                     f"`{target}` is not allowed: write the call out")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in forbidden_names:
            found.setdefault(f"subscript {line}", f"line {line}: looking up {node.slice.value!r} by name is not "
                             f"allowed in this exercise: it is one of its forbidden functions")
    return sorted(found.values(), key=lambda m: int(m.split()[1].rstrip(":")))
