"""The data part of the reviewer report: statistics per split, schema anomalies and drift."""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Optional, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.dsl.io import fileio

from components.lib.properties import prop
from components.report.model import (
    HISTOGRAM_BUCKETS, TOP_VALUES, AnomalyRow, Artifact, Data, DriftRow, FeatureSummary, Sources,
    SplitData, number)


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


def summarize_feature(feature: statistics_pb2.FeatureNameStatistics) -> FeatureSummary:
    name = _feature_name(feature)
    if feature.HasField("num_stats"):
        num = feature.num_stats
        common = num.common_stats
        stats = {"mean": number(num.mean), "std": number(num.std_dev), "min": number(num.min),
                 "median": number(num.median), "max": number(num.max)}
        standard = [h for h in num.histograms if h.type == statistics_pb2.Histogram.STANDARD]
        bars = [(f"{number(b.low_value)} to {number(b.high_value)}", b.sample_count)
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
