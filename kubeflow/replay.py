"""A local stand-in for open-source Kubeflow Pipelines' v2 driver and launcher.

It replays a compiled spec task by task, doing to each task what the OSS backend does
(kubeflow/pipelines ``backend/src/v2``, read at tags 2.2.0 and 2.5.0), so that what fails on a
cluster fails here first. It is a stand-in, not KFP: no Kubernetes, no Argo, no real ML
Metadata, and the object store is a SQLite file instead of MinIO (no MinIO server can be
installed from this machine's package registries).

* **Driver.** Parameters come from constants, pipeline parameters and upstream output
  parameters. Input artifacts come from the "ML Metadata" records the launcher made: ``name``
  is the artifact's ID, ``metadata`` its properties (plus the ``display_name`` and
  ``store_session_info`` the launcher adds), and ``type`` is ``{instanceSchema: ""}``, as
  ``metadata/client.go`` leaves it. Output URIs are ``<pipeline root>/<task>/<uuid>/<output>``.
* **Cache.** A task whose ``cachingOptions.enableCache`` is set is keyed on its input
  artifact IDs, input parameter values, output specs, command, arguments and image
  (``cacheutils.GenerateCacheKey``); a key seen before, in this replay or an earlier one under
  the same root, reuses that execution's outputs and runs nothing.
* **Launcher.** Each task gets a fresh, empty folder standing for its pod's root file system.
  The image's content (the ``COPY`` lines of ``kubeflow/Dockerfile``) and the volume claims of
  the spec's Kubernetes platform config are mounted into it; anything else a task writes is
  gone when it ends. Every input artifact is downloaded by prefix to its local mirror
  (``/minio/<bucket>/<key>``, ``/s3/``, ``/gcs/``) exactly as ``objectstore.DownloadBlob`` does,
  so a zero-byte ``dir/`` key becomes a file; the container's ``command`` and ``args`` run as a
  subprocess with placeholders filled as ``getPlaceholders`` fills them; then the executor
  output is merged into the output artifacts, their mirrors are uploaded (files only), and
  output parameters are read from the executor output or their files.
* No ``lifecycle`` hook runs, and a ``resolver`` or ``importer`` executor is an error.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.entrypoint import MIRRORS, POD_ROOT_ENV, local_path

# What the pipeline image sets (kubeflow/Dockerfile); the subprocesses get the same.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(PROJECT_ROOT, "kubeflow", "Dockerfile")
# Where the OSS launcher points a task's executor output and output parameters.
OUTPUT_METADATA = "/tmp/kfp_outputs/output_metadata.json"
OUTPUT_PARAMETERS = "/tmp/kfp/outputs"
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
    parameters: Dict[str, Any] = field(default_factory=dict)
    cached: bool = False

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


def split_uri(uri: str) -> Tuple[str, str, str]:
    """(scheme, bucket, key) of a remote URI; a ReplayError for anything else."""
    for scheme, _ in MIRRORS:
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme):].partition("/")
            return scheme, bucket, key
    raise ReplayError(f"{uri!r} is not object storage; open-source KFP's launcher mirrors only "
                      f"{', '.join(s for s, _ in MIRRORS)} URIs")


class ObjectStore:
    """A bucket store in one SQLite file: keys are flat strings, as in S3 or GCS, so a
    zero-byte ``dir/`` marker key can sit beside ``dir/file`` as it does in a real bucket."""

    def __init__(self, path: str):
        self.path = path
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS objects (scheme TEXT, bucket TEXT, key TEXT, "
                       "data BLOB, PRIMARY KEY (scheme, bucket, key))")

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=120)  # tasks upload side by side

    def put(self, uri: str, data: bytes) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (*split_uri(uri), data))

    def get(self, uri: str) -> bytes:
        with self._db() as db:
            row = db.execute("SELECT data FROM objects WHERE scheme=? AND bucket=? AND key=?",
                             split_uri(uri)).fetchone()
        if row is None:
            raise FileNotFoundError(uri)
        return row[0]

    def _under(self, prefix_uri: str, columns: str) -> List[tuple]:
        """Rows of the objects under a prefix in byte order, as an S3 or GCS listing gives
        them (no delimiter: a listing of ``a/b`` includes ``a/bc``, as the launcher's does)."""
        scheme, bucket, prefix = split_uri(prefix_uri)
        with self._db() as db:
            return db.execute(f"SELECT {columns} FROM objects WHERE scheme=? AND bucket=? AND "
                              "substr(key, 1, ?)=? ORDER BY key",
                              (scheme, bucket, len(prefix), prefix)).fetchall()

    def list(self, prefix_uri: str) -> List[str]:
        """Keys under a prefix (see ``_under``)."""
        return [key for (key,) in self._under(prefix_uri, "key")]

    def download(self, uri: str, local_dir: str) -> None:
        """``objectstore.DownloadBlob``: every key under the prefix to ``local_dir`` joined
        with its relative path (Go's ``filepath.Rel`` drops a trailing slash, so a ``dir/``
        marker is created as a zero-byte *file* named ``dir``)."""
        _, _, prefix = split_uri(uri)
        for key, data in self._under(uri, "key, data"):
            relative = posixpath.relpath(key, prefix) if key != prefix else "."
            target = os.path.normpath(os.path.join(local_dir, relative))
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            except FileExistsError:  # Go's MkdirAll says ENOTDIR when a file is in the way
                raise NotADirectoryError(errno.ENOTDIR, "not a directory",
                                         os.path.dirname(target)) from None
            with open(target, "wb") as f:
                f.write(data)

    def upload(self, local: str, uri: str) -> None:
        """``objectstore.UploadBlob``: a file, or every file under a folder (no folder keys)."""
        if os.path.isfile(local):
            with open(local, "rb") as f:
                self.put(uri, f.read())
            return
        for entry in sorted(os.listdir(local)):
            self.upload(os.path.join(local, entry), f"{uri}/{entry}")


def _upstream(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, set]:
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
    upstream = _upstream(spec)
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


def image_mounts(project_dir: str, dockerfile: str = DOCKERFILE,
                 project_root: str = PROJECT_ROOT) -> Dict[str, str]:
    """{path in the image: path in this checkout} for what the Dockerfile's COPY lines copy
    into ``project_dir`` (the image's WORKDIR)."""
    mounts = {}
    with open(dockerfile, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[0] != "COPY":
                continue
            sources, dest = parts[1:-1], parts[-1]
            for source in sources:
                name = source.rstrip("/")
                target = dest if dest != "./" else name
                mounts[posixpath.join(project_dir, target.rstrip("/"))] = os.path.join(project_root, name)
    return mounts


def volume_mounts(platform: Dict[str, Any], executor_label: str, root: str) -> Dict[str, str]:
    """{mount path: local folder} for the executor's ``pvcMount``s in the platform config."""
    executors = (platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
                 .get("executors", {}))
    mounts = {}
    for pvc in executors.get(executor_label, {}).get("pvcMount", []):
        claim = pvc.get("constant") or pvc.get("pvcNameParameter", {}).get(
            "runtimeValue", {}).get("constant")
        if not claim or not pvc.get("mountPath"):
            raise ReplayError(f"executor {executor_label}: a pvcMount needs a constant claim name "
                              "and a mountPath")
        mounts[pvc["mountPath"]] = os.path.join(root, "volumes", claim)
        os.makedirs(mounts[pvc["mountPath"]], exist_ok=True)
    return mounts


def _fill(arg: str, executor_input: Dict[str, Any], task: str, pod_root: str = "/") -> str:
    """Fills KFP v2 placeholders in one container argument, as the launcher does."""
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
            side, name, kind = found.groups()
            uri = executor_input[side]["artifacts"][name]["artifacts"][0]["uri"]
            return uri if kind == "uri" else (local_path(uri, pod_root) or uri)
        found = re.fullmatch(r"\.outputs\.parameters\['([^']+)'\]\.output_file", expr)
        if found:
            return executor_input["outputs"]["parameters"][found.group(1)]["outputFile"]
        if expr == ".outputs.output_file":
            return executor_input["outputs"]["outputFile"]
        raise ReplayError(f"task {task}: placeholder {{{{${expr}}}}} is not supported by the replay")
    return _PLACEHOLDER.sub(replace, arg)


class State:
    """What outlives a replay under its root: the artifact ID counter ("ML Metadata") and the
    cache (fingerprint -> that execution's outputs)."""

    def __init__(self, root: str):
        self.path = os.path.join(root, "state.json")
        self.data = {"next_artifact_id": 1, "cache": {}}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)

    def new_artifact_id(self) -> str:
        self.data["next_artifact_id"] += 1
        return str(self.data["next_artifact_id"] - 1)

    def save(self) -> None:
        with open(self.path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)


def cache_key(inputs: Dict[str, Any], outputs: Dict[str, Any], output_parameter_types: Dict[str, str],
              command_args: List[str], image: str) -> str:
    """``cacheutils.GenerateCacheKey`` then ``GenerateFingerPrint``: input artifact names (MLMD
    IDs), parameter values, output artifact specs with their URIs wiped, output parameter
    types, the unfilled command and arguments, and the image."""
    key = {
        "inputArtifactNames": {k: [a["name"] for a in v["artifacts"]]
                               for k, v in inputs.get("artifacts", {}).items()},
        "inputParameterValues": inputs.get("parameterValues", {}),
        "outputArtifactsSpec": {k: {"name": "", "type": v["artifacts"][0]["type"],
                                    "metadata": v["artifacts"][0].get("metadata", {})}
                                for k, v in outputs.get("artifacts", {}).items()},
        "outputParametersSpec": output_parameter_types,
        "containerSpec": {"image": image, "cmdArgs": command_args}}
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


def _driver_inputs(task_name: str, task: Any, values: Dict[str, Any],
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


def _provision_outputs(component: Any, pipeline_root: str, task_name: str,
                       pod_root: str) -> Dict[str, Any]:
    """``provisionOutputs`` (2.5.0): ``<root>/<task>/<uuid>/<output>`` for each artifact."""
    salt = str(uuid.uuid4())
    artifacts = {
        name: {"artifacts": [{
            "type": json_format.MessageToDict(definition.artifact_type),
            "uri": f"{pipeline_root.rstrip('/')}/{task_name}/{salt}/{name}",
            "metadata": json_format.MessageToDict(definition.metadata)}]}
        for name, definition in component.output_definitions.artifacts.items()}
    parameters = {name: {"outputFile": pod_root + posixpath.join(OUTPUT_PARAMETERS, name)}
                  for name in component.output_definitions.parameters}
    return {"artifacts": artifacts, "parameters": parameters,
            "outputFile": pod_root + OUTPUT_METADATA}


def _launch(argv: List[str], executor_input: Dict[str, Any], store: ObjectStore, pod_root: str,
            log: str, cwd: str) -> Tuple[int, Dict[str, List[Dict[str, Any]]], Dict[str, Any]]:
    """The launcher: download inputs, run, merge the executor output, upload. Returns the exit
    status, the output artifacts (the caller gives them their ML Metadata IDs) and the output
    parameters."""
    with open(log, "w", encoding="utf-8") as out:
        for name, artifact_list in executor_input["inputs"]["artifacts"].items():
            uri = artifact_list["artifacts"][0]["uri"]
            local = local_path(uri, pod_root)
            if local is None:
                continue
            try:
                store.download(uri, local)
            except OSError as e:
                out.write(f"Error: failed to download input artifact {name!r} from remote storage "
                          f"URI {uri!r}: {e.strerror or e}\n")
                return 1, {}, {}
        for artifact_list in executor_input["outputs"]["artifacts"].values():
            local = local_path(artifact_list["artifacts"][0]["uri"], pod_root)
            if local:
                os.makedirs(os.path.dirname(local), exist_ok=True)
        for parameter in executor_input["outputs"]["parameters"].values():
            os.makedirs(os.path.dirname(parameter["outputFile"]), exist_ok=True)
        out.flush()
        env = {**os.environ, **IMAGE_ENV, POD_ROOT_ENV: pod_root}
        returncode = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=cwd).returncode
    if returncode != 0:
        return returncode, {}, {}
    reported: Dict[str, Any] = {}
    output_file = executor_input["outputs"]["outputFile"]
    if os.path.exists(output_file):
        with open(output_file, encoding="utf-8") as f:
            reported = json.load(f)
        shutil.copy(output_file, os.path.join(os.path.dirname(log), "executor_output.json"))
    parameters = dict(reported.get("parameterValues", {}))
    for name, parameter in executor_input["outputs"]["parameters"].items():
        if name not in parameters:
            with open(parameter["outputFile"], encoding="utf-8") as f:
                parameters[name] = f.read()
    outputs = {}
    for name, artifact_list in executor_input["outputs"]["artifacts"].items():
        artifact = dict(artifact_list["artifacts"][0])
        update = (reported.get("artifacts", {}).get(name, {}).get("artifacts") or [{}])[0]
        artifact["uri"] = update.get("uri") or artifact["uri"]
        artifact["metadata"] = {**artifact.get("metadata", {}), **update.get("metadata", {})}
        local = local_path(artifact["uri"], pod_root)
        if local and os.path.exists(local):
            store.upload(local, artifact["uri"])
        artifact["metadata"].setdefault("display_name", name)
        artifact["metadata"].setdefault("store_session_info", json.dumps(
            {"Provider": split_uri(artifact["uri"])[0].rstrip(":/")} if local else {}))
        outputs[name] = [artifact]
    return 0, outputs, parameters


@dataclass
class _Launch:
    """A task the driver decided to run: what its launcher needs, and what keys its cache."""
    name: str
    argv: List[str]
    executor_input: Dict[str, Any]
    pod_root: str
    log: str
    cwd: str
    cache_key: Optional[str]
    start: float = 0.0


def replay(spec: pipeline_spec_pb2.PipelineSpec, root: str, *,
           parameters: Optional[Dict[str, Any]] = None, platform: Optional[Dict[str, Any]] = None,
           mounts: Optional[Dict[str, str]] = None, project_dir: str = "/pipeline",
           parallelism: int = 2, echo: Callable[[str], None] = print) -> ReplayResult:
    """Runs every task of ``spec`` with state (object store, volumes, cache) under ``root``.

    Like KFP, a task starts as soon as its upstream tasks succeeded, up to ``parallelism`` at
    once; after a failure no new task starts and the running ones finish. ``mounts`` maps
    paths the pods see to local folders (the image's content; see ``image_mounts``); the
    platform config's volumes are added per task, and anything else under ``project_dir``
    lands in the task's throw-away pod folder.
    """
    values = pipeline_parameters(spec, parameters or {})
    pipeline_root = spec.default_pipeline_root
    split_uri(pipeline_root)  # a local root fails every OSS task: say so before any runs
    order = task_order(spec)
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    os.makedirs(root, exist_ok=True)
    store = ObjectStore(os.path.join(root, "objectstore.sqlite"))
    state = State(root)
    run_id = time.strftime("replay-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    done: Dict[str, TaskRun] = {}

    def drive(name: str) -> Optional[_Launch]:
        """The driver: resolve inputs, answer from the cache (None) or prepare a launch."""
        task = spec.root.dag.tasks[name]
        component = spec.components[task.component_ref.name]
        executor = executors[component.executor_label]
        if "container" not in executor:
            raise ReplayError(f"task {name}: executor {component.executor_label} is not a "
                              f"container ({sorted(executor)[0]}); open-source KFP rejects it")
        container = executor["container"]
        task_dir = os.path.join(root, "runs", run_id, name)
        pod_root = os.path.join(task_dir, "pod")
        os.makedirs(pod_root)
        inputs = _driver_inputs(name, task, values, done)
        outputs = _provision_outputs(component, pipeline_root, name, pod_root)
        command_args = container.get("command", []) + container.get("args", [])
        key = cache_key(inputs, outputs, {k: pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(
            v.parameter_type) for k, v in component.output_definitions.parameters.items()},
            command_args, container.get("image", "")) if task.caching_options.enable_cache else None
        log = os.path.join(task_dir, "log.txt")
        hit = state.data["cache"].get(key) if key else None
        if hit:
            done[name] = TaskRun(name, 0, 0.0, log, hit["outputs"], hit["parameters"], cached=True)
            shutil.rmtree(pod_root)
            echo(f"  ◆ {name} cached (execution of {hit['task']} in {hit['run']})")
            return None
        task_mounts = {**(mounts or {}),
                       **volume_mounts(platform or {}, component.executor_label, root)}
        task_mounts.setdefault(project_dir, pod_root + project_dir)
        os.makedirs(pod_root + project_dir, exist_ok=True)
        executor_input = {"inputs": {**inputs, "parameterValues": {
            k: mount(v, task_mounts) for k, v in inputs["parameterValues"].items()}},
            "outputs": outputs}
        # The launcher fills placeholders in the command and the arguments alike.
        argv = [_fill(a, executor_input, name, pod_root) for a in command_args]
        argv[0] = sys.executable if argv[0] == "python" else argv[0]
        return _Launch(name, argv, executor_input, pod_root, log, task_mounts[project_dir], key)

    def finish(launch: _Launch, returncode: int, produced: Dict[str, List[Dict[str, Any]]],
               out_parameters: Dict[str, Any]) -> None:
        """Records what a launcher reported: artifact IDs, the cache entry, the outcome."""
        seconds = time.monotonic() - launch.start
        for artifacts in produced.values():
            for artifact in artifacts:
                artifact["name"] = state.new_artifact_id()
        done[launch.name] = TaskRun(launch.name, returncode, seconds, launch.log, produced,
                                    out_parameters)
        shutil.rmtree(launch.pod_root, ignore_errors=True)  # the pod's file system goes with it
        if returncode == 0 and launch.cache_key:
            state.data["cache"][launch.cache_key] = {"outputs": produced, "parameters": out_parameters,
                                                     "run": run_id, "task": launch.name}
        state.save()
        if returncode == 0:
            echo(f"  ✔ {launch.name} {seconds:.1f}s")
        else:
            echo(f"  ✘ {launch.name} failed after {seconds:.1f}s (exit {returncode}): "
                 f"{last_error(launch.log)}")

    upstream = _upstream(spec)
    pending = list(order)
    running: Dict[Any, _Launch] = {}
    slots = max(parallelism, 1)
    with ThreadPoolExecutor(max_workers=slots) as pool:
        while True:
            failed = any(not t.ok for t in done.values())
            ready = [n for n in pending if upstream[n] <= set(done)]
            while ready and not failed and len(running) < slots:
                name = ready.pop(0)
                pending.remove(name)
                launch = drive(name)
                if launch is None:  # a cache hit may make more tasks ready
                    ready = [n for n in pending if upstream[n] <= set(done)]
                    continue
                echo(f"  ▶ {name}")
                launch.start = time.monotonic()
                running[pool.submit(_launch, launch.argv, launch.executor_input, store,
                                    launch.pod_root, launch.log, launch.cwd)] = launch
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                finish(running.pop(future), *future.result())
    return ReplayResult(run_id, root, done, order)


def last_error(log: str) -> str:
    """The line of a task's log that says what went wrong (Python's last exception line)."""
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
    return (errors or lines or ["no output"])[-1][:500]

