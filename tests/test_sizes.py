"""Size limits of the package code: modules up to ~400 lines, functions up to ~80.

A module past the limit holds more than one concept, a function past it more than one step;
either is split rather than the limit raised.
"""
from __future__ import annotations

import ast
import os
from typing import List, Tuple

from tests.conftest import ROOT

PACKAGES = ("components", "pipeline", "kubeflow")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _sources(root: str = ROOT) -> List[str]:
    found = []
    for package in PACKAGES:
        for top, dirs, files in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.join(top, name) for name in sorted(files) if name.endswith(".py")]
    return found


def oversized(paths: List[str], root: str = ROOT) -> List[Tuple[str, str, int]]:
    """(module, function or '', lines) for every module or function over its limit."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        module = os.path.relpath(path, root)
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append((module, "", lines))
        for node in ast.walk(ast.parse(source, path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append((module, node.name, length))
    return found


def test_no_module_or_function_over_its_limit():
    assert oversized(_sources()) == []


def test_the_check_sees_a_long_module_and_a_long_function(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "long.py"
    path.write_text("def long():\n" + body + "\n" * (MAX_MODULE_LINES - MAX_FUNCTION_LINES))
    assert oversized([str(path)], str(tmp_path)) == [
        ("long.py", "", MAX_MODULE_LINES + 1), ("long.py", "long", MAX_FUNCTION_LINES + 1)]


def test_every_package_is_measured():
    assert {os.path.relpath(p, ROOT).split(os.sep)[0] for p in _sources()} == set(PACKAGES)
