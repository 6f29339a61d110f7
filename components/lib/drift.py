"""Drift and skew measurement with TFDV: comparators from config, distances per feature.

The curated schema file stays free of comparators; the thresholds live in the config
(``monitoring.*``) and :func:`with_comparators` writes them into an in-memory copy of the
schema: L-infinity distance for categorical (string) features, Jensen-Shannon divergence
for numeric ones. Both the pipeline's DriftCheck and ``python -m pipeline monitor`` use
these functions, so a threshold means the same thing in both places.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

import pyarrow as pa
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.lib.csv_read import record_batches

DRIFT, SKEW = "drift", "skew"
MEASURE_NAMES = {anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity",
                 anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon",
                 anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE:
                     "normalized absolute difference"}


@dataclass(frozen=True)
class Thresholds:
    """Largest allowed distance per kind of feature, for drift and for skew."""
    categorical_drift: float
    numeric_drift: float
    categorical_skew: float
    numeric_skew: float

    def to_dict(self) -> Dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Distance:
    """One measured distance between two datasets for one feature."""
    feature: str
    kind: str          # drift or skew
    measure: str       # L-infinity or Jensen-Shannon
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold

    def to_dict(self) -> Dict[str, object]:
        return {**dataclasses.asdict(self), "exceeded": self.exceeded}


def is_categorical(feature: schema_pb2.Feature) -> bool:
    return feature.type == schema_pb2.BYTES


def with_comparators(schema: schema_pb2.Schema, thresholds: Thresholds,
                     skip: Iterable[str] = (), no_skew: Iterable[str] = ()) -> schema_pb2.Schema:
    """A copy of ``schema`` with a drift and a skew comparator on every feature.

    ``skip`` features get neither (e.g. ``year``, different in every span by design);
    ``no_skew`` features get no skew comparator (the label: serving data has none).
    """
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    skip, no_skew = set(skip), set(no_skew)
    for feature in out.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
        if feature.name in skip:
            continue
        if is_categorical(feature):
            feature.drift_comparator.infinity_norm.threshold = thresholds.categorical_drift
            if feature.name not in no_skew:
                feature.skew_comparator.infinity_norm.threshold = thresholds.categorical_skew
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = thresholds.numeric_drift
            if feature.name not in no_skew:
                feature.skew_comparator.jensen_shannon_divergence.threshold = \
                    thresholds.numeric_skew
    return out


def csv_statistics(files: List[str]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of CSV files, read exactly as CsvExampleGen reads them.

    In memory: one span of this project is a few hundred rows.
    """
    batches = [b for path in files for b in record_batches(path)]
    if not batches:
        raise ValueError(f"{', '.join(files) or 'no files'}: no rows to compute statistics from")
    return batch_statistics(batches)


def batch_statistics(batches: List[pa.RecordBatch]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of record batches of list columns (e.g. served rows)."""
    table = pa.Table.from_batches(_unify(batches))
    (batch,) = table.combine_chunks().to_batches(max_chunksize=max(table.num_rows, 1))
    return stats_impl.generate_statistics_in_memory(batch)


def _unify(batches: List[pa.RecordBatch]) -> List[pa.RecordBatch]:
    """Batches with one schema: a column missing from a file becomes nulls, types widen."""
    schema = _widest_schema(batches)
    out = []
    for batch in batches:
        columns = []
        for field in schema:
            if field.name in batch.schema.names:
                column = batch.column(field.name)
                columns.append(column if column.type == field.type else column.cast(field.type))
            else:
                columns.append(pa.nulls(batch.num_rows, field.type))
        out.append(pa.RecordBatch.from_arrays(columns, schema=schema))
    return out


_ORDER = [pa.list_(pa.int64()), pa.list_(pa.float32()), pa.list_(pa.binary())]


def _widest_schema(batches: List[pa.RecordBatch]) -> pa.Schema:
    """Per column, the widest of int < float < bytes lists seen in any batch."""
    widest: Dict[str, pa.DataType] = {}
    for batch in batches:
        for field in batch.schema:
            known = widest.get(field.name)
            rank = _ORDER.index(field.type) if field.type in _ORDER else len(_ORDER) - 1
            if known is None or rank > _ORDER.index(known):
                widest[field.name] = _ORDER[rank]
    return pa.schema(list(widest.items()))


def distances(anomalies: anomalies_pb2.Anomalies) -> List[Distance]:
    """Every drift and skew distance TFDV measured, sorted by kind then feature."""
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for kind, measurements in ((DRIFT, info.drift_measurements),
                                   (SKEW, info.skew_measurements)):
            for m in measurements:
                found.append(Distance(feature, kind, MEASURE_NAMES.get(m.type, str(m.type)),
                                      round(float(m.value), 6), float(m.threshold)))
    return sorted(found, key=lambda d: (d.kind, d.feature))


def measure_drift(current: statistics_pb2.DatasetFeatureStatisticsList,
                  previous: statistics_pb2.DatasetFeatureStatisticsList,
                  schema: schema_pb2.Schema, environment: Optional[str] = None) -> List[Distance]:
    """Drift of ``current`` from ``previous`` (schema needs comparators)."""
    anomalies = tfdv.validate_statistics(current, schema, environment=environment,
                                         previous_statistics=previous)
    return [d for d in distances(anomalies) if d.kind == DRIFT]


def measure_skew(training: statistics_pb2.DatasetFeatureStatisticsList,
                 serving: statistics_pb2.DatasetFeatureStatisticsList,
                 schema: schema_pb2.Schema) -> List[Distance]:
    """Skew between training data and serving data (schema needs comparators)."""
    anomalies = tfdv.validate_statistics(training, schema, serving_statistics=serving)
    return [d for d in distances(anomalies) if d.kind == SKEW]


def schema_anomalies(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                     schema: schema_pb2.Schema, environment: Optional[str] = None) -> List[str]:
    """'feature: reason' for each schema anomaly (no drift, no skew)."""
    from components.lib.anomalies import describe

    plain = schema_pb2.Schema()
    plain.CopyFrom(schema)
    for feature in plain.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    return describe(tfdv.validate_statistics(statistics, plain, environment=environment))
