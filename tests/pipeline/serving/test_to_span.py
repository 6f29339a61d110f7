"""``traffic to-span``: labelled served rows become the next span, or nothing is written."""
from __future__ import annotations

import csv
import os
import shutil

from click.testing import CliRunner

from pipeline import config as config_lib
from pipeline.cli import main
from pipeline.serving import to_span
from tests.conftest import DATA, SCHEMA, span_file
from tests.pipeline.serving.traffic_log import LogWriter, schema_rows, serve_rows

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


def served(tmp_path, rows, labels=None) -> str:
    root = str(tmp_path / "serving")
    serve_rows(LogWriter(root), rows, CLASSES, lambda r: r["species"], label="species",
               batch=4, labels=labels)
    return root


def data_root(tmp_path) -> str:
    root = str(tmp_path / "data")
    shutil.copytree(DATA, root)
    return root


def to_span_cli(*args):
    return CliRunner().invoke(main, ["traffic", "to-span", *args])


def test_labelled_rows_become_the_next_span_with_the_training_columns(tmp_path):
    rows = [r for r in schema_rows(span_file(1), SCHEMA) if r["sex"] is not None][:20]
    serving = served(tmp_path, rows, labels=lambda r: r["species"] if r is not rows[0] else None)
    data = data_root(tmp_path)
    result = to_span_cli("--traffic", serving, "--data", data)
    assert result.exit_code == 0, result.output
    path = os.path.join(data, "span-4", "traffic.csv")
    assert f"Wrote span 4: 19 labelled served rows in {path}" in result.output
    with open(path, newline="") as f, open(span_file(1), newline="") as training:
        written = list(csv.DictReader(f))
        assert list(written[0]) == next(csv.reader(training))
    assert [r["species"] for r in written] == [r["species"] for r in rows[1:]]
    assert [r["island"] for r in written] == [r["island"] for r in rows[1:]]
    assert sorted(os.listdir(data)) == ["span-1", "span-2", "span-3", "span-4"]


def test_a_row_outside_the_schema_is_one_line_naming_file_row_and_column(tmp_path):
    rows = schema_rows(span_file(1), SCHEMA)[:8]
    rows[5]["island"] = "Atlantis"
    serving = served(tmp_path, rows)
    data = data_root(tmp_path)
    before = sorted(os.listdir(data))
    result = to_span_cli("--traffic", serving, "--data", data)
    assert result.exit_code == 1
    errors = [l for l in result.output.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert os.path.join(data, "span-4", "traffic.csv") in errors[0]
    assert "row 7" in errors[0] and "column 'island'" in errors[0] and "'Atlantis'" in errors[0]
    assert sorted(os.listdir(data)) == before  # no span, no staging folder left


def test_a_span_that_fails_the_validator_s_statistics_check_is_not_written(tmp_path):
    """Each value may be missing alone (sex: presence 0.8), but not most of them."""
    rows = schema_rows(span_file(1), SCHEMA)[:10]
    for row in rows[:5]:
        row["sex"] = None
    data = data_root(tmp_path)
    cfg = config_lib.load(None, {"data.root": data, "output_root": str(tmp_path / "out")})
    try:
        to_span.export(cfg, served(tmp_path, rows))
        raise AssertionError("exported a span the schema rejects")
    except to_span.SpanExportError as e:
        assert str(e).startswith(os.path.join(data, "span-4", "traffic.csv") + ": sex")
    assert sorted(os.listdir(data)) == ["span-1", "span-2", "span-3"]


def test_the_first_span_of_a_new_root_follows_the_pattern_and_the_schema_columns(tmp_path):
    rows = schema_rows(span_file(2), SCHEMA)[:6]
    data = str(tmp_path / "fresh")
    os.makedirs(data)
    cfg = config_lib.load(None, {"data.root": data, "output_root": str(tmp_path / "out"),
                                 "data.span_pattern": "penguins-{SPAN}.csv"})
    done = to_span.export(cfg, served(tmp_path, rows))
    assert (done.span, done.rows, done.path) == (1, 6, os.path.join(data, "penguins-1.csv"))
    assert os.listdir(data) == ["penguins-1.csv"]
    with open(done.path) as f:
        assert f.readline().strip().split(",")[0] == "species"  # the schema's first feature


def test_no_labelled_row_is_an_error_and_writes_nothing(tmp_path):
    rows = schema_rows(span_file(1), SCHEMA)[:4]
    serving = served(tmp_path, rows, labels=lambda r: None)
    data = data_root(tmp_path)
    result = to_span_cli("--traffic", serving, "--data", data)
    assert result.exit_code == 1 and "no served row has a label" in result.output
    assert sorted(os.listdir(data)) == ["span-1", "span-2", "span-3"]
