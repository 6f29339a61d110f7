"""Span windows and the config's gates, end to end through the CLI on the bundled data.

One cold ``run --window 2`` (spans 2 and 3) makes version 1 serve. Then, each from its own
fixture on the same root: ``--span-range 1-2`` with a config whose ``monitoring.*`` says
``drift_policy: stop`` and a numeric threshold no real data meets (the run stops at
DriftCheck), and a candidate trained for two steps with ``min_accuracy: 0`` (it passes the
value threshold and is refused for dropping more than ``max_accuracy_drop`` below version 1).
Neither pushes, so every test reads the root as the cold run left it plus its own run.
"""
from __future__ import annotations

import json
import os

import pytest
import yaml

from components.lib import spans as spans_lib
from components.drift_check import load_report
from pipeline.metadata import catalog, mlmd
from tests.conftest import DATA, SCHEMA
from tests.e2e.helpers import STEPS, cli, error_lines, nodes_of, run_contexts, run_id_of, tree_hash

pytestmark = pytest.mark.e2e


def write_config(folder: str, settings: dict) -> str:
    """A config holding only ``settings`` (with absolute data and schema paths)."""
    path = os.path.join(folder, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"schema": SCHEMA, "data": {"root": DATA}, **settings}, f)
    return path


@pytest.fixture(scope="module")
def window_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("window-out"))
    result = cli("run", *STEPS, "--output-root", out, "--window", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


@pytest.fixture(scope="module")
def range_stopped_by_drift(window_run, tmp_path_factory):
    out, _ = window_run
    config = write_config(str(tmp_path_factory.mktemp("drift-config")), {"monitoring": {
        "drift_policy": "stop", "numeric_drift": 0.0001, "categorical_drift": 0.99}})
    serving = tree_hash(os.path.join(out, "serving"))
    before = set(run_contexts(out))
    result = cli("run", *STEPS, "--config", config, "--output-root", out, "--span-range", "1-2")
    (run_id,) = set(run_contexts(out)) - before
    return result, run_id, serving


@pytest.fixture(scope="module")
def worse_candidate(window_run, tmp_path_factory):
    out, _ = window_run
    config = write_config(str(tmp_path_factory.mktemp("drop-config")), {"evaluator": {
        "min_accuracy": 0.0, "max_accuracy_drop": 0.02}})
    serving = tree_hash(os.path.join(out, "serving"))
    result = cli("run", "--train-steps", "2", "--config", config, "--output-root", out,
                 "--window", "2")
    return result, serving


def test_a_window_of_two_trains_on_both_spans_and_drifts_against_the_window_before(window_run):
    out, result = window_run
    assert "Model: blessed, pushed as version 1" in result.stdout
    nodes = nodes_of(out, run_id_of(result.stdout))
    (examples,) = nodes["CsvExampleGen"].outputs["examples"]
    assert mlmd.prop(examples, spans_lib.SPANS) == "2,3"
    assert mlmd.prop(examples, "span") == 3
    recorded = json.loads(mlmd.prop(examples, spans_lib.SPAN_FINGERPRINTS))
    assert recorded == {str(s): spans_lib.content_fingerprint(
        [os.path.join(DATA, f"span-{s}", "penguins.csv")]) for s in (2, 3)}
    # The Trainer read that one artifact: both spans' rows.
    assert nodes["Trainer"].inputs["examples"][0].id == examples.id
    report = load_report(nodes["DriftCheck"].outputs["drift"][0].uri)
    assert report["spans"] == [2, 3] and report["previous_spans"] == [1, 2]
    assert report["status"] in ("ok", "drift") and report["distances"]


def test_a_span_range_reads_exactly_its_spans(range_stopped_by_drift, window_run):
    out, _ = window_run
    _, run_id, _ = range_stopped_by_drift
    (examples,) = nodes_of(out, run_id)["CsvExampleGen"].outputs["examples"]
    assert mlmd.prop(examples, spans_lib.SPANS) == "1,2"
    assert mlmd.prop(examples, "span") == 2


def test_drift_policy_stop_from_the_config_stops_a_real_run(range_stopped_by_drift, window_run):
    out, _ = window_run
    result, run_id, serving_before = range_stopped_by_drift
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = error_lines(result.stderr)
    assert line.startswith("  ✘ DriftCheck failed after ")
    assert "(monitoring.drift_policy: stop)" in line and "Jensen-Shannon" in line
    assert "> 0.0001" in line and "L-infinity" not in line  # the config's thresholds
    nodes = nodes_of(out, run_id)
    assert nodes["DriftCheck"].state == "FAILED"
    assert not {"Trainer", "Evaluator", "Pusher"} & set(nodes)
    assert tree_hash(os.path.join(out, "serving")) == serving_before


def test_a_candidate_above_min_accuracy_but_worse_than_serving_is_not_pushed(
        worse_candidate, window_run):
    out, _ = window_run
    result, serving_before = worse_candidate
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Model: NOT blessed, not pushed" in result.stdout
    (why,) = [l for l in result.stdout.splitlines() if l.startswith("  NOT blessed: ")]
    reasons = why[len("  NOT blessed: "):].split("; ")
    # Only change thresholds against the serving model failed: min_accuracy 0 always passes.
    assert reasons and all("against the serving model" in r or r.endswith(" more")
                           for r in reasons), why
    assert reasons[0].startswith("accuracy change -")
    nodes = nodes_of(out, run_id_of(result.stdout))
    assert nodes["Trainer"].state == "COMPLETE"
    baseline = nodes["Evaluator"].inputs["baseline_model"][0]
    assert mlmd.prop(baseline, "serving_version") == 1
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 0
    metric, candidate, served = catalog.overall_metric(
        nodes["Evaluator"].outputs["evaluation"][0].uri)
    assert metric == "accuracy" and candidate < served - 0.02
    assert tree_hash(os.path.join(out, "serving")) == serving_before
