"""Data roots in object storage: TFX's fileio and the span resolver on a real MinIO.

TensorFlow 2.16 cannot open ``s3://``; ``components.lib.s3_filesystem`` gives TFX's ``fileio`` one
through pyarrow, with the endpoint and keys from the environment as a Kubeflow pod gets them.
"""
from __future__ import annotations

import json
import os
import uuid

import pytest
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.lib import s3_filesystem, spans
from tests.conftest import DATA, span_file

PATTERN = "span-{SPAN}/*.csv"


@pytest.fixture
def store_env(minio, monkeypatch):
    """The session MinIO's endpoint and keys in the environment, as the data tasks get them."""
    for name, value in minio.env().items():
        monkeypatch.setenv(name, value)
    return minio


def upload_spans(store, root: str, *numbers: int) -> None:
    for span in numbers:
        with open(span_file(span), "rb") as f:
            store.put(f"{root}/span-{span}/penguins.csv", f.read())


@pytest.fixture
def s3_root(store_env, object_store):
    """s3://<bucket>/<unique>/penguins with spans 1 and 2 of the bundled data."""
    root = f"s3://data/{uuid.uuid4().hex[:8]}/penguins"
    upload_spans(object_store, root, 1, 2)
    return root


def test_fileio_globs_opens_and_stats_objects(s3_root):
    assert fileio.glob(f"{s3_root}/span-*/*.csv") == [
        f"{s3_root}/span-1/penguins.csv", f"{s3_root}/span-2/penguins.csv"]
    assert fileio.glob(f"{s3_root}/span-*") == [f"{s3_root}/span-1", f"{s3_root}/span-2"]
    assert fileio.isdir(s3_root) and not fileio.isdir(f"{s3_root}/span-1/penguins.csv")
    assert fileio.exists(f"{s3_root}/span-1/penguins.csv") and not fileio.exists(f"{s3_root}/x")
    assert fileio.listdir(s3_root) == ["span-1", "span-2"]
    with fileio.open(f"{s3_root}/span-1/penguins.csv") as f, open(span_file(1)) as local:
        assert f.readline() == local.readline() and f.read() == local.read()
    stat = fileio.stat(f"{s3_root}/span-2/penguins.csv")
    assert stat.length == os.path.getsize(span_file(2)) and stat.mtime_nsec > 0
    with fileio.open(f"{s3_root}/out/report.json", "w") as f:
        f.write('{"ok": 1}')
    with fileio.open(f"{s3_root}/out/report.json") as f:
        assert json.load(f) == {"ok": 1}
    walked = {folder: files for folder, _, files in fileio.walk(s3_root)}
    assert walked[f"{s3_root}/span-2"] == ["penguins.csv"]


def test_spans_resolve_on_object_storage_as_on_a_local_folder(s3_root, object_store):
    assert spans.resolve_span(s3_root, PATTERN) == 2
    assert spans.window(s3_root, PATTERN, 2, 5) == {
        1: [f"{s3_root}/span-1/penguins.csv"], 2: [f"{s3_root}/span-2/penguins.csv"]}
    assert spans.window(DATA, PATTERN, 2, 5).keys() == spans.window(s3_root, PATTERN, 2, 5).keys()
    upload_spans(object_store, s3_root, 3)
    assert spans.resolve_span(s3_root, PATTERN) == 3
    with pytest.raises(spans.SpanError, match=r"span 7 has no files .*spans: 1, 2, 3"):
        spans.resolve_span(s3_root, PATTERN, 7)
    with pytest.raises(spans.SpanError, match="data folder does not exist"):
        spans.resolve_span(s3_root + "-missing", PATTERN)


def test_missing_credentials_are_one_line_naming_the_variables(s3_root, monkeypatch):
    monkeypatch.delenv(s3_filesystem.SECRET_KEY_ENV)
    with pytest.raises(spans.SpanError) as error:
        spans.resolve_span(s3_root, PATTERN)
    message = str(error.value)
    assert "\n" not in message and s3_root in message
    assert "AWS_SECRET_ACCESS_KEY not set" in message and "kubeflow.data_store.secret" in message


def test_wrong_keys_are_one_line_naming_the_uri_and_endpoint(s3_root, monkeypatch, minio):
    monkeypatch.setenv(s3_filesystem.SECRET_KEY_ENV, "not-the-secret")
    with pytest.raises(spans.SpanError) as error:
        spans.resolve_span(s3_root, PATTERN)
    message = str(error.value)
    assert "\n" not in message and s3_root in message and minio.endpoint in message


def test_the_data_fingerprint_of_an_s3_root_equals_the_local_one(s3_root):
    from kubeflow import data_fingerprint

    assert data_fingerprint.fingerprint(s3_root, PATTERN, 2) == data_fingerprint.fingerprint(
        DATA, PATTERN, 2, span=2)


def test_example_gen_reads_an_s3_window_without_a_driver(s3_root, tmp_path):
    """As on Kubeflow: no driver ran, so the executor resolves the span from the bucket."""
    from components import csv_example_gen
    from components.lib import csv_read
    from components import csv_example_gen
    from components.lib import spans as spans_lib

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    properties = {
        "input_base": s3_root,
        "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=PATTERN)])),
        "output_config": proto_utils.proto_to_json(example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))),
        "custom_config": proto_utils.proto_to_json(spans_lib.make_custom_config(PATTERN, 2)),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP}
    csv_example_gen.Executor().Do({}, {"examples": [examples]}, properties)
    assert examples.span == 2
    assert examples.get_string_custom_property(spans_lib.SPANS) == "1,2"
    fingerprints = json.loads(examples.get_string_custom_property(spans_lib.SPAN_FINGERPRINTS))
    assert fingerprints["2"] == spans_lib.content_fingerprint([span_file(2)])
    local = list(csv_read.record_batches(span_file(2)))
    remote = list(csv_read.record_batches(f"{s3_root}/span-2/penguins.csv"))
    assert [b.num_rows for b in remote] == [b.num_rows for b in local] and remote[0].equals(local[0])
    assert csv_read.guess_column_types(f"{s3_root}/span-2/penguins.csv") == \
        csv_read.guess_column_types(span_file(2))


def test_drift_check_reads_the_previous_span_from_s3(s3_root):
    from components import drift_check
    from components.lib import drift

    assert drift_check.previous_window(s3_root, PATTERN, [2]) == [1]
    files = [f"{s3_root}/span-1/penguins.csv"]
    remote = drift.csv_statistics(files)
    local = drift.csv_statistics([span_file(1)])
    assert remote.datasets[0].num_examples == local.datasets[0].num_examples > 0
