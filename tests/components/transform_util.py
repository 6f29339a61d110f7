"""Runs the real preprocessing_fn with tf.Transform on a CSV file, for unit tests."""
from __future__ import annotations

import tempfile
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
from tfx.utils import io_utils

from components.lib.examples import read_csv_as_examples
from components.user.preprocessing import preprocessing_fn
from tests.conftest import SCHEMA

CUSTOM_CONFIG = {"label": "species", "exclude_features": ["year"]}


def raw_feature_spec() -> Dict[str, Any]:
    return schema_utils.schema_as_feature_spec(io_utils.SchemaReader().read(SCHEMA)).feature_spec


def run_transform(instances: List[Dict[str, Any]], output_dir: str | None = None,
                  custom_config: Dict[str, Any] | None = None,
                  spec: Dict[str, Any] | None = None) -> List[Dict[str, Any]]:
    """AnalyzeAndTransform over in-memory instances; writes the transform_fn if asked. By
    default with the penguins schema and config."""
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(spec or raw_feature_spec())
    config = custom_config or CUSTOM_CONFIG
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (transformed, _), transform_fn = (instances, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, config))
        if output_dir:
            _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    return transformed


def parse(path: str) -> List[Dict[str, Any]]:
    """The CSV file as tf.Transform instances, read by our ExampleGen reader."""
    spec = raw_feature_spec()
    instances = []
    for serialized in read_csv_as_examples(path):
        parsed = tf.io.parse_single_example(serialized, spec)
        instances.append({k: (v.values.numpy() if isinstance(v, tf.SparseTensor) else v.numpy())
                          for k, v in parsed.items()})
    return instances


def analyze_and_transform(path: str, output_dir: str) -> List[Dict[str, Any]]:
    return run_transform(parse(path), output_dir)
