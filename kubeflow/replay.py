"""Replays a compiled KFP v2 spec on this machine, task by task, as the KFP launcher would.

Each task's container ``command`` and ``args`` run as a subprocess in our environment
instead of the image. Placeholders are filled the way the KFP v2 launcher fills them
(the executor input JSON, parameter values, artifact URIs under a local pipeline root),
and each task's output artifacts, with the metadata its executor reported, pass to the
tasks downstream. Like open-source KFP, the replay runs no ``lifecycle`` hook and knows
no ``resolver`` or ``importer`` executor: a spec that needs them fails here first.

Paths baked into the spec for the pods (``kubeflow.project_dir``, ``kubeflow.serving_dir``)
are mapped to local folders, as volume mounts would map them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

# What the pipeline image sets (kubeflow/Dockerfile); the subprocesses get the same.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
_PLACEHOLDER = re.compile(r"\{\{\$(?P<expr>[^}]*)\}\}")


class ReplayError(RuntimeError):
    """The spec cannot be replayed; the message names the task and the problem."""


@dataclass
class TaskRun:
    name: str
    returncode: int
    seconds: float
    log: str
    outputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class ReplayResult:
    run_id: str
    root: str
    tasks: Dict[str, TaskRun]
    order: List[str]

    @property
    def failed(self) -> Optional[TaskRun]:
        return next((t for t in self.tasks.values() if not t.ok), None)

    def artifact(self, task: str, key: str) -> Dict[str, Any]:
        return self.tasks[task].outputs[key][0]


def task_order(spec: pipeline_spec_pb2.PipelineSpec) -> List[str]:
    """Tasks in dependency order (ties by name, so the order is stable)."""
    tasks = spec.root.dag.tasks
    upstream = {name: set(task.dependent_tasks) for name, task in tasks.items()}
    for name, task in tasks.items():
        for artifact in task.inputs.artifacts.values():
            if artifact.HasField("task_output_artifact"):
                upstream[name].add(artifact.task_output_artifact.producer_task)
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


def mount(value: Any, mounts: Dict[str, str]) -> Any:
    """Rewrites paths under a mounted prefix, longest prefix first."""
    if not isinstance(value, str):
        return value
    for prefix in sorted(mounts, key=len, reverse=True):
        value = re.sub(re.escape(prefix) + r"(?=$|[/\"'])", mounts[prefix].replace("\\", "\\\\"), value)
    return value


def _fill(arg: str, executor_input: Dict[str, Any], task: str) -> str:
    """Fills KFP v2 placeholders in one container argument."""
    def replace(match: re.Match) -> str:
        expr = match.group("expr")
        if expr == "":
            return json.dumps(executor_input, sort_keys=True)
        found = re.fullmatch(r"\.inputs\.parameters\['([^']+)'\]", expr)
        if found:
            value = executor_input["inputs"]["parameterValues"][found.group(1)]
            return value if isinstance(value, str) else json.dumps(value)
        found = re.fullmatch(r"\.(inputs|outputs)\.artifacts\['([^']+)'\]\.(uri|path)", expr)
        if found:
            side, name, _ = found.groups()
            return executor_input[side]["artifacts"][name]["artifacts"][0]["uri"]
        if expr == ".outputs.output_file":
            return executor_input["outputs"]["outputFile"]
        raise ReplayError(f"task {task}: placeholder {{{{${expr}}}}} is not supported by the replay")
    return _PLACEHOLDER.sub(replace, arg)


def _executor_input(task_name: str, task: Any, component: Any, values: Dict[str, Any],
                    done: Dict[str, TaskRun], task_root: str, mounts: Dict[str, str],
                    run_id: str) -> Dict[str, Any]:
    parameters = {}
    for name, spec in task.inputs.parameters.items():
        if spec.HasField("runtime_value"):
            value = json_format.MessageToDict(spec.runtime_value.constant)
        elif spec.component_input_parameter:
            value = values[spec.component_input_parameter]
        else:
            raise ReplayError(f"task {task_name}: parameter {name} has an input kind the replay "
                              "does not support")
        parameters[name] = mount(value, mounts)
    artifacts = {}
    for name, spec in task.inputs.artifacts.items():
        producer = spec.task_output_artifact.producer_task
        key = spec.task_output_artifact.output_artifact_key
        if producer not in done or key not in done[producer].outputs:
            raise ReplayError(f"task {task_name}: input {name} needs {producer}.{key}, which did "
                              "not run first (a missing dependency between tasks)")
        artifacts[name] = {"artifacts": done[producer].outputs[key]}
    outputs = {}
    for name, definition in component.output_definitions.artifacts.items():
        outputs[name] = {"artifacts": [{
            "name": f"{run_id}/{task_name}/{name}",
            "type": json_format.MessageToDict(definition.artifact_type),
            "uri": os.path.join(task_root, name), "metadata": {}}]}
    return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": outputs,
                        "outputFile": os.path.join(task_root, "executor_output.json")}}


def _read_outputs(executor_input: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Output artifacts with the metadata the executor wrote, as the launcher records them."""
    declared = {k: v["artifacts"] for k, v in executor_input["outputs"]["artifacts"].items()}
    path = executor_input["outputs"]["outputFile"]
    if not os.path.exists(path):
        return declared
    with open(path, encoding="utf-8") as f:
        reported = json.load(f).get("artifacts", {})
    merged = {}
    for key, artifacts in declared.items():
        updates = reported.get(key, {}).get("artifacts", [])
        merged[key] = [{**a, **{k: v for k, v in (updates[i] if i < len(updates) else {}).items()
                                if k in ("uri", "metadata")}}
                       for i, a in enumerate(artifacts)]
    return merged


def replay(spec: pipeline_spec_pb2.PipelineSpec, root: str, *,
           parameters: Optional[Dict[str, Any]] = None, mounts: Optional[Dict[str, str]] = None,
           echo: Callable[[str], None] = print) -> ReplayResult:
    """Runs every task of ``spec`` under ``root``; stops at the first failing task."""
    values = pipeline_parameters(spec, parameters or {})
    mounts = mounts or {}
    run_id = time.strftime("replay-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    order = task_order(spec)
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    done: Dict[str, TaskRun] = {}
    env = {**os.environ, **IMAGE_ENV}
    for name in order:
        task = spec.root.dag.tasks[name]
        component = spec.components[task.component_ref.name]
        executor = executors[component.executor_label]
        if "container" not in executor:
            raise ReplayError(f"task {name}: executor {component.executor_label} is not a "
                              f"container ({sorted(executor)[0]}); open-source KFP rejects it")
        # The KFP launcher's layout: <pipeline root>/<pipeline>/<run id>/<task>/<output>.
        task_root = os.path.join(root, spec.pipeline_info.name, run_id, name)
        os.makedirs(task_root, exist_ok=True)
        executor_input = _executor_input(name, task, component, values, done, task_root, mounts,
                                         run_id)
        container = executor["container"]
        command = [sys.executable if c == "python" else c for c in container.get("command", [])]
        argv = command + [_fill(a, executor_input, name) for a in container.get("args", [])]
        log = os.path.join(task_root, "log.txt")
        echo(f"  ▶ {name}")
        start = time.monotonic()
        with open(log, "w", encoding="utf-8") as out:
            returncode = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        cwd=task_root).returncode
        seconds = time.monotonic() - start
        done[name] = TaskRun(name, returncode, seconds, log)
        if returncode != 0:
            echo(f"  ✘ {name} failed after {seconds:.1f}s (exit {returncode}): {last_error(log)}")
            break
        done[name].outputs = _read_outputs(executor_input)
        echo(f"  ✔ {name} {seconds:.1f}s")
    return ReplayResult(run_id, root, done, order)


def last_error(log: str) -> str:
    """The line of a task's log that says what went wrong (Python's last exception line)."""
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
    return (errors or lines or ["no output"])[-1][:500]
