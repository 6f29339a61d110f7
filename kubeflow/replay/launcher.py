"""The replay's launcher: what KFP's ``launcher-v2`` does inside a task's pod.

Each task gets a fresh, empty folder standing for its pod's root file system. The image's
content (the ``COPY`` lines of ``kubeflow/Dockerfile``) and the volume claims of the spec's
Kubernetes platform config are mounted into it; anything else a task writes is gone when it
ends. Every input artifact is downloaded by prefix to its local mirror (``/minio/<bucket>/
<key>``, ``/s3/``, ``/gcs/``) as ``objectstore.DownloadBlob`` does; the container's
``command`` and ``args`` run as a subprocess with placeholders filled as ``getPlaceholders``
fills them; then the executor output is merged into the output artifacts, their mirrors are
uploaded (files only), the task's log is uploaded as ``executor-logs`` where the backend adds
that output, and output parameters are read from the executor output or their files.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
from typing import Any, Dict, List, Tuple

from kubeflow.entrypoint import POD_ROOT_ENV, local_path
from kubeflow.replay.backend import EXECUTOR_LOGS, Backend
from kubeflow.replay.driver import ReplayError
from kubeflow.replay.objectstore import ENDPOINT_ENV, ObjectStore, split_uri

# What the pipeline image sets (kubeflow/Dockerfile); the subprocesses get the same.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(PROJECT_ROOT, "kubeflow", "Dockerfile")
_PLACEHOLDER = re.compile(r"\{\{\$(?P<expr>[^}]*)\}\}")


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


def _executor_config(platform: Dict[str, Any], executor_label: str) -> Dict[str, Any]:
    return (platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
            .get("executors", {}).get(executor_label, {}))


def volume_mounts(platform: Dict[str, Any], executor_label: str, root: str) -> Dict[str, str]:
    """{mount path: local folder} for the executor's ``pvcMount``s in the platform config;
    the claims' folders are ``<root>/volumes/<claim>``."""
    mounts = {}
    for pvc in _executor_config(platform, executor_label).get("pvcMount", []):
        claim = pvc.get("constant") or pvc.get("pvcNameParameter", {}).get(
            "runtimeValue", {}).get("constant")
        if not claim or not pvc.get("mountPath"):
            raise ReplayError(f"executor {executor_label}: a pvcMount needs a constant claim name "
                              "and a mountPath")
        mounts[pvc["mountPath"]] = os.path.join(root, "volumes", claim)
        os.makedirs(mounts[pvc["mountPath"]], exist_ok=True)
    return mounts


def claim_names(platform: Dict[str, Any], executor_label: str) -> List[str]:
    """The PVC names a task mounts (from 2.15 they are part of its cache key)."""
    return [pvc.get("constant") or pvc.get("pvcNameParameter", {}).get("runtimeValue", {}).get(
        "constant", "") for pvc in _executor_config(platform, executor_label).get("pvcMount", [])]


def task_env(container: Dict[str, Any], platform: Dict[str, Any], executor_label: str,
             secrets: Dict[str, Dict[str, str]]) -> Dict[str, str]:
    """The container's ``env`` and the platform config's ``secretAsEnv``, with ``secrets``
    standing in for the namespace's Kubernetes Secrets."""
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    for entry in _executor_config(platform, executor_label).get("secretAsEnv", []):
        name = entry.get("secretName") or entry.get("secretNameParameter", {}).get(
            "runtimeValue", {}).get("constant", "")
        if name not in secrets:
            raise ReplayError(f"executor {executor_label}: Secret {name!r} does not exist "
                              f"(the replay has: {', '.join(sorted(secrets)) or 'none'})")
        for pair in entry.get("keyToEnv", []):
            if pair["secretKey"] not in secrets[name]:
                raise ReplayError(f"executor {executor_label}: Secret {name!r} has no key "
                                  f"{pair['secretKey']!r}")
            env[pair["envVar"]] = secrets[name][pair["secretKey"]]
    return env


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


def _download_inputs(executor_input: Dict[str, Any], store: ObjectStore, pod_root: str,
                     backend: Backend, out) -> bool:
    for name, artifact_list in executor_input["inputs"]["artifacts"].items():
        uri = artifact_list["artifacts"][0]["uri"]
        local = local_path(uri, pod_root)
        if local is None:
            continue
        try:
            store.download(uri, local, strict_prefix=backend.strict_download_prefix)
        except OSError as e:
            out.write(f"Error: failed to download input artifact {name!r} from remote storage "
                      f"URI {uri!r}: {e.strerror or e}\n")
            return False
    return True


def launch(argv: List[str], executor_input: Dict[str, Any], store: ObjectStore, pod_root: str,
           log: str, cwd: str, backend: Backend, env: Dict[str, str]
           ) -> Tuple[int, Dict[str, List[Dict[str, Any]]], Dict[str, Any]]:
    """The launcher: download inputs, run, merge the executor output, upload. Returns the exit
    status, the output artifacts (the caller gives them their ML Metadata IDs) and the output
    parameters."""
    outputs_spec = executor_input["outputs"]
    with open(log, "w", encoding="utf-8") as out:
        if not _download_inputs(executor_input, store, pod_root, backend, out):
            return 1, {}, {}
        for artifact_list in outputs_spec["artifacts"].values():
            local = local_path(artifact_list["artifacts"][0]["uri"], pod_root)
            if local:
                os.makedirs(os.path.dirname(local), exist_ok=True)
        for parameter in outputs_spec["parameters"].values():
            os.makedirs(os.path.dirname(parameter["outputFile"]), exist_ok=True)
        os.makedirs(os.path.dirname(outputs_spec["outputFile"]), exist_ok=True)
        out.flush()
        if ENDPOINT_ENV in env:  # the spec names the cluster's MinIO service; ours stands in
            env = {**env, ENDPOINT_ENV: store.credentials.endpoint}
        returncode = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env={
            **os.environ, **IMAGE_ENV, **env, POD_ROOT_ENV: pod_root}).returncode
    if EXECUTOR_LOGS in outputs_spec["artifacts"]:
        # The launcher tees the executor's output into this artifact and uploads it itself,
        # whether the executor succeeded or not.
        uri = outputs_spec["artifacts"][EXECUTOR_LOGS]["artifacts"][0]["uri"]
        store.upload(log, uri)
    if returncode != 0:
        return returncode, {}, {}
    reported: Dict[str, Any] = {}
    if os.path.exists(outputs_spec["outputFile"]):
        with open(outputs_spec["outputFile"], encoding="utf-8") as f:
            reported = json.load(f)
        shutil.copy(outputs_spec["outputFile"], os.path.join(os.path.dirname(log),
                                                             "executor_output.json"))
    parameters = dict(reported.get("parameterValues", {}))
    for name, parameter in outputs_spec["parameters"].items():
        if name not in parameters:
            with open(parameter["outputFile"], encoding="utf-8") as f:
                parameters[name] = f.read()
    outputs = {}
    for name, artifact_list in outputs_spec["artifacts"].items():
        artifact = dict(artifact_list["artifacts"][0])
        update = (reported.get("artifacts", {}).get(name, {}).get("artifacts") or [{}])[0]
        artifact["uri"] = update.get("uri") or artifact["uri"]
        artifact["metadata"] = {**artifact.get("metadata", {}), **update.get("metadata", {})}
        local = local_path(artifact["uri"], pod_root)
        if local and os.path.exists(local) and name != EXECUTOR_LOGS:
            store.upload(local, artifact["uri"])
        artifact["metadata"].setdefault("display_name", name)
        artifact["metadata"].setdefault("store_session_info", json.dumps(
            {"Provider": split_uri(artifact["uri"])[0].rstrip(":/")} if local else {}))
        outputs[name] = [artifact]
    return 0, outputs, parameters
