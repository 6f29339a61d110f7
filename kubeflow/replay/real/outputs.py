"""What each task of a run produced, read back from ML Metadata as the KFP UI reads it: the run's
``system.PipelineRun`` context, its executions by ``task_name``, their OUTPUT events."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from google.protobuf import json_format
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT = "system.PipelineRun"  # metadata/client.go: pipelineRunContextTypeName

Outputs = Dict[str, List[Dict[str, Any]]]


def value(v: metadata_store_pb2.Value) -> Any:
    """An ML Metadata property as a plain value."""
    kind = v.WhichOneof("value")
    if kind == "struct_value":
        return json_format.MessageToDict(v.struct_value)
    return getattr(v, kind) if kind else None


def task_outputs(store: metadata_store.MetadataStore, run_id: str) -> Dict[str, Tuple[Outputs, Dict]]:
    """{task: ({output: [{"uri", "metadata"}]}, output parameters)} of the run ``run_id``; a
    cached task reports what the execution it reused produced (the driver copies the events)."""
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        return {}
    executions = {e.id: e for e in store.get_executions_by_context(context.id)}
    found: Dict[str, Tuple[Outputs, Dict]] = {}
    events = store.get_events_by_execution_ids(list(executions)) if executions else []
    outputs = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id({e.artifact_id for e in outputs})}
    for execution in executions.values():
        name = execution.custom_properties["task_name"].string_value
        parameters = value(execution.custom_properties["outputs"]) or {} \
            if "outputs" in execution.custom_properties else {}
        found[name] = ({}, parameters)
    for event in outputs:
        name = executions[event.execution_id].custom_properties["task_name"].string_value
        key = event.path.steps[0].key if event.path.steps else ""
        artifact = artifacts[event.artifact_id]
        found[name][0].setdefault(key, []).append({
            "uri": artifact.uri, "name": str(artifact.id),
            "metadata": {k: value(v) for k, v in artifact.custom_properties.items()}})
    return found
