"""The push destination: numbered versions (a model server loads the highest), atomic pushes
and model fingerprints. The Pusher, the ServingBaseline, the catalog, ``rollback`` and
``monitor`` all read and write it here."""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional

from tfx.dsl.io import fileio
from tfx.utils import io_utils


def version_dirs(serving_dir: str) -> Dict[int, str]:
    """Pushed versions under ``serving_dir``: {version: path}, complete pushes only."""
    if not fileio.exists(serving_dir):
        return {}
    versions = {}
    for name in fileio.listdir(serving_dir):
        name = name.rstrip("/")
        path = os.path.join(serving_dir, name)
        if name.isdigit() and fileio.exists(os.path.join(path, "saved_model.pb")):
            versions[int(name)] = path
    return versions


def serving_version(serving_dir: str) -> Optional[int]:
    """The version a model server would load: the highest complete one, or None."""
    versions = version_dirs(serving_dir)
    return max(versions) if versions else None


def model_fingerprint(model_dir: str) -> str:
    """SHA-256 over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for root, _, files in sorted(fileio.walk(model_dir)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, model_dir).encode())
            with fileio.open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def push(model_dir: str, serving_dir: str) -> int:
    """Copies ``model_dir`` in as the next version and returns that version."""
    version = max(version_dirs(serving_dir), default=0) + 1
    final = os.path.join(serving_dir, str(version))
    staging = os.path.join(serving_dir, f".staging-{version}-{os.getpid()}")
    fileio.makedirs(serving_dir)
    io_utils.copy_dir(model_dir, staging)
    fileio.rename(staging, final)
    return version
