"""The evaluation part of the reviewer report: thresholds, slices, classes and the
confusion matrix, read from the Evaluator's output through ``components.lib.tfma_results``."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from tfx.dsl.io import fileio

from components.lib import tfma_results
from components.report.model import (
    HISTOGRAM_BUCKETS, OVERALL, Artifact, ClassMetrics, ConfusionMatrix, Evaluation, Regression,
    SliceMetrics, ThresholdRow, number)


def _slice_name(slice_key) -> Tuple[str, str]:
    """(display name, column) of a TFMA slice key proto."""
    parts = tfma_results.slice_columns(slice_key)
    if not parts:
        return OVERALL, ""
    return ", ".join(f"{c} = {v}" for c, v in parts), ", ".join(c for c, _ in parts)


def _threshold_text(threshold) -> Tuple[str, str]:
    """(kind, readable bound) of a GenericValueThreshold or GenericChangeThreshold."""
    from tensorflow_model_analysis.proto import config_pb2

    def bounds(number_format: str, *fields: Tuple[str, str]) -> str:
        """"<prefix> <value>" for each (field, prefix) the threshold sets, joined by "and"."""
        found = [f"{prefix} {getattr(threshold, name).value:{number_format}}"
                 for name, prefix in fields if threshold.HasField(name)]
        return " and ".join(found) or "any"

    if isinstance(threshold, config_pb2.GenericValueThreshold):
        return "value", bounds("g", ("lower_bound", ">="), ("upper_bound", "<="))
    sign = "<=" if threshold.direction == config_pb2.MetricDirection.LOWER_IS_BETTER else ">="
    return "change", bounds("+g", ("absolute", f"change {sign}"),
                            ("relative", f"relative change {sign}"))


def class_names(model: Optional[Artifact], label: str) -> List[str]:
    """The label vocabulary the model was trained with (class id order), if the model has it."""
    if model is None:
        return []
    path = os.path.join(model.uri, "Format-Serving", "assets", label)
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        return [line.rstrip("\n") for line in f.read().splitlines() if line.strip()]


def _slice_threshold_rows(slice_key, name: str, values, thresholds, candidate: str,
                          baseline: Optional[str], slice_failures: List) -> List[ThresholdRow]:
    """One row per threshold that applies to this slice, passed or failed, and one per
    validation failure that no threshold row accounts for."""
    from tensorflow_model_analysis.metrics import metric_types
    from tensorflow_model_analysis.slicer import slicer_lib

    rows: List[ThresholdRow] = []
    slice_tuple = slicer_lib.deserialize_slice_key(slice_key)
    matched = set()
    for key, specs in thresholds.items():
        if key.model_name != candidate or key not in values:
            continue
        for spec, threshold in specs:
            if spec is not None and not slicer_lib.SingleSliceSpec(spec=spec).is_slice_applicable(
                    slice_tuple):
                continue
            failed = [i for i, f in enumerate(slice_failures)
                      if metric_types.MetricKey.from_proto(f.metric_key) == key
                      and _same_threshold(f.metric_threshold, threshold)]
            matched.update(failed)
            rows.append(_threshold_row(key, threshold, values, name, baseline, not failed))
    for i, failure in enumerate(slice_failures):
        if i not in matched:  # a failure we could not pair with a value: never hide it
            key = metric_types.MetricKey.from_proto(failure.metric_key)
            threshold = (failure.metric_threshold.value_threshold
                         if failure.metric_threshold.HasField("value_threshold")
                         else failure.metric_threshold.change_threshold)
            kind, text = _threshold_text(threshold)
            message = failure.message.strip()
            rows.append(ThresholdRow(key.name, name, kind, failure.metric_value.double_value.value,
                                     None, None, text + (f" ({message})" if message else ""),
                                     False))
    return rows


def load_evaluation(evaluation: Artifact, classes: List[str]) -> Evaluation:
    """The threshold table, per-slice and per-class metrics and the confusion matrix."""
    from tensorflow_model_analysis.metrics import metric_specs, metric_types

    from components.lib import metrics

    path = evaluation.uri
    eval_config = tfma_results.load_eval_config(path)
    candidate = next((s.name for s in eval_config.model_specs if not s.is_baseline), "")
    baseline = next((s.name for s in eval_config.model_specs if s.is_baseline), None)
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config)
    validation = tfma_results.load_validation(path)
    failures: Dict[bytes, List] = {}
    for per_slice in validation.metric_validations_per_slice:
        failures.setdefault(per_slice.slice_key.SerializeToString(), []).extend(per_slice.failures)

    rows: List[ThresholdRow] = []
    slices: List[SliceMetrics] = []
    per_class: Dict[str, ClassMetrics] = {}
    metric_names: List[str] = []
    regression = None
    for per_slice in tfma_results.load_metrics(path):
        name, column = _slice_name(per_slice.slice_key)
        values: Dict[metric_types.MetricKey, float] = {}
        for kv in per_slice.metric_keys_and_values:
            key = metric_types.MetricKey.from_proto(kv.key)
            if kv.value.HasField("double_value"):
                values[key] = kv.value.double_value.value
            elif (column == "" and key.name == metrics.REGRESSION_SAMPLE
                  and key.model_name == candidate and kv.value.HasField("array_value")):
                regression = regression_view(list(kv.value.array_value.float64_values))
        model_values: Dict[str, Dict[str, float]] = {candidate: {}, baseline or "": {}}
        for key, value in values.items():
            # A binary label's AUC and precision/recall at the threshold are of one class
            # (a sub key) but describe the whole slice.
            per_class_only = key.sub_key is not None and key.name not in metrics.BINARY_METRICS
            if key.is_diff or per_class_only or key.model_name not in model_values:
                continue
            model_values[key.model_name].setdefault(key.name, value)
            if key.model_name == candidate and key.name not in metric_names:
                metric_names.append(key.name)
        count = model_values[candidate].get("example_count")
        slices.append(SliceMetrics(name, column, int(count) if count is not None else None,
                                   model_values[candidate],
                                   model_values[baseline] if baseline is not None else {}))
        if column == "":
            per_class = _class_metrics(values, candidate, baseline, classes)

        rows += _slice_threshold_rows(per_slice.slice_key, name, values, thresholds, candidate,
                                      baseline, failures.get(per_slice.slice_key.SerializeToString(), []))
    slices.sort(key=lambda s: (s.column != "", s.column, s.slice))
    rows.sort(key=lambda r: (r.passed, r.slice != OVERALL, r.slice, r.metric, r.kind))
    order = ["example_count"] + sorted({k.name for k in thresholds}) + metric_names
    metric_names = list(dict.fromkeys(n for n in order if n in metric_names))
    return Evaluation(has_baseline=baseline is not None, validation_ok=validation.validation_ok,
                      metric_names=metric_names, thresholds=rows, slices=slices,
                      classes=list(per_class.values()),
                      confusion=_confusion(path, candidate, classes), regression=regression)


def regression_view(flat: List[float], buckets: int = HISTOGRAM_BUCKETS * 2) -> Regression:
    """The sample's (actual, predicted) pairs, from a flat [a0, p0, a1, p1, ...] list, and a
    histogram of the residuals (predicted - actual) in equal-width buckets."""
    pairs = list(zip(flat[0::2], flat[1::2]))
    residuals = [p - a for a, p in pairs]
    if not residuals:
        return Regression([], [])
    low, high = min(residuals), max(residuals)
    width = (high - low) / buckets or 1.0
    counts = [0] * buckets
    for r in residuals:
        counts[min(int((r - low) / width), buckets - 1)] += 1
    bars = [(f"{number(low + i * width)} to {number(low + (i + 1) * width)}", float(c))
            for i, c in enumerate(counts)]
    return Regression(pairs, bars)


def _same_threshold(recorded, threshold) -> bool:
    field_name = "value_threshold" if recorded.HasField("value_threshold") else "change_threshold"
    return (type(getattr(recorded, field_name)) is type(threshold)
            and getattr(recorded, field_name) == threshold)


def _threshold_row(key, threshold, values, slice_name: str, baseline: Optional[str],
                   passed: bool) -> ThresholdRow:
    kind, text = _threshold_text(threshold)
    plain = key._replace(is_diff=False)
    candidate_value = values.get(plain)
    baseline_value = values.get(plain.make_baseline_key(baseline)) if baseline is not None else None
    difference = values.get(plain._replace(is_diff=True))
    if difference is None and None not in (candidate_value, baseline_value):
        difference = candidate_value - baseline_value
    return ThresholdRow(key.name, slice_name, kind, candidate_value, baseline_value, difference,
                        text, passed)


def _class_metrics(values, candidate: str, baseline: Optional[str],
                   classes: List[str]) -> Dict[str, ClassMetrics]:
    from components.lib import metrics

    found: Dict[int, Tuple[Dict[str, float], Dict[str, float]]] = {}
    for key, value in values.items():
        if (key.is_diff or key.sub_key is None or key.sub_key.class_id is None
                or key.name in metrics.BINARY_METRICS):
            continue
        class_id = key.sub_key.class_id
        pair = found.setdefault(class_id, ({}, {}))
        if key.model_name == candidate:
            pair[0][key.name] = value
        elif baseline is not None and key.model_name == baseline:
            pair[1][key.name] = value
    return {str(i): ClassMetrics(classes[i] if i < len(classes) else f"class {i}", c, b)
            for i, (c, b) in sorted(found.items())}


def _confusion(path: str, candidate: str, classes: List[str]) -> Optional[ConfusionMatrix]:
    for per_slice in tfma_results.load_plots(path):
        if per_slice.slice_key.single_slice_keys:
            continue
        for kv in per_slice.plot_keys_and_values:
            if kv.key.model_name != candidate or not kv.value.HasField(
                    "multi_class_confusion_matrix_at_thresholds"):
                continue
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            entries = matrices[0].entries
            size = max([len(classes)] + [max(e.actual_class_id, e.predicted_class_id) + 1
                                         for e in entries])
            counts = [[0.0] * size for _ in range(size)]
            for e in entries:
                counts[e.actual_class_id][e.predicted_class_id] += e.num_weighted_examples
            names = [classes[i] if i < len(classes) else f"class {i}" for i in range(size)]
            return ConfusionMatrix(names, counts)
    return None


# ----------------------------------------------------------------------------- data
