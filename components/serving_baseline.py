"""ServingBaseline: the model serving now, as the baseline for the Evaluator.

The baseline is the newest version in the push destination. A TFX ``Resolver`` cannot
be used for this: it compiles to a ``resolver`` executor, which open-source Kubeflow
Pipelines rejects. This component runs the same way locally and on Kubeflow.

On the first run there is no serving model; the output then has ``has_model = 0`` and
the Evaluator applies only the value thresholds.

The candidate model is an input only to key the cache: a cached baseline is reused only for
the same candidate in the same serving state (see ``pipeline.local.runner.serving_state``), and a
new candidate always gets the model that serves when it is evaluated.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components.lib.serving_store import serving_version

HAS_MODEL = "has_model"
SERVING_VERSION = "serving_version"


class ServingBaselineSpec(types.ComponentSpec):
    PARAMETERS = {
        "serving_dir": ExecutionParameter(type=str),
        # What the runner saw in serving_dir when it built the pipeline. It only keys the
        # cache: a new push changes it, so a cached baseline is never a stale one.
        "serving_state": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {"candidate": ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {"baseline_model": ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        baseline = output_dict["baseline_model"][0]
        serving_dir = exec_properties["serving_dir"]
        version = serving_version(serving_dir)
        if version is None:
            baseline.set_int_custom_property(HAS_MODEL, 0)
            return
        io_utils.copy_dir(os.path.join(serving_dir, str(version)),
                          path_utils.serving_model_dir(baseline.uri))
        baseline.set_int_custom_property(HAS_MODEL, 1)
        baseline.set_int_custom_property(SERVING_VERSION, version)


class ServingBaseline(base_component.BaseComponent):
    """Outputs a copy of the newest pushed model, or an empty marker on the first run."""

    SPEC_CLASS = ServingBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, candidate: types.BaseChannel, serving_dir: str, serving_state: str = ""):
        super().__init__(spec=ServingBaselineSpec(
            candidate=candidate, serving_dir=serving_dir, serving_state=serving_state,
            baseline_model=types.Channel(type=standard_artifacts.Model)))
