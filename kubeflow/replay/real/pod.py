"""One Argo step of a compiled KFP run, as a process in its own mount namespace: a driver
(ROOT_DAG or CONTAINER), or a task's main container (the launcher with the image's command).

The arguments are the ones the open-source compiler (``compiler/argocompiler``) gives each
template; the main container is what the CONTAINER driver's pod-spec patch says, with the
launcher binary at ``/kfp-launcher/launch`` (Argo's init container copies it there), the
scratch ``emptyDir``s and the patch's volume claims as folders, and the image's content.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from google.protobuf import json_format

from kubeflow.replay.driver import ReplayError
from kubeflow.replay.launcher import IMAGE_ENV
from kubeflow.replay.objectstore import ENDPOINT_ENV
from kubeflow.replay.real import sandbox
from kubeflow.replay.real.binaries import KfpVersion, driver_flags
from kubeflow.replay.real.kube import SERVICE_ACCOUNT
from kubeflow.replay.real.services import Services

OUTPUTS = "/tmp/outputs"  # where the compiler's driver templates write their outputs
LAUNCHER_PATH = "/kfp-launcher/launch"  # component.KFPLauncherPath
# The executor template's emptyDir volumes (compiler/argocompiler/container.go).
SCRATCH = ("/gcs", "/s3", "/minio", "/.local", "/.cache", "/.config")
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class Run:
    """What every step of one run shares."""
    version: KfpVersion
    services: Services
    pipeline_name: str
    run_id: str
    created: str
    run_dir: str
    image: Dict[str, str]  # {path in the image: folder here}
    project_dir: str
    volumes_dir: str
    extra_binds: Dict[str, str]  # machine paths under /tmp the parameters name
    store_endpoint: str = ""  # the replay's MinIO, standing in for the cluster's MinIO service


def _base_env(run: Run) -> Dict[str, str]:
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")])
    return {"PATH": path, "HOME": "/root", **run.services.env()}


def _run(run: Run, step_dir: str, argv: List[str], env: Dict[str, str], binds: Dict[str, str],
         cwd: str, log_path: str) -> int:
    """Runs ``argv`` in a fresh root under ``step_dir``; its output goes to ``log_path``."""
    os.makedirs(os.path.join(step_dir, "root"), exist_ok=True)
    binds = {SERVICE_ACCOUNT: run.services.kube.service_account,
             "/tmp": os.path.join(step_dir, "tmp"), **run.extra_binds, **binds}
    for source in binds.values():
        if not os.path.exists(source):
            os.makedirs(source)
    layout = {"root": os.path.join(step_dir, "root"), "binds": binds, "cwd": cwd, "argv": argv,
              "env": env}
    command = sandbox.command(layout, os.path.join(step_dir, "layout.json"))
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode


def _read(path: str, default: str = "") -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return default


def drive(run: Run, kind: str, step_dir: str, component: str, *, task: str = "",
          task_name: str = "", dag_execution_id: int = 0, runtime_config: str = "",
          container: str = "{}", kubernetes_config: str = "") -> Dict[str, str]:
    """Runs the driver of ``kind`` (ROOT_DAG or CONTAINER); returns its output files
    (execution-id, cached-decision, pod-spec-patch, condition) or raises with its last line."""
    mlmd = str(run.services.mlmd.port)
    argv = [run.version.driver, "--type", kind, "--pipeline_name", run.pipeline_name,
            "--run_id", run.run_id, "--run_name", run.run_id, "--run_display_name", run.run_id,
            "--dag_execution_id", str(dag_execution_id), "--component", component,
            "--task", task, "--iteration_index", "-1", "--condition_path", f"{OUTPUTS}/condition",
            "--http_proxy", "", "--https_proxy", "", "--no_proxy", "",
            "--mlmd_server_address", "127.0.0.1", "--mlmd_server_port", mlmd,
            *driver_flags(run.version, task_name, run.created, run.services.api.port)]
    if kind == "ROOT_DAG":
        argv += ["--runtime_config", runtime_config,
                 "--execution_id_path", f"{OUTPUTS}/execution-id",
                 "--iteration_count_path", f"{OUTPUTS}/iteration-count"]
    else:
        argv += ["--container", container, "--kubernetes_config", kubernetes_config,
                 "--cached_decision_path", f"{OUTPUTS}/cached-decision",
                 "--pod_spec_patch_path", f"{OUTPUTS}/pod-spec-patch"]
    env = {**_base_env(run), "KFP_POD_NAME": f"{run.run_id}-driver", "KFP_POD_UID": str(uuid.uuid4())}
    log = os.path.join(step_dir, "driver.log")
    code = _run(run, os.path.join(step_dir, "driver"), argv, env, {}, "/", log)
    outputs = os.path.join(step_dir, "driver", "tmp", "outputs")
    if code != 0:
        raise ReplayError(f"{task_name or 'root'}: KFP {run.version.tag} driver failed "
                          f"(exit {code}): {last_line(log)}")
    return {name: _read(os.path.join(outputs, name))
            for name in ("execution-id", "cached-decision", "pod-spec-patch", "condition")}


def last_line(log: str) -> str:
    """The line of a driver's or launcher's log that says what went wrong."""
    lines = [line.strip() for line in _read(log).splitlines() if line.strip()]
    for marker in ("Error", "error", "F1", "F0", "failed"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:600]
    return (lines or ["no output"])[-1][:600]


def _volume_binds(run: Run, patch: Dict[str, Any], main: Dict[str, Any]) -> Dict[str, str]:
    """The patch's persistent volume claims, each a folder ``<root>/volumes/<claim>``."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in patch.get("volumes", []) if "persistentVolumeClaim" in v}
    binds = {}
    for mount in main.get("volumeMounts", []):
        if mount["name"] in claims:
            binds[mount["mountPath"]] = os.path.join(run.volumes_dir, claims[mount["name"]])
        else:
            raise ReplayError(f"volume {mount['name']} of the pod-spec patch is not a claim")
    return binds


def _env(main: Dict[str, Any], secrets: Dict[str, Dict[str, str]],
         pod: Dict[str, str]) -> Dict[str, str]:
    """The patch's env: values, Secret keys (``secrets`` stands in for the namespace's) and
    the pod's own fields (``pod``: metadata.name, .uid, .namespace)."""
    env = {}
    for entry in main.get("env", []):
        source = entry.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if ref["key"] not in secrets.get(ref["name"], {}):
                raise ReplayError(f"Secret {ref['name']!r} has no key {ref['key']!r}")
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
        elif "fieldRef" in source and source["fieldRef"].get("fieldPath") in pod:
            env[entry["name"]] = pod[source["fieldRef"]["fieldPath"]]
        elif source:
            raise ReplayError(f"env {entry['name']}: {sorted(source)[0]} is not stood in for")
        else:
            env[entry["name"]] = entry.get("value", "")
    return env


def launch(run: Run, step_dir: str, pod_spec_patch: str, secrets: Dict[str, Dict[str, str]],
           log: str) -> int:
    """Runs the task's main container as the pod-spec patch describes it; returns its exit."""
    patch = json.loads(pod_spec_patch)
    main = patch["containers"][0]
    pod_name = f"{run.run_id}-{os.path.basename(step_dir)}".lower()
    fields = {"metadata.name": pod_name, "metadata.uid": str(uuid.uuid4()),
              "metadata.namespace": run.services.kube.namespace}
    # The executor template's env (compiler/argocompiler/container.go), then the patch's.
    env = {**IMAGE_ENV, **_base_env(run), "KFP_POD_NAME": pod_name,
           "KFP_POD_UID": fields["metadata.uid"], **_env(main, secrets, fields)}
    if ENDPOINT_ENV in env and run.store_endpoint:  # the spec names the cluster's service
        env[ENDPOINT_ENV] = run.store_endpoint
    # The kubelet expands $(VAR) in a container's command and args from its environment.
    argv = [_ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), a)
            for a in main.get("command", []) + main.get("args", [])]
    run.services.kube.add_pod(pod_name, f"{run.run_id}.root.{os.path.basename(step_dir)}.executor")
    scratch = os.path.join(step_dir, "pod")
    binds = {path: os.path.join(scratch, path.strip("/")) for path in SCRATCH}
    binds.update({LAUNCHER_PATH: run.version.launcher, **run.image, **_volume_binds(run, patch, main)})
    return _run(run, os.path.join(step_dir, "pod"), argv, env, binds, run.project_dir, log)


def parameter_binds(values: Dict[str, Any]) -> Dict[str, str]:
    """Folders under this machine's /tmp that parameters name (each task's /tmp is its own,
    so they are mounted at the same path)."""
    return {v: v for v in values.values()
            if isinstance(v, str) and v.startswith("/tmp/") and os.path.exists(v)}


def component_json(message) -> str:
    """A spec message as the compiler passes it to the driver (protojson)."""
    return json_format.MessageToJson(message, indent=None)


def optional_json(value: Optional[Dict[str, Any]]) -> str:
    """JSON of ``value``, or '' (the driver's "none given") when there is none."""
    return json.dumps(value) if value else ""
