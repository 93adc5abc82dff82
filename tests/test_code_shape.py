"""The package stays readable top-down: no function over 60 lines, no module over 400.

Measured with ``ast`` (a function's first to last line, decorators and docstring included),
as the simplification of the package set them; a function that needs more names its reason in
``EXCEPTIONS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("labels", "model", "training", "inference", "framescope")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
EXCEPTIONS: dict[str, str] = {}  # "path:function" -> why it is longer


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_is_over_400_lines():
    long = {}
    for path in _modules():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            long[str(path.relative_to(ROOT))] = n
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_over_60_lines():
    long = {}
    for path in _modules():
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in EXCEPTIONS:
                    long[f"{rel}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_packages_are_found():
    """The limits above mean something only if the walk finds the package's modules."""
    names = {p.name for p in _modules()}
    assert {"tagger.py", "batch.py", "config.py", "taxonomy.py", "__init__.py"} <= names
    assert len(names) > 40
