"""The pipeline image's entry point: TFX's Kubeflow v2 executor, fed what open-source KFP sends.

TFX 1.16's ``kubeflow_v2_run_executor`` is written for Vertex AI. Open-source Kubeflow
Pipelines' driver and launcher (kubeflow/pipelines ``backend/src/v2``, checked at 2.2.0 and
2.5.0) differ in three ways that break it; this wrapper mends each, then runs TFX's own code:

1. **Input artifacts have an empty type schema.** The driver rebuilds each input artifact
   from ML Metadata with ``type: {instanceSchema: ""}`` (``metadata/client.go``), and TFX's
   ``parse_raw_artifact_dict`` then fails on ``yaml.safe_load("")``. The schema is filled in
   from the component's own input definitions, which TFX's compiler passes as
   ``--json_serialized_inputs_spec_args``.
2. **Artifact URIs are remote.** The launcher downloads every input artifact to a local
   mirror of its URI (``gs://b/k`` -> ``/gcs/b/k``, ``minio://`` -> ``/minio/``, ``s3://`` ->
   ``/s3/``; ``LocalPathForURI`` in ``component/launcher_v2.go``) and uploads every output
   artifact's mirror after the executor, but the executor input still carries the remote URIs,
   which TensorFlow 2.16 cannot open (no ``minio://`` or ``s3://`` file system; ``gs://``
   writes leave zero-byte ``dir/`` markers that the launcher later downloads as files). The
   executor here reads and writes the mirrors only, and its output reports the remote URIs
   again, so ML Metadata records where the launcher uploaded them. A local file system leaves
   no directory markers: the launcher uploads files only.
3. **Cache-key parameters.** A parameter that the component's inputs spec does not declare
   (``input_fingerprint``, see ``kubeflow/data_fingerprint.py``) is only there to change the
   launcher's cache key; it is dropped before TFX parses the execution properties.
4. **Outputs the backend adds.** From 2.5.0 the driver adds an ``executor-logs`` output of
   type ``system.Artifact`` to every task while log publishing is on, as it is by default
   (``provisionOutputs`` in ``driver/``), and TFX fails on it (``Could not import
   system.Artifact``). The launcher writes and uploads that log itself, so TFX gets only the
   outputs its component declares (the compiler passes their names as ``--declared_outputs``).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

# The launcher's local mirrors of remote storage (LocalPathForURI in launcher_v2.go).
MIRRORS: Tuple[Tuple[str, str], ...] = (("gs://", "gcs"), ("minio://", "minio"), ("s3://", "s3"))
# Only the replay sets this: the folder that stands for the root of the task's pod file system.
POD_ROOT_ENV = "KFP_REPLAY_POD_ROOT"
INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
DECLARED_OUTPUTS_FLAG = "--declared_outputs"


def local_path(uri: str, pod_root: str = "/") -> Optional[str]:
    """The launcher's local mirror of a remote ``uri``; None for any other URI."""
    for scheme, folder in MIRRORS:
        if uri.startswith(scheme):
            return os.path.join(pod_root, folder, uri[len(scheme):])
    return None


def fill_input_types(executor_input: Dict[str, Any], inputs_spec: Dict[str, Any]) -> List[str]:
    """Gives every input artifact without a type schema the one its input definition declares.
    Returns the names of the inputs it filled."""
    filled = []
    definitions = inputs_spec.get("artifacts", {})
    for name, artifact_list in executor_input.get("inputs", {}).get("artifacts", {}).items():
        declared = definitions.get(name, {}).get("artifactType")
        for artifact in artifact_list.get("artifacts", []):
            kind = artifact.get("type") or {}
            if declared and not (kind.get("instanceSchema") or kind.get("schemaTitle")):
                artifact["type"] = dict(declared)
                filled.append(name)
    return sorted(set(filled))


def drop_undeclared_parameters(executor_input: Dict[str, Any],
                               inputs_spec: Dict[str, Any]) -> List[str]:
    """Removes parameters the component does not declare (they only key the cache)."""
    values = executor_input.get("inputs", {}).get("parameterValues", {})
    declared = inputs_spec.get("parameters", {})
    dropped = sorted(name for name in values if name not in declared)
    for name in dropped:
        del values[name]
    return dropped


def drop_undeclared_outputs(executor_input: Dict[str, Any], declared: List[str]) -> List[str]:
    """Removes output artifacts the component does not declare (the backend's own)."""
    artifacts = executor_input.get("outputs", {}).get("artifacts", {})
    dropped = sorted(name for name in artifacts if name not in declared)
    for name in dropped:
        del artifacts[name]
    return dropped


def use_local_mirrors(executor_input: Dict[str, Any], pod_root: str = "/") -> Dict[str, str]:
    """Points every remote artifact URI at the launcher's local mirror; returns {local: remote}.

    Inputs whose mirror is missing get an empty folder: an artifact with no files (a folder an
    executor left empty) has no objects to download, but its executor may still list it.
    """
    mapping: Dict[str, str] = {}
    for side in ("inputs", "outputs"):
        for artifact_list in executor_input.get(side, {}).get("artifacts", {}).values():
            for artifact in artifact_list.get("artifacts", []):
                local = local_path(artifact.get("uri", ""), pod_root)
                if local is None:
                    continue
                mapping[local] = artifact["uri"]
                artifact["uri"] = local
                if side == "inputs" and not os.path.exists(local):
                    os.makedirs(local, exist_ok=True)
                elif side == "outputs":
                    os.makedirs(os.path.dirname(local), exist_ok=True)
    return mapping


def _to_remote(value: Any, mapping: Dict[str, str]) -> Any:
    if isinstance(value, str):
        for local in sorted(mapping, key=len, reverse=True):
            if value == local or value.startswith(local + "/"):
                return mapping[local] + value[len(local):]
        return value
    if isinstance(value, dict):
        return {k: _to_remote(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_remote(v, mapping) for v in value]
    return value


def restore_remote_uris(output_file: str, mapping: Dict[str, str]) -> None:
    """Rewrites mirror paths in the executor output (URIs and metadata) back to remote URIs."""
    if not mapping or not os.path.exists(output_file):
        return
    with open(output_file, encoding="utf-8") as f:
        output = json.load(f)
    with open(output_file, "w", encoding="utf-8") as f:
        json.dump(_to_remote(output, mapping), f)


def _flag(argv: List[str], flag: str) -> Optional[int]:
    """The index of ``flag``'s value in ``argv`` (``--flag value`` or ``--flag=value``)."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return i + 1
        if arg.startswith(flag + "="):
            argv[i:i + 1] = [flag, arg[len(flag) + 1:]]
            return i + 1
    return None


def prepare(argv: List[str], pod_root: str = "/") -> Tuple[List[str], Dict[str, str], str]:
    """The arguments for TFX's executor with every mend applied, the {mirror: remote URI}
    mapping and the executor output file."""
    argv = list(argv)
    declared = None
    outputs_at = _flag(argv, DECLARED_OUTPUTS_FLAG)
    if outputs_at is not None:
        declared = json.loads(argv[outputs_at])
        del argv[outputs_at - 1:outputs_at + 1]  # ours, not TFX's: its parser would pass it to Beam
    at = _flag(argv, INVOCATION_FLAG)
    if at is None:
        raise SystemExit(f"entrypoint: {INVOCATION_FLAG} is missing")
    executor_input = json.loads(argv[at])
    spec_at = _flag(argv, INPUTS_SPEC_FLAG)
    inputs_spec = json.loads(argv[spec_at]) if spec_at is not None else {}
    fill_input_types(executor_input, inputs_spec)
    if spec_at is not None:
        drop_undeclared_parameters(executor_input, inputs_spec)
    if declared is not None:
        drop_undeclared_outputs(executor_input, declared)
    mapping = use_local_mirrors(executor_input, pod_root)
    argv[at] = json.dumps(executor_input)
    return argv, mapping, executor_input.get("outputs", {}).get("outputFile", "")


def main(argv: List[str]) -> None:
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as stock

    argv, mapping, output_file = prepare(argv, os.environ.get(POD_ROOT_ENV) or "/")
    args, beam_args = stock._parse_flags(argv)
    stock._run_executor(args, beam_args)
    restore_remote_uris(output_file, mapping)


if __name__ == "__main__":
    main(sys.argv[1:])
