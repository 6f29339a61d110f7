"""Rollback: make an earlier pushed version the serving one, and record who did it and why.

A model server loads the highest version, so a rollback to version N copies N in as a
new version M+1 (staged and renamed like the Pusher), leaving every earlier version as it
was. It is recorded twice: in ML Metadata, as an execution of type ``Rollback`` (user,
host, reason, from/to/new versions) whose input is version N's PushedModel artifact and
whose output is a PushedModel for M+1; and as one JSON line in ``<output_root>/rollbacks.log``
for people and tools that do not read ML Metadata.
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass
from typing import Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.lib.serving_store import push, serving_version, version_dirs
from pipeline.metadata import catalog, mlmd, run_record
from pipeline.config import Config

LOG_NAME = "rollbacks.log"
_STRING, _INT = metadata_store_pb2.STRING, metadata_store_pb2.INT


class RollbackError(ValueError):
    """The rollback cannot happen; the message names the version or the folder."""


@dataclass
class Rollback:
    from_version: int
    to_version: int
    new_version: int
    reason: str
    user: str
    host: str
    time: str


def choose_target(serving_dir: str, to: Optional[int]) -> tuple:
    """(current version, version to restore); without ``to``, the one before the current."""
    versions = sorted(version_dirs(serving_dir))
    current = serving_version(serving_dir)
    if current is None:
        raise RollbackError(f"{serving_dir}: no pushed version to roll back from")
    if to is None:
        earlier = [v for v in versions if v < current]
        if not earlier:
            raise RollbackError(f"{serving_dir}: version {current} is the only version; "
                                "nothing earlier to roll back to")
        return current, earlier[-1]
    if to not in versions:
        raise RollbackError(f"{serving_dir}: no version {to} (versions: "
                            f"{', '.join(map(str, versions))})")
    if to == current:
        raise RollbackError(f"{serving_dir}: version {to} is already serving")
    return current, to


def _execution_type(store: metadata_store.MetadataStore) -> int:
    kind = metadata_store_pb2.ExecutionType(name=catalog.ROLLBACK_TYPE)
    for name in ("user", "host", "reason", "time"):
        kind.properties[name] = _STRING
    for name in ("from_version", "to_version", "new_version"):
        kind.properties[name] = _INT
    return store.put_execution_type(kind)


def _pushed_model_type(store: metadata_store.MetadataStore) -> int:
    try:
        return store.get_artifact_type("PushedModel").id
    except Exception:  # a store where nothing was ever pushed by the pipeline
        return store.put_artifact_type(metadata_store_pb2.ArtifactType(name="PushedModel"))


def _pushed_artifact(store: metadata_store.MetadataStore, version: int):
    """The newest PushedModel artifact recorded for ``version``, or None."""
    try:
        artifacts = store.get_artifacts_by_type("PushedModel")
    except Exception:
        return None
    matching = [a for a in artifacts if mlmd.prop(a, "pushed")
                and str(mlmd.prop(a, "pushed_version")) == str(version)]
    return max(matching, key=lambda a: a.id) if matching else None


def record(store: metadata_store.MetadataStore, done: Rollback, new_dir: str) -> int:
    """Writes the Rollback execution with its input and output artifacts; returns its id."""
    execution = metadata_store_pb2.Execution(
        type_id=_execution_type(store),
        last_known_state=metadata_store_pb2.Execution.COMPLETE)
    for name in ("user", "host", "reason", "time"):
        execution.properties[name].string_value = getattr(done, name)
    for name in ("from_version", "to_version", "new_version"):
        execution.properties[name].int_value = getattr(done, name)
    output = metadata_store_pb2.Artifact(type_id=_pushed_model_type(store), uri=new_dir,
                                         state=metadata_store_pb2.Artifact.LIVE)
    output.custom_properties["pushed"].int_value = 1
    output.custom_properties["pushed_version"].string_value = str(done.new_version)
    output.custom_properties["pushed_destination"].string_value = new_dir
    output.custom_properties["restored_version"].int_value = done.to_version
    pairs = []
    source = _pushed_artifact(store, done.to_version)
    if source is not None:
        event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)
        event.path.steps.add().key = "restored_model"
        event.path.steps.add().index = 0
        pairs.append((source, event))
    event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
    event.path.steps.add().key = "pushed_model"
    event.path.steps.add().index = 0
    pairs.append((output, event))
    execution_id, _, _ = store.put_execution(execution, pairs, [])
    return execution_id


def rollback(cfg: Config, to: Optional[int], reason: str) -> Rollback:
    """Copies the chosen version in as the newest one and records the rollback."""
    if not reason.strip():
        raise RollbackError("--reason: say why you roll back (it is recorded)")
    current, target = choose_target(cfg.serving_dir, to)
    new_version = push(os.path.join(cfg.serving_dir, str(target)), cfg.serving_dir)
    done = Rollback(from_version=current, to_version=target, new_version=new_version,
                    reason=reason.strip(), time=datetime.datetime.now().isoformat(timespec="seconds"),
                    **run_record.who())
    new_dir = os.path.join(cfg.serving_dir, str(new_version))
    config = mlmd.metadata.sqlite_metadata_connection_config(cfg.metadata_path)
    os.makedirs(os.path.dirname(cfg.metadata_path), exist_ok=True)
    record(metadata_store.MetadataStore(config), done, new_dir)
    with open(os.path.join(cfg.output_root, LOG_NAME), "a", encoding="utf-8") as log:
        log.write(json.dumps(asdict(done), sort_keys=True) + "\n")
    return done
