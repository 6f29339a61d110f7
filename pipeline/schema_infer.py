"""``infer-schema``: a starting schema for a new CSV dataset, read as the pipeline reads it,
and with ``--label``, the task that label suggests."""
from __future__ import annotations

import glob
import os
from typing import List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import schema_pb2

from components.csv_example_gen import CsvDataError, record_batches
from pipeline import label as label_lib

# An integer label with at most this many distinct values is proposed as a class label.
MAX_PROPOSED_CLASSES = 20


def _csv_files(data: str):
    if os.path.isfile(data):
        return [data]
    files = sorted(glob.glob(os.path.join(data, "**", "*.csv"), recursive=True))
    if not files:
        raise ValueError(f"{data}: no .csv file found")
    return files


def _table(data: str) -> pa.Table:
    try:
        batches = [b for path in _csv_files(data) for b in record_batches(path)]
    except CsvDataError as e:
        raise ValueError(str(e)) from None
    return pa.Table.from_batches(batches).combine_chunks()


def infer(data: str, label: Optional[str] = None) -> Tuple[schema_pb2.Schema, List[str]]:
    """Statistics over every CSV under ``data`` (NA as missing), then TFDV's inferred schema;
    with ``label``, the task it suggests, applied to the schema and said in lines."""
    table = _table(data)
    stats = stats_impl.generate_statistics_in_memory(table.to_batches()[0])
    schema = tfdv.infer_schema(stats)
    schema.default_environment.extend(["TRAINING", "SERVING"])
    return schema, (propose_task(schema, table, label) if label else [])


def propose_task(schema: schema_pb2.Schema, table: pa.Table, label: str) -> List[str]:
    """Marks ``label`` absent at serving and proposes its task from its values: strings or a
    few integers are classes (an integer label gets an int_domain of their range), other
    numbers a regression target."""
    feature = next((f for f in schema.feature if f.name == label), None)
    if feature is None:
        raise ValueError(f"--label: {label!r} is not a column of the data "
                         f"(columns: {', '.join(f.name for f in schema.feature)})")
    feature.not_in_environment.append("SERVING")
    feature.presence.min_fraction = 1.0  # every training row needs its label
    # Each cell is a list of one value (or none when missing), as tf.Example features are.
    values = pc.unique(pc.list_flatten(table.column(label))).to_pylist()
    if feature.type == schema_pb2.BYTES:
        task, what = label_lib.CLASSIFICATION, f"text with {len(values)} distinct value(s)"
    elif feature.type == schema_pb2.INT and 2 <= len(values) <= MAX_PROPOSED_CLASSES:
        feature.ClearField("bool_domain")
        feature.int_domain.min, feature.int_domain.max = int(min(values)), int(max(values))
        task = label_lib.CLASSIFICATION
        what = (f"integers with {len(values)} distinct values "
                f"({', '.join(str(v) for v in sorted(values))}; int_domain {min(values)} to "
                f"{max(values)} set)")
    else:
        task = label_lib.REGRESSION
        what = (f"numbers ({schema_pb2.FeatureType.Name(feature.type)}, "
                f"{len(values)} distinct values)")
    kind = (" (binary)" if len(values) == 2 else " (multi-class)") if task != label_lib.REGRESSION else ""
    lines = [f"Label {label!r}: {what}: proposed task {task}{kind}.",
             f"In your config: data.label: {label}, data.task: {task}"
             + (", evaluator.max_error: <the largest acceptable error>"
                if task == label_lib.REGRESSION else "")]
    return lines


def write(schema: schema_pb2.Schema, output: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tfdv.write_schema_text(schema, output)
