"""The curated schema accepts the bundled data and the gate names what it rejects."""
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from components.lib.csv_read import record_batches
from components.lib.anomalies import describe
from tests.conftest import SCHEMA, span_file


def _anomalies(path):
    table = pa.Table.from_batches(list(record_batches(str(path)))).combine_chunks()
    stats = stats_impl.generate_statistics_in_memory(table.to_batches()[0])
    return tfdv.validate_statistics(stats, tfdv.load_schema_text(SCHEMA))


@pytest.mark.parametrize("span", [1, 2, 3])
def test_bundled_spans_match_the_curated_schema(span):
    assert describe(_anomalies(span_file(span))) == []


def test_a_row_that_violates_the_schema_produces_a_named_anomaly(tmp_path):
    lines = open(span_file(1)).read().splitlines()
    lines.append("Adelie,Atlantis,39.1,18.7,181,99999,male,2007")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    found = describe(_anomalies(bad))
    assert any(f.startswith("island:") and "Unexpected string values" in f for f in found)
    assert any(f.startswith("body_mass_g:") and "Out-of-range" in f for f in found)
