"""`infer-schema` writes a starting schema read the way the pipeline reads the data."""
from click.testing import CliRunner
from tensorflow_metadata.proto.v0 import schema_pb2
import tensorflow_data_validation as tfdv

from pipeline.cli import main
from tests.conftest import DATA


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
