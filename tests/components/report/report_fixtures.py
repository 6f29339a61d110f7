"""Evaluator, StatisticsGen and ExampleValidator outputs in their real on-disk formats.

The metrics are chosen by the test; the eval config is the pipeline's own
(``pipeline.eval_config.build``) with TFMA's own baseline handling, and the validation
result comes from TFMA's own metrics validator, so the report reads what TFMA would write.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2
from tensorflow_model_analysis.writers import eval_config_writer

from pipeline import config, eval_config

CLASSES = ["Adelie", "Gentoo", "Chinstrap"]
SliceKey = Tuple[Tuple[str, str], ...]


def artifact(uri: str, **properties) -> metadata_store_pb2.Artifact:
    a = metadata_store_pb2.Artifact(uri=uri)
    for key, value in properties.items():
        if isinstance(value, int):
            a.custom_properties[key].int_value = value
        else:
            a.custom_properties[key].string_value = str(value)
    return a


def _key(name: str, model: str, *, diff: bool = False, class_id: Optional[int] = None):
    sub_key = metric_types.SubKey(class_id=class_id) if class_id is not None else None
    return metric_types.MetricKey(name=name, model_name=model, is_diff=diff, sub_key=sub_key,
                                  example_weighted=False)


def write_evaluation(path: str, accuracy: Dict[SliceKey, Tuple[float, Optional[float]]],
                     counts: Dict[SliceKey, int]) -> None:
    """An Evaluator output dir: (candidate, baseline) accuracy per slice; no baseline when
    every baseline value is None."""
    has_baseline = any(b is not None for _, b in accuracy.values())
    cfg = config.load()
    ec = tfma.utils.update_eval_config_with_defaults(
        eval_config.build(cfg), has_baseline=has_baseline, rubber_stamp=not has_baseline)
    candidate = next(s.name for s in ec.model_specs if not s.is_baseline)
    baseline = next((s.name for s in ec.model_specs if s.is_baseline), None)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "eval_config.json"), "w") as f:
        f.write(eval_config_writer._serialize_eval_run(  # the writer TFMA itself uses
            ec, "examples", "tfrecords", {candidate: "model"}))
    validation = validation_result_pb2.ValidationResult(validation_ok=True)
    with tf.io.TFRecordWriter(os.path.join(path, "metrics-00000-of-00001.tfrecord")) as metrics_out:
        for slice_key, (cand, base) in accuracy.items():
            values = {_key("accuracy", candidate): cand,
                      _key("example_count", candidate): float(counts[slice_key])}
            if baseline is not None:
                values[_key("accuracy", baseline)] = base
                values[_key("accuracy", candidate, diff=True)] = cand - base
            if not slice_key:
                for i in range(len(CLASSES)):
                    values[_key("precision", candidate, class_id=i)] = 0.9 - i / 10
                    values[_key("recall", candidate, class_id=i)] = 0.8 - i / 10
            proto = metrics_for_slice_pb2.MetricsForSlice(
                slice_key=tfma.slicer.slicer_lib.serialize_slice_key(slice_key))
            for key, value in values.items():
                kv = proto.metric_keys_and_values.add()
                kv.key.CopyFrom(key.to_proto())
                kv.value.double_value.value = value
            metrics_out.write(proto.SerializeToString())
            checked = metrics_validator.validate_metrics((slice_key, values), ec)
            validation.validation_ok &= checked.validation_ok
            validation.metric_validations_per_slice.extend(checked.metric_validations_per_slice)
    with tf.io.TFRecordWriter(os.path.join(path, "validations.tfrecord")) as out:
        out.write(validation.SerializeToString())
    plots = metrics_for_slice_pb2.PlotsForSlice(
        slice_key=tfma.slicer.slicer_lib.serialize_slice_key(()))
    kv = plots.plot_keys_and_values.add()
    kv.key.model_name = candidate
    kv.key.name = "multi_class_confusion_matrix_plot"
    matrix = kv.value.multi_class_confusion_matrix_at_thresholds.matrices.add()
    for actual, predicted, n in [(0, 0, 14), (0, 2, 1), (1, 1, 17), (2, 2, 6), (2, 0, 1)]:
        matrix.entries.add(actual_class_id=actual, predicted_class_id=predicted,
                           num_weighted_examples=n)
    with tf.io.TFRecordWriter(os.path.join(path, "plots-00000-of-00001.tfrecord")) as out:
        out.write(plots.SerializeToString())


def write_statistics(path: str, features: Dict[str, List[Tuple[str, int]]],
                     examples: int = 40) -> None:
    """A StatisticsGen output with one ``train`` split of string features."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=examples)
    for name, values in features.items():
        feature = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
        feature.path.step.append(name)
        feature.string_stats.common_stats.num_non_missing = examples - 1
        feature.string_stats.common_stats.num_missing = 1
        feature.string_stats.unique = len(values)
        for value, frequency in values:
            feature.string_stats.top_values.add(value=value, frequency=frequency)
    split = os.path.join(path, "Split-train")
    os.makedirs(split, exist_ok=True)
    with open(os.path.join(split, "FeatureStats.pb"), "wb") as f:
        f.write(stats.SerializeToString())


def write_anomalies(path: str, found: Dict[str, str]) -> None:
    """An ExampleValidator output with one ``train`` split: {feature: description}."""
    anomalies = anomalies_pb2.Anomalies()
    for feature, description in found.items():
        info = anomalies.anomaly_info[feature]
        info.short_description = "Unexpected string values"
        reason = info.reason.add(short_description="Unexpected string values")
        reason.description = description
    split = os.path.join(path, "Split-train")
    os.makedirs(split, exist_ok=True)
    with open(os.path.join(split, "SchemaDiff.pb"), "wb") as f:
        f.write(anomalies.SerializeToString())


def write_regression_evaluation(path: str, pairs: List[Tuple[float, float]]) -> None:
    """An Evaluator output of ``examples/deliveries.yaml`` (a regression, no baseline): the
    errors and the regression sample of these (actual, predicted) pairs, overall only."""
    from components.lib import metrics
    from tests.conftest import ROOT

    ec = tfma.utils.update_eval_config_with_defaults(
        eval_config.build(config.load(os.path.join(ROOT, "examples", "deliveries.yaml"))),
        has_baseline=False, rubber_stamp=True)
    candidate = ec.model_specs[0].name
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "eval_config.json"), "w") as f:
        f.write(eval_config_writer._serialize_eval_run(ec, "examples", "tfrecords",
                                                       {candidate: "model"}))
    errors = [p - a for a, p in pairs]
    values = {_key("example_count", candidate): float(len(pairs)),
              _key("mean_absolute_error", candidate): sum(map(abs, errors)) / len(errors),
              _key("mean_squared_error", candidate): sum(e * e for e in errors) / len(errors)}
    proto = metrics_for_slice_pb2.MetricsForSlice(
        slice_key=tfma.slicer.slicer_lib.serialize_slice_key(()))
    for key, value in values.items():
        kv = proto.metric_keys_and_values.add()
        kv.key.CopyFrom(key.to_proto())
        kv.value.double_value.value = value
    kv = proto.metric_keys_and_values.add()
    kv.key.CopyFrom(_key(metrics.REGRESSION_SAMPLE, candidate).to_proto())
    kv.value.array_value.shape[:] = [len(pairs), 2]
    kv.value.array_value.data_type = metrics_for_slice_pb2.ArrayValue.FLOAT64
    kv.value.array_value.float64_values[:] = [v for pair in pairs for v in pair]
    with tf.io.TFRecordWriter(os.path.join(path, "metrics-00000-of-00001.tfrecord")) as out:
        out.write(proto.SerializeToString())
    validation = metrics_validator.validate_metrics(((), values), ec)
    with tf.io.TFRecordWriter(os.path.join(path, "validations.tfrecord")) as out:
        out.write(validation.SerializeToString())
    with tf.io.TFRecordWriter(os.path.join(path, "plots-00000-of-00001.tfrecord")):
        pass
