"""The packages' imports point one way: components <- pipeline <- kubeflow.

``components`` (user code, components and the libraries they share) is the lowest layer: it
must run in the pipeline image on its own. ``pipeline`` (definition, local orchestrator, CLI)
builds on it, and ``kubeflow`` (compile, entry point, replay) on both. The one known arrow
back up is the CLI in ``pipeline/cli.py`` registering the Kubeflow commands; it is listed
here so that no other appears unnoticed.
"""
from __future__ import annotations

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

from tests.conftest import ROOT

LAYERS = {"components": 0, "system": 0, "pipeline": 1, "kubeflow": 2}
KNOWN_UPWARD = {("pipeline/cli.py", "kubeflow")}


def imports(path: str) -> Set[str]:
    """The top-level packages a module imports, at any depth (lazy imports count too)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules() -> Dict[str, str]:
    """{path relative to the project: its package} for every module of the packages."""
    found = {}
    for package in LAYERS:
        for top, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    found[os.path.relpath(os.path.join(top, name), ROOT)] = package
    return found


def upward_imports() -> List[Tuple[str, str]]:
    return sorted((path, imported) for path, package in modules().items()
                  for imported in imports(os.path.join(ROOT, path))
                  if imported in LAYERS and LAYERS[imported] > LAYERS[package])


def test_no_package_imports_a_higher_layer():
    assert [i for i in upward_imports() if i not in KNOWN_UPWARD] == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The scan itself: a lazy import inside a function is found."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from pipeline import config\n    import kubeflow.compile\n")
    assert imports(str(module)) >= {"pipeline", "kubeflow"}


@pytest.mark.parametrize("package", ["components", "pipeline", "kubeflow"])
def test_every_package_is_scanned(package):
    assert any(p == package for p in modules().values())
