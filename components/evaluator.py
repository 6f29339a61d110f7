"""Evaluator that treats an empty ServingBaseline output as 'no baseline'.

With no model serving yet, the stock Evaluator must get no baseline input at all, so that
TFMA drops the change thresholds (rubber stamp) and applies only the value thresholds.
"""
from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.components import Evaluator
from tfx.components.evaluator import executor as stock
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from components.serving_baseline import HAS_MODEL


class Executor(stock.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        baselines = [a for a in input_dict.get(key, [])
                     if a.get_int_custom_property(HAS_MODEL) == 1]
        input_dict = {**input_dict, key: baselines}
        if not baselines:
            input_dict.pop(key)
        return super().Do(input_dict, output_dict, exec_properties)


class BaselineAwareEvaluator(Evaluator):
    """Stock Evaluator; a ServingBaseline output without a model counts as no baseline."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
