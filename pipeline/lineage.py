"""Fingerprints that key caches and trace a model back to its code."""
from __future__ import annotations

import hashlib
import os

import components

COMPONENTS_DIR = os.path.dirname(os.path.abspath(components.__file__))


def code_fingerprint(folder: str = COMPONENTS_DIR) -> str:
    """SHA-256 of the user code, so an edit to ``preprocessing_fn`` or ``run_fn`` re-runs them.

    Dotted-path user code is otherwise invisible to TFX's cache: the path string stays the
    same when the code behind it changes.
    """
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]
