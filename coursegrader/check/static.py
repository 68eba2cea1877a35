"""The static check: what a task's cell may not contain, read in the grader's process.

A task's cell may not use what would let it reach the grader or hide a call
(``exec``/``eval``, dunder attributes, ``importlib``/``inspect``/``gc``/``ctypes``,
``setattr`` or ``getattr`` with a computed name, ``sys.modules``...), nor name, import or
subclass what the task re-implements (the ``nnlab`` reference, the PyTorch built-in). The
source is parsed, never run.
"""
from __future__ import annotations

import ast
import os

from coursegrader.check.tasks import resolve

BANNED_CALLS = {
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr", "breakpoint",
    "attrgetter", "methodcaller",
}
BANNED_MODULES = {
    "importlib", "imp", "runpy", "gc", "inspect", "ctypes", "cffi", "builtins", "marshal", "pickle", "dill",
    "code", "codeop", "dis", "sysconfig", "nnlab.grading", "coursegrader",
}
BANNED_SYS = {"modules", "_getframe", "setprofile", "settrace", "meta_path", "path_hooks", "path_importer_cache",
              "addaudithook", "_current_frames"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__class__", "__len__"}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
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


def _aliases(trees: list[ast.AST]) -> dict[str, str]:
    """Names bound by imports (and plain ``name = module.attr`` assignments) to dotted paths."""
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for _ in range(3):  # assignments of imported names, possibly chained
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    path = _dotted(node.value, aliases)
                    if path is not None:
                        aliases.setdefault(node.targets[0].id, path)
    return aliases


def _is_forbidden(path: str, forbidden: tuple[str, ...]) -> str | None:
    for entry in forbidden:
        if path == entry or path.startswith(entry + "."):
            try:
                target = resolve(entry)
            except (ImportError, AttributeError):
                continue
            if isinstance(target, type(os)):  # a module: only its public callables are forbidden
                rest = path[len(entry) + 1:].split(".")[0] if path != entry else ""
                member = getattr(target, rest, None) if rest else None
                if rest and not rest.startswith("_") and callable(member) and getattr(member, "__module__", None) == target.__name__:
                    return f"{entry}.{rest}"
                continue
            return entry
    return None


def static_findings(source: str, context: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """What the static check refuses in one task cell's ``source``, as sentences.

    ``context`` holds the other code of the notebook (its imports define aliases).
    """
    try:
        tree = ast.parse(plain_python(source))
    except SyntaxError as error:
        return [f"the cell is not valid Python ({error.msg}, line {error.lineno})"]
    trees = [tree]
    for other in context:
        try:
            trees.append(ast.parse(plain_python(other)))
        except SyntaxError:
            pass
    aliases = _aliases(trees)
    found: list[str] = []

    def add(message: str) -> None:
        if message not in found:
            found.append(message)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in BANNED_CALLS:
            add(f"uses {node.id}()")
        elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id.endswith("__") and node.id not in (
                "__name__", "__file__"):
            add(f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__") and (
                node.attr not in ALLOWED_DUNDERS):
            add(f"uses the attribute {node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in BANNED_CALLS:
            add(f"uses {node.attr}()")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in BANNED_MODULES):
                    add(f"imports {name}")
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                add(f"imports * from {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    hit = _is_forbidden(f"{node.module}.{alias.name}", forbidden)
                    if hit:
                        add(f"imports {hit}, which this task asks you to write yourself")
        if isinstance(node, ast.Attribute):
            path = _dotted(node, aliases)
            if path == "sys" or (path or "").startswith("sys."):
                if path.split(".")[1] in BANNED_SYS:
                    add(f"uses {path}")
        if isinstance(node, (ast.Attribute, ast.Name)):
            path = _dotted(node, aliases)
            hit = path and _is_forbidden(path, forbidden)
            if hit:
                add(f"uses {hit}, which this task asks you to write yourself")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                add("uses getattr() with a computed name")
            else:
                base = _dotted(node.args[0], aliases)
                hit = base and _is_forbidden(f"{base}.{node.args[1].value}", forbidden)
                if hit:
                    add(f"uses {hit}, which this task asks you to write yourself")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Attribute):
                    path = _dotted(target.value, aliases)
                    if path is not None:
                        add(f"assigns to {path}.{target.attr}: a submission may not change the libraries")
    return found


def plain_python(source: str) -> str:
    """The cell as Python, with IPython's magics and shell escapes translated."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with the notebook tools
        return source
    return TransformerManager().transform_cell(source)


