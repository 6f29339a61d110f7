"""The direct-writing ExampleGen executor against stock CsvExampleGen and TFX's split rule."""
from __future__ import annotations

import glob
import os

import pyarrow as pa
import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as stock_csv
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils
from components.lib import examples as example_io

from components.lib import csv_read
from components.csv_example_gen import Executor
from components.lib.csv_read import CsvDataError
from tests.conftest import DATA

SPLITS = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))


def _props(input_base: str, pattern: str = "span-1/*.csv") -> dict:
    return {"input_base": input_base,
            "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])),
            "output_config": proto_utils.proto_to_json(SPLITS),
            "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE}


def _run(executor, input_base: str, out: str, pattern: str = "span-1/*.csv"):
    examples = standard_artifacts.Examples()
    examples.uri = out
    executor.Do({}, {"examples": [examples]}, _props(input_base, pattern))
    return examples


def _read(*files: str) -> list:
    return [r.numpy() for r in tf.data.TFRecordDataset(list(files), compression_type="GZIP")]


def _records(out: str, split: str) -> list:
    return _read(*glob.glob(os.path.join(out, f"Split-{split}", "*")))


def _rows(records) -> list:
    """Each example as {feature: values}, comparable across encoders."""
    rows = []
    for record in records:
        example = tf.train.Example.FromString(record)
        row = {}
        for key, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            row[key] = (kind, list(getattr(feature, kind).value)) if kind else None
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Ours on the bundled span 1; stock on a copy with NA as empty fields (stock reads NA as text)."""
    tmp = tmp_path_factory.mktemp("examples")
    blank = tmp / "blank" / "span-1"
    blank.mkdir(parents=True)
    with open(os.path.join(DATA, "span-1", "penguins.csv")) as f:
        text = f.read()
    (blank / "penguins.csv").write_text(
        "\n".join(",".join("" if v == "NA" else v for v in line.split(","))
                  for line in text.splitlines()) + "\n")
    ours = _run(Executor(), DATA, str(tmp / "ours"))
    stock_executor = stock_csv.Executor()
    stock_executor._beam_pipeline_args = ["--direct_running_mode=in_memory"]
    _run(stock_executor, str(tmp / "blank"), str(tmp / "stock"))
    return ours, str(tmp / "ours"), str(tmp / "stock")


def _canonical(rows) -> list:
    """Rows as sorted tuples; stock writes a blank as a typed empty list, ours as no value."""
    return sorted(repr(sorted((k, v if v and v[1] else None) for k, v in row.items()))
                  for row in rows)


def test_examples_decode_to_stock_values(both):
    """Row for row the same values and types as stock CsvExampleGen, up to the split."""
    _, ours, stock = both
    mine = _rows(_records(ours, "train") + _records(ours, "eval"))
    theirs = _rows(_records(stock, "train") + _records(stock, "eval"))
    assert len(mine) == 110 and _canonical(mine) == _canonical(theirs)


def test_complete_rows_land_in_the_split_stock_puts_them(both):
    """Stock hashes the deterministic serialization; ours is byte-equal for complete rows.

    Rows with a blank differ by design (stock's typed empty list against our missing
    feature), so their bytes, and possibly their split, differ.
    """
    _, ours, stock = both
    for split in ("train", "eval"):
        complete = [r for r in _rows(_records(stock, split)) if all(v[1] for v in r.values())]
        mine = _canonical(_rows(_records(ours, split)))
        assert complete and all(row in mine for row in _canonical(complete))


def test_values_true_to_the_data(both):
    _, ours, _ = both
    rows = _rows(_records(ours, "train") + _records(ours, "eval"))
    first = next(r for r in rows if r["bill_length_mm"] == ("float_list", [pytest.approx(39.1)])
                 and r["body_mass_g"] == ("int64_list", [3750]))
    assert first["species"] == ("bytes_list", [b"Adelie"])
    missing = [r for r in rows if r["bill_length_mm"] is None]
    assert missing and all(r["sex"] is None and r["year"][0] == "int64_list" for r in missing)


def test_artifact_records_splits_and_stock_file_names(both):
    examples, ours, _ = both
    assert examples.split_names == '["train", "eval"]'
    for split in ("train", "eval"):
        assert os.listdir(os.path.join(ours, f"Split-{split}")) == [
            "data_tfrecord-00000-of-00001.gz"]
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"


def test_encoding_is_deterministic_across_column_orders():
    batch = next(csv_read.record_batches(os.path.join(DATA, "span-2", "penguins.csv")))
    reordered = pa.RecordBatch.from_arrays(batch.columns[::-1], batch.schema.names[::-1])
    encoded = example_io.encode_deterministic(batch)
    assert encoded == example_io.encode_deterministic(reordered)
    assert all(tf.train.Example.FromString(e).SerializeToString(deterministic=True) == e
               for e in encoded)


def test_split_ratio_follows_the_buckets(tmp_path):
    span = tmp_path / "span-1"
    span.mkdir()
    (span / "rows.csv").write_text(
        "id,x\n" + "".join(f"{i},{i % 7}.5\n" for i in range(30000)))
    counts = example_io.write_splits(
        [str(span / "rows.csv")], [str(tmp_path / "a"), str(tmp_path / "b")],
        example_io.bucket_bounds(SPLITS))
    assert sum(counts) == 30000
    assert abs(counts[0] / 30000 - 2 / 3) < 0.02


def test_guess_disproved_by_a_later_block_falls_back_to_whole_file_types(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_read, "_GUESS_BLOCK_SIZE", 64)
    monkeypatch.setattr(csv_read, "_BLOCK_SIZE", 64)
    path = tmp_path / "late.csv"
    path.write_text("n,s\n" + "1,a\n" * 50 + "2.5,b\n")
    assert csv_read.guess_column_types(str(path))["n"] == pa.int64()
    counts = example_io.write_splits([str(path)], [str(tmp_path / "out")])
    assert counts == [51]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        glob.glob(str(tmp_path / "out" / "*")), compression_type="GZIP")]
    values = sorted(v for r in _rows(records) for v in r["n"][1])
    assert all(r["n"][0] == "float_list" for r in _rows(records)) and values[-1] == 2.5


def _rows_of_csv(tmp_path, text: str) -> list:
    """Every example (both splits) the executor makes of one span holding ``text``."""
    span = tmp_path / "span-1"
    span.mkdir()
    (span / "q.csv").write_text(text)
    _run(Executor(), str(tmp_path), str(tmp_path / "out"))
    return _rows(_records(str(tmp_path / "out"), "train") + _records(str(tmp_path / "out"), "eval"))


def test_quoted_fields_and_na(tmp_path):
    rows = _rows_of_csv(tmp_path, 'island,n\n"Biscoe, north",NA\n"say ""hi""",3\n')
    by_island = {r["island"][1][0]: r["n"] for r in rows}
    assert by_island == {b"Biscoe, north": None, b'say "hi"': ("int64_list", [3])}


def test_a_quoted_na_is_the_text_na_and_an_unquoted_na_is_missing(tmp_path):
    rows = _rows_of_csv(tmp_path, 'island,n\n"NA",1\nNA,2\n"N""A",3\n')
    by_n = {r["n"][1][0]: r["island"] for r in rows}
    assert by_n == {1: ("bytes_list", [b"NA"]), 2: None, 3: ("bytes_list", [b'N"A'])}


def test_empty_span_is_a_clear_error(tmp_path):
    (tmp_path / "span-1").mkdir()
    with pytest.raises(CsvDataError, match="no CSV file matches"):
        _run(Executor(), str(tmp_path), str(tmp_path / "out"))
    (tmp_path / "span-1" / "p.csv").write_text("a,b\n")
    with pytest.raises(CsvDataError, match="header but no data rows"):
        _run(Executor(), str(tmp_path), str(tmp_path / "out"))


def test_sharded_output_holds_the_same_examples_in_the_same_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_read, "_BLOCK_SIZE", 4096)  # many record batches
    path = tmp_path / "rows.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i % 7}.5\n" for i in range(5000)))

    def write(out, shards):
        dirs = [str(tmp_path / out / "train"), str(tmp_path / out / "eval")]
        counts = example_io.write_splits([str(path)], dirs,
                                              example_io.bucket_bounds(SPLITS), shards)
        return counts, dirs

    one_counts, one = write("one", 1)
    two_counts, two = write("two", 2)
    assert one_counts == two_counts and sum(two_counts) == 5000
    for single, sharded in zip(one, two):
        names = sorted(os.listdir(sharded))
        assert names == ["data_tfrecord-00000-of-00002.gz", "data_tfrecord-00001-of-00002.gz"]
        per_shard = [_read(os.path.join(sharded, n)) for n in names]
        assert all(per_shard)  # both shards get record batches
        assert sorted(r for shard in per_shard for r in shard) == sorted(
            _read(os.path.join(single, "data_tfrecord-00000-of-00001.gz")))


@pytest.mark.parametrize("args, shards", [
    ([], 1),
    (["--direct_running_mode=in_memory", "--direct_num_workers=1"], 1),
    (["--direct_running_mode=multi_threading", "--direct_num_workers=2"], 1),
    # The local profile, then a component's own arguments: the later ones win.
    (["--direct_running_mode=in_memory", "--direct_num_workers=1",
      "--direct_running_mode=multi_processing", "--direct_num_workers=2"], 2),
])
def test_one_shard_per_worker_process(args, shards):
    assert example_io.shard_count(args) == shards
