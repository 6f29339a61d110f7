"""DriftCheck: distances from the previous span, drift.json, and the record/stop policy."""
import csv
import json
import os
import shutil

import pytest
from tfx.types import standard_artifacts

from components import drift_check
from components.lib import drift
from components.lib import spans as spans_lib
from tests.conftest import DATA, SCHEMA, span_file

THRESHOLDS = drift.Thresholds(0.25, 0.25, 0.25, 0.25)


def _statistics_artifact(path: str, csv_files) -> standard_artifacts.ExampleStatistics:
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = path
    artifact.split_names = '["train", "eval"]'
    os.makedirs(os.path.join(path, "Split-train"))
    with open(os.path.join(path, "Split-train", "FeatureStats.pb"), "wb") as f:
        f.write(drift.csv_statistics(csv_files).SerializeToString())
    return artifact


def _skewed_copy(source: str, target: str) -> None:
    """The span with every island 'Biscoe' and 2 kg on every penguin."""
    with open(source) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["island"] = "Biscoe"
        if row["body_mass_g"] != "NA":
            row["body_mass_g"] = str(int(row["body_mass_g"]) + 2000)
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _run(tmp_path, data_root: str, policy: str):
    examples = standard_artifacts.Examples()
    examples.set_string_custom_property(spans_lib.SPANS, "2")
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    shutil.copy(SCHEMA, os.path.join(schema.uri, "schema.pbtxt"))
    statistics = _statistics_artifact(str(tmp_path / "stats"), [span_file(2)])
    out = drift_check.DriftReport()
    out.uri = str(tmp_path / "drift")
    props = {"data_root": data_root, "span_pattern": "span-{SPAN}/*.csv",
             "thresholds": json.dumps(THRESHOLDS.to_dict()), "skip_features": '["year"]',
             "policy": policy}
    drift_check.Executor().Do({"examples": [examples], "statistics": [statistics],
                               "schema": [schema]}, {"drift": [out]}, props)
    return out


def test_consecutive_real_spans_record_distances_without_drift(tmp_path):
    out = _run(tmp_path, DATA, "stop")  # stop: would raise if anything drifted
    report = drift_check.load_report(out.uri)
    assert report["previous_spans"] == [1] and report["status"] == "ok"
    measured = {d["feature"]: d for d in report["distances"]}
    assert measured["island"]["measure"] == "L-infinity"
    assert measured["body_mass_g"]["measure"] == "Jensen-Shannon"
    assert "year" not in measured  # excluded features get no comparator
    assert all(0 <= d["value"] <= d["threshold"] for d in report["distances"])
    assert out.get_int_custom_property(drift_check.DRIFT_DETECTED) == 0


@pytest.fixture
def shifted_data(tmp_path):
    root = tmp_path / "data"
    (root / "span-1").mkdir(parents=True)
    (root / "span-2").mkdir()
    _skewed_copy(span_file(1), str(root / "span-1" / "penguins.csv"))
    shutil.copy(span_file(2), root / "span-2" / "penguins.csv")
    return str(root)


def test_drift_is_recorded_with_policy_record(tmp_path, shifted_data):
    out = _run(tmp_path, shifted_data, "record")
    report = drift_check.load_report(out.uri)
    assert report["status"] == "drift"
    assert report["drifted"] == ["body_mass_g", "island"]
    assert out.get_string_custom_property(drift_check.DRIFTED_FEATURES) == "body_mass_g,island"
    assert out.get_int_custom_property(drift_check.DRIFT_DETECTED) == 1


def test_drift_stops_the_run_with_policy_stop(tmp_path, shifted_data):
    with pytest.raises(drift_check.DriftError, match="island L-infinity"):
        _run(tmp_path, shifted_data, "stop")


def test_first_span_has_no_previous(tmp_path):
    root = tmp_path / "only"
    (root / "span-2").mkdir(parents=True)
    shutil.copy(span_file(2), root / "span-2" / "penguins.csv")
    report = drift_check.load_report(_run(tmp_path, str(root), "stop").uri)
    assert report["status"] == "no previous span" and report["distances"] == []


def test_comparators_come_from_thresholds_not_the_schema_file():
    from tfx.utils import io_utils

    schema = drift.with_comparators(io_utils.SchemaReader().read(SCHEMA), THRESHOLDS,
                                    skip=["year"], no_skew=["species"])
    by_name = {f.name: f for f in schema.feature}
    assert by_name["island"].drift_comparator.infinity_norm.threshold == 0.25
    assert by_name["bill_length_mm"].skew_comparator.jensen_shannon_divergence.threshold == 0.25
    assert not by_name["species"].HasField("skew_comparator")
    assert by_name["species"].HasField("drift_comparator")
    assert not by_name["year"].HasField("drift_comparator")


def test_the_same_data_through_the_real_statistics_gen_shows_no_drift(tmp_path):
    """This run's side comes from StatisticsGen over CsvExampleGen's tf.Examples, the previous
    span's from ``drift.csv_statistics`` over its CSV: the same bytes on both sides must
    measure zero on every feature, so any difference between the two readings shows."""
    from tfx.components.statistics_gen import executor as statistics_gen
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    from components.csv_example_gen import Executor as CsvExecutor

    root = tmp_path / "data"
    for span in (1, 2):
        (root / f"span-{span}").mkdir(parents=True)
        shutil.copy(span_file(2), root / f"span-{span}" / "penguins.csv")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    one_split = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1)]))
    CsvExecutor().Do({}, {"examples": [examples]}, {
        "input_base": str(root),
        "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern="span-2/*.csv")])),
        "output_config": proto_utils.proto_to_json(one_split),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE})
    examples.split_names = '["train"]'
    examples.set_string_custom_property(spans_lib.SPANS, "2")
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    statistics_gen.Executor().Do({"examples": [examples]}, {"statistics": [statistics]},
                                 {"exclude_splits": "[]"})

    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    shutil.copy(SCHEMA, os.path.join(schema.uri, "schema.pbtxt"))
    out = drift_check.DriftReport()
    out.uri = str(tmp_path / "drift")
    drift_check.Executor().Do(
        {"examples": [examples], "statistics": [statistics], "schema": [schema]},
        {"drift": [out]},
        {"data_root": str(root), "span_pattern": "span-{SPAN}/*.csv",
         "thresholds": json.dumps(THRESHOLDS.to_dict()), "skip_features": '["year"]',
         "policy": "stop"})
    report = drift_check.load_report(out.uri)
    assert report["previous_spans"] == [1] and report["status"] == "ok"
    measured = {d["feature"]: d["value"] for d in report["distances"]}
    assert set(measured) == {"species", "island", "bill_length_mm", "bill_depth_mm",
                             "flipper_length_mm", "body_mass_g", "sex"}
    assert measured == pytest.approx(dict.fromkeys(measured, 0.0), abs=1e-9)
