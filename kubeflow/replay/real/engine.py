"""Runs a compiled spec through the open-source backend's own ``driver`` and ``launcher-v2``, walking
the DAG as the Argo workflow KFP compiles would: the root DAG driver first, then, for each task
whose upstream tasks succeeded, its CONTAINER driver and (unless the driver answered from the
cache) its main container. Every ready task starts at once, as Argo starts them; after a
failure no new task starts and the running ones finish.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.replay import driver as emulation
from kubeflow.replay.driver import ReplayError, TaskRun
from kubeflow.replay.engine import ReplayResult, checked_pipeline_root
from kubeflow.replay.objectstore import ObjectStore, split_uri
from kubeflow.replay.real import binaries, pod, sandbox
from kubeflow.replay.real.outputs import task_outputs
from kubeflow.replay.real.services import services

NAMESPACE = "kubeflow"


def _executor_config(platform: Dict[str, Any], label: str) -> Optional[Dict[str, Any]]:
    return (platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
            .get("executors", {}).get(label))


def _root_driver(run: pod.Run, spec: pipeline_spec_pb2.PipelineSpec, values: Dict[str, Any],
                 pipeline_root: Optional[str]) -> int:
    """The ROOT_DAG driver: the run's contexts and root execution in ML Metadata."""
    runtime = {"parameterValues": values}
    if pipeline_root:
        runtime["gcsOutputDirectory"] = pipeline_root  # what the API server copies from the run
    outputs = pod.drive(run, "ROOT_DAG", os.path.join(run.run_dir, "root-driver"),
                        pod.component_json(spec.root), runtime_config=json.dumps(runtime))
    return int(outputs["execution-id"])


def _task(run: pod.Run, spec: pipeline_spec_pb2.PipelineSpec, executors: Dict[str, Any],
          platform: Dict[str, Any], secrets: Dict[str, Dict[str, str]], dag_id: int,
          name: str) -> TaskRun:
    """One container task: its driver, then its main container unless the cache answered."""
    start = time.monotonic()
    task = spec.root.dag.tasks[name]
    component = spec.components[task.component_ref.name]
    executor = executors[component.executor_label]
    if "container" not in executor:
        raise ReplayError(f"task {name}: executor {component.executor_label} is not a container")
    step_dir = os.path.join(run.run_dir, name)
    log = os.path.join(step_dir, "log.txt")
    os.makedirs(step_dir)
    try:
        decided = pod.drive(run, "CONTAINER", step_dir, pod.component_json(component),
                            task=pod.component_json(task), task_name=name, dag_execution_id=dag_id,
                            container=json.dumps(executor["container"]),
                            kubernetes_config=pod.optional_json(
                                _executor_config(platform, component.executor_label)))
        if decided["cached-decision"] == "true":
            return TaskRun(name, 0, time.monotonic() - start, log, cached=True)
        code = pod.launch(run, step_dir, decided["pod-spec-patch"], secrets, log)
    except ReplayError as e:  # the task fails, as its pod would; the others go on
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{e}\n")
        return TaskRun(name, 1, time.monotonic() - start, log)
    # The pod's file system goes with it; the volumes and the object store keep what matters.
    shutil.rmtree(os.path.join(step_dir, "pod"), ignore_errors=True)
    return TaskRun(name, code, time.monotonic() - start, log)


def replay(spec: pipeline_spec_pb2.PipelineSpec, root: str, *, store: ObjectStore,
           parameters: Optional[Dict[str, Any]] = None, platform: Optional[Dict[str, Any]] = None,
           mounts: Optional[Dict[str, str]] = None, project_dir: str = "/pipeline",
           kfp_version: str = binaries.NEWEST, pipeline_root: Optional[str] = None,
           launcher_root: Optional[str] = None, namespace: str = NAMESPACE,
           secrets: Optional[Dict[str, Dict[str, str]]] = None,
           echo: Callable[[str], None] = print) -> ReplayResult:
    """Runs every task of ``spec`` under KFP's real driver and launcher of ``kfp_version``,
    with the same arguments as the emulation's ``replay`` (``mounts`` is the image's content;
    ``secrets`` the namespace's Secrets). ML Metadata and the cache entries persist under
    ``root``, so a later replay there gets cache hits as a cluster would."""
    version = binaries.kfp_version(kfp_version)
    problem = sandbox.available()
    if problem:
        raise ReplayError(problem)
    values = emulation.pipeline_parameters(spec, parameters or {})
    base = checked_pipeline_root(pipeline_root, launcher_root)
    store.ensure_bucket(split_uri(base)[1])
    order = emulation.task_order(spec)
    run_id = str(uuid.uuid4())
    run_dir = os.path.join(os.path.abspath(root), "runs", run_id)
    os.makedirs(run_dir)
    with services(root, run_dir, namespace, store.credentials, launcher_root) as svc:
        run = pod.Run(version, svc, spec.pipeline_info.name, run_id,
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), run_dir, mounts or {},
                      project_dir, os.path.join(os.path.abspath(root), "volumes"),
                      pod.parameter_binds(values), store.credentials.endpoint)
        echo(f"  KFP {version.tag}'s own driver and launcher; run {run_id}, root "
             f"{base.rstrip('/')}/{run.pipeline_name}/{run_id}")
        dag_id = _root_driver(run, spec, values, pipeline_root)
        executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
        done = _schedule(spec, order, lambda name: _task(
            run, spec, executors, platform or {}, secrets or {}, dag_id, name), echo)
        outputs = task_outputs(svc.mlmd.client(), run_id)
    for name, task_run in done.items():
        task_run.outputs, task_run.parameters = outputs.get(name, ({}, {}))
    return ReplayResult(run_id, root, done, order, f"{base.rstrip('/')}/{run.pipeline_name}/{run_id}")


def _schedule(spec: pipeline_spec_pb2.PipelineSpec, order: List[str],
              run_task: Callable[[str], TaskRun], echo: Callable[[str], None]) -> Dict[str, TaskRun]:
    """Starts each task when its upstream tasks succeeded, all ready ones at once."""
    upstream = emulation.upstream_of(spec)
    done: Dict[str, TaskRun] = {}
    pending = list(order)
    running: Dict[Any, str] = {}
    with ThreadPoolExecutor(max_workers=max(len(order), 1)) as pool:
        while True:
            if all(t.ok for t in done.values()):
                for name in [n for n in pending if upstream[n] <= set(done)]:
                    pending.remove(name)
                    echo(f"  ▶ {name}")
                    running[pool.submit(run_task, name)] = name
            if not running:
                return done
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                done[running.pop(future)] = result
                echo(f"  {'◆' if result.cached else '✔' if result.ok else '✘'} {result.name} "
                     f"{'cached ' if result.cached else ''}{result.seconds:.1f}s"
                     + ("" if result.ok else f" (exit {result.returncode}): "
                        f"{pod.last_line(result.log)}"))
