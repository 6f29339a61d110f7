"""`infer-schema` writes a starting schema read the way the pipeline reads the data, and with
--label proposes the task."""
import os

from click.testing import CliRunner
from tensorflow_metadata.proto.v0 import schema_pb2
import tensorflow_data_validation as tfdv

from pipeline import label
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
