"""The layout rules of the design, checked by tools rather than by hope."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "attninspect"
MAX_BODY_LINES = 40
MAX_TOP_LEVEL_MODULES = 6


def test_import_layers_hold() -> None:
    """import-linter's contracts in pyproject.toml: layers, typer, rich, torch."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    proc = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_top_level_holds_only_the_face_and_entry_points() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def function_bodies() -> list[tuple[str, int]]:
    """(where, lines) for every function and method in the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:] or body  # the docstring does not count
                lines = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                found.append((where, lines))
    return found


def test_no_function_body_is_longer_than_40_lines() -> None:
    long = [(where, lines) for where, lines in function_bodies() if lines > MAX_BODY_LINES]
    assert not long, long


def module_names(package: Path) -> dict[str, tuple[Path, bool]]:
    """Every module of ``package`` by its dotted name: (file, whether it is a package)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported_modules(name: str, path: Path, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file: at the top, inside
    functions, under ``TYPE_CHECKING``, relatively, or by ``importlib.import_module("...")``.
    ``from x import y`` imports the module ``x.y`` where there is one, else ``x`` itself."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return (found & modules) - {name}


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` → the modules of ``package`` it imports."""
    modules = module_names(package)
    return {
        name: imported_modules(name, path, is_package, set(modules))
        for name, (path, is_package) in modules.items()
    }


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def describe(circle: list[str], graph: dict[str, set[str]]) -> str:
    """One circle as each of its modules and what it imports of the others."""
    return "; ".join(f"{m} → {', '.join(sorted(graph[m] & set(circle)))}" for m in circle)


def test_no_module_imports_itself_back() -> None:
    """No import circles: every strongly connected component of the import graph is one module."""
    graph = import_graph(PACKAGE)
    assert len(graph) > 50, sorted(graph)  # the whole package was read
    circles = [describe(circle, graph) for circle in import_circles(graph)]
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_import_circles_are_found_however_they_are_written(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.sub import a\n",
        "sub/__init__.py": "",
        "sub/a.py": "from . import b\n",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n",
        "sub/c.py": "def f():\n    from pkg.sub.a import g\n",
        "d.py": "import importlib\nimportlib.import_module('pkg.e')\n",
        "e.py": "from pkg import d\n",
        "f.py": "from pkg import sub\n",  # the package's __init__, which imports nothing back
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    graph = import_graph(package)
    circles = sorted(import_circles(graph))
    assert circles == [["pkg.d", "pkg.e"], ["pkg.sub.a", "pkg.sub.b", "pkg.sub.c"]], circles
    assert graph["pkg.f"] == {"pkg.sub"}
