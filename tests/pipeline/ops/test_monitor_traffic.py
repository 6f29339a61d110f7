"""``monitor`` on the prediction log, and ``traffic to-span`` feeding ``run --watch``.

A real cold run trains and pushes a model; its served answers (the SavedModel's own
serving_default) are logged per the PLAN contract by the test helper, with rows of the bundled
data: a healthy case, one with shifted features (skew) and one with wrong ground truth
(performance drop). Then the labelled rows become span 4 and a watcher trains on it.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass

import pytest

from pipeline.local import watch
from pipeline.metadata import mlmd
from tests.conftest import ROOT, SCHEMA, span_file
from tests.e2e.helpers import STEPS, cli
from tests.pipeline.serving.traffic_log import (LogWriter, row_ids, schema_rows,
                                                served_predictions)

pytestmark = pytest.mark.e2e
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


@dataclass
class World:
    data: str
    out: str
    model_dir: str


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("traffic-world")
    data, out = str(base / "data"), str(base / "out")
    shutil.copytree(os.path.join(ROOT, "data", "penguins"), data)
    result = cli("run", "--data", data, "--output-root", out, *STEPS)
    assert result.returncode == 0, result.stdout + result.stderr
    return World(data, out, os.path.join(out, "serving", "1"))


def log_traffic(world: World, serving_root: str, shift=None, wrong_labels=False,
                count: int = 60) -> int:
    """Logs ``count`` rows of span 3 as the model serves them (batches of 3, and one-row
    requests); returns how many rows were labelled."""
    rows = schema_rows(span_file(3), SCHEMA)
    random.Random(7).shuffle(rows)
    rows = rows[:count]
    for row in rows:
        (shift or (lambda r: None))(row)
    features = [{k: v for k, v in r.items() if k != "species"} for r in rows]
    answers = served_predictions(world.model_dir, features)
    writer = LogWriter(serving_root)
    start = 0
    while start < len(rows):
        size = 3 if start < len(rows) // 2 else 1
        ident = writer.exchange({"instances": features[start:start + size]},
                                answers[start:start + size])
        for row_id, row in zip(row_ids(ident, size), rows[start:start + size]):
            truth = row["species"]
            if wrong_labels:
                truth = CLASSES[(CLASSES.index(truth) + 1) % len(CLASSES)]
            writer.label(row_id, truth)
        start += size
    return len(rows)


def monitor(world: World, traffic_root: str, report: str):
    result = cli("monitor", "--output-root", world.out, "--traffic", traffic_root,
                 "--report", report)
    with open(report) as f:
        return result, json.load(f)


def overall(report) -> dict:
    return next(s for s in report["performance"]["slices"] if s["slice"] == "Overall")


def test_healthy_traffic_passes_with_live_accuracy_per_slice(world, tmp_path):
    labelled = log_traffic(world, str(tmp_path / "healthy"))
    result, report = monitor(world, str(tmp_path / "healthy"), str(tmp_path / "healthy.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["ok"] is True and report["flagged"] == [] and report["rows"] == labelled
    assert report["performance"]["rows"] == labelled and report["served_by"] == {"1": labelled}
    assert overall(report)["metrics"]["accuracy"] >= 0.8
    assert {s["slice"] for s in report["performance"]["slices"]} >= {
        "island = Biscoe", "island = Dream", "sex = female", "sex = male"}
    assert "Live performance on 60 labelled rows" in result.stdout
    assert "OK:" in result.stdout and "SKEW:" not in result.stdout


def test_shifted_features_are_flagged_as_skew(world, tmp_path):
    def shift(row):
        row["island"] = "Dream"
        if row["body_mass_g"] is not None:
            row["body_mass_g"] += 1500

    log_traffic(world, str(tmp_path / "skewed"), shift=shift)
    result, report = monitor(world, str(tmp_path / "skewed"), str(tmp_path / "skewed.json"))
    assert result.returncode == 1
    assert {"skew:island", "skew:body_mass_g"} <= set(report["flagged"])
    (line,) = [l for l in result.stdout.splitlines() if l.startswith("SKEW:")]
    assert "island" in line and "body_mass_g" in line


def test_wrong_ground_truth_is_flagged_as_a_performance_drop(world, tmp_path):
    log_traffic(world, str(tmp_path / "wrong"), wrong_labels=True)
    result, report = monitor(world, str(tmp_path / "wrong"), str(tmp_path / "wrong.json"))
    assert result.returncode == 1
    assert report["flagged"] == ["performance"]
    assert overall(report)["metrics"]["accuracy"] < 0.8
    (line,) = [l for l in result.stdout.splitlines() if l.startswith("PERFORMANCE:")]
    assert "accuracy" in line and "on Overall" in line and ">= 0.8" in line
    assert os.path.isdir(str(tmp_path / "wrong-tfma"))  # TFMA's own output, beside the report


def test_the_default_traffic_is_the_log_under_the_output_root(world, tmp_path):
    """... and a broken line or an unknown label is reported, not fatal."""
    serving = os.path.join(world.out, "serving")
    log_traffic(world, serving, count=9)
    writer = LogWriter(serving)
    writer.line("{broken")
    with open(os.path.join(serving, "ground_truth.jsonl")) as f:
        last = json.loads(f.read().splitlines()[-1])["id"]
    writer.label(last, "Emperor")
    try:
        result = cli("monitor", "--output-root", world.out, "--report",
                     str(tmp_path / "default.json"))
        assert "Live performance on 8 labelled rows" in result.stdout, result.stderr
        assert f"Compared 9 rows of {os.path.join(serving, 'log')}" in result.stdout
        assert f"left out: 1 labelled row(s) with a label that is not a class of 'species', " \
               f"e.g. row {last}: 'Emperor'" in result.stdout
        assert f"skipped: {writer.path}: skipped 1 malformed line(s); first at line " \
               in result.stdout
    finally:
        shutil.rmtree(os.path.join(serving, "log"))
        os.remove(os.path.join(serving, "ground_truth.jsonl"))


def test_labelled_traffic_becomes_the_next_span_and_a_watcher_trains_on_it(world, tmp_path):
    labelled = log_traffic(world, str(tmp_path / "served"))
    data, out = str(tmp_path / "data"), str(tmp_path / "out")
    shutil.copytree(world.data, data)
    result = cli("traffic", "to-span", "--traffic", str(tmp_path / "served"), "--data", data)
    assert result.returncode == 0, result.stdout + result.stderr
    written = os.path.join(data, "span-4", "traffic.csv")
    assert f"Wrote span 4: {labelled} labelled served rows in {written}" in result.stdout
    with open(written) as f, open(span_file(3)) as training:
        lines = f.read().splitlines()
        assert lines[0] == training.readline().strip()  # the training data's columns
    assert len(lines) == labelled + 1
    assert sorted(os.listdir(data)) == ["span-1", "span-2", "span-3", "span-4"]

    run = cli("run", "--data", data, "--output-root", out, *STEPS, "--watch", "--interval",
              "0", "--max-runs", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "New span 4" in run.stdout
    assert watch.trained_spans(os.path.join(out, "metadata.sqlite"), data) == {4}
    with mlmd.open_store(os.path.join(out, "metadata.sqlite")) as store:
        (gen,) = [e for e in store.get_executions()
                  if "span" in e.custom_properties and "input_base" in e.custom_properties]
        examples = [a for a in store.get_artifacts_by_type("Examples")]
    assert gen.custom_properties["span"].int_value == 4
    assert examples and all(a.custom_properties["span"].int_value == 4 for a in examples)
