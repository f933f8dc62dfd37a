"""Which calls a submission may not make, checked by reading its code (never by running it).

The names a file imports are tracked through aliases (``import torch.nn.functional as F``,
``from torch.nn import functional as F``, ``from vit_lessons import forward as f``) and every use is
resolved to a dotted name (``F.scaled_dot_product_attention`` -> ``torch.nn.functional.
scaled_dot_product_attention``).  A rule forbids a name in a package wherever it is re-exported
(``vit_lessons.forward`` and ``vit_lessons.model.forward`` alike), or a whole package (its import
statements are what is reported).  ``getattr(x, "name")`` and ``x.__dict__["name"]`` with a forbidden
name, ``eval``/``exec``/``compile``/``__import__`` (the builtins, not a function of the learner's own
called so) and ``importlib`` (which would hide a call from this reading) are refused too.  The one name of
the grader that every exercise may import is the self-check's ``vit_lessons.grading.check`` (the
learner's library holds a stub of it: the self-check does not run inside the grader).

:func:`scan` reads the exercise's file and the files of the submission it imports (helper modules and
other exercises, followed from import to import; a file nothing imports is not read) with the exercise's
rules, and lists the packages those files import (so that the learner's process can load them before the
learner's code).  Files are read as Python reads them: bytes, with their BOM or coding cookie.  It runs
inside the learner's limited process (``_child.py``), before any of the learner's code is imported.

This reading is the early, friendly message; what holds is the run-time denial of the same functions in
the learner's process (see :mod:`vit_lessons.grading.staging` and ``deny_torch.py``).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass

#: names a rule would forbid that every exercise may use: the self-check, as the README shows it
#: (``if __name__ == "__main__": check("pooling")``; in the learner's process it is a stub that says so)
ALLOWED = frozenset({"vit_lessons.grading.check"})
#: builtins that would hide from this reading which functions the code calls
DYNAMIC = frozenset({"eval", "exec", "compile", "__import__"})


@dataclass(frozen=True)
class Rule:
    """Forbid ``names`` (attribute names) under the package ``root`` (e.g. "torch", "vit_lessons"), or the
    whole package when ``names`` is empty.  ``why`` is shown to the learner.  With ``exact`` a name is
    forbidden only as what a reference ends with (the function ``vit_lessons.encoder``), not as a module on
    the way (``vit_lessons.encoder.layer_norm``)."""

    root: str
    names: tuple[str, ...]
    why: str
    exact: bool = False

    def forbids(self, parts: list[str], whole: bool) -> bool:
        """Whether the dotted name ``parts`` (a complete reference when ``whole``) is forbidden."""
        if parts[0] != self.root or (whole and ".".join(parts) in ALLOWED):
            return False
        if not self.names:
            return True
        if self.exact:
            return whole and len(parts) > 1 and parts[-1] in self.names
        return any(p in self.names for p in parts[1:])


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


def violations(source: str | bytes, rules: list[Rule], filename: str = "<submission>") -> list[str]:
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


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the module binds itself, anywhere: functions, classes, assignments, loop and ``with``
    targets, arguments, imports, ``except ... as``, patterns."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


class _Reader:
    """The reading of one parsed module: ``found`` maps a key (one per use) to its message."""

    def __init__(self, tree: ast.AST, rules: list[Rule]):
        self.rules = rules
        self.aliases, self.module_names = _aliases(tree)
        self.own = bound_names(tree) & DYNAMIC  # the learner's own functions called ``compile`` ...
        self.found: dict[str, str] = {}
        # ``a.b`` inside ``a.b.c`` is not a reference of its own (``vit_lessons.encoder`` in
        # ``vit_lessons.encoder.layer_norm`` names a module on the way)
        self.inner = {id(n.value) for n in ast.walk(tree)
                      if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)}

    def add(self, key: str, line: int, message: str) -> None:
        self.found.setdefault(f"{key} {line}", f"line {line}: {message}")

    def check_name(self, dotted: str, line: int, shown: str, whole: bool = True, imported: bool = False) -> None:
        """Refuse the reference ``dotted`` when a rule forbids it; a whole package's rule refuses its imports
        (``imported``), the uses that follow them being the same refusal."""
        parts = dotted.split(".")
        for rule in self.rules:
            if rule.forbids(parts, whole) and (rule.names or imported):
                self.add(shown, line, f"`{shown}` is not allowed in this exercise: {rule.why}")
        if parts[0] == "builtins" and parts[-1] in DYNAMIC:
            self.add(shown, line, f"`{shown}` is not allowed in an exercise: it would hide from the grader which "
                                  f"functions your code calls")

    def by_name(self, owner: ast.AST, key) -> bool:
        """Whether looking ``key`` up by name on ``owner`` (``getattr(owner, key)``, ``owner[key]``) reaches a
        forbidden function: a forbidden name on something that names the rule's package (``vars(V)``,
        ``F.__dict__``)."""
        mentioned = {self.aliases[n.id].split(".")[0] for n in ast.walk(owner)
                     if isinstance(n, ast.Name) and n.id in self.aliases}
        return any(key in r.names and r.root in mentioned for r in self.rules)

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        line = node.lineno
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        else:
            mods = [f"{node.module}.{a.name}" for a in node.names] if node.module and node.level == 0 else []
        for m in mods:  # ``import a.b`` imports a module; ``from a import b`` may import a function
            self.check_name(m, line, m, whole=isinstance(node, ast.ImportFrom), imported=True)
            if m.endswith(".*") and any(m.split(".")[0] == r.root for r in self.rules):
                self.add("star", line, f"`from {m[:-2]} import *` is not allowed in this exercise: import the "
                                       f"names you use, so the grader can read them")
        if any(m.split(".")[0] == "importlib" for m in mods):  # ``import importlib``, ``from importlib import ...``
            self.add("importlib", line, "`importlib` is not allowed in an exercise: import modules with plain "
                                        "import statements, so the grader can read them")

    def getattr_call(self, node: ast.Call) -> None:
        line, name = node.lineno, node.args[1]
        if isinstance(name, ast.Constant) and self.by_name(node.args[0], name.value):
            self.add("getattr", line, f"`getattr(..., {name.value!r})` is not allowed in this exercise: "
                                      f"`{name.value}` is one of its forbidden functions")
        elif not isinstance(name, ast.Constant):
            owner = node.args[0]
            target = _resolve(owner, self.aliases) if isinstance(owner, (ast.Name, ast.Attribute)) else None
            if isinstance(owner, ast.Name) and owner.id == "__builtins__" and owner.id not in self.aliases:
                target = "builtins"  # ``getattr(__builtins__, "ex" + "ec")``
            if target and target.split(".")[0] in {r.root for r in self.rules} | {"builtins"}:
                self.add("getattr", line, f"`getattr` with a computed name on `{target}` is not allowed: write "
                                          f"the call out")

    def visit(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node)
        elif isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
            dotted = _resolve(node, self.aliases)
            if dotted:
                self.check_name(dotted, line, ast.unparse(node), whole=id(node) not in self.inner)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in self.aliases:
                self.check_name(self.aliases[node.id], line, node.id, whole=node.id not in self.module_names)
            elif node.id in DYNAMIC and node.id not in self.own:
                self.add(node.id, line, f"`{node.id}` is not allowed in an exercise: it would hide from the grader "
                                        f"which functions your code calls")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            self.getattr_call(node)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and self.by_name(node.value, node.slice.value):
            self.add("subscript", line, f"looking up {node.slice.value!r} by name is not allowed in this exercise: "
                                        f"it is one of its forbidden functions")


def violations_in(tree: ast.AST, rules: list[Rule]) -> list[str]:
    """One message per forbidden use in the parsed module ``tree``, in the order of their lines."""
    reader = _Reader(tree, rules)
    for node in ast.walk(tree):
        reader.visit(node)
    return sorted(reader.found.values(), key=lambda m: int(m.split()[1].rstrip(":")))


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


def parse_file(path: str) -> ast.AST | SyntaxError:
    """The module in ``path``, parsed from its bytes as Python reads it (a UTF-8 BOM, a coding cookie), or
    the SyntaxError that says why it does not parse."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return ast.parse(data, filename=os.path.basename(path))
    except SyntaxError as exc:
        return exc
    except (MemoryError, RecursionError):  # a pathologically deep expression
        error = SyntaxError("too deeply nested to be read (the parser ran out of memory)")
    except ValueError as exc:  # a null byte
        error = SyntaxError(str(exc))
    error.lineno = "?"
    return error


def scan(folder: str, file: str, rules: list[Rule]) -> dict:
    """Read ``file`` of the submission ``folder`` and the submission's modules it imports, transitively.

    Returns {"violations": [messages, prefixed with the file (and the file that imports it) when not the
    exercise's own], "modules": [every package root those files import], "error": why the exercise's file
    cannot be read, or None}.
    """
    local = {n[:-3] for n in os.listdir(folder) if n.endswith(".py")}
    start = file[:-3]
    parents: dict[str, str | None] = {start: None}
    todo, found, modules, error = [start], [], set(), None
    while todo:
        name = todo.pop(0)  # breadth first: a helper is named with the nearest file that imports it
        tree = parse_file(os.path.join(folder, name + ".py"))
        if isinstance(tree, SyntaxError):  # a helper's own error is raised when it is imported
            if name == start:
                error = f"{file} does not parse: line {tree.lineno}: {tree.msg}"
            continue
        prefix = "" if name == start else f"{name}.py (imported by {parents[name]}.py), "
        found += [prefix + m for m in violations_in(tree, rules)]
        for root in sorted({m.split(".")[0] for m in imported_modules(tree)}):
            if root not in local:
                modules.add(root)
            elif root not in parents:
                parents[root] = name
                todo.append(root)
    return {"violations": found, "modules": sorted(modules), "error": error}
