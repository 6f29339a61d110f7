"""The replay's scheduler: runs a compiled spec's tasks as Argo and KFP's drivers would.

A task starts as soon as the tasks it depends on succeeded, and every ready task starts at
once, as Argo starts them; after a failure no new task starts and the running ones finish.
Each task goes through the driver (``kubeflow/replay/driver.py``: inputs, outputs, the cache)
and, unless the cache answers, the launcher (``kubeflow/replay/launcher.py``).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.replay import driver
from kubeflow.replay.backend import DEFAULT_PIPELINE_ROOT, NEWEST, Backend, backend
from kubeflow.replay.driver import ReplayError, TaskRun
from kubeflow.replay.launcher import _fill, claim_names, launch, mount, task_env, volume_mounts
from kubeflow.replay.objectstore import ObjectStore, split_uri

NAMESPACE = "kubeflow"


@dataclass
class ReplayResult:
    run_id: str
    root: str
    tasks: Dict[str, TaskRun]
    order: List[str]
    run_root: str = ""

    @property
    def failed(self) -> Optional[TaskRun]:
        return next((t for t in self.tasks.values() if not t.ok), None)

    def artifact(self, task: str, key: str) -> Dict[str, Any]:
        return self.tasks[task].outputs[key][0]


@dataclass
class _Launch:
    """A task the driver decided to run: what its launcher needs, and what keys its cache."""
    name: str
    argv: List[str]
    executor_input: Dict[str, Any]
    pod_root: str
    log: str
    cwd: str
    env: Dict[str, str]
    cache_key: Optional[str]
    start: float = 0.0


def run_pipeline_root(runtime_root: Optional[str], launcher_root: Optional[str]) -> str:
    """The root driver's choice: the run's ``pipelineRoot``, else the ``kfp-launcher``
    ConfigMap's ``defaultPipelineRoot``, else MinIO's ``mlpipeline`` bucket. The spec's own
    ``defaultPipelineRoot`` is not among them: no backend code reads it."""
    return runtime_root or launcher_root or DEFAULT_PIPELINE_ROOT


def checked_pipeline_root(runtime_root: Optional[str], launcher_root: Optional[str]) -> str:
    """``run_pipeline_root``, refused in one line unless it is object storage: a local root
    fails every task of an OSS run, so say so before any runs."""
    base = run_pipeline_root(runtime_root, launcher_root)
    try:
        split_uri(base)
    except ValueError as e:
        raise ReplayError(f"pipeline root: {e}") from None
    return base


@dataclass
class _Context:
    """What every task of one replay shares."""
    spec: pipeline_spec_pb2.PipelineSpec
    root: str
    run_id: str
    run_root: str
    values: Dict[str, Any]
    executors: Dict[str, Any]
    platform: Dict[str, Any]
    mounts: Dict[str, str]
    project_dir: str
    backend: Backend
    store: ObjectStore
    secrets: Dict[str, Dict[str, str]]
    cache: Dict[str, Any]


def _drive(ctx: _Context, name: str, done: Dict[str, TaskRun],
           echo: Callable[[str], None]) -> Optional[_Launch]:
    """The driver: resolve inputs, answer from the cache (None) or prepare a launch."""
    task = ctx.spec.root.dag.tasks[name]
    component = ctx.spec.components[task.component_ref.name]
    executor = ctx.executors[component.executor_label]
    if "container" not in executor:
        raise ReplayError(f"task {name}: executor {component.executor_label} is not a "
                          f"container ({sorted(executor)[0]}); open-source KFP rejects it")
    container = executor["container"]
    task_dir = os.path.join(ctx.root, "runs", ctx.run_id, name)
    pod_root = os.path.join(task_dir, "pod")
    os.makedirs(pod_root)
    inputs = driver.driver_inputs(name, task, ctx.values, done)
    outputs = driver.provision_outputs(component, ctx.run_root, name, pod_root, ctx.backend)
    command_args = container.get("command", []) + container.get("args", [])
    key = None
    if task.caching_options.enable_cache:
        types = {k: pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(v.parameter_type)
                 for k, v in component.output_definitions.parameters.items()}
        pvcs = (claim_names(ctx.platform, component.executor_label)
                if ctx.backend.cache_key_pvc_names else None)
        key = driver.cache_key(inputs, outputs, types, command_args, container.get("image", ""),
                               pvcs)
    log = os.path.join(task_dir, "log.txt")
    hit = ctx.cache.get(key) if key else None
    if hit:
        done[name] = TaskRun(name, 0, 0.0, log, hit["outputs"], hit["parameters"], cached=True)
        shutil.rmtree(pod_root)
        echo(f"  ◆ {name} cached (execution of {hit['task']} in {hit['run']})")
        return None
    task_mounts = {**ctx.mounts, **volume_mounts(ctx.platform, component.executor_label, ctx.root)}
    task_mounts.setdefault(ctx.project_dir, pod_root + ctx.project_dir)
    os.makedirs(pod_root + ctx.project_dir, exist_ok=True)
    executor_input = {"inputs": {**inputs, "parameterValues": {
        k: mount(v, task_mounts) for k, v in inputs["parameterValues"].items()}},
        "outputs": outputs}
    # The launcher fills placeholders in the command and the arguments alike; a path the pod
    # sees (the image's content, a volume) is where this machine keeps it.
    argv = [mount(_fill(a, executor_input, name, pod_root), task_mounts) for a in command_args]
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    env = task_env(container, ctx.platform, component.executor_label, ctx.secrets)
    return _Launch(name, argv, executor_input, pod_root, log, task_mounts[ctx.project_dir], env, key)


def replay(spec: pipeline_spec_pb2.PipelineSpec, root: str, *, store: ObjectStore,
           parameters: Optional[Dict[str, Any]] = None, platform: Optional[Dict[str, Any]] = None,
           mounts: Optional[Dict[str, str]] = None, project_dir: str = "/pipeline",
           kfp_version: str = NEWEST, pipeline_root: Optional[str] = None,
           launcher_root: Optional[str] = None, namespace: str = NAMESPACE,
           secrets: Optional[Dict[str, Dict[str, str]]] = None,
           parallelism: Optional[int] = None, echo: Callable[[str], None] = print) -> ReplayResult:
    """Runs every task of ``spec`` as a run of KFP ``kfp_version`` would, with the object store
    ``store`` and local state (volumes, cache, pod folders) under ``root``.

    ``pipeline_root`` is the run's root as ``submit`` sends it (None: as a client that sends
    none, so ``launcher_root`` or the backend's default applies). ``mounts`` maps paths the
    pods see to local folders (the image's content; see ``image_mounts``); the platform
    config's volumes are added per task, and anything else under ``project_dir`` lands in
    the task's throw-away pod folder. ``parallelism`` None starts every ready task at once.
    """
    chosen = backend(kfp_version)
    values = driver.pipeline_parameters(spec, parameters or {})
    base = checked_pipeline_root(pipeline_root, launcher_root)
    order = driver.task_order(spec)
    os.makedirs(root, exist_ok=True)
    state = driver.State(root)
    run_id = time.strftime("replay-%Y%m%d-%H%M%S-") + os.urandom(3).hex()
    pipeline_name = spec.pipeline_info.name
    store.ensure_bucket(split_uri(base)[1])  # as a KFP install creates its bucket
    ctx = _Context(spec, root, run_id, f"{base.rstrip('/')}/{pipeline_name}/{run_id}", values,
                   json_format.MessageToDict(spec.deployment_spec)["executors"], platform or {},
                   mounts or {}, project_dir, chosen, store, secrets or {},
                   state.cache(f"{namespace}/pipeline/{pipeline_name}"))
    echo(f"  KFP {chosen.version} behaviours; run root {ctx.run_root}")
    done: Dict[str, TaskRun] = {}
    _schedule(ctx, state, order, done, parallelism, echo)
    return ReplayResult(run_id, root, done, order, ctx.run_root)


def _schedule(ctx: _Context, state: driver.State, order: List[str], done: Dict[str, TaskRun],
              parallelism: Optional[int], echo: Callable[[str], None]) -> None:
    """Starts each task when its upstream tasks are done; records what each launcher reports."""
    def finish(item: _Launch, returncode: int, produced: Dict[str, List[Dict[str, Any]]],
               out_parameters: Dict[str, Any]) -> None:
        seconds = time.monotonic() - item.start
        for artifacts in produced.values():
            for artifact in artifacts:
                artifact["name"] = state.new_artifact_id()
        done[item.name] = TaskRun(item.name, returncode, seconds, item.log, produced,
                                  out_parameters)
        shutil.rmtree(item.pod_root, ignore_errors=True)  # the pod's file system goes with it
        if returncode == 0 and item.cache_key:
            ctx.cache[item.cache_key] = {"outputs": produced, "parameters": out_parameters,
                                         "run": ctx.run_id, "task": item.name}
        state.save()
        if returncode == 0:
            echo(f"  ✔ {item.name} {seconds:.1f}s")
        else:
            echo(f"  ✘ {item.name} failed after {seconds:.1f}s (exit {returncode}): "
                 f"{last_error(item.log)}")

    upstream = driver.upstream_of(ctx.spec)
    pending = list(order)
    running: Dict[Any, _Launch] = {}
    slots = parallelism or len(order)
    with ThreadPoolExecutor(max_workers=max(slots, 1)) as pool:
        while True:
            failed = any(not t.ok for t in done.values())
            ready = [n for n in pending if upstream[n] <= set(done)]
            while ready and not failed and len(running) < slots:
                name = ready.pop(0)
                pending.remove(name)
                item = _drive(ctx, name, done, echo)
                if item is None:  # a cache hit may make more tasks ready
                    ready = [n for n in pending if upstream[n] <= set(done)]
                    continue
                echo(f"  ▶ {name}")
                item.start = time.monotonic()
                running[pool.submit(launch, item.argv, item.executor_input, ctx.store,
                                    item.pod_root, item.log, item.cwd, ctx.backend,
                                    item.env)] = item
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                finish(running.pop(future), *future.result())


def last_error(log: str) -> str:
    """The line of a task's log that says what went wrong (Python's last exception line)."""
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
    return (errors or lines or ["no output"])[-1][:500]
