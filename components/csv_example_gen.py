"""CsvExampleGen over a rolling window of spans, with a fast CSV executor.

The executor plugs into the stock ``FileBasedExampleGen`` (spans, versions, hash splits and
the output artifact stay TFX's own); only the CSV-to-Example step is replaced. Compared with
stock CsvExampleGen it reads ``NA`` (and empty fields) as missing values
(``components.lib.csv_read``), decodes whole column blocks at once, and hashes, splits and
writes the examples itself (``components.lib.examples.write_splits``) instead of handing one
Beam element per row to the stock partition and WriteSplit: per-element overhead on the
DirectRunner capped ingestion at a few thousand rows/s.

One Examples artifact comes from the last K spans. A TFX Resolver would normally combine
spans, but open-source Kubeflow rejects resolver executors, so the window is handled inside
ExampleGen itself:

* the stock driver still resolves the *end* span from the static range (span and
  version bookkeeping stay TFX's own);
* our driver folds the stock file fingerprint of every span in the window into the
  execution's ``input_fingerprint``, so editing any span in the window invalidates the
  cache, not only an edit to the end span;
* our executor reads every span in the window and records them on the Examples artifact:
  ``spans`` ("1,2,3") and ``span_fingerprints`` (JSON {span: SHA-256 of its files' bytes}).

The window (``window``) and the unresolved pattern (``span_pattern``) travel in the stock
``custom_config`` as a ``google.protobuf.Struct`` (``components.lib.spans``). The executor
derives the window from the resolved span itself, so it is right even where no TFX driver
runs (open-source Kubeflow, where the compiled spec's DataFingerprint task keys the cache on
every span of the window: ``kubeflow/data_fingerprint.py``).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import apache_beam as beam
from tfx import types
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import driver as stock_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.lib import spans
from components.lib.csv_read import CsvDataError, matching_files
from components.lib.examples import bucket_bounds, read_csv_as_examples, shard_count, write_splits


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _CsvToSerializedExamples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                             split_pattern: str) -> beam.pvalue.PCollection:
    files = matching_files(exec_properties["input_base"], split_pattern)
    return (pipeline
            | "ListFiles" >> beam.Create(files)
            | "ReadAndEncode" >> beam.FlatMap(read_csv_as_examples))


def resolve_span_without_driver(exec_properties: Dict[str, Any],
                                examples: List[types.Artifact]) -> Dict[str, Any]:
    """Resolves ``{SPAN}`` in the input patterns when no driver did it.

    Locally, TFX's ExampleGen driver resolves the span and fingerprints the input before the
    executor runs. On open-source Kubeflow the driver rides on ``lifecycle.preCacheCheck``,
    which the backend ignores, so the executor does the same work itself: the range config's
    span, or the latest span when there is none.
    """
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    if not any("{SPAN}" in split.pattern for split in input_config.splits):
        return exec_properties
    range_config = None
    if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
        range_config = range_config_pb2.RangeConfig()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.RANGE_CONFIG_KEY],
                                  range_config)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    try:
        fingerprint, span, version = example_gen_utils.calculate_splits_fingerprint_span_and_version(
            input_base, input_config.splits, range_config)
    except ValueError as e:
        raise CsvDataError(f"{input_base}: {str(e).splitlines()[0]}") from None
    for artifact in examples:
        artifact.span = span
        artifact.set_string_custom_property(example_gen_utils.FINGERPRINT_PROPERTY_NAME, fingerprint)
        if version is not None:
            artifact.version = version
    return {**exec_properties, standard_component_specs.INPUT_CONFIG_KEY:
            proto_utils.proto_to_json(input_config)}


class CsvExecutor(BaseExampleGenExecutor):
    """FileBasedExampleGen executor for CSV files, reading ``NA`` as missing."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToSerializedExamples

    def input_files(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
        """The CSV files behind one input split (the span window executor widens this)."""
        return matching_files(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                              split_pattern)

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        exec_properties = resolve_span_without_driver(exec_properties, examples)
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(names))
        dirs = [artifact_utils.get_split_uri(examples, name) for name in names]
        shards = shard_count(self._beam_pipeline_args)
        if output_config.split_config.splits:  # one input split, hash-split into the outputs
            write_splits(self.input_files(exec_properties, input_config.splits[0].pattern),
                         dirs, bucket_bounds(output_config), shards)
        else:  # input splits map one to one onto output splits
            for split, directory in zip(input_config.splits, dirs):
                write_splits(self.input_files(exec_properties, split.pattern), [directory],
                             shards=shards)
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        for artifact in examples:
            if payload:
                examples_utils.set_payload_format(artifact, payload)
            if file_format:
                examples_utils.set_file_format(artifact,
                                               write_split.to_file_format_str(file_format))


def _window(exec_properties: Dict[str, Any]) -> List[int]:
    config = spans.read_custom_config(exec_properties)
    span = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
    if config["window"] <= 1 or "span_pattern" not in config:
        return [span]
    return spans.window_spans(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                              config["span_pattern"], span, config["window"])


class WindowDriver(stock_driver.FileBasedDriver):
    """The stock driver, with every window span's file fingerprint in ``input_fingerprint``."""

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        exec_properties = super().resolve_exec_properties(exec_properties, pipeline_info,
                                                          component_info)
        config = spans.read_custom_config(exec_properties)
        window = _window(exec_properties)
        if len(window) > 1:
            base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
            pattern = config["span_pattern"]
            exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = "\n".join(
                f"span {s}: " + io_utils.generate_fingerprint(
                    "single_split", os.path.join(base, pattern.replace("{SPAN}", str(s))))
                for s in window)
        return exec_properties


def window_files(exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
    """The CSV files of every span in the window, oldest span first."""
    config = spans.read_custom_config(exec_properties)
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    window = _window(exec_properties)
    if len(window) == 1:  # the driver already resolved the pattern to this span
        return matching_files(base, split_pattern)
    return [f for s in window for f in spans.span_files(base, config["span_pattern"], s)]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _WindowToSerializedExamples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                                split_pattern: str) -> beam.pvalue.PCollection:
    files = window_files(exec_properties, split_pattern)
    return (pipeline
            | "ListFiles" >> beam.Create(files)
            | "ReadAndEncode" >> beam.FlatMap(read_csv_as_examples))


class Executor(CsvExecutor):
    """Our CSV executor over every span in the window; records the spans it read."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _WindowToSerializedExamples

    def input_files(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
        return window_files(exec_properties, split_pattern)

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        # Without a driver (open-source Kubeflow) the span is resolved here, onto the artifact.
        examples_out = output_dict[standard_component_specs.EXAMPLES_KEY]
        exec_properties = dict(resolve_span_without_driver(
            exec_properties, examples_out))
        if exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) is None:
            exec_properties[example_gen_utils.SPAN_PROPERTY_NAME] = examples_out[0].span
        super().Do(input_dict, output_dict, exec_properties)
        config = spans.read_custom_config(exec_properties)
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        window = _window(exec_properties)
        pattern = config.get("span_pattern")
        fingerprints = {}
        for s in window:
            files = spans.span_files(base, pattern, s) if pattern else matching_files(
                base, _resolved_pattern(exec_properties))
            fingerprints[str(s)] = spans.content_fingerprint(files)
        for examples in output_dict[standard_component_specs.EXAMPLES_KEY]:
            examples.set_string_custom_property(spans.SPANS, ",".join(map(str, window)))
            examples.set_string_custom_property(spans.SPAN_FINGERPRINTS,
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
            custom_config=custom_config or spans.make_custom_config(span_pattern, window),
            custom_executor_spec=executor_spec.BeamExecutorSpec(Executor), **kwargs)
