"""The fast CSV reader: NA handling, types true to the data, CSV dialects, clear errors."""
import pyarrow as pa
import pytest
import tensorflow as tf

from components.lib.csv_read import CsvDataError, infer_column_types
from components.lib.examples import read_csv_as_examples
from tests.conftest import span_file


def _examples(path):
    return [tf.train.Example.FromString(e) for e in read_csv_as_examples(str(path))]


def _value(example, key):
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def test_bundled_span_keeps_numeric_columns_numeric_with_na_missing():
    types = infer_column_types(span_file(1))
    assert types["bill_length_mm"] == pa.float64()
    assert types["body_mass_g"] == pa.int64()
    assert types["species"] == pa.string()
    examples = _examples(span_file(1))
    assert len(examples) == 110
    # Row 4 of the raw file is "Adelie,Torgersen,NA,NA,NA,NA,NA,2007".
    assert _value(examples[3], "bill_length_mm") == []
    assert _value(examples[3], "sex") == []
    assert _value(examples[3], "year") == [2007]
    assert _value(examples[0], "body_mass_g") == [3750]


def test_type_widens_over_the_whole_file_not_the_first_block(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("a,b\n" + "NA,1\n" * 5 + "2.5,x\n")
    assert infer_column_types(str(path)) == {"a": pa.float64(), "b": pa.string()}


def test_quoted_fields_bom_and_crlf(tmp_path):
    path = tmp_path / "dialect.csv"
    path.write_bytes('\ufeffname,note,n\r\n"Smith, J","line one\nline two",3\r\n'.encode())
    (example,) = _examples(path)
    assert _value(example, "name") == [b"Smith, J"]
    assert _value(example, "note") == [b"line one\nline two"]
    assert _value(example, "n") == [3]


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("a,a\n1,2\n", "repeats column(s) a"),
    ("a,b\n1,2,3\n", "Expected 2 columns, got 3"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CsvDataError) as error:
        _examples(path)
    assert str(path) in str(error.value) and message in str(error.value)
