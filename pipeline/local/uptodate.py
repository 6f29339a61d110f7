"""Answers a rerun with nothing changed before TensorFlow, TFX or Beam are imported.

TFX's cache already makes such a rerun do no work, but finding that out costs about 9 s
whatever the data size: importing TensorFlow, TFX and Beam, then a Beam run of every
component's cache check (``bench/``). Like ``make``, this module asks the same question from
file stamps first. After every successful ``run`` it records a fingerprint of everything the
run read; the next ``run`` with the same fingerprint prints that run's outcome and stops.

The fingerprint is deliberately wider than TFX's cache key, so it can only say "changed"
too often, never too rarely: the whole resolved config and span, every source file of the
project's packages, every file under the data root, the schema, the serving folder, the ML
Metadata store itself (any later write, such as another run or a rollback, changes it) and
the versions of Python and of the libraries the components run on.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
from typing import Iterable, Iterator, List, Optional, Tuple

from pipeline.config import PROJECT_ROOT, Config

RECORD = "last_run.json"  # in the output root
SOURCE_PACKAGES = ("pipeline", "components", "kubeflow", "system")
LIBRARIES = ("tfx", "tensorflow", "tf-keras", "tensorflow-transform",
             "tensorflow-model-analysis", "tensorflow-data-validation", "tfx-bsl",
             "ml-metadata", "apache-beam", "numpy", "pyarrow", "protobuf")


def _walk(top: str) -> Iterator[Tuple[str, List[str]]]:
    """(folder, its file paths) under ``top`` in a stable order, without ``__pycache__``."""
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        yield folder, [os.path.join(folder, name) for name in sorted(files)]


def _stat_line(path: str, relative_to: str) -> str:
    stat = os.stat(path)
    return f"{os.path.relpath(path, relative_to)} {stat.st_size} {stat.st_mtime_ns}"


def _stat_lines(top: str, relative_to: str) -> Iterable[str]:
    """'path size mtime' for every file under ``top`` (or ``top`` itself), and every folder
    (an empty one, such as a new serving version, counts too), in a stable order."""
    if os.path.isfile(top):
        yield _stat_line(top, relative_to)
        return
    for folder, paths in _walk(top):
        yield f"{os.path.relpath(folder, relative_to)}/"
        yield from (_stat_line(path, relative_to) for path in paths)


def _source_lines(root: str) -> Iterable[str]:
    """Content hashes of the project's code: a checkout or an edit that keeps the size and
    mtime must still count as a change."""
    for package in SOURCE_PACKAGES:
        for _, paths in _walk(os.path.join(root, package)):
            for path in (p for p in paths if not p.endswith(".pyc")):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                yield f"{os.path.relpath(path, root)} {digest}"


def _library_lines() -> Iterable[str]:
    yield f"python {sys.version}"
    for name in LIBRARIES:
        try:
            yield f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            yield f"{name} -"


def fingerprint(cfg: Config, span: int, root: str = PROJECT_ROOT) -> str:
    """A hash of everything a local run of ``span`` reads; equal only if none of it changed."""
    h = hashlib.sha256()

    def add(section: str, lines: Iterable[str]) -> None:
        h.update(f"[{section}]\n".encode())
        for line in lines:
            h.update(line.encode() + b"\n")

    add("config", [cfg.digest(root), f"span {span}"])
    add("code", _source_lines(root))
    add("libraries", _library_lines())
    for section, path in (("data", cfg.data.root), ("schema", cfg.schema),
                          ("serving", cfg.serving_dir), ("metadata", cfg.metadata_path)):
        add(section, _stat_lines(path, path) if os.path.exists(path) else ["absent"])
    return h.hexdigest()


def _record_path(cfg: Config) -> str:
    return os.path.join(cfg.output_root, RECORD)


def remember(cfg: Config, span: int, run_id: str, outcome: List[str]) -> None:
    """Records a successful run, once ML Metadata holds all it will write for it."""
    record = {"fingerprint": fingerprint(cfg, span), "run_id": run_id, "span": span,
              "outcome": outcome}
    path = _record_path(cfg)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)  # a half-written record must never be read


def forget(cfg: Config) -> None:
    """Drops the record, so the next run goes through TFX whatever it finds."""
    try:
        os.remove(_record_path(cfg))
    except FileNotFoundError:
        pass


def unchanged_since(cfg: Config, span: int) -> Optional[dict]:
    """The last successful run's record if nothing it read has changed since; else None."""
    try:
        with open(_record_path(cfg)) as f:
            record = json.load(f)
        recorded = record["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):  # none, or unreadable: just run
        return None
    return record if recorded == fingerprint(cfg, span) else None
