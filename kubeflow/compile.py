"""Compiles the pipeline from the one factory into a KFP v2 ``PipelineSpec`` (YAML).

The spec is what open-source Kubeflow Pipelines accepts: schema 2.1.0 parameters, no
``resolver`` executor (the baseline comes from our ServingBaseline component) and no
``preCacheCheck`` hook (the backend ignores it; our ExampleGen executor resolves the
span itself). The output is deterministic, so the spec can be committed and diffed.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from typing import Dict, List, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kv2
from tfx.orchestration.kubeflow.v2 import pipeline_builder

from pipeline import factory
from pipeline.config import Config, ConfigError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runtime parameters an engineer overrides per run (`submit --param name=value`).
DATA_ROOT_PARAM = "data_root"
TRAIN_STEPS_PARAM = "train_steps"
# Executors that only Vertex AI (or nothing) implements; open-source KFP rejects them.
FORBIDDEN_EXECUTORS = ("resolver", "importer")


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


def build_spec(cfg: Config, *, image: Optional[str] = None, pipeline_root: Optional[str] = None,
               span: Optional[int] = None, beam_profile: Optional[str] = None
               ) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec proto for ``cfg``, from the same factory as the local run."""
    target = kubeflow_target(cfg, pipeline_root=pipeline_root, span=span, beam_profile=beam_profile)
    pipeline = factory.create_pipeline(cfg, target=target)
    runner = kv2.KubeflowV2DagRunner(
        config=kv2.KubeflowV2DagRunnerConfig(default_image=_images(cfg, image),
                                             use_pipeline_spec_2_1=True),
        output_dir=tempfile.gettempdir(), output_filename="unused.json")
    job = runner.run(pipeline, write_out=False)
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(job["pipelineSpec"], spec)
    for executor in spec.deployment_spec["executors"].values():
        # Open-source KFP ignores lifecycle hooks; the ExampleGen driver's work is done by
        # our executor, so the hook would only mislead a reader of the spec.
        if "lifecycle" in executor["container"]:
            del executor["container"]["lifecycle"]
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


def to_yaml(spec: pipeline_spec_pb2.PipelineSpec) -> str:
    """Stable YAML: sorted keys, so the same inputs give the same bytes."""
    return yaml.safe_dump(json_format.MessageToDict(spec), sort_keys=True, width=100)


def load(path: str) -> pipeline_spec_pb2.PipelineSpec:
    """Reads a compiled spec (YAML or JSON) back into the proto."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or "root" not in data:
        raise CompileError(f"{path}: not a KFP PipelineSpec (no 'root')")
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(data, spec)
    return spec


def write(spec: pipeline_spec_pb2.PipelineSpec, output: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write(to_yaml(spec))


def dag_edges(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, List[str]]:
    """{task: sorted upstream tasks} as the spec declares them."""
    return {name: sorted(task.dependent_tasks) for name, task in spec.root.dag.tasks.items()}
