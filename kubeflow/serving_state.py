"""The compiled spec's ``ServingState`` task: which model serves now, to key ServingBaseline.

Open-source KFP keys ServingBaseline's cache on the candidate model and its parameters, and
the serving folder is a constant, so after a rollback (a new highest version), or on a
recreated volume (the same version numbers, other models), a rerun with unchanged data would
reuse the old baseline and with it the old Evaluator and Pusher results. This task is never
cached and mounts the state volume: it outputs the serving version and a digest of its files,
which the compiler passes to ServingBaseline's ``serving_state`` parameter.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from typing import List

NONE = "none"


def directory_digest(path: str) -> str:
    """SHA-256 (first 16 hex digits) of every file's relative path and bytes under ``path``."""
    digest = hashlib.sha256()
    for top, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(top, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def serving_state(serving_dir: str) -> str:
    """``"version N: <digest>"`` of the model a server would load, or ``"none"``."""
    from components.lib.serving_store import serving_version

    version = serving_version(serving_dir)
    if version is None:
        return NONE
    return f"version {version}: {directory_digest(os.path.join(serving_dir, str(version)))}"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving_dir", required=True)
    parser.add_argument("--output", required=True, help="the output parameter's file")
    args = parser.parse_args(argv)
    from kubeflow.data_fingerprint import write_output_parameter

    write_output_parameter(args.output, "serving_state", serving_state(args.serving_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
