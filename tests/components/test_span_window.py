"""CsvExampleGen over a window of spans: which spans it reads, what it records, its cache key."""
import glob
import json
import os
import shutil

import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components import csv_example_gen

from components.lib import spans as spans_lib
from tests.conftest import DATA, span_file

PATTERN = "span-{SPAN}/*.csv"


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(DATA, root)
    return str(root)


def _exec_properties(root: str, end: int, window: int) -> dict:
    return {
        "input_base": root,
        "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=f"span-{end}/*.csv")])),
        "output_config": proto_utils.proto_to_json(example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))),
        "custom_config": proto_utils.proto_to_json(spans_lib.make_custom_config(PATTERN, window)),
        "span": end, "version": None,
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }


def _rows(path: str) -> int:
    return sum(1 for _ in open(path)) - 1


def _count(uri: str) -> int:
    files = glob.glob(os.path.join(uri, "Split-*", "*.gz"))
    return sum(1 for f in files for _ in tf.data.TFRecordDataset(f, compression_type="GZIP"))


def test_window_spans_are_the_last_k_with_files(data):
    assert spans_lib.window_spans(data, PATTERN, 3, 2) == [2, 3]
    assert spans_lib.window_spans(data, PATTERN, 2, 5) == [1, 2]
    shutil.rmtree(os.path.join(data, "span-2"))
    assert spans_lib.window_spans(data, PATTERN, 3, 2) == [1, 3]
    with pytest.raises(spans_lib.SpanWindowError, match="span 2 has no files"):
        spans_lib.window_spans(data, PATTERN, 2, 1)


@pytest.mark.parametrize("end, window, expected", [(2, 1, [2]), (3, 3, [1, 2, 3])])
def test_executor_reads_every_span_in_the_window_and_records_them(data, tmp_path, end, window,
                                                                   expected):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    csv_example_gen.Executor().Do({}, {"examples": [examples]}, _exec_properties(data, end, window))
    assert examples.get_string_custom_property(spans_lib.SPANS) == ",".join(map(str, expected))
    assert _count(examples.uri) == sum(_rows(span_file(s)) for s in expected)
    fingerprints = json.loads(examples.get_string_custom_property(spans_lib.SPAN_FINGERPRINTS))
    assert sorted(fingerprints) == [str(s) for s in expected]
    assert fingerprints[str(expected[-1])] == spans_lib.content_fingerprint(
        [os.path.join(data, f"span-{expected[-1]}", "penguins.csv")])


def test_driver_fingerprint_covers_every_span_in_the_window(data):
    def fingerprint() -> str:
        props = _exec_properties(data, 3, 2)
        props["input_config"] = proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=PATTERN)]))
        props["range_config"] = proto_utils.proto_to_json(range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=3, end_span_number=3)))
        resolved = csv_example_gen.WindowDriver(None).resolve_exec_properties(props, None, None)
        assert resolved["span"] == 3
        return resolved["input_fingerprint"]

    before = fingerprint()
    assert "span 2:" in before and "span 3:" in before
    with open(os.path.join(data, "span-2", "penguins.csv"), "a") as f:  # not the end span
        f.write("Adelie,Dream,39.0,18.0,190,3700,male,2008\n")
    assert fingerprint() != before
