"""What the end-to-end tests share: the CLI in a subprocess, and reading a run back from ML
Metadata and the output root."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from typing import Dict, List, Mapping, Optional

from pipeline.metadata import mlmd
from tests.conftest import ROOT

# The steps every penguins run trains for: enough to bless a model, few enough to be quick.
STEPS = ["--train-steps", "60"]


def cli(*args: str, env: Optional[Mapping[str, str]] = None,
        timeout: int = 1200) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` from the checkout, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                          env=dict(env) if env is not None else None,
                          capture_output=True, text=True, timeout=timeout)


def run_id_of(output: str) -> str:
    """The run ID from a ``run`` summary's first line (``Run <id> on span N: ...``)."""
    found = re.search(r"^Run (\S+) on ", output, re.M)
    assert found, f"no run summary in:\n{output}"
    return found.group(1)


def metadata_path(output_root: str) -> str:
    return os.path.join(output_root, "metadata.sqlite")


def nodes_of(output_root: str, run_id: str) -> Dict[str, mlmd.NodeRun]:
    """Each node of run ``run_id`` as ML Metadata recorded it."""
    with mlmd.open_store(metadata_path(output_root)) as store:
        return mlmd.run_nodes(store, run_id)


def run_contexts(output_root: str) -> Dict[str, int]:
    """Run ID -> context ID of every run recorded under ``output_root`` (none: {})."""
    if not os.path.exists(metadata_path(output_root)):
        return {}
    with mlmd.open_store(metadata_path(output_root)) as store:
        return {c.name: c.id for c in store.get_contexts_by_type("pipeline_run")}


def tree_hash(folder: str) -> str:
    """Every file's relative path and bytes under ``folder``."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def error_lines(stderr: str) -> List[str]:
    """What a person sees on stderr, minus blank lines."""
    return [line for line in stderr.splitlines() if line.strip()]
