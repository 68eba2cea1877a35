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
#: Frames, tracebacks and closures: the way to a function the tripwires replaced, or to the runner's state.
BANNED_ATTRIBUTES = {"tb_frame", "tb_next", "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "gi_frame",
                     "cr_frame", "ag_frame", "gi_code", "cr_code", "cell_contents", "co_consts"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__class__", "__len__"}


def _dotted(node: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
    """Every dotted path ``node`` may stand for (a name bound several ways has several)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return set()
    tail = list(reversed(parts))
    return {".".join([base, *tail]) for base in aliases.get(node.id, ())}


def _paths_in(node: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
    """The dotted paths of every name and attribute chain inside ``node`` (what a binding may hold)."""
    # whole chains only, and not the function a call calls (its result is not the function)
    skipped = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    skipped |= {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    found: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, (ast.Name, ast.Attribute)) and id(inner) not in skipped:
            found |= _dotted(inner, aliases)
    return found


def _targets(target: ast.AST) -> list[str]:
    """The names a binding target binds (not the object of ``x.attr = ...`` or ``x[i] = ...``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _targets(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _targets(element)]
    return []


def _aliases(trees: list[ast.AST]) -> dict[str, set[str]]:
    """Names bound to dotted paths: by imports (every binding of a name counts, even one that
    never runs), and by any other binding of a value that holds one (``x = torch.nn``,
    ``a, b = torch, 1``, ``(t := torch)``, ``def f(init=torch.nn.init)``, ``for m in [torch]``,
    ``with x as m``): such a name may stand for all of them."""
    aliases: dict[str, set[str]] = {}

    def bind(name: str, paths: set[str]) -> bool:
        before = len(aliases.get(name, ()))
        aliases.setdefault(name, set()).update(paths)
        return len(aliases[name]) != before

    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bind(alias.asname, {alias.name})
                    else:
                        bind(alias.name.split(".")[0], {alias.name.split(".")[0]})
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        bind(alias.asname or alias.name, {f"{node.module}.{alias.name}"})
    for _ in range(5):  # bindings of bound names, possibly chained
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                pairs: list[tuple[list[str], ast.AST]] = []
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)) \
                                and len(target.elts) == len(node.value.elts):
                            pairs += [(_targets(t), v) for t, v in zip(target.elts, node.value.elts)]
                        else:
                            pairs.append((_targets(target), node.value))
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                    pairs.append((_targets(node.target), node.value))
                elif isinstance(node, ast.NamedExpr):
                    pairs.append(([node.target.id], node.value))
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                    pairs.append((_targets(node.target), node.iter))
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    pairs += [(_targets(item.optional_vars), item.context_expr) for item in node.items if item.optional_vars]
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    positional = node.args.posonlyargs + node.args.args
                    pairs += [([a.arg], d) for a, d in zip(positional[len(positional) - len(node.args.defaults):],
                                                           node.args.defaults)]
                    pairs += [([a.arg], d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
                for names, value in pairs:
                    paths = _paths_in(value, aliases)
                    if paths:
                        for name in names:
                            changed |= bind(name, paths)
        if not changed:
            break
    return aliases


def _module_path(path: str) -> bool:
    try:
        return isinstance(resolve(path), type(os))
    except (ImportError, AttributeError, ValueError):
        return False


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
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
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
            for path in sorted(_dotted(node, aliases)):
                if path.startswith("sys.") and path.split(".")[1] in BANNED_SYS:
                    add(f"uses {path}")
            if node.attr in BANNED_ATTRIBUTES:
                add(f"uses the attribute {node.attr}")
        if isinstance(node, (ast.Attribute, ast.Name)):
            paths = _dotted(node, aliases)
            for path in sorted(paths):
                hit = _is_forbidden(path, forbidden)
                if hit:
                    add(f"uses {hit}, which this task asks you to write yourself")
            if not isinstance(parents.get(node), ast.Attribute):
                # a module that holds what the task must not call, as a value (in a list, a default
                # argument, a call): what is taken from it later cannot be followed
                for path in sorted(paths):
                    if any(e == path or e.startswith(path + ".") for e in forbidden) and _module_path(path):
                        add(f"uses the module {path} as a value, which the grader does not accept")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                add("uses getattr() with a computed name")
            else:
                for base in sorted(_dotted(node.args[0], aliases)):
                    path = f"{base}.{node.args[1].value}"
                    hit = _is_forbidden(path, forbidden)
                    if hit:
                        add(f"uses {hit}, which this task asks you to write yourself")
                    elif any(e == path or e.startswith(path + ".") for e in forbidden) and _module_path(path):
                        add(f"uses the module {path} as a value, which the grader does not accept")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Attribute):
                    for path in sorted(_dotted(target.value, aliases)):
                        add(f"assigns to {path}.{target.attr}: a submission may not change the libraries")
    return found


def plain_python(source: str) -> str:
    """The cell as Python, with IPython's magics and shell escapes translated."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with the notebook tools
        return source
    return TransformerManager().transform_cell(source)


