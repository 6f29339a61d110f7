"""``infer-schema``: a starting schema for a new CSV dataset, read as the pipeline reads it."""
from __future__ import annotations

import glob
import os

import pyarrow as pa
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import schema_pb2

from components.csv_example_gen import CsvDataError, record_batches


def _csv_files(data: str):
    if os.path.isfile(data):
        return [data]
    files = sorted(glob.glob(os.path.join(data, "**", "*.csv"), recursive=True))
    if not files:
        raise ValueError(f"{data}: no .csv file found")
    return files


def infer(data: str) -> schema_pb2.Schema:
    """Statistics over every CSV under ``data`` (NA as missing), then TFDV's inferred schema."""
    try:
        batches = [b for path in _csv_files(data) for b in record_batches(path)]
    except CsvDataError as e:
        raise ValueError(str(e)) from None
    table = pa.Table.from_batches(batches).combine_chunks()
    stats = stats_impl.generate_statistics_in_memory(table.to_batches()[0])
    schema = tfdv.infer_schema(stats)
    schema.default_environment.extend(["TRAINING", "SERVING"])
    return schema


def write(schema: schema_pb2.Schema, output: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tfdv.write_schema_text(schema, output)
