"""Reading what a run recorded in ML Metadata: per-component state, timing, outputs."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from components.lib.properties import prop  # noqa: F401  (re-exported: mlmd.prop)

STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@contextlib.contextmanager
def open_store(metadata_path: str) -> Iterator[metadata_store.MetadataStore]:
    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"{metadata_path}: no ML Metadata store (has a run happened?)")
    config = metadata.sqlite_metadata_connection_config(metadata_path)
    yield metadata_store.MetadataStore(config)


@dataclass
class NodeRun:
    node_id: str
    state: str                      # COMPLETE, CACHED, FAILED, RUNNING, ...
    seconds: float
    execution: metadata_store_pb2.Execution
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = field(default_factory=dict)
    inputs: Dict[str, List[metadata_store_pb2.Artifact]] = field(default_factory=dict)

    @property
    def cached(self) -> bool:
        return self.state == "CACHED"


def _event_key(event: metadata_store_pb2.Event) -> str:
    return next((s.key for s in event.path.steps if s.HasField("key")), "")


def run_nodes(store: metadata_store.MetadataStore, run_id: str) -> Dict[str, NodeRun]:
    """Every execution of pipeline run ``run_id``, keyed by node id."""
    run_context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run_context is None:
        return {}
    executions = store.get_executions_by_context(run_context.id)
    node_type = store.get_context_type("node").id
    nodes: Dict[str, NodeRun] = {}
    for execution in executions:
        contexts = store.get_contexts_by_execution(execution.id)
        node_context = next((c for c in contexts if c.type_id == node_type), None)
        if node_context is None:
            continue
        node_id = node_context.name.split(".", 1)[-1]
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        node = NodeRun(node_id, STATE_NAMES.get(execution.last_known_state, "UNKNOWN"), seconds,
                       execution)
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        for event in events:
            target = node.outputs if event.type == metadata_store_pb2.Event.OUTPUT else (
                node.inputs if event.type == metadata_store_pb2.Event.INPUT else None)
            if target is not None and event.artifact_id in artifacts:
                target.setdefault(_event_key(event), []).append(artifacts[event.artifact_id])
        nodes[node_id] = node
    return nodes


def latest_run_id(store: metadata_store.MetadataStore) -> Optional[str]:
    runs = store.get_contexts_by_type("pipeline_run")
    return max(runs, key=lambda c: c.create_time_since_epoch).name if runs else None
