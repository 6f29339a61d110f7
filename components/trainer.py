"""Trainer whose step count can be a Kubeflow runtime parameter.

TFX cannot put a ``RuntimeParameter`` inside ``train_args`` for Kubeflow V2 (it is
serialized into the proto's JSON as an object). This subclass adds a plain integer
``train_steps`` execution parameter, which can be a runtime parameter, and the
executor writes it into ``train_args`` before the stock executor runs.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Union

from tfx import types
from tfx.components import Trainer
from tfx.components.trainer import executor as stock
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

TRAIN_STEPS = "train_steps"


class _Spec(standard_component_specs.TrainerSpec):
    PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS,
                  TRAIN_STEPS: ExecutionParameter(type=int, optional=True)}


class Executor(stock.GenericExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        steps = exec_properties.get(TRAIN_STEPS)
        if steps:
            train_args = json.loads(exec_properties.get(standard_component_specs.TRAIN_ARGS_KEY) or "{}")
            train_args["num_steps"] = int(steps)
            exec_properties = {**exec_properties,
                               standard_component_specs.TRAIN_ARGS_KEY: json.dumps(train_args)}
        return super().Do(input_dict, output_dict, exec_properties)


class StepsTrainer(Trainer):
    """Stock Trainer (``run_fn`` by dotted path) with ``train_steps`` as its own parameter."""

    SPEC_CLASS = _Spec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, examples: types.BaseChannel, transform_graph: types.BaseChannel,
                 schema: types.BaseChannel, run_fn: str,
                 train_steps: Union[int, data_types.RuntimeParameter],
                 eval_args: trainer_pb2.EvalArgs, custom_config: Optional[Dict[str, Any]] = None):
        spec = _Spec(
            examples=examples, transform_graph=transform_graph, schema=schema,
            train_args=trainer_pb2.TrainArgs(), eval_args=eval_args, run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config), train_steps=train_steps,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun))
        base_component.BaseComponent.__init__(self, spec=spec)
