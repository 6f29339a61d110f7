"""The traffic reader against logs written per the PLAN contract (tests/.../traffic_log.py)."""
from __future__ import annotations

import json
import os

import pytest

from pipeline.serving import traffic
from tests.pipeline.serving.traffic_log import (LogWriter, classifier_prediction, event,
                                                example_b64, serve_rows)

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
ROWS = [
    {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
     "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male", "year": 2007},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2,
     "flipper_length_mm": 211, "body_mass_g": 4500, "sex": "female", "year": 2007},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 46.5, "bill_depth_mm": 17.9,
     "flipper_length_mm": 192, "body_mass_g": 3500, "sex": None, "year": 2007},
]


def _species(row):
    return row["species"]


@pytest.mark.parametrize("form", ["instances", "inputs", "b64"])
def test_a_batch_becomes_rows_with_features_predictions_version_and_labels(tmp_path, form):
    writer = LogWriter(str(tmp_path))
    (ident,) = serve_rows(writer, ROWS, CLASSES, _species, label="species", batch=3,
                          version="4", form=form)
    read = traffic.read_traffic(str(tmp_path))
    assert read.problems == []
    frame = read.rows.set_index(traffic.ROW_ID)
    assert list(frame.index) == [f"{ident}/0", f"{ident}/1", f"{ident}/2"]
    assert list(frame[traffic.LABEL]) == ["Adelie", "Gentoo", "Chinstrap"]
    assert list(frame["classes"]) == ["Adelie", "Gentoo", "Chinstrap"]
    assert set(frame[traffic.VERSION]) == {"4"}
    assert list(frame["island"]) == ["Torgersen", "Biscoe", "Dream"]
    assert list(frame["flipper_length_mm"]) == [181, 211, 192]
    assert frame["bill_depth_mm"].tolist() == pytest.approx([18.7, 13.2, 17.9])
    assert frame.loc[f"{ident}/2", "sex"] is None or frame["sex"].isna().iloc[2]
    assert "species" not in frame.columns
    assert frame.loc[f"{ident}/1", "probabilities"] == pytest.approx([0.05, 0.05, 0.9])


def test_rotated_files_are_read_oldest_first_and_a_later_label_wins(tmp_path):
    old = LogWriter(str(tmp_path), traffic.LOG_FILE + ".2")
    middle = LogWriter(str(tmp_path), traffic.LOG_FILE + ".1")
    current = LogWriter(str(tmp_path))
    first = old.exchange({"instances": [ROWS[0]]}, [classifier_prediction(CLASSES, "Adelie")])
    second = middle.exchange({"instances": [ROWS[1]]}, [classifier_prediction(CLASSES, "Gentoo")])
    third = current.exchange({"instances": [ROWS[2]]}, [classifier_prediction(CLASSES, "Gentoo")],
                             version="2")
    current.label(third, "Gentoo")
    current.label(third, "Chinstrap")  # a correction replaces the first label
    assert traffic.log_files(str(tmp_path)) == [old.path, middle.path, current.path]
    frame = traffic.read_traffic(str(tmp_path)).rows
    assert list(frame[traffic.ROW_ID]) == [first, second, third]  # one-row requests: "<id>"
    assert list(frame[traffic.VERSION]) == ["1", "1", "2"]
    assert frame[traffic.LABEL].tolist() == [None, None, "Chinstrap"]


def test_malformed_lines_are_skipped_counted_and_named_once_per_file(tmp_path):
    writer = LogWriter(str(tmp_path))
    good = writer.exchange({"instances": [ROWS[0]]}, [classifier_prediction(CLASSES, "Adelie")])
    writer.line("{not json")                                                  # line 3
    writer.line(json.dumps([1, 2]))
    writer.line(json.dumps(event(traffic.REQUEST, "r-bad", {"rows": []})))
    writer.line(json.dumps(event(traffic.REQUEST, "r-b64", {"instances": [{"b64": "!!"}]})))
    writer.line(json.dumps(event(traffic.RESPONSE, "r-b64", {"predictions": [1]})))
    mismatch = writer.exchange({"instances": ROWS[:2]}, [classifier_prediction(CLASSES, "Adelie")])
    writer.line(json.dumps(event(traffic.REQUEST, "no-answer", {"instances": [ROWS[1]]})))
    writer.label(good, "Adelie")
    writer.line("{\"label\": 3}", os.path.join(str(tmp_path), traffic.GROUND_TRUTH))

    read = traffic.read_traffic(str(tmp_path))
    assert list(read.rows[traffic.ROW_ID]) == [good]
    assert read.rows[traffic.LABEL].tolist() == ["Adelie"]
    log = next(s for s in read.skipped if s.path == writer.path)
    assert (log.count, log.first_line) == (5, 3)  # 4 bad lines + the short response
    assert log.line().startswith(f"{writer.path}: skipped 5 malformed line(s); first at line 3")
    truth = next(s for s in read.skipped if s.path.endswith(traffic.GROUND_TRUTH))
    assert (truth.count, truth.first_line) == (1, 2)
    assert mismatch not in set(read.rows[traffic.REQUEST_ID])
    assert any("without their other half" in p for p in read.problems)  # r-b64, no-answer


def test_an_empty_or_missing_log_reads_as_no_rows(tmp_path):
    read = traffic.read_traffic(str(tmp_path / "nothing"))
    assert read.rows.empty and read.problems == [] and read.labelled.empty


def test_b64_rows_decode_like_raw_rows(tmp_path):
    encoded = example_b64(ROWS[0])
    assert traffic.request_rows({"instances": [{"b64": encoded}]}) == \
        traffic.request_rows({"instances": [{"examples": {"b64": encoded}}]})
    decoded = traffic.request_rows({"instances": [{"b64": encoded}]})[0]
    assert decoded["island"] == "Torgersen" and decoded["body_mass_g"] == 3750
    assert decoded["bill_length_mm"] == pytest.approx(39.1)


def test_monitor_takes_the_log_or_a_csv_batch_not_both(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["monitor", "--data", str(tmp_path), "--traffic",
                                       str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --data and --traffic: give one of them"
