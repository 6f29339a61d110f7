"""CsvExampleGen over a rolling window of spans: one Examples artifact from the last K spans.

A TFX Resolver would normally combine spans, but open-source Kubeflow rejects resolver
executors, so the window is handled inside ExampleGen itself:

* the stock driver still resolves the *end* span from the static range (span and
  version bookkeeping stay TFX's own);
* our driver folds the stock file fingerprint of every span in the window into the
  execution's ``input_fingerprint``, so editing any span in the window invalidates the
  cache, not only an edit to the end span;
* our executor reads every span in the window and records them on the Examples artifact:
  ``spans`` ("1,2,3") and ``span_fingerprints`` (JSON {span: SHA-256 of its files' bytes}).

The window (``window``) and the unresolved pattern (``span_pattern``) travel in the stock
``custom_config`` as a ``google.protobuf.Struct``. The executor derives the window from the
resolved span itself, so it is right even where no TFX driver runs (open-source Kubeflow,
where the compiled spec's DataFingerprint task keys the cache on every span of the window:
``kubeflow/data_fingerprint.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional

import apache_beam as beam
from google.protobuf import struct_pb2
from tfx import types
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import driver as stock_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import csv_example_gen
from components import spans as spans_lib

SPANS = "spans"
SPAN_FINGERPRINTS = "span_fingerprints"


class SpanWindowError(ValueError):
    """The window names spans that have no files; the message names the folder."""


def make_custom_config(span_pattern: str, window: int) -> example_gen_pb2.CustomConfig:
    struct = struct_pb2.Struct()
    struct.update({"span_pattern": span_pattern, "window": window})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def read_custom_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """{'span_pattern': ..., 'window': K}; window 1 when no custom config was given."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return {"window": 1}
    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(raw, config)
    struct = struct_pb2.Struct()
    if not config.custom_config.Unpack(struct):
        return {"window": 1}
    values = dict(struct)
    values["window"] = int(values.get("window", 1))
    return values


def span_files(input_base: str, span_pattern: str, span: int) -> List[str]:
    """The files of one span, as ``components.spans`` lists them (local, s3://, gs://)."""
    return spans_lib.available_spans(input_base, span_pattern).get(span, [])


def available_spans(input_base: str, span_pattern: str) -> List[int]:
    """Span numbers that have at least one file under ``input_base`` (a path or URI)."""
    return list(spans_lib.available_spans(input_base, span_pattern))


def window_spans(input_base: str, span_pattern: str, end_span: int, window: int) -> List[int]:
    """The last ``window`` spans with files, up to and including ``end_span``."""
    spans = [s for s in available_spans(input_base, span_pattern) if s <= end_span][-window:]
    if end_span not in spans:
        raise SpanWindowError(f"{input_base}: span {end_span} has no files matching {span_pattern!r}")
    return spans


def content_fingerprint(files: List[str]) -> str:
    """SHA-256 of the files' names and bytes: changes exactly when the data does."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.basename(path).encode())
        with fileio.open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def _window(exec_properties: Dict[str, Any]) -> List[int]:
    config = read_custom_config(exec_properties)
    span = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
    if config["window"] <= 1 or "span_pattern" not in config:
        return [span]
    return window_spans(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                        config["span_pattern"], span, config["window"])


class WindowDriver(stock_driver.FileBasedDriver):
    """The stock driver, with every window span's file fingerprint in ``input_fingerprint``."""

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        exec_properties = super().resolve_exec_properties(exec_properties, pipeline_info,
                                                          component_info)
        config = read_custom_config(exec_properties)
        spans = _window(exec_properties)
        if len(spans) > 1:
            base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
            pattern = config["span_pattern"]
            exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = "\n".join(
                f"span {s}: " + io_utils.generate_fingerprint(
                    "single_split", os.path.join(base, pattern.replace("{SPAN}", str(s))))
                for s in spans)
        return exec_properties


def window_files(exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
    """The CSV files of every span in the window, oldest span first."""
    config = read_custom_config(exec_properties)
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    spans = _window(exec_properties)
    if len(spans) == 1:  # the driver already resolved the pattern to this span
        return csv_example_gen.matching_files(base, split_pattern)
    return [f for s in spans for f in span_files(base, config["span_pattern"], s)]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _WindowToSerializedExamples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                                split_pattern: str) -> beam.pvalue.PCollection:
    files = window_files(exec_properties, split_pattern)
    return (pipeline
            | "ListFiles" >> beam.Create(files)
            | "ReadAndEncode" >> beam.FlatMap(csv_example_gen.read_csv_as_examples))


class Executor(csv_example_gen.Executor):
    """Our CSV executor over every span in the window; records the spans it read."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _WindowToSerializedExamples

    def input_files(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
        return window_files(exec_properties, split_pattern)

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        # Without a driver (open-source Kubeflow) the span is resolved here, onto the artifact.
        examples_out = output_dict[standard_component_specs.EXAMPLES_KEY]
        exec_properties = dict(csv_example_gen.resolve_span_without_driver(
            exec_properties, examples_out))
        if exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) is None:
            exec_properties[example_gen_utils.SPAN_PROPERTY_NAME] = examples_out[0].span
        super().Do(input_dict, output_dict, exec_properties)
        config = read_custom_config(exec_properties)
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        spans = _window(exec_properties)
        pattern = config.get("span_pattern")
        fingerprints = {}
        for s in spans:
            files = span_files(base, pattern, s) if pattern else csv_example_gen.matching_files(
                base, _resolved_pattern(exec_properties))
            fingerprints[str(s)] = content_fingerprint(files)
        for examples in output_dict[standard_component_specs.EXAMPLES_KEY]:
            examples.set_string_custom_property(SPANS, ",".join(map(str, spans)))
            examples.set_string_custom_property(SPAN_FINGERPRINTS,
                                                json.dumps(fingerprints, sort_keys=True))


def _resolved_pattern(exec_properties: Dict[str, Any]) -> str:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                              input_config)
    return input_config.splits[0].pattern


class WindowedCsvExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen over the last ``window`` spans up to the resolved one."""

    DRIVER_CLASS = WindowDriver

    def __init__(self, *, span_pattern: str, window: int = 1,
                 custom_config: Optional[example_gen_pb2.CustomConfig] = None, **kwargs):
        super().__init__(
            custom_config=custom_config or make_custom_config(span_pattern, window),
            custom_executor_spec=executor_spec.BeamExecutorSpec(Executor), **kwargs)
