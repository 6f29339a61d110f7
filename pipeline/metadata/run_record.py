"""Who ran what: git commit, config hash, user and host on the run's ML Metadata context.

The runner calls :func:`record` after each run. The values go onto the ``pipeline_run``
context as custom properties; caching never reads contexts' properties, so recording
them cannot change what is re-run. ``models`` reads them back.
"""
from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import subprocess
from typing import Dict

from ml_metadata.metadata_store import metadata_store

from pipeline.config import PROJECT_ROOT, Config

KEYS = ("git_sha", "git_dirty", "config_hash", "user", "host")


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def code_version() -> Dict[str, str]:
    """{'git_sha': ..., 'git_dirty': 'true'|'false'}; 'unknown' outside a git checkout."""
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return {"git_sha": "unknown", "git_dirty": "unknown"}
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {"git_sha": sha, "git_dirty": "true" if dirty else "false"}


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return os.environ.get("USER", "unknown")


def who() -> Dict[str, str]:
    return {"user": current_user(), "host": socket.gethostname()}


def properties(cfg: Config) -> Dict[str, str]:
    """What `models` shows. The config hash leaves out ``data.span``: which span a run
    trained on is recorded on its Examples, and `--span 2` is not a different configuration."""
    settings = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, span=None))
    return {**code_version(), "config_hash": settings.digest(), **who()}


def record(store: metadata_store.MetadataStore, run_id: str, values: Dict[str, str]) -> bool:
    """Writes ``values`` onto the run's ``pipeline_run`` context; False if there is none."""
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return False
    for key, value in values.items():
        context.custom_properties[key].string_value = value
    store.put_contexts([context])
    return True


def read(store: metadata_store.MetadataStore, run_id: str) -> Dict[str, str]:
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return {}
    return {k: v.string_value for k, v in context.custom_properties.items()
            if v.WhichOneof("value") == "string_value"}
