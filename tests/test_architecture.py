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
