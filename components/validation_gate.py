"""ExampleValidator that gates the run: any anomaly stops it before the Trainer.

Stock ExampleValidator only records anomalies. This subclass runs the stock executor,
then fails the execution with a one-line message naming each anomalous feature, so the
orchestrator (Beam locally, Kubeflow on a cluster) runs nothing downstream of it.
"""
from __future__ import annotations

from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components import ExampleValidator
from tfx.components.example_validator import executor as stock
from tfx.dsl.components.base import executor_spec

from components.lib.anomalies import describe


class DataValidationError(RuntimeError):
    """The data has schema anomalies; the message lists them on one line."""


class Executor(stock.Executor):
    """The stock executor, plus a stop when any split has an anomaly."""

    def _Validate(self, inputs: Dict[str, Any], outputs: Dict[str, Any]) -> anomalies_pb2.Anomalies:
        anomalies = super()._Validate(inputs, outputs)
        self._found.append(anomalies)
        return anomalies

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]):
        self._found: List[anomalies_pb2.Anomalies] = []
        result = super().Do(input_dict, output_dict, exec_properties)
        found = describe(*self._found)
        if found:
            raise DataValidationError("data does not match the schema: " + " | ".join(found))
        return result


class GatedExampleValidator(ExampleValidator):
    """Stock ExampleValidator whose execution fails on any anomaly."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
