"""The reviewer report as plain data, read from a run's artifacts.

Both the Report component's executor and ``python -m pipeline report`` fill a
:class:`Sources` (MLMD artifacts plus lineage facts) and call :func:`build`; the
renderer (``render.py``) only formats what is here, so nothing is computed twice.
"""
from __future__ import annotations

import datetime
import getpass
import json
import os
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.dsl.io import fileio

from components.lib import tfma_results
from components.lib.properties import prop

Artifact = metadata_store_pb2.Artifact

# A slice with fewer eval examples than this is flagged: one error moves its accuracy by
# more than five points, so its numbers are noise rather than evidence.
MIN_SLICE_EXAMPLES = 20
OVERALL = "Overall"
HISTOGRAM_BUCKETS = 10
TOP_VALUES = 6


# ----------------------------------------------------------------------------- lineage facts

@dataclass(frozen=True)
class CodeVersion:
    sha: Optional[str]          # None: not a git checkout (e.g. in a container image)
    dirty: Optional[bool]
    note: str = ""

    def describe(self) -> str:
        if self.sha is None:
            return self.note or "not a git checkout"
        return f"{self.sha[:12]}{' (dirty: uncommitted changes)' if self.dirty else ''}"


def code_version(folder: Optional[str] = None) -> CodeVersion:
    """The git commit of the installed pipeline source, and whether it has local edits."""
    import components

    folder = folder or os.path.dirname(os.path.dirname(os.path.abspath(components.__file__)))
    try:
        sha = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=20)
        if sha.returncode != 0:
            return CodeVersion(None, None, "not a git checkout")
        status = subprocess.run(["git", "-C", folder, "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return CodeVersion(None, None, "git is not installed")
    return CodeVersion(sha.stdout.strip(), bool(status.stdout.strip()))


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid with no passwd entry
        return f"uid {os.getuid()}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Sources:
    """Everything a report is built from. Artifacts are MLMD protos; any may be missing."""

    run_id: str
    run_time: Optional[str]          # None: not known (inside a component)
    label: str
    config_digest: Optional[str] = None
    code: Optional[CodeVersion] = None
    user: Optional[str] = None
    host: Optional[str] = None
    examples: Optional[Artifact] = None
    statistics: Optional[Artifact] = None
    anomalies: Optional[Artifact] = None
    schema: Optional[Artifact] = None
    model: Optional[Artifact] = None
    baseline_model: Optional[Artifact] = None
    evaluation: Optional[Artifact] = None
    blessing: Optional[Artifact] = None
    pushed_model: Optional[Artifact] = None
    drift: Optional[Artifact] = None                 # DriftCheck's output (drift.json)
    previous_statistics: Optional[Artifact] = None   # the previous span's, if known
    previous_span: Optional[int] = None
    # (categorical, numeric) drift thresholds and features to leave out, for that comparison
    drift_thresholds: Optional[Tuple[float, float]] = None
    drift_skip: List[str] = field(default_factory=list)
    stopped: Optional[str] = None                    # "<node>: <error>" when the run failed
    notes: List[str] = field(default_factory=list)   # where lineage facts came from


# ----------------------------------------------------------------------------- the report model

@dataclass(frozen=True)
class Verdict:
    blessed: Optional[bool]          # None: not evaluated
    pushed_version: Optional[int]
    already_serving_version: Optional[int]
    stopped: Optional[str]

    @property
    def passed(self) -> bool:
        return self.stopped is None and bool(self.blessed)

    @property
    def headline(self) -> str:
        if self.stopped:
            return f"Stopped at {self.stopped}"
        if self.blessed is None:
            return "Not evaluated"
        return "Blessed" if self.blessed else "NOT blessed"

    @property
    def push(self) -> str:
        if self.pushed_version is not None:
            return f"pushed as version {self.pushed_version}"
        if self.already_serving_version is not None:
            return f"not pushed: already serving as version {self.already_serving_version}"
        return "not pushed"


@dataclass(frozen=True)
class ThresholdRow:
    metric: str
    slice: str
    kind: str                        # "value" or "change"
    candidate: Optional[float]
    baseline: Optional[float]
    difference: Optional[float]
    threshold: str                   # e.g. ">= 0.8" or "change >= -0.02"
    passed: bool


@dataclass(frozen=True)
class SliceMetrics:
    slice: str
    column: str                      # "" for the overall slice
    example_count: Optional[int]
    candidate: Dict[str, float]
    baseline: Dict[str, float]

    @property
    def few_examples(self) -> bool:
        return self.example_count is not None and self.example_count < MIN_SLICE_EXAMPLES


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    candidate: Dict[str, float]      # precision, recall
    baseline: Dict[str, float]


@dataclass(frozen=True)
class ConfusionMatrix:
    classes: List[str]
    counts: List[List[float]]        # counts[actual][predicted]


@dataclass(frozen=True)
class Regression:
    """The candidate's predictions against the actual values, on a sample of eval examples."""
    pairs: List[Tuple[float, float]]             # (actual, predicted)
    residual_bars: List[Tuple[str, float]]       # histogram of predicted - actual

    @property
    def mean_residual(self) -> float:
        return sum(p - a for a, p in self.pairs) / len(self.pairs) if self.pairs else 0.0


@dataclass
class Evaluation:
    has_baseline: bool
    validation_ok: bool
    metric_names: List[str]
    thresholds: List[ThresholdRow]
    slices: List[SliceMetrics]
    classes: List[ClassMetrics]
    confusion: Optional[ConfusionMatrix]
    regression: Optional[Regression] = None      # a regression model's plots

    @property
    def failed_thresholds(self) -> List[ThresholdRow]:
        return [row for row in self.thresholds if not row.passed]

    def slices_by_column(self) -> List[Tuple[str, List[SliceMetrics]]]:
        columns: Dict[str, List[SliceMetrics]] = {}
        for s in self.slices:
            columns.setdefault(s.column, []).append(s)
        return list(columns.items())


@dataclass(frozen=True)
class FeatureSummary:
    name: str
    kind: str                        # "numeric" or "categorical"
    missing: int
    present: int
    stats: Dict[str, str]            # already formatted: mean, std, min, max or unique
    bars: List[Tuple[str, float]]    # (label, count): histogram buckets or top values

    @property
    def missing_fraction(self) -> float:
        total = self.missing + self.present
        return self.missing / total if total else 0.0


@dataclass(frozen=True)
class SplitData:
    name: str
    examples: int
    features: List[FeatureSummary]


@dataclass(frozen=True)
class AnomalyRow:
    split: str
    feature: str
    description: str


@dataclass(frozen=True)
class DriftRow:
    split: str
    feature: str
    measure: str
    value: float
    threshold: Optional[float]       # None: measured for the report, no threshold configured

    @property
    def flagged(self) -> bool:
        return self.threshold is not None and self.threshold > 0 and self.value > self.threshold


@dataclass
class Data:
    span: Optional[int]
    splits: List[SplitData]
    anomalies: List[AnomalyRow]
    drift: List[DriftRow]
    drift_note: str


@dataclass(frozen=True)
class Lineage:
    rows: List[Tuple[str, str]]      # (what, value) in reading order


@dataclass
class Report:
    title: str
    verdict: Verdict
    evaluation: Optional[Evaluation]
    data: Data
    lineage: Lineage
    generated: str


# ----------------------------------------------------------------------------- evaluation

def _slice_name(slice_key) -> Tuple[str, str]:
    """(display name, column) of a TFMA slice key proto."""
    parts = tfma_results.slice_columns(slice_key)
    if not parts:
        return OVERALL, ""
    return ", ".join(f"{c} = {v}" for c, v in parts), ", ".join(c for c, _ in parts)


def _threshold_text(threshold) -> Tuple[str, str]:
    """(kind, readable bound) of a GenericValueThreshold or GenericChangeThreshold."""
    from tensorflow_model_analysis.proto import config_pb2

    if isinstance(threshold, config_pb2.GenericValueThreshold):
        bounds = []
        if threshold.HasField("lower_bound"):
            bounds.append(f">= {threshold.lower_bound.value:g}")
        if threshold.HasField("upper_bound"):
            bounds.append(f"<= {threshold.upper_bound.value:g}")
        return "value", " and ".join(bounds) or "any"
    sign = "<=" if threshold.direction == config_pb2.MetricDirection.LOWER_IS_BETTER else ">="
    bounds = []
    if threshold.HasField("absolute"):
        bounds.append(f"change {sign} {threshold.absolute.value:+g}")
    if threshold.HasField("relative"):
        bounds.append(f"relative change {sign} {threshold.relative.value:+g}")
    return "change", " and ".join(bounds) or "any"


def class_names(model: Optional[Artifact], label: str) -> List[str]:
    """The label vocabulary the model was trained with (class id order), if the model has it."""
    if model is None:
        return []
    path = os.path.join(model.uri, "Format-Serving", "assets", label)
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        return [line.rstrip("\n") for line in f.read().splitlines() if line.strip()]


def load_evaluation(evaluation: Artifact, classes: List[str]) -> Evaluation:
    """The threshold table, per-slice and per-class metrics and the confusion matrix."""
    from tensorflow_model_analysis.metrics import metric_specs, metric_types
    from tensorflow_model_analysis.slicer import slicer_lib

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

        slice_tuple = slicer_lib.deserialize_slice_key(per_slice.slice_key)
        slice_failures = failures.get(per_slice.slice_key.SerializeToString(), [])
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
                rows.append(ThresholdRow(key.name, name, kind, failure.metric_value.double_value.value,
                                         None, None, text + (f" ({failure.message.strip()})"
                                                             if failure.message.strip() else ""),
                                         False))
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
    bars = [(f"{_number(low + i * width)} to {_number(low + (i + 1) * width)}", float(c))
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

def split_names(artifact: Artifact) -> List[str]:
    if not artifact.uri or not fileio.isdir(artifact.uri):
        return []
    names = (d.rstrip("/") for d in fileio.listdir(artifact.uri))
    return sorted(d[len("Split-"):] for d in names if d.startswith("Split-"))


def load_statistics(artifact: Artifact, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_binary(os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"))


def load_anomalies(artifact: Artifact, split: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    path = os.path.join(artifact.uri, f"Split-{split}", "SchemaDiff.pb")
    if fileio.exists(path):
        with fileio.open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
    return anomalies


def _feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def summarize_feature(feature: statistics_pb2.FeatureNameStatistics) -> FeatureSummary:
    name = _feature_name(feature)
    if feature.HasField("num_stats"):
        num = feature.num_stats
        common = num.common_stats
        stats = {"mean": _number(num.mean), "std": _number(num.std_dev), "min": _number(num.min),
                 "median": _number(num.median), "max": _number(num.max)}
        standard = [h for h in num.histograms if h.type == statistics_pb2.Histogram.STANDARD]
        bars = [(f"{_number(b.low_value)} to {_number(b.high_value)}", b.sample_count)
                for b in (standard[0].buckets if standard else [])]
        return FeatureSummary(name, "numeric", int(common.num_missing), int(common.num_non_missing),
                              stats, bars[:HISTOGRAM_BUCKETS * 3])
    strings = feature.string_stats
    common = strings.common_stats
    bars = [(v.value, v.frequency) for v in strings.top_values[:TOP_VALUES]]
    if not bars:
        bars = [(b.label, b.sample_count) for b in strings.rank_histogram.buckets[:TOP_VALUES]]
    stats = {"unique": str(strings.unique),
             "top": ", ".join(f"{label} {count:,.0f}" for label, count in bars[:3])}
    return FeatureSummary(name, "categorical", int(common.num_missing), int(common.num_non_missing),
                          stats, bars)


def summarize_split(name: str, stats: statistics_pb2.DatasetFeatureStatisticsList) -> SplitData:
    dataset = stats.datasets[0] if stats.datasets else statistics_pb2.DatasetFeatureStatistics()
    features = sorted((summarize_feature(f) for f in dataset.features), key=lambda f: f.name)
    return SplitData(name, int(dataset.num_examples), features)


def anomaly_rows(split: str, anomalies: anomalies_pb2.Anomalies) -> List[AnomalyRow]:
    rows = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        rows.append(AnomalyRow(split, feature, reasons or info.description or info.short_description))
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        rows.append(AnomalyRow(split, "(dataset)", reasons or info.description))
    return rows


def drift_rows(split: str, anomalies: anomalies_pb2.Anomalies) -> List[DriftRow]:
    """The drift distances TFDV recorded in ``anomalies`` (threshold None where unset)."""
    from components.lib import drift  # imports TFDV: only when there is drift to read

    return [DriftRow(split, d.feature, d.measure, d.value, d.threshold if d.threshold > 0 else None)
            for d in drift.distances(anomalies) if d.kind == drift.DRIFT]


def measure_drift(current: statistics_pb2.DatasetFeatureStatisticsList,
                  previous: statistics_pb2.DatasetFeatureStatisticsList,
                  schema: schema_pb2.Schema, split: str,
                  thresholds: Optional[Tuple[float, float]] = None,
                  skip: Iterable[str] = ()) -> List[DriftRow]:
    """TFDV's drift measures between two spans: L-infinity for strings, Jensen-Shannon for
    numbers, with ``thresholds`` (categorical, numeric).

    Without thresholds every comparator gets 1, the largest either distance can reach, so
    TFDV reports each measurement and nothing is flagged.
    """
    from components.lib import drift

    categorical, numeric = thresholds or (1.0, 1.0)
    probe = drift.with_comparators(schema, drift.Thresholds(categorical, numeric, 1.0, 1.0),
                                   skip=skip, no_skew=[f.name for f in schema.feature])
    rows = [DriftRow(split, d.feature, d.measure, d.value, d.threshold)
            for d in drift.measure_drift(current, previous, probe)]
    if thresholds is None:
        rows = [DriftRow(r.split, r.feature, r.measure, r.value, None) for r in rows]
    return rows


def load_data(sources: Sources) -> Data:
    span = prop(sources.examples, "span")
    splits, anomalies, drift = [], [], []
    if sources.statistics is not None:
        for split in split_names(sources.statistics):
            splits.append(summarize_split(split, load_statistics(sources.statistics, split)))
    if sources.anomalies is not None:
        for split in split_names(sources.anomalies):
            recorded = load_anomalies(sources.anomalies, split)
            anomalies += anomaly_rows(split, recorded)
            drift += drift_rows(split, recorded)
    elif sources.statistics is not None and sources.schema is not None:
        # The gate failed, so its output was never published: validate again, as it did.
        for split, found in validate(sources.statistics, sources.schema).items():
            anomalies += anomaly_rows(split, found)
    checked = load_drift_check(sources.drift) if sources.drift is not None else None
    if checked is not None:
        drift, note = checked
    elif drift:
        note = "Drift as measured by ExampleValidator against the previous span."
    elif sources.previous_statistics is not None and sources.statistics is not None:
        schema = load_schema(sources.schema)
        for split in split_names(sources.statistics):
            if split in split_names(sources.previous_statistics):
                drift += measure_drift(load_statistics(sources.statistics, split),
                                       load_statistics(sources.previous_statistics, split),
                                       schema, split, sources.drift_thresholds,
                                       sources.drift_skip)
        note = (f"DriftCheck did not run: measured for this report against span "
                f"{sources.previous_span}'s statistics"
                + (" with the thresholds in the config now." if sources.drift_thresholds
                   else " (no thresholds given, so nothing is flagged)."))
    elif sources.statistics is None:
        note = "No statistics: the run stopped before StatisticsGen."
    else:
        note = "No previous span: nothing to compare with."
    return Data(span, splits, anomalies, drift, note)


def validate(statistics: Artifact, schema: Artifact) -> Dict[str, anomalies_pb2.Anomalies]:
    """What ExampleValidator finds: each split's statistics against the schema."""
    import tensorflow_data_validation as tfdv

    curated = load_schema(schema)
    return {split: tfdv.validate_statistics(load_statistics(statistics, split), curated)
            for split in split_names(statistics)}


def load_drift_check(artifact: Artifact) -> Optional[Tuple[List[DriftRow], str]]:
    """Rows and a note from DriftCheck's drift.json, or None if it has none."""
    path = os.path.join(artifact.uri, "drift.json")
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as f:
        recorded = json.loads(f.read())
    previous = recorded.get("previous_spans") or []
    if not previous:
        return [], "No previous span: nothing to compare with."
    rows = [DriftRow("train", d["feature"], d["measure"], float(d["value"]),
                     float(d["threshold"]))
            for d in recorded.get("distances", []) if d.get("kind", "drift") == "drift"]
    spans = ", ".join(str(s) for s in previous)
    note = (f"Training data of span(s) {', '.join(str(s) for s in recorded.get('spans', []))} "
            f"against span(s) {spans} (DriftCheck, policy: {recorded.get('policy', '?')}).")
    return rows, note


def load_schema(artifact: Optional[Artifact]) -> schema_pb2.Schema:
    from tfx.utils import io_utils

    if artifact is None:
        return schema_pb2.Schema()
    return io_utils.SchemaReader().read(os.path.join(artifact.uri, "schema.pbtxt"))


# ----------------------------------------------------------------------------- the whole report

def verdict(sources: Sources) -> Verdict:
    blessed = prop(sources.blessing, "blessed")
    pushed = sources.pushed_model
    version = int(prop(pushed, "pushed_version")) if prop(pushed, "pushed") else None
    return Verdict(None if blessed is None else bool(blessed), version,
                   prop(pushed, "already_serving_version"), sources.stopped)


def lineage(sources: Sources) -> Lineage:
    unknown = "not recorded"
    examples = sources.examples
    pushed_path = prop(sources.pushed_model, "pushed_destination") if prop(
        sources.pushed_model, "pushed") else None
    baseline = sources.baseline_model
    if baseline is None:
        baseline_text = unknown
    elif prop(baseline, "has_model"):
        baseline_text = f"serving version {prop(baseline, 'serving_version')} ({baseline.uri})"
    else:
        baseline_text = "none: no model was serving"
    rows = [
        ("Run", sources.run_id),
        ("Run started", sources.run_time or "not known to the component (see when the report "
                                            "was written)"),
        # "spans": CsvExampleGen's window of spans; "span": stock ExampleGen's one span.
        ("Data span(s)", str(prop(examples, "spans") or (
            prop(examples, "span") if prop(examples, "span") is not None else unknown))),
        ("Data fingerprint", prop(examples, "input_fingerprint") or unknown),
    ]
    if prop(examples, "span_fingerprints"):  # content hashes per span
        rows.append(("Span content fingerprints", str(prop(examples, "span_fingerprints"))))
    rows += [
        ("Examples", examples.uri if examples is not None else unknown),
        ("Code version", sources.code.describe() if sources.code else unknown),
        ("Config hash", sources.config_digest or unknown),
        ("Model", sources.model.uri if sources.model is not None else "not trained"),
        ("Baseline model", baseline_text),
        ("Pushed to", pushed_path or "not pushed"),
        ("Ran by", f"{sources.user} on {sources.host}" if sources.user else unknown),
    ]
    rows += [("Note", note) for note in sources.notes]
    return Lineage(rows)


def build(sources: Sources, title: str = "Model review") -> Report:
    classes = class_names(sources.model, sources.label)
    evaluation = load_evaluation(sources.evaluation, classes) if sources.evaluation else None
    return Report(title=title, verdict=verdict(sources), evaluation=evaluation,
                  data=load_data(sources), lineage=lineage(sources), generated=now())


def runtime_facts() -> Tuple[CodeVersion, str, str]:
    """Code version, user and host of the process writing the report."""
    return code_version(), current_user(), socket.gethostname()
