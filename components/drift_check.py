"""DriftCheck: how far this run's training data moved from the previous span's.

Inputs: the run's Examples (for the spans they hold), StatisticsGen's statistics (the
``train`` split is the current data) and the curated schema. The thresholds come from the
config (``monitoring.*``) and are written into a copy of the schema here
(:func:`components.lib.drift.with_comparators`), so the schema file has no thresholds of its own.

Where the previous statistics come from: they are computed here from the previous
window's CSV files under the data root, read by the same reader as CsvExampleGen. The
alternative, finding the previous run's StatisticsGen output in ML Metadata, needs MLMD
access from inside the component, which a Kubeflow component does not have in general;
for this project's span sizes (hundreds of rows) recomputing costs about a second. The
previous window is the current one shifted back by one span (window 1: the span before).

Output ``drift`` (type DriftReport) holds ``drift.json`` with every measured distance (the
report and the run summary read it) and custom properties ``drift_detected`` (0/1),
``drifted_features`` and ``previous_spans``. With ``drift_policy: record`` drift only
gets recorded; with ``stop`` it fails the execution, naming the features. Schema anomalies
are not this component's business: the gate (ExampleValidator) has no previous statistics.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils

from components.lib import drift
from components.lib import spans as spans_lib

DRIFT_FILE = "drift.json"
DRIFT_DETECTED = "drift_detected"
DRIFTED_FEATURES = "drifted_features"
PREVIOUS_SPANS = "previous_spans"


class DriftReport(types.Artifact):
    """drift.json: distances between this run's training data and the previous span's."""
    # Kubeflow V2 titles a custom type "<module>.<Class>" and imports it back from that title.
    TYPE_NAME = "components.DriftReport"


class DriftError(RuntimeError):
    """Drift above its threshold with ``monitoring.drift_policy: stop``."""


def examples_spans(examples: types.Artifact) -> List[int]:
    """The spans an Examples artifact holds (``spans`` property, else its ``span``)."""
    recorded = examples.get_string_custom_property(spans_lib.SPANS)
    if recorded:
        return [int(s) for s in recorded.split(",")]
    return [int(examples.get_int_custom_property("span"))]


def previous_window(data_root: str, span_pattern: str, spans: List[int]) -> List[int]:
    """The same number of spans as ``spans``, ending at the span before the last of them."""
    earlier = [s for s in spans_lib.available_spans(data_root, span_pattern) if s < max(spans)]
    return earlier[-len(spans):] if earlier else []


def load_report(artifact_uri: str) -> Dict[str, Any]:
    """The drift.json of a DriftReport artifact."""
    with fileio.open(os.path.join(artifact_uri, DRIFT_FILE)) as f:
        return json.loads(f.read())


class DriftCheckSpec(types.ComponentSpec):
    PARAMETERS = {
        "data_root": ExecutionParameter(type=str),
        "span_pattern": ExecutionParameter(type=str),
        "thresholds": ExecutionParameter(type=str),    # JSON of drift.Thresholds
        "skip_features": ExecutionParameter(type=str),  # JSON list: no comparator at all
        "policy": ExecutionParameter(type=str),         # record | stop
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "schema": ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {"drift": ChannelParameter(type=DriftReport)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        (examples,) = input_dict["examples"]
        (statistics,) = input_dict["statistics"]
        (schema_artifact,) = input_dict["schema"]
        (out,) = output_dict["drift"]
        thresholds = drift.Thresholds(**json.loads(exec_properties["thresholds"]))
        policy = exec_properties["policy"]
        spans = examples_spans(examples)
        previous = previous_window(exec_properties["data_root"], exec_properties["span_pattern"],
                                   spans)
        report: Dict[str, Any] = {"spans": spans, "previous_spans": previous, "policy": policy,
                                  "thresholds": thresholds.to_dict(), "distances": [],
                                  "drifted": []}
        if previous:
            schema = drift.with_comparators(
                io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_artifact.uri)),
                thresholds, skip=json.loads(exec_properties["skip_features"]))
            files = [f for s in previous for f in spans_lib.span_files(
                exec_properties["data_root"], exec_properties["span_pattern"], s)]
            current = stats_artifact_utils.load_statistics(statistics, "train").proto()
            found = drift.measure_drift(current, drift.csv_statistics(files), schema)
            report["distances"] = [d.to_dict() for d in found]
            report["drifted"] = sorted({d.feature for d in found if d.exceeded})
        report["status"] = ("no previous span" if not previous
                            else "drift" if report["drifted"] else "ok")
        fileio.makedirs(out.uri)
        with fileio.open(os.path.join(out.uri, DRIFT_FILE), "w") as f:
            f.write(json.dumps(report, indent=2))
        out.set_int_custom_property(DRIFT_DETECTED, int(bool(report["drifted"])))
        out.set_string_custom_property(DRIFTED_FEATURES, ",".join(report["drifted"]))
        out.set_string_custom_property(PREVIOUS_SPANS, ",".join(map(str, previous)))
        if report["drifted"] and policy == "stop":
            described = ", ".join(f"{d.feature} {d.measure} {d.value:.3f} > {d.threshold}"
                                  for d in found if d.exceeded)
            raise DriftError(f"drift from span(s) {report['previous_spans']} above threshold "
                             f"(monitoring.drift_policy: stop): {described}")


class DriftCheck(base_component.BaseComponent):
    """Measures drift from the previous span; records it, or stops the run on policy 'stop'."""

    SPEC_CLASS = DriftCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, statistics: types.BaseChannel,
                 schema: types.BaseChannel, *, data_root: str, span_pattern: str,
                 thresholds: drift.Thresholds, skip_features: List[str], policy: str):
        super().__init__(spec=DriftCheckSpec(
            examples=examples, statistics=statistics, schema=schema,
            data_root=data_root, span_pattern=span_pattern,
            thresholds=json.dumps(thresholds.to_dict(), sort_keys=True),
            skip_features=json.dumps(sorted(skip_features)), policy=policy,
            drift=types.Channel(type=DriftReport)))
