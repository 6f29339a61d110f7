"""Live performance on labelled traffic for the two tasks the e2e test does not serve: a
regression target and an integer class label (the example configs), TFMA run for real."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from pipeline import config as config_lib
from pipeline.serving import live, traffic
from tests.conftest import ROOT


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{traffic.ROW_ID: f"r{i}", **row} for i, row in enumerate(rows)],
                        dtype=object)


@pytest.mark.parametrize("error, ok", [(1.0, True), (9.0, False)])
def test_a_regressor_is_held_to_max_error_per_slice(tmp_path, error, ok):
    cfg = config_lib.load(os.path.join(ROOT, "examples", "deliveries.yaml"))
    rows = [{"region": region, traffic.LABEL: 30.0 + i, "predictions": 30.0 + i + error}
            for i, region in enumerate(["east", "south", "east", "west"] * 3)]
    found = live.measure(cfg, frame(rows), str(tmp_path / "model"), str(tmp_path / "tfma"))
    assert found.ok is ok and found.rows == 12
    overall = next(s for s in found.slices if s["slice"] == "Overall")
    assert overall["metrics"]["mean_absolute_error"] == pytest.approx(error)
    assert {s["slice"] for s in found.slices} == {"Overall", "region = east", "region = south",
                                                  "region = west"}
    if not ok:
        assert found.failures[0].startswith("mean_absolute_error 9.0000 (threshold <= 6")
        assert found.failures[0].endswith("on Overall")


def test_an_integer_label_counts_its_values_as_class_ids_and_leaves_out_unknown_ones(tmp_path):
    cfg = config_lib.load(os.path.join(ROOT, "examples", "tips.yaml"))
    rows = [{"payment": "cash" if i % 2 else "card", traffic.LABEL: i % 2,
             "probabilities": [0.2, 0.8] if i % 2 else [0.7, 0.3]} for i in range(10)]
    rows.append({"payment": "card", traffic.LABEL: 7, "probabilities": [0.5, 0.5]})
    found = live.measure(cfg, frame(rows), str(tmp_path / "model"), str(tmp_path / "tfma"))
    assert found.ok and found.rows == 10
    overall = next(s for s in found.slices if s["slice"] == "Overall")
    assert overall["metrics"]["accuracy"] == pytest.approx(1.0)
    assert found.left_out == ["1 labelled row(s) with a label that is not a class of "
                              "'big_tipper', e.g. row r10: 7"]


def test_a_response_without_the_output_the_metrics_need_is_one_line(tmp_path):
    cfg = config_lib.load(os.path.join(ROOT, "examples", "deliveries.yaml"))
    with pytest.raises(live.LiveError, match="no 'predictions' output"):
        live.measure(cfg, frame([{"region": "east", traffic.LABEL: 3.0, "scores": 1.0}]),
                     str(tmp_path), str(tmp_path / "tfma"))


def test_traffic_without_labels_says_live_performance_was_not_measured():
    from pipeline.ops import monitor

    result = monitor.MonitorResult("log", 3, monitor.Reference(1, 1, "run", "stats"), "SERVING",
                                   served_by={"1": 3})
    lines = monitor.summary_lines(result)
    assert "Live performance: not measured (no served row has a label yet)" in lines
    assert result.ok and "served by model version 1 (3 rows)" in lines
    assert not any("not measured" in line
                   for line in monitor.summary_lines(monitor.MonitorResult(
                       "batch.csv", 3, result.reference, "SERVING")))
