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


class DataValidationError(RuntimeError):
    """The data has schema anomalies; the message lists them on one line."""


def _reason(reason: anomalies_pb2.AnomalyInfo.Reason) -> str:
    # TFDV's short texts can mislead ("Column dropped" for a label missing in 2% of rows);
    # the long one says what was expected and what was found.
    short, long = reason.short_description, reason.description.strip()
    if not (short and long) or long.startswith(short):
        return long or short
    return f"{short} ({long})"


def describe(*anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """'feature: short description (details)' for each anomalous feature, sorted by feature.

    Several results (one per split) merge per feature: the same bad column in train and
    eval is one entry, with every distinct reason once.
    """
    reasons: Dict[str, Dict[str, None]] = {}
    for result in anomalies:
        for feature, info in result.anomaly_info.items():
            found = [_reason(r) for r in info.reason] or [info.short_description]
            reasons.setdefault(feature, {}).update(dict.fromkeys(found))
        if result.HasField("dataset_anomaly_info"):
            found = [r.short_description for r in result.dataset_anomaly_info.reason]
            reasons.setdefault("<dataset>", {}).update(dict.fromkeys(found))
    return [f"{feature}: {'; '.join(reasons[feature])}" for feature in sorted(reasons)]


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
