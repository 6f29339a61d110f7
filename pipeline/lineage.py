"""Fingerprints that key caches and trace a model back to its code."""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from typing import Iterator, List, Optional, Set


def _source(module: str) -> Optional[str]:
    """The .py file of ``module``, or None when it is not a plain source module."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return origin if origin and origin.endswith(".py") else None


def _import_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Nodes that run when the module is imported: everything outside function bodies."""
    for node in ast.iter_child_nodes(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield node
            yield from _import_time_nodes(node)


def _imported(module: str, path: str) -> List[str]:
    """Modules that ``path`` (the source of ``module``) imports when it is imported, resolved
    to absolute names. Imports inside functions are lazy ones (such as the package's
    ``__getattr__`` for Kubeflow artifact types) and do not count."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    names: List[str] = []
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    for node in _import_time_nodes(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from this module's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.append(base)
            # ``from pkg import mod`` may name a submodule rather than an attribute.
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def user_code_modules(*dotted_functions: str) -> List[str]:
    """Source files behind ``dotted_functions``, and every module of the same top-level
    packages that they import, transitively (with each package's ``__init__``)."""
    roots = {d.split(".")[0] for d in dotted_functions}
    seen: Set[str] = set()
    files: Set[str] = set()
    pending = [d.rpartition(".")[0] for d in dotted_functions]
    while pending:
        module = pending.pop()
        if module in seen or module.split(".")[0] not in roots:
            continue
        seen.add(module)
        path = _source(module)
        if path is None:
            continue
        files.add(path)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # package __init__s
        pending += _imported(module, path)
    return sorted(files)


def code_fingerprint(*dotted_functions: str) -> str:
    """SHA-256 of the user code behind ``dotted_functions`` (see ``user_code_modules``).

    Dotted-path user code is otherwise invisible to TFX's cache: the path string stays the
    same when the code behind it changes. Only the modules the function can reach count, so
    editing the model re-runs the Trainer but not Transform, and editing the report neither.
    """
    digest = hashlib.sha256()
    files = user_code_modules(*dotted_functions)
    # Names relative to the folder holding the packages, so every clone hashes the same.
    base = os.path.commonpath([os.path.dirname(os.path.dirname(f)) for f in files]) if files else ""
    for path in files:
        digest.update(os.path.relpath(path, base).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
