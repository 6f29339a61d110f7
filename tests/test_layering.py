"""The packages' imports point one way: components < pipeline < kubeflow < pipeline.cli.

``components`` (user code, components and the libraries they share) is the lowest layer: it
must run in the pipeline image on its own. ``pipeline`` (definition, local orchestrator,
metadata readers, operations) builds on it, and ``kubeflow`` (compile, entry point, replay) on
both. ``pipeline.cli`` is the click group on top, the only package importing both ``pipeline``
and ``kubeflow``. Within that order, no two subpackages import each other, at any distance.
"""
from __future__ import annotations

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

from tests.conftest import ROOT

PACKAGES = ("components", "system", "pipeline", "kubeflow")
# Longest prefix wins: pipeline.cli sits above kubeflow although it lives in pipeline/.
# ``python -m pipeline`` (pipeline/__main__.py) only starts the CLI, so it belongs to it.
LAYERS = {"components": 0, "system": 0, "pipeline": 1, "kubeflow": 2, "pipeline.cli": 3,
          "pipeline.__main__": 3}


def layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def _is_module(dotted: str, root: str) -> bool:
    path = os.path.join(root, *dotted.split("."))
    return os.path.isdir(path) or os.path.isfile(path + ".py")


def imports(path: str, root: str = ROOT) -> Set[str]:
    """The project modules a module imports, dotted, at any depth (lazy imports count too).

    ``from a import b`` names ``a.b`` when that is a module or package, else ``a``.
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub, root) else node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def modules(root: str = ROOT) -> Dict[str, str]:
    """{path relative to ``root``: its dotted module name} for every module of the packages."""
    found = {}
    for package in PACKAGES:
        for top, _, files in os.walk(os.path.join(root, package)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(top, name), root)
                    dotted = rel[:-3].replace(os.sep, ".")
                    found[rel] = dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted
    return found


def upward_imports(root: str = ROOT) -> List[Tuple[str, str]]:
    return sorted((path, imported) for path, module in modules(root).items()
                  for imported in imports(os.path.join(root, path), root)
                  if layer(imported) > layer(module))


def subpackage(module: str) -> str:
    """The package a module belongs to: its folder (``pipeline.local``, ``components``)."""
    if module == "pipeline.__main__":
        return "pipeline.cli"
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0] if len(parts) == 2 else module


def _package_of(module: str, root: str) -> str:
    return subpackage(module if not os.path.isdir(os.path.join(root, *module.split(".")))
                      else module + ".__init__")


def cycles(root: str = ROOT) -> List[List[str]]:
    """Import cycles between subpackages (strongly connected groups of two or more)."""
    graph: Dict[str, Set[str]] = {}
    for path, module in modules(root).items():
        source = _package_of(module, root)
        for imported in imports(os.path.join(root, path), root):
            target = _package_of(imported, root)
            if target != source:
                graph.setdefault(source, set()).add(target)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_imports_a_higher_layer():
    assert upward_imports() == []


def test_no_import_cycle_between_subpackages():
    assert cycles() == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The scan itself: a lazy import inside a function is found, and pipeline.cli is above."""
    for package in ("components", "pipeline/cli", "pipeline/local", "kubeflow"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "components" / "lazy.py").write_text(
        "def f():\n    from pipeline import config\n    import kubeflow.compile\n")
    (tmp_path / "pipeline" / "local" / "run.py").write_text("from pipeline import cli\n")
    (tmp_path / "kubeflow" / "up.py").write_text("from pipeline.cli import main\n")
    assert upward_imports(str(tmp_path)) == [
        ("components/lazy.py", "kubeflow.compile"), ("components/lazy.py", "pipeline"),
        ("kubeflow/up.py", "pipeline.cli"), ("pipeline/local/run.py", "pipeline.cli")]


def test_the_check_sees_a_cycle(tmp_path):
    for package in ("pipeline/local", "pipeline/ops"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "local" / "a.py").write_text("from pipeline.ops import b\n")
    (tmp_path / "pipeline" / "ops" / "b.py").write_text("import pipeline.local.a\n")
    assert cycles(str(tmp_path)) == [["pipeline.local", "pipeline.ops"]]


@pytest.mark.parametrize("package", ["components", "pipeline", "kubeflow", "pipeline.cli"])
def test_every_package_is_scanned(package):
    assert package in modules().values()
