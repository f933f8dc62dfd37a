"""Which calls a submission may not make, checked by reading its code (never by running it).

The names a file imports are tracked through aliases (``import torch.nn.functional as F``,
``from torch.nn import functional as F``, ``from vit_lessons import forward as f``) and every use is
resolved to a dotted name (``F.scaled_dot_product_attention`` -> ``torch.nn.functional.
scaled_dot_product_attention``).  A rule forbids a name in a package wherever it is re-exported
(``vit_lessons.forward`` and ``vit_lessons.model.forward`` alike).  ``getattr(x, "name")`` and
``x.__dict__["name"]`` with a forbidden name, ``eval``/``exec``/``__import__``/``importlib`` (which would
hide a call from this reading) are refused too.

:func:`scan` reads the exercise's file and every file of the submission it imports (helper modules and
other exercises, followed from import to import) with the exercise's rules, and lists the packages the
submission imports (so that the grader can load them before the learner's code).  The grader runs it in a
separate process with a memory and time limit (``python -I -S forbidden.py``, a JSON job on stdin), so a
pathological file (a deeply nested expression, a huge one) costs that process, never the grader.

This reading is the early, friendly message; what holds is the run-time denial of the same functions in
the learner's process (see :mod:`vit_lessons.grading.staging` and ``deny_torch.py``).
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """Forbid ``names`` (attribute names) under the package ``root`` (e.g. "torch", "vit_lessons"),
    or the whole package when ``names`` is empty; root "*" forbids the attribute names on any object
    (e.g. ``.backward``).  ``why`` is shown to the learner.  With ``exact`` a name is forbidden only as
    what a reference ends with (the function ``vit_lessons.encoder``), not as a module on the way
    (``vit_lessons.encoder.layer_norm``)."""

    root: str
    names: tuple[str, ...]
    why: str
    exact: bool = False

    def forbids(self, parts: list[str], whole: bool) -> bool:
        """Whether the dotted name ``parts`` (a complete reference when ``whole``) is forbidden."""
        if parts[0] != self.root:
            return False
        if not self.names:
            return True
        if self.exact:
            return whole and len(parts) > 1 and parts[-1] in self.names
        return any(p in self.names for p in parts[1:])


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
    return violations_in(ast.parse(source, filename=filename), rules)


def _aliases(tree: ast.AST) -> tuple[dict[str, str], set[str]]:
    """(local name -> the dotted name it was imported as, for every import in ``tree``; the local names
    that an ``import`` statement bound, which are modules)."""
    aliases: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                aliases[local] = a.name if a.asname else local
                modules.add(local)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases, modules


def _check_import(node, line: int, rules: list[Rule], check_name, found: dict) -> None:
    """The forbidden names an ``import`` or ``from ... import`` brings in, star imports and importlib."""
    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
        [f"{node.module}.{a.name}" for a in node.names] if node.module and node.level == 0 else []
    for m in mods:  # ``import a.b`` imports a module; ``from a import b`` may import a function
        check_name(m, line, m, whole=isinstance(node, ast.ImportFrom))
        if m.endswith(".*") and any(m.split(".")[0] == r.root for r in rules):
            found.setdefault(f"star {line}", f"line {line}: `from {m[:-2]} import *` is not allowed in this "
                             f"exercise: import the names you use, so the grader can read them")
    if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "importlib" for a in node.names):
        found.setdefault(f"importlib {line}", f"line {line}: `importlib` is not allowed in an exercise: "
                         f"import modules with plain import statements, so the grader can read them")


def _check_getattr(node: ast.Call, line: int, aliases: dict, rules: list[Rule], by_name, found: dict) -> None:
    """``getattr(owner, name)``: a forbidden constant name, or a computed name on a ruled package."""
    name = node.args[1]
    if isinstance(name, ast.Constant) and by_name(node.args[0], name.value):
        found.setdefault(f"getattr {line}", f"line {line}: `getattr(..., {name.value!r})` is not allowed "
                         f"in this exercise: `{name.value}` is one of its forbidden functions")
    elif not isinstance(name, ast.Constant):
        target = _resolve(node.args[0], aliases) if isinstance(node.args[0], (ast.Name, ast.Attribute)) else None
        if target and any(target.split(".")[0] == r.root for r in rules):
            found.setdefault(f"getattr {line}", f"line {line}: `getattr` with a computed name on "
                             f"`{target}` is not allowed: write the call out")


def violations_in(tree: ast.AST, rules: list[Rule]) -> list[str]:
    """One message per forbidden use in the parsed module ``tree``."""
    aliases, module_names = _aliases(tree)
    found: dict[str, str] = {}
    # ``a.b`` inside ``a.b.c`` is not a reference of its own (``vit_lessons.encoder`` in
    # ``vit_lessons.encoder.layer_norm`` names a module on the way)
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)}

    def check_name(dotted: str, line: int, shown: str, whole: bool = True) -> None:
        parts = dotted.split(".")
        for rule in rules:
            if rule.forbids(parts, whole):
                key = f"{shown} (line {line})"
                found.setdefault(key, f"line {line}: `{shown}` is not allowed in this exercise: {rule.why}")

    def by_name(owner: ast.AST, key) -> bool:
        """Whether looking ``key`` up by name on ``owner`` (``getattr(owner, key)``, ``owner[key]``) reaches a
        forbidden function: a forbidden name on something that names the rule's package (``vars(V)``,
        ``F.__dict__``), a forbidden attribute of any object on anything."""
        mentioned = {aliases[n.id].split(".")[0] for n in ast.walk(owner)
                     if isinstance(n, ast.Name) and n.id in aliases}
        return any(key in r.names and (r.root == "*" or r.root in mentioned) for r in rules)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _check_import(node, line, rules, check_name, found)
        elif isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
            dotted = _resolve(node, aliases)
            if dotted:
                check_name(dotted, line, ast.unparse(node), whole=id(node) not in inner)
            for rule in rules:
                if rule.root == "*" and node.attr in rule.names:
                    found.setdefault(f"{node.attr} {line}", f"line {line}: `.{node.attr}` is not allowed in this "
                                     f"exercise: {rule.why}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in aliases:
                check_name(aliases[node.id], line, node.id, whole=node.id not in module_names)
            if node.id in DYNAMIC:
                found.setdefault(f"{node.id} {line}", f"line {line}: `{node.id}` is not allowed in an exercise: "
                                 f"it would hide from the grader which functions your code calls")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            _check_getattr(node, line, aliases, rules, by_name, found)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and by_name(node.value, node.slice.value):
            found.setdefault(f"subscript {line}", f"line {line}: looking up {node.slice.value!r} by name is not "
                             f"allowed in this exercise: it is one of its forbidden functions")
    return sorted(found.values(), key=lambda m: int(m.split()[1].rstrip(":")))


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names in ``tree`` (anywhere, also inside functions):
    "numpy", "torch.nn.functional", ... (``import numpy as np, torch`` gives both)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def scan(folder: str, file: str, rules: list[Rule]) -> dict:
    """Read ``file`` of the submission ``folder`` and the submission's modules it imports, transitively.

    Returns {"violations": [messages, prefixed with the file when not the exercise's own], "modules": [every
    package root any file of the folder imports], "error": why the exercise's file cannot be read, or None}.
    """
    local = {n[:-3] for n in os.listdir(folder) if n.endswith(".py")}
    trees, todo, found, error = {}, [file[:-3]], [], None
    for name in sorted(local):
        with open(os.path.join(folder, name + ".py"), encoding="utf-8", errors="replace") as f:
            try:
                trees[name] = ast.parse(f.read(), filename=name + ".py")
            except SyntaxError as exc:
                trees[name] = exc
            except (MemoryError, RecursionError):  # a pathologically deep expression
                trees[name] = SyntaxError("too deeply nested to be read (the parser ran out of memory)")
                trees[name].lineno = "?"
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = trees[name]
        if isinstance(tree, SyntaxError):
            if name == file[:-3]:
                error = f"{file} does not parse: line {tree.lineno}: {tree.msg}"
            continue
        prefix = "" if name == file[:-3] else f"{name}.py, "
        found += [prefix + m for m in violations_in(tree, rules)]
        todo += [m.split(".")[0] for m in imported_modules(tree) if m.split(".")[0] in local]
    modules = {m.split(".")[0] for t in trees.values() if not isinstance(t, SyntaxError) for m in imported_modules(t)}
    return {"violations": found, "modules": sorted(modules - local), "error": error}


def main() -> None:
    """The separate process's side of :func:`scan`: JSON job on stdin, JSON answer on stdout."""
    import resource

    limit = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    job = json.loads(sys.stdin.read())
    rules = [Rule(r[0], tuple(r[1]), r[2], bool(r[3])) for r in job["rules"]]
    print(json.dumps(scan(job["folder"], job["file"], rules)))


if __name__ == "__main__":
    main()
