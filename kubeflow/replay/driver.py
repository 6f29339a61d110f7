"""The replay's driver: what KFP's driver does for a task before its pod starts.

Parameters come from constants, pipeline parameters and upstream output parameters. Input
artifacts come from the "ML Metadata" records the launcher made: ``name`` is the artifact's
ID, ``metadata`` its properties, and ``type`` is ``{instanceSchema: ""}``, as
``metadata/client.go`` leaves it. Output URIs, the executor output file and the cache key
follow the chosen version's ``Backend`` (``kubeflow/replay/backend.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.entrypoint import local_path
from kubeflow.replay.backend import EXECUTOR_LOGS, Backend

# Where the OSS launcher points output parameters, and (before 2.15) the executor output.
OUTPUT_METADATA = "/tmp/kfp_outputs/output_metadata.json"
OUTPUT_PARAMETERS = "/tmp/kfp/outputs"


class ReplayError(RuntimeError):
    """The spec cannot be replayed; the message names the task and the problem."""


@dataclass
class TaskRun:
    name: str
    returncode: int
    seconds: float
    log: str
    outputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    parameters: Dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def upstream_of(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, set]:
    """{task: the tasks it waits for}: declared dependencies and the producers of its inputs."""
    upstream = {}
    for name, task in spec.root.dag.tasks.items():
        upstream[name] = set(task.dependent_tasks)
        for artifact in task.inputs.artifacts.values():
            if artifact.HasField("task_output_artifact"):
                upstream[name].add(artifact.task_output_artifact.producer_task)
        for parameter in task.inputs.parameters.values():
            if parameter.HasField("task_output_parameter"):
                upstream[name].add(parameter.task_output_parameter.producer_task)
    return upstream


def task_order(spec: pipeline_spec_pb2.PipelineSpec) -> List[str]:
    """Tasks in dependency order (ties by name, so the order is stable)."""
    tasks = spec.root.dag.tasks
    upstream = upstream_of(spec)
    for name in sorted(tasks):
        missing = sorted(upstream[name] - set(tasks))
        if missing:
            raise ReplayError(f"task {name} depends on {missing[0]}, which is not a task of the spec")
    order: List[str] = []
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in order and upstream[n] <= set(order))
        if not ready:
            raise ReplayError(f"tasks {sorted(set(tasks) - set(order))} depend on each other")
        order.append(ready[0])
    return order


def _typed(value: Any, parameter_type: int) -> Any:
    kind = pipeline_spec_pb2.ParameterType.ParameterTypeEnum
    if parameter_type == kind.NUMBER_INTEGER:
        return int(value)
    if parameter_type == kind.NUMBER_DOUBLE:
        return float(value)
    if parameter_type == kind.BOOLEAN:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def pipeline_parameters(spec: pipeline_spec_pb2.PipelineSpec,
                        overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The run's parameter values: the spec's defaults, then ``overrides``."""
    definitions = spec.root.input_definitions.parameters
    unknown = sorted(set(overrides) - set(definitions))
    if unknown:
        raise ReplayError(f"unknown runtime parameter {unknown[0]!r} "
                          f"(parameters: {', '.join(sorted(definitions)) or 'none'})")
    values = {}
    for name, definition in definitions.items():
        if name in overrides:
            values[name] = _typed(overrides[name], definition.parameter_type)
        elif definition.HasField("default_value"):
            values[name] = _typed(json_format.MessageToDict(definition.default_value),
                                  definition.parameter_type)
        else:
            raise ReplayError(f"runtime parameter {name!r} has no default; pass --param {name}=...")
    return values


class State:
    """What outlives a replay under its root: the artifact ID counter ("ML Metadata") and the
    cache (``<namespace>/pipeline/<name>`` -> fingerprint -> that execution's outputs; KFP
    looks a hit up by fingerprint, pipeline name and namespace)."""

    def __init__(self, root: str):
        self.path = os.path.join(root, "state.json")
        self.data: Dict[str, Any] = {"next_artifact_id": 1, "cache": {}}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)

    def new_artifact_id(self) -> str:
        self.data["next_artifact_id"] += 1
        return str(self.data["next_artifact_id"] - 1)

    def cache(self, scope: str) -> Dict[str, Any]:
        """The cache entries of one pipeline in one namespace."""
        return self.data["cache"].setdefault(scope, {})

    def save(self) -> None:
        with open(self.path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)


def cache_key(inputs: Dict[str, Any], outputs: Dict[str, Any], output_parameter_types: Dict[str, str],
              command_args: List[str], image: str, pvc_names: Optional[List[str]] = None) -> str:
    """``cacheutils.GenerateCacheKey`` then ``GenerateFingerPrint``: input artifact names (MLMD
    IDs), parameter values, output artifact specs with their URIs wiped (names included:
    empty before 2.15), output parameter types, the unfilled command and arguments, the
    image, and from 2.15 the task's PVC names (``pvc_names``; None leaves them out)."""
    container: Dict[str, Any] = {"image": image, "cmdArgs": command_args}
    if pvc_names is not None:
        container["pvcNames"] = pvc_names
    key = {
        "inputArtifactNames": {k: [a["name"] for a in v["artifacts"]]
                               for k, v in inputs.get("artifacts", {}).items()},
        "inputParameterValues": inputs.get("parameterValues", {}),
        "outputArtifactsSpec": {k: {"name": v["artifacts"][0].get("name", ""),
                                    "type": v["artifacts"][0]["type"],
                                    "metadata": v["artifacts"][0].get("metadata", {})}
                                for k, v in outputs.get("artifacts", {}).items()},
        "outputParametersSpec": output_parameter_types,
        "containerSpec": container}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _input_parameter(task_name: str, spec: Any, values: Dict[str, Any],
                     done: Dict[str, TaskRun]) -> Any:
    if spec.HasField("runtime_value"):
        return json_format.MessageToDict(spec.runtime_value.constant)
    if spec.component_input_parameter:
        return values[spec.component_input_parameter]
    if spec.HasField("task_output_parameter"):
        producer = spec.task_output_parameter.producer_task
        key = spec.task_output_parameter.output_parameter_key
        if producer not in done or key not in done[producer].parameters:
            raise ReplayError(f"task {task_name}: parameter needs {producer}.{key}, which did not "
                              "run first (a missing dependency between tasks)")
        return done[producer].parameters[key]
    raise ReplayError(f"task {task_name}: a parameter has an input kind the replay does not support")


def driver_inputs(task_name: str, task: Any, values: Dict[str, Any],
                   done: Dict[str, TaskRun]) -> Dict[str, Any]:
    """The executor input's ``inputs`` as the OSS driver resolves them (pod paths)."""
    parameters = {name: _input_parameter(task_name, p, values, done)
                  for name, p in task.inputs.parameters.items()}
    artifacts = {}
    for name, spec in task.inputs.artifacts.items():
        producer = spec.task_output_artifact.producer_task
        key = spec.task_output_artifact.output_artifact_key
        if producer not in done or key not in done[producer].outputs:
            raise ReplayError(f"task {task_name}: input {name} needs {producer}.{key}, which did "
                              "not run first (a missing dependency between tasks)")
        # As metadata/client.go rebuilds it from ML Metadata: the schema is lost.
        artifacts[name] = {"artifacts": [{**a, "type": {"instanceSchema": ""}}
                                         for a in done[producer].outputs[key]]}
    return {"parameterValues": parameters, "artifacts": artifacts}


def provision_outputs(component: Any, run_root: str, task_name: str, pod_root: str,
                      backend: Backend) -> Dict[str, Any]:
    """``provisionOutputs``: each output artifact's URI under the task's root (with a fresh
    UUID from 2.5), the backend's ``executor-logs`` output, the output parameter files, and
    the executor output file (in the local task root from 2.15)."""
    task_root = f"{run_root.rstrip('/')}/{task_name}"
    if backend.output_uri_salt:
        task_root += f"/{uuid.uuid4()}"
    definitions = {name: (json_format.MessageToDict(d.artifact_type),
                          json_format.MessageToDict(d.metadata))
                   for name, d in component.output_definitions.artifacts.items()}
    if backend.executor_logs:
        definitions[EXECUTOR_LOGS] = ({"schemaTitle": "system.Artifact"}, {})
    artifacts = {}
    for name, (kind, metadata) in definitions.items():
        artifact = {"type": kind, "uri": f"{task_root}/{name}", "metadata": metadata}
        if backend.output_file_in_task_root:
            artifact["name"] = name
        artifacts[name] = {"artifacts": [artifact]}
    parameters = {name: {"outputFile": pod_root + posixpath.join(OUTPUT_PARAMETERS, name)}
                  for name in component.output_definitions.parameters}
    local_root = local_path(task_root, pod_root)
    output_file = (os.path.join(local_root, "output_metadata.json")
                   if backend.output_file_in_task_root and local_root else pod_root + OUTPUT_METADATA)
    return {"artifacts": artifacts, "parameters": parameters, "outputFile": output_file}
