"""Compiles the pipeline from the one factory into a KFP v2 ``PipelineSpec`` (YAML).

``tfx_spec`` is what TFX's ``KubeflowV2DagRunner`` makes of the factory's pipeline: schema
2.1.0 parameters and no ``resolver`` executor (the baseline comes from our ServingBaseline
component). ``build_spec`` adapts it to what open-source Kubeflow Pipelines' driver and
launcher really do (``backend/src/v2``, see ``kubeflow/entrypoint.py``):

* every task runs ``kubeflow.entrypoint``, TFX's executor fed what the OSS launcher sends;
* no ``lifecycle`` hook (the backend ignores ``preCacheCheck``; our ExampleGen executor
  resolves the span itself);
* every TFX task names its declared outputs (``--declared_outputs``), so the entry point
  can leave the outputs the backend adds (``executor-logs``) to the launcher;
* a ``DataFingerprint`` task, never cached, whose output parameter keys CsvExampleGen's
  cache on the data (``kubeflow/data_fingerprint.py``);
* a ``ServingState`` task, never cached, whose output parameter keys ServingBaseline's
  cache on the model serving now (``kubeflow/serving_state.py``);
* the data tasks (``DATA_TASKS``) can read an ``s3://`` data root: the endpoint
  (``kubeflow.data_store.endpoint``) as container ``env`` and the keys from a Secret
  (``kubeflow.data_store.secret``) as ``secretAsEnv`` in the platform config;
* ``platform_spec``: the persistent volume claim at ``kubeflow.state_dir``, where the pushed
  versions (and so the serving baseline) live between runs, mounted only in the tasks that
  read or write it (``STATE_TASKS``, and the ``DATA_TASKS`` when ``kubeflow.data_root`` is
  on the volume): KFP starts independent tasks as parallel pods, and a ReadWriteOnce claim
  cannot be attached on two nodes at once. The spec file holds it as a second YAML
  document, as the KFP SDK writes it.

The output is deterministic, so the spec can be committed and diffed.
"""
from __future__ import annotations

import json
import os
import posixpath
import tempfile
from typing import Any, Dict, List, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kv2
from tfx.orchestration.kubeflow.v2 import pipeline_builder

from kubeflow.entrypoint import MIRRORS
from components.lib import s3_filesystem
from pipeline import factory
from pipeline.config import NAME_PATTERN, Config, ConfigError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runtime parameters an engineer overrides per run (`submit --param name=value`).
DATA_ROOT_PARAM = "data_root"
TRAIN_STEPS_PARAM = "train_steps"
# Executors that only Vertex AI (or nothing) implements; open-source KFP rejects them.
FORBIDDEN_EXECUTORS = ("resolver", "importer")
ENTRYPOINT = ["python", "-m", "kubeflow.entrypoint"]
FINGERPRINT_TASK = "DataFingerprint"
FINGERPRINT_PARAM = "input_fingerprint"
SERVING_STATE_TASK = "ServingState"
SERVING_STATE_PARAM = "serving_state"
DECLARED_OUTPUTS_FLAG = "--declared_outputs"
# Tasks that read or write the state volume: the serving versions live there.
STATE_TASKS = (SERVING_STATE_TASK, "ServingBaseline", "Pusher")
# Tasks that read the data root, so they need the volume only when the data is on it.
DATA_TASKS = (FINGERPRINT_TASK, "CsvExampleGen", "DriftCheck")
# The data store Secret's keys -> the variables components.lib.s3_filesystem reads.
SECRET_KEYS = (("accesskey", s3_filesystem.ACCESS_KEY_ENV),
               ("secretkey", s3_filesystem.SECRET_KEY_ENV))
# Pipeline roots the OSS launcher can mirror (LocalPathForURI); any other root fails every task.
REMOTE_SCHEMES = tuple(scheme for scheme, _ in MIRRORS)


class CompileError(ValueError):
    """The pipeline cannot be compiled for Kubeflow; the message names the setting."""


def _in_image(cfg: Config, local_path: str) -> str:
    """Where ``local_path`` (a file of this project) is inside the pipeline image."""
    relative = os.path.relpath(local_path, PROJECT_ROOT)
    if relative.startswith(".."):
        raise CompileError(f"{local_path}: outside the project, so not in the pipeline image "
                           f"(kubeflow.project_dir is {cfg.kubeflow.project_dir})")
    return posixpath.join(cfg.kubeflow.project_dir, *relative.split(os.sep))


def kubeflow_target(cfg: Config, *, pipeline_root: Optional[str] = None,
                    span: Optional[int] = None, beam_profile: Optional[str] = None) -> factory.Target:
    """The factory's target on a cluster: paths as the pods see them, runtime parameters."""
    try:
        beam_args = cfg.beam_args(beam_profile or cfg.kubeflow.beam_profile)
    except ConfigError as e:
        raise CompileError(str(e)) from None
    return factory.Target(
        data_root=data_types.RuntimeParameter(name=DATA_ROOT_PARAM, ptype=str,
                                              default=cfg.kubeflow.data_root),
        schema_file=_in_image(cfg, cfg.schema),
        pipeline_root=pipeline_root or cfg.kubeflow.pipeline_root,
        serving_dir=cfg.kubeflow.serving_dir,
        train_steps=data_types.RuntimeParameter(name=TRAIN_STEPS_PARAM, ptype=int,
                                                default=cfg.trainer.train_steps),
        beam_args=beam_args, span=span)


def _images(cfg: Config, image: Optional[str]) -> Dict[str, str]:
    unknown = sorted(set(cfg.kubeflow.images) - set(factory.COMPONENT_IDS))
    if unknown:
        raise CompileError(f"kubeflow.images: {unknown[0]!r} is not a component id "
                           f"({', '.join(factory.COMPONENT_IDS)})")
    # (TFX 1.16 logs "DEFAULT_IMAGE_PATH_KEY is not found" exactly when it is found: harmless.)
    return {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: image or cfg.kubeflow.image,
            **cfg.kubeflow.images}


def _quantity(value: str, setting: str) -> float:
    """A Kubernetes CPU ("500m", "2") or memory ("512M", "4G", "1Gi") quantity, as KFP's
    ResourceSpec wants it: cores, or gigabytes."""
    units = {"m": 1e-3, "K": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3,
             "Ki": 1024 / 1e9, "Mi": 1024 ** 2 / 1e9, "Gi": 1024 ** 3 / 1e9, "Ti": 1024 ** 4 / 1e9}
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(value[: -len(suffix)]) * units[suffix]
    if value.replace(".", "", 1).isdigit():
        return float(value)
    raise CompileError(f"{setting}: {value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4G, 1Gi)")


def _apply_resources(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec) -> None:
    executors = spec.deployment_spec["executors"]
    for component_id, resources in sorted(cfg.kubeflow.resources.items()):
        if component_id not in factory.COMPONENT_IDS:
            raise CompileError(f"kubeflow.resources: {component_id!r} is not a component id "
                               f"({', '.join(factory.COMPONENT_IDS)})")
        container = executors[f"{component_id}_executor"]["container"]
        request = {}
        if resources.cpu:
            request["cpuRequest"] = _quantity(resources.cpu, f"kubeflow.resources.{component_id}.cpu")
        if resources.memory:
            request["memoryRequest"] = _quantity(resources.memory,
                                                 f"kubeflow.resources.{component_id}.memory")
        if request:
            container["resources"] = request


def _check_executors(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    for label, executor in spec.deployment_spec["executors"].items():
        kinds = set(executor.keys()) - {"container"}
        if kinds:
            raise CompileError(f"executor {label} is a {sorted(kinds)[0]!r} executor, which "
                               "open-source Kubeflow Pipelines rejects")


def tfx_spec(cfg: Config, *, image: Optional[str] = None, pipeline_root: Optional[str] = None,
             span: Optional[int] = None, beam_profile: Optional[str] = None
             ) -> pipeline_spec_pb2.PipelineSpec:
    """TFX's own PipelineSpec for ``cfg`` (same factory as the local run), with the config's
    resources and parameter defaults: what a stock TFX template would submit."""
    target = kubeflow_target(cfg, pipeline_root=pipeline_root, span=span, beam_profile=beam_profile)
    pipeline = factory.create_pipeline(cfg, target=target)
    runner = kv2.KubeflowV2DagRunner(
        config=kv2.KubeflowV2DagRunnerConfig(default_image=_images(cfg, image),
                                             use_pipeline_spec_2_1=True),
        output_dir=tempfile.gettempdir(), output_filename="unused.json")
    job = runner.run(pipeline, write_out=False)
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(job["pipelineSpec"], spec)
    _apply_resources(cfg, spec)
    _check_executors(spec)
    defaults = {DATA_ROOT_PARAM: target.data_root.default,
                TRAIN_STEPS_PARAM: target.train_steps.default}
    for name, parameter in spec.root.input_definitions.parameters.items():
        if name in defaults:
            parameter.default_value.CopyFrom(json_format.ParseDict(defaults[name],
                                                                   parameter.default_value))
            parameter.is_optional = True
    spec.default_pipeline_root = target.pipeline_root
    return spec


def build_spec(cfg: Config, *, image: Optional[str] = None, pipeline_root: Optional[str] = None,
               span: Optional[int] = None, beam_profile: Optional[str] = None
               ) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec for open-source KFP: ``tfx_spec`` adapted as the module says."""
    root = pipeline_root or cfg.kubeflow.pipeline_root
    setting = "--pipeline-root" if pipeline_root else "kubeflow.pipeline_root"
    if not root.startswith(REMOTE_SCHEMES):
        raise CompileError(f"{setting}: {root!r} is not object storage; open-source KFP's launcher "
                           f"mirrors only {', '.join(REMOTE_SCHEMES)} pipeline roots")
    _check_state_dir(cfg)
    spec = tfx_spec(cfg, image=image, pipeline_root=root, span=span, beam_profile=beam_profile)
    for executor in spec.deployment_spec["executors"].values():
        container = executor["container"]
        # Open-source KFP ignores lifecycle hooks; the ExampleGen driver's work is done by
        # our executor and the DataFingerprint task, so the hook would only mislead.
        if "lifecycle" in container:
            del container["lifecycle"]
        container["command"] = ENTRYPOINT
    for component in spec.components.values():
        container = spec.deployment_spec["executors"][component.executor_label]["container"]
        container["args"].extend([DECLARED_OUTPUTS_FLAG,
                                  json.dumps(sorted(component.output_definitions.artifacts))])
    _add_fingerprint_task(cfg, spec, image or cfg.kubeflow.image, span)
    _add_serving_state_task(cfg, spec, image or cfg.kubeflow.image)
    add_data_store_endpoint(cfg, spec)
    return spec


def _check_state_dir(cfg: Config) -> None:
    state = cfg.kubeflow.state_dir.rstrip("/")
    if not cfg.kubeflow.serving_dir.startswith(state + "/"):
        raise CompileError(f"kubeflow.serving_dir: {cfg.kubeflow.serving_dir!r} is not under "
                           f"kubeflow.state_dir {cfg.kubeflow.state_dir!r}, the only folder a pod "
                           "keeps between runs")


def _add_fingerprint_task(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec, image: str,
                          span: Optional[int]) -> None:
    """DataFingerprint -> CsvExampleGen's ``input_fingerprint`` parameter (never cached)."""
    string = pipeline_spec_pb2.ParameterType.STRING
    component = spec.components[FINGERPRINT_TASK]
    component.executor_label = f"{FINGERPRINT_TASK}_executor"
    component.input_definitions.parameters[DATA_ROOT_PARAM].parameter_type = string
    component.output_definitions.parameters[FINGERPRINT_PARAM].parameter_type = string
    args = ["--data_root", f"{{{{$.inputs.parameters['{DATA_ROOT_PARAM}']}}}}",
            "--span_pattern", cfg.data.span_pattern, "--window", str(cfg.data.window)]
    if span is not None:
        args += ["--span", str(span)]
    args += ["--output", f"{{{{$.outputs.parameters['{FINGERPRINT_PARAM}'].output_file}}}}"]
    spec.deployment_spec["executors"][component.executor_label] = {"container": {
        "image": cfg.kubeflow.images.get("CsvExampleGen", image),
        "command": ["python", "-m", "kubeflow.data_fingerprint"], "args": args}}
    task = spec.root.dag.tasks[FINGERPRINT_TASK]
    task.task_info.name = FINGERPRINT_TASK
    task.component_ref.name = FINGERPRINT_TASK
    task.inputs.parameters[DATA_ROOT_PARAM].component_input_parameter = DATA_ROOT_PARAM
    example_gen = spec.root.dag.tasks["CsvExampleGen"]
    parameter = example_gen.inputs.parameters[FINGERPRINT_PARAM].task_output_parameter
    parameter.producer_task = FINGERPRINT_TASK
    parameter.output_parameter_key = FINGERPRINT_PARAM
    example_gen.dependent_tasks.append(FINGERPRINT_TASK)
    spec.components["CsvExampleGen"].input_definitions.parameters[
        FINGERPRINT_PARAM].parameter_type = string


def _add_serving_state_task(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec, image: str) -> None:
    """ServingState -> ServingBaseline's ``serving_state`` parameter (never cached)."""
    component = spec.components[SERVING_STATE_TASK]
    component.executor_label = f"{SERVING_STATE_TASK}_executor"
    component.output_definitions.parameters[SERVING_STATE_PARAM].parameter_type = \
        pipeline_spec_pb2.ParameterType.STRING
    spec.deployment_spec["executors"][component.executor_label] = {"container": {
        "image": cfg.kubeflow.images.get("ServingBaseline", image),
        "command": ["python", "-m", "kubeflow.serving_state"],
        "args": ["--serving_dir", cfg.kubeflow.serving_dir, "--output",
                 f"{{{{$.outputs.parameters['{SERVING_STATE_PARAM}'].output_file}}}}"]}}
    task = spec.root.dag.tasks[SERVING_STATE_TASK]
    task.task_info.name = SERVING_STATE_TASK
    task.component_ref.name = SERVING_STATE_TASK
    baseline = spec.root.dag.tasks["ServingBaseline"]
    parameter = baseline.inputs.parameters[SERVING_STATE_PARAM]
    parameter.Clear()
    parameter.task_output_parameter.producer_task = SERVING_STATE_TASK
    parameter.task_output_parameter.output_parameter_key = SERVING_STATE_PARAM
    baseline.dependent_tasks.append(SERVING_STATE_TASK)


def volume_tasks(cfg: Config) -> List[str]:
    """The tasks that mount the state volume (see the module's docstring)."""
    state = cfg.kubeflow.state_dir.rstrip("/") + "/"
    on_volume = (cfg.kubeflow.data_root.rstrip("/") + "/").startswith(state)
    return sorted(STATE_TASKS + (DATA_TASKS if on_volume else ()))


def platform_spec(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, Any]:
    """The KFP Kubernetes platform config: the state volume claim in ``volume_tasks``."""
    mount = {"constant": cfg.kubeflow.state_volume, "mountPath": cfg.kubeflow.state_dir}
    executors = {spec.components[task].executor_label: {"pvcMount": [dict(mount)]}
                 for task in volume_tasks(cfg)}
    add_data_store_secret(cfg, spec, executors)
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def _check_data_store(cfg: Config) -> None:
    store = cfg.kubeflow.data_store
    if store.endpoint and not store.endpoint.startswith(("http://", "https://")):
        raise CompileError(f"kubeflow.data_store.endpoint: {store.endpoint!r} is not an http:// "
                           "or https:// URL (e.g. http://minio-service.kubeflow:9000)")
    if store.secret and not NAME_PATTERN.match(store.secret):
        raise CompileError(f"kubeflow.data_store.secret: {store.secret!r} is not a Kubernetes "
                           "Secret name (lowercase letters, digits and '-')")


def add_data_store_endpoint(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """The ``DATA_TASKS`` get ``kubeflow.data_store.endpoint`` as ``AWS_ENDPOINT_URL``.

    Always, not only when ``kubeflow.data_root`` is ``s3://``: ``data_root`` is a runtime
    parameter, so a run submitted with ``--param data_root=s3://...`` needs it too. A local
    data root never reads it.
    """
    _check_data_store(cfg)
    if not cfg.kubeflow.data_store.endpoint:
        return
    env = [{"name": s3_filesystem.ENDPOINT_ENV, "value": cfg.kubeflow.data_store.endpoint}]
    for task in DATA_TASKS:
        label = spec.components[task].executor_label
        spec.deployment_spec["executors"][label]["container"]["env"] = env


def add_data_store_secret(cfg: Config, spec: pipeline_spec_pb2.PipelineSpec,
                          executors: Dict[str, Any]) -> None:
    """The ``DATA_TASKS``' keys to the data store: ``kubeflow.data_store.secret`` as env.

    A Kubeflow install keeps its MinIO's keys in the Secret ``mlpipeline-minio-artifact``
    (in every profile namespace too), as ``accesskey`` and ``secretkey``."""
    _check_data_store(cfg)
    if not cfg.kubeflow.data_store.secret:
        return
    for task in DATA_TASKS:  # a fresh entry each: shared objects would become YAML anchors
        executors.setdefault(spec.components[task].executor_label, {})["secretAsEnv"] = [{
            "secretName": cfg.kubeflow.data_store.secret,
            "keyToEnv": [{"secretKey": key, "envVar": var} for key, var in SECRET_KEYS]}]


def to_yaml(spec: pipeline_spec_pb2.PipelineSpec, platform: Optional[Dict[str, Any]] = None) -> str:
    """Stable YAML: sorted keys, so the same inputs give the same bytes. The platform config
    follows as a second document, as the KFP SDK writes it."""
    text = yaml.safe_dump(json_format.MessageToDict(spec), sort_keys=True, width=100)
    if platform:
        text += "---\n" + yaml.safe_dump(platform, sort_keys=True, width=100)
    return text


def _documents(path: str) -> List[Any]:
    with open(path, encoding="utf-8") as f:
        try:
            return [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            raise CompileError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None


def load(path: str) -> pipeline_spec_pb2.PipelineSpec:
    """Reads a compiled spec (YAML or JSON; the first document) back into the proto."""
    documents = _documents(path)
    data = documents[0] if documents else None
    if not isinstance(data, dict) or "root" not in data:
        raise CompileError(f"{path}: not a KFP PipelineSpec (no 'root')")
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(data, spec)
    return spec


def load_platform(path: str) -> Dict[str, Any]:
    """The platform config of a compiled spec file ({} when it has none)."""
    platform: Dict[str, Any] = {}
    for document in _documents(path)[1:]:
        if isinstance(document, dict):
            platform.update(document)
    return platform


def write(spec: pipeline_spec_pb2.PipelineSpec, output: str,
          platform: Optional[Dict[str, Any]] = None) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write(to_yaml(spec, platform))


def dag_edges(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, List[str]]:
    """{task: sorted upstream tasks} as the spec declares them."""
    return {name: sorted(task.dependent_tasks) for name, task in spec.root.dag.tasks.items()}
