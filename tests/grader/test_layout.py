"""Two packages, one direction: coursegrader uses nnlab; nnlab never imports the grader.

Read from the source (imports parsed, not run) and checked by importing nnlab where the
grader's dependencies cannot be imported.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def test_no_module_of_nnlab_imports_the_grader_or_its_dependencies():
    for name, path in _modules("nnlab").items():
        bad = {i for i in _imports(path) if i.split(".")[0] in ("coursegrader", "nbgrader", "jupyter_client")}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_nnlab_imports_where_the_grader_cannot():
    # `pip install nnlab` without the [grader] extra: every module of nnlab still imports.
    names = sorted(n for n in _modules("nnlab") if n != "nnlab.__main__")
    script = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('coursegrader', 'nbgrader', 'jupyter_client'):\n"
        "            raise ImportError('not installed: ' + name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import importlib\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_grader_has_no_import_cycle():
    modules = _modules("coursegrader")
    graph = {name: {m for m in modules for i in _imports(path) if i == m and m != name} for name, path in modules.items()}
    # a module that imports a package's submodule also runs the package's __init__; those hold no imports here
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in graph[name]:
            assert state.get(target) != 1, "import cycle: " + " -> ".join([*trail, name, target])
            if target not in state:
                visit(target, [*trail, name])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_every_grader_module_has_its_test_file():
    tests = {path.name for path in (ROOT / "tests" / "grader").rglob("test_*.py")}
    missing = []
    for name, path in _modules("coursegrader").items():
        if path.name in ("__init__.py", "__main__.py") or path.parent.name == "probes":
            continue  # packages' docstrings; the probes are tested together in test_probes.py
        if f"test_{path.stem}.py" not in tests:
            missing.append(name)
    assert missing == []
    assert "test_probes.py" in tests
