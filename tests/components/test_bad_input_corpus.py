"""The bad-input corpus, checked fast: each case's reason at the reader, gate or config level.

The same cases run through the real CLI in tests/e2e/test_reliability.py; this file pins
the exact message each one produces without starting a pipeline.
"""
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from components.lib.csv_read import CsvDataError, record_batches
from components.lib.examples import read_csv_as_examples
from components.lib.anomalies import describe
from components.lib import spans
from pipeline import config
from pipeline.local import preflight
from tests.bad_inputs.cases import BY_NAME, CASES, GATE, READER
from tests.conftest import SCHEMA


def _gate(files):
    """The gate's one-line reasons for a span made of ``files``, as the pipeline reads them."""
    tables = [pa.Table.from_batches(list(record_batches(f))) for f in files]
    table = pa.concat_tables(tables, promote=True).combine_chunks()
    stats = stats_impl.generate_statistics_in_memory(table.to_batches()[0])
    return " | ".join(describe(tfdv.validate_statistics(stats, tfdv.load_schema_text(SCHEMA))))


def _failure(case) -> str:
    """The message the case fails with below the CLI, or '' if it goes through."""
    try:
        if case.is_config:
            cfg = config.load(f"{case.path}/config.yaml")
            preflight.check(cfg)
            return ""
        if case.stage == "spans":
            spans.resolve_span(case.path, "span-{SPAN}/*.csv")
            return ""
        return _gate(case.csv_files)
    except (CsvDataError, config.ConfigError, preflight.PreflightError, spans.SpanError) as e:
        return str(e)


@pytest.mark.parametrize("case", [c for c in CASES if c.stage], ids=lambda c: c.name)
def test_each_failing_case_names_what_is_wrong_in_one_line(case):
    message = _failure(case)
    assert message and "\n" not in message
    for text in case.expect:
        assert text in message


@pytest.mark.parametrize("case", [c for c in CASES if c.stage in (READER, GATE)], ids=lambda c: c.name)
def test_reader_cases_fail_in_the_reader_and_gate_cases_read_cleanly(case):
    """The stage in the table is where the message comes from, not merely somewhere."""
    if case.stage == READER:
        with pytest.raises(CsvDataError):
            for path in case.csv_files:
                list(record_batches(path))
    else:
        assert sum(1 for f in case.csv_files for _ in read_csv_as_examples(f)) > 0


def test_valid_dialects_read_like_the_plain_file_and_pass_the_gate():
    case = BY_NAME["valid_dialects"]
    assert _gate(case.csv_files) == ""
    rows = sum(1 for f in case.csv_files for _ in read_csv_as_examples(f))
    assert rows == 110  # every row of span 1, spread over the four dialect files
    names = {tuple(b.schema.names) for f in case.csv_files for b in record_batches(f)}
    assert len(names) == 2  # one file has its columns reversed; features are matched by name


@pytest.mark.parametrize("block", [5, 7, 1 << 22])  # 5 splits the two bytes of 'ö'
def test_non_utf8_offset_is_right_across_read_blocks(tmp_path, monkeypatch, block):
    from components.lib import csv_read

    monkeypatch.setattr(csv_read, "_BLOCK_SIZE", block)
    path = tmp_path / "x.csv"
    path.write_bytes("a,b\nö,1\nx,2\n".encode() + b"y\xff,3\n")
    # 'a,b\n' is 4 bytes, 'ö,1\n' 5 and 'x,2\n' 4, so 'y' is byte 13 and the bad byte 14.
    assert csv_read._first_non_utf8(str(path)) == (14, 4, "invalid start byte")
