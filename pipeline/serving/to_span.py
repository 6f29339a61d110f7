"""Closing the loop: the labelled production rows become the next span under the data root.

The rows are written as a CSV with the training data's columns (the label included), named by
``data.span_pattern``, into a staging folder beside the spans; they are checked against the
curated schema there, row by row (type, domain, required values: an error names the file,
row and column) and then as ExampleValidator checks a span (TFDV statistics against the
schema, TRAINING environment); only a span that passes is renamed into place, so a watcher
(``run --watch``) never sees half a span and a bad one never lands.
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import Any, List, Optional

import pandas as pd
from tensorflow_metadata.proto.v0 import schema_pb2

from components.lib import drift, spans
from components.lib import label as label_lib
from pipeline.config import Config
from pipeline.serving import traffic

FILE_STEM = "traffic"   # replaces the '*' of the span pattern's file name
MISSING = "NA"          # how the bundled data writes a missing value (CsvExampleGen: null)


class SpanExportError(ValueError):
    """The span cannot be written; the message names the file, row and column or setting."""


@dataclass
class Exported:
    span: int
    path: str          # the CSV in its final place
    rows: int


def _target(cfg: Config, span: int) -> tuple:
    """(the span's CSV path relative to the data root, the first part naming the span)."""
    relative = cfg.data.span_pattern.replace("{SPAN}", str(span))
    if any(c in relative for c in "?[]"):
        raise SpanExportError(f"data.span_pattern {cfg.data.span_pattern!r}: only '*' can be "
                              "filled in to name a file to write")
    relative = relative.replace("*", FILE_STEM)
    parts = cfg.data.span_pattern.split("/")
    unit = next(i for i, p in enumerate(parts) if "{SPAN}" in p)
    return relative, "/".join(relative.split("/")[:unit + 1])


def training_columns(cfg: Config, schema: schema_pb2.Schema) -> List[str]:
    """The latest span's CSV header, or the schema's features when there is no span yet."""
    found = spans.available_spans(cfg.data.root, cfg.data.span_pattern)
    if found:
        with open(found[max(found)][0], newline="", encoding="utf-8") as f:
            return next(csv.reader(f))
    return [f.name for f in schema.feature]


def _fault(feature: schema_pb2.Feature, schema: schema_pb2.Schema, value: Any) -> Optional[str]:
    """Why ``value`` breaks ``feature`` of the schema, or None."""
    if value is None:
        required = feature.presence.min_fraction >= 1.0
        return "missing, and the schema requires a value" if required else None
    if feature.type == schema_pb2.BYTES:
        domain = label_lib._domain(schema, feature, "string_domain")
        if not isinstance(value, str):
            return f"{value!r} is not a string"
        if domain is not None and value not in domain.value:
            return f"{value!r} is not in the domain ({', '.join(domain.value)})"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if feature.type == schema_pb2.INT and float(value) != int(value):
        return f"{value!r} is not an integer"
    kind = "int_domain" if feature.type == schema_pb2.INT else "float_domain"
    domain = label_lib._domain(schema, feature, kind)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return f"{value!r} is not a measurement"
    if domain is not None and ((domain.HasField("min") and value < domain.min)
                               or (domain.HasField("max") and value > domain.max)):
        return f"{value!r} is outside [{domain.min:g}, {domain.max:g}]"
    return None


def _records(cfg: Config, labelled: pd.DataFrame, columns: List[str],
             schema: schema_pb2.Schema, where: str) -> List[List[Any]]:
    """The CSV rows; SpanExportError at the first value the schema rejects."""
    features = {f.name: f for f in schema.feature}
    out = []
    for line, (_, row) in enumerate(labelled.iterrows(), 2):
        record = []
        for column in columns:
            name = traffic.LABEL if column == cfg.data.label else column
            value = row[name] if name in row.index else None
            value = None if value is None or (isinstance(value, float) and value != value) \
                else value
            if column in features:
                fault = _fault(features[column], schema, value)
                if fault:
                    raise SpanExportError(f"{where}: row {line} (served row "
                                          f"{row[traffic.ROW_ID]}), column {column!r}: {fault}")
            record.append(MISSING if value is None else value)
        out.append(record)
    return out


def export(cfg: Config, serving_root: str) -> Exported:
    """Writes the labelled rows of the prediction log as the next span; nothing on failure."""
    schema = label_lib.read_schema(cfg.schema)
    read = traffic.read_traffic(serving_root)
    labelled = read.labelled
    if labelled.empty:
        raise SpanExportError(f"{os.path.join(serving_root, traffic.GROUND_TRUTH)}: no served "
                              "row has a label: nothing to export")
    span = max(spans.available_spans(cfg.data.root, cfg.data.span_pattern), default=0) + 1
    relative, unit = _target(cfg, span)
    final = os.path.join(cfg.data.root, relative)
    columns = training_columns(cfg, schema)
    records = _records(cfg, labelled, columns, schema, final)
    staging = os.path.join(cfg.data.root, f".staging-{uuid.uuid4().hex[:8]}")
    staged = os.path.join(staging, relative)
    try:
        os.makedirs(os.path.dirname(staged))
        with open(staged, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(records)
        _validate(cfg, schema, staged, final)
        if os.path.exists(os.path.join(cfg.data.root, unit)):
            raise SpanExportError(f"{os.path.join(cfg.data.root, unit)}: span {span} "
                                  "appeared while writing; nothing written")
        os.makedirs(os.path.dirname(os.path.join(cfg.data.root, unit)) or ".", exist_ok=True)
        os.rename(os.path.join(staging, unit), os.path.join(cfg.data.root, unit))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Exported(span, final, len(records))


def _validate(cfg: Config, schema: schema_pb2.Schema, staged: str, final: str) -> None:
    """ExampleValidator's check of a span: its statistics against the schema (TRAINING)."""
    try:
        statistics = drift.csv_statistics([staged])
    except ValueError as e:
        raise SpanExportError(f"{final}: {str(e).splitlines()[0]}") from None
    anomalies = drift.schema_anomalies(statistics, schema, "TRAINING")
    if anomalies:
        raise SpanExportError(f"{final}: {anomalies[0]}"
                              + (f" (and {len(anomalies) - 1} more)" if len(anomalies) > 1 else ""))
