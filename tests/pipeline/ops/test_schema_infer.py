"""`infer-schema` writes a starting schema read the way the pipeline reads the data, that holds
on every hash split the pipeline makes of it, and with --label proposes the task."""
import csv
import os
import random

import numpy as np
import pyarrow as pa
from click.testing import CliRunner
from tensorflow_metadata.proto.v0 import schema_pb2
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from components.lib.csv_read import record_batches
from components.lib.examples import encode_deterministic, split_index, write_splits
from components.lib import label
from pipeline.ops import schema_infer
from pipeline.cli import main
from tests.conftest import DATA, ROOT


def test_infers_types_domains_and_environments_from_the_bundled_spans(tmp_path):
    out = tmp_path / "schema.pbtxt"
    result = CliRunner().invoke(main, ["infer-schema", "--data", DATA, "--output", str(out)])
    assert result.exit_code == 0, result.output
    schema = tfdv.load_schema_text(str(out))
    types = {f.name: f.type for f in schema.feature}
    # NA is a missing value, so measurements stay numeric (stock CsvExampleGen makes them BYTES).
    assert types["bill_length_mm"] == schema_pb2.FLOAT
    assert types["body_mass_g"] == schema_pb2.INT
    assert types["species"] == schema_pb2.BYTES
    domains = {d.name: set(d.value) for d in schema.string_domain}
    assert domains["species"] == {"Adelie", "Chinstrap", "Gentoo"}
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]


def test_a_folder_without_csv_files_is_named(tmp_path):
    result = CliRunner().invoke(main, ["infer-schema", "--data", str(tmp_path),
                                       "--output", str(tmp_path / "s.pbtxt")])
    assert result.exit_code == 1
    assert f"{tmp_path}: no .csv file found" in result.output


def _infer(tmp_path, data, label):
    out = tmp_path / "schema.pbtxt"
    result = CliRunner().invoke(main, ["infer-schema", "--data", data, "--output", str(out),
                                       "--label", label])
    return result, (tfdv.load_schema_text(str(out)) if out.exists() else None)


def test_an_integer_label_with_few_values_is_proposed_as_classes_with_their_domain(tmp_path):
    result, schema = _infer(tmp_path, os.path.join(ROOT, "data", "tips"), "big_tipper")
    assert result.exit_code == 0, result.output
    assert "Label 'big_tipper': integers with 2 distinct values" in result.output
    assert "proposed task classification (binary)" in result.output
    assert "data.label: big_tipper, data.task: classification" in result.output
    feature = next(f for f in schema.feature if f.name == "big_tipper")
    assert (feature.int_domain.min, feature.int_domain.max) == (0, 1)
    assert list(feature.not_in_environment) == ["SERVING"]
    # As written, the schema works for the pipeline's label check.
    assert label.of_schema(schema, "big_tipper", "classification", "s").classes == ["0", "1"]


def test_a_numeric_label_with_many_values_is_proposed_as_a_regression(tmp_path):
    result, schema = _infer(tmp_path, os.path.join(ROOT, "data", "deliveries"), "duration_min")
    assert result.exit_code == 0, result.output
    assert "numbers (FLOAT," in result.output and "proposed task regression" in result.output
    assert "data.task: regression, evaluator.max_error:" in result.output
    assert label.of_schema(schema, "duration_min", "regression", "s").task == "regression"


def test_a_label_that_is_not_a_column_is_named(tmp_path):
    result, _ = _infer(tmp_path, DATA, "price")
    assert result.exit_code == 1
    assert "--label: 'price' is not a column of the data (columns: " in result.output


def _write_csv(path, rows, header):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _sparse_csv(path, rows=300, seed=3):
    """``tract`` has a value in one row, ``empty`` in none, ``tip`` in most; ``y`` is 0/1/2."""
    rng = random.Random(seed)
    return _write_csv(path, [
        [round(rng.uniform(0, 10), 2), 17031 if i == rows // 2 else "", "",
         "" if i % 10 == 0 else rng.randint(0, 5), rng.choice(["card", "cash"]), i % 3]
        for i in range(rows)], ["distance", "tract", "empty", "tip", "payment", "y"])


def _feature(schema, name):
    return next(f for f in schema.feature if f.name == name)


def _split_tables(path):
    """The file's rows per split, hashed by the pipeline's own ExampleGen code."""
    batch = pa.Table.from_batches(list(record_batches(path))).combine_chunks().to_batches()[0]
    index = np.array([split_index(e, [2, 3]) for e in encode_deterministic(batch)])
    return [pa.Table.from_batches([batch]).filter(pa.array(index == i)) for i in (0, 1)]


def _anomalies(schema, table):
    stats = stats_impl.generate_statistics_in_memory(table.combine_chunks().to_batches()[0])
    return dict(tfdv.validate_statistics(stats, schema).anomaly_info)


def test_an_almost_empty_column_is_not_required_and_each_split_passes(tmp_path):
    path = _sparse_csv(tmp_path / "d.csv")
    result, schema = _infer(tmp_path, path, "y")
    assert result.exit_code == 0, result.output
    assert ("Warning: column 'tract' has a value in only 1 of 300 rows (0.3%): under 30, so a "
            "split may get none: no presence required.") in result.output
    assert "data.exclude_features: [tract, ...]" in result.output
    assert "Warning: column 'empty' is empty (no value in 300 rows)" in result.output
    assert "'tip'" not in result.output  # 90% present: required, no warning
    assert "Checked: the train and eval splits (2:1 hash split) of 1 span(s) all pass" in result.output
    tract = _feature(schema, "tract")
    assert tract.presence.min_count == 0 and not tract.presence.HasField("min_fraction")
    assert _feature(schema, "tip").presence.min_count == 1
    assert _feature(schema, "distance").presence.min_fraction == 1.0
    train, eval_ = _split_tables(path)
    assert train.num_rows and eval_.num_rows
    assert _anomalies(schema, train) == {} and _anomalies(schema, eval_) == {}
    # TFDV's own proposal for the column fails the split that lacks its one row.
    tract.presence.min_count = 1
    assert any("tract" in _anomalies(schema, split) for split in (train, eval_))


def test_the_split_checked_is_the_one_the_pipeline_writes(tmp_path):
    path = _sparse_csv(tmp_path / "d.csv", rows=120)
    (span,) = schema_infer.read_spans(path, (2, 1))
    counts = write_splits([path], [str(tmp_path / "train"), str(tmp_path / "eval")], [2, 3])
    assert counts == np.bincount(span.split, minlength=2).tolist()


def test_a_split_that_would_fail_the_gate_is_warned_about(tmp_path):
    path = _sparse_csv(tmp_path / "d.csv")
    schema, _ = schema_infer.infer(path, "y")
    _feature(schema, "tract").presence.min_count = 1
    lines = schema_infer.check_splits(schema, schema_infer.read_spans(path, (2, 1)), (2, 1))
    assert len(lines) == 1 and lines[0].startswith("Warning: d.csv, ")
    assert "split: the gate would stop the run: tract: Column dropped" in lines[0]


def test_a_label_missing_in_some_rows_is_reported_by_the_split_check(tmp_path):
    rows = [[i % 7, "" if i == 5 else i % 2] for i in range(200)]
    result, _ = _infer(tmp_path, _write_csv(tmp_path / "d.csv", rows, ["x", "y"]), "y")
    assert result.exit_code == 0, result.output
    assert "split: the gate would stop the run: y: " in result.output
    assert "Checked:" not in result.output


def test_presence_is_judged_per_span(tmp_path):
    # 40 values in all, but span-1 has only 4: its eval split may lack them.
    for span, present in ((1, 4), (2, 36)):
        _write_csv(tmp_path / "data" / f"span-{span}" / "d.csv",
                   [[i, i if i < present else "", i % 2] for i in range(100)], ["x", "z", "y"])
    result, schema = _infer(tmp_path, str(tmp_path / "data"), "y")
    assert result.exit_code == 0, result.output
    assert "column 'z' has a value in only 40 of 200 rows (20.0%; 4 in span-1)" in result.output
    assert _feature(schema, "z").presence.min_count == 0
    assert "of 2 span(s) all pass the gate" in result.output


def test_a_column_in_every_row_stays_required_even_in_a_tiny_span(tmp_path):
    rows = [[i, i % 2] for i in range(12)]
    result, schema = _infer(tmp_path, _write_csv(tmp_path / "d.csv", rows, ["x", "y"]), "y")
    assert "Warning" not in result.output, result.output
    assert _feature(schema, "x").presence.min_fraction == 1.0


def test_a_string_domain_with_rare_values_is_left_open_but_the_labels_is_kept(tmp_path):
    rows = [[f"shop{i}" if i < 5 else "big", ["a", "b", "c"][i % 3] if i else "d"]
            for i in range(60)]
    result, schema = _infer(tmp_path, _write_csv(tmp_path / "d.csv", rows, ["shop", "y"]), "y")
    assert result.exit_code == 0, result.output
    assert ("Column 'shop': 5 of its 6 values occur fewer than 3 times, so a later span likely "
            "brings new ones: no domain set") in result.output
    assert not _feature(schema, "shop").HasField("domain")
    assert [d.name for d in schema.string_domain] == ["y"]
    assert set(next(d for d in schema.string_domain if d.name == "y").value) == set("abcd")


def test_frequent_values_keep_their_domain(tmp_path):
    result, schema = _infer(tmp_path, DATA, "species")
    assert "no domain set" not in result.output
    assert {d.name for d in schema.string_domain} == {"island", "sex", "species"}


def test_a_three_class_integer_label_gets_its_classes(tmp_path):
    result, schema = _infer(tmp_path, _sparse_csv(tmp_path / "d.csv"), "y")
    assert "integers with 3 distinct values (0, 1, 2; int_domain 0 to 2 set): proposed task " \
           "classification (multi-class)." in result.output
    assert label.of_schema(schema, "y", "classification", "s").classes == ["0", "1", "2"]


def test_a_column_with_text_in_one_span_and_numbers_in_another_is_named(tmp_path):
    _write_csv(tmp_path / "data" / "span-1" / "d.csv", [[1, 0], [2, 1]], ["x", "y"])
    _write_csv(tmp_path / "data" / "span-2" / "d.csv", [["a", 0], ["b", 1]], ["x", "y"])
    result, _ = _infer(tmp_path, str(tmp_path / "data"), "y")
    assert result.exit_code == 1
    assert ("Error: column 'x' has text in span-2 but numbers elsewhere in the data: one "
            "column needs one type") in result.output


def test_files_with_different_columns_are_named(tmp_path):
    first = _write_csv(tmp_path / "data" / "a.csv", [[1, 0]], ["x", "y"])
    second = _write_csv(tmp_path / "data" / "b.csv", [[1, 0]], ["z", "y"])
    result, _ = _infer(tmp_path, str(tmp_path / "data"), "y")
    assert result.exit_code == 1
    assert f"Error: {second}: its columns (z, y) differ from those of {first} (x, y)" in result.output


def test_the_spans_with_values_decide_a_columns_type(tmp_path):
    # Empty in span-1 (read as text there), integers in span-2, decimals in span-3.
    for span, value in ((1, ""), (2, 4), (3, 2.5)):
        _write_csv(tmp_path / "data" / f"span-{span}" / "d.csv",
                   [[i, value if value == "" else value * i, i % 2] for i in range(90)],
                   ["x", "z", "y"])
    result, schema = _infer(tmp_path, str(tmp_path / "data"), "y")
    assert result.exit_code == 0, result.output
    assert _feature(schema, "z").type == schema_pb2.FLOAT
    assert "column 'z' has a value in only 180 of 270 rows (66.7%; 0 in span-1)" in result.output
