"""Continuous training end to end under ForkingDagRunner, asserting what ML Metadata recorded.

Spans arrive one at a time in a fresh data folder:

1. span 1: blessed and pushed as version 1, no baseline;
2. span 2: the baseline is version 1, the evaluation has baseline metrics, pushed if not worse;
3. span 3 with its labels shuffled, picked up by ``run --watch``: not blessed, not pushed,
   the serving model unchanged.

Then ``models`` lists three rows with their lineage, ``rollback`` changes the serving
version, and ``monitor`` flags a batch skewed on purpose and passes a clean one. After the
rollback, the watcher's rules: a span already done is not run again, the next run's baseline
is the rolled-back model, and a span whose run failed is not retried.

Each fixture records what its tests read at the moment it is true (e.g. ``models`` before the
rollback), so the tests pass alone and in any order.
"""
from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

from components.lib import spans as spans_lib
from components.drift_check import load_report
from components.lib.serving_store import serving_version
from pipeline.metadata import catalog, mlmd, run_record
from tests.conftest import ROOT, span_file
from tests.e2e.helpers import STEPS, cli, run_contexts, run_id_of, tree_hash

pytestmark = pytest.mark.e2e


def add_span(data: str, span: int, rows=None) -> None:
    """Writes the span beside the data, then renames it in: a watcher never sees half a file."""
    staging = os.path.join(data, f".staging-{span}")
    os.makedirs(staging)
    target = os.path.join(staging, "penguins.csv")
    if rows is None:
        shutil.copy(span_file(span), target)
    else:
        write_csv(target, rows)
    os.rename(staging, os.path.join(data, f"span-{span}"))


def read_csv(path: str):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: str, rows, drop=()) -> None:
    columns = [c for c in rows[0] if c not in drop]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def shuffled_labels(path: str, seed: int = 7):
    rows = read_csv(path)
    labels = [r["species"] for r in rows]
    random.Random(seed).shuffle(labels)
    return [{**r, "species": label} for r, label in zip(rows, labels)]


class World:
    """The shared state of the scenario: folders and each run's output and nodes."""

    def __init__(self, tmp):
        self.data = str(tmp / "data")
        self.out = str(tmp / "out")
        self.serving = os.path.join(self.out, "serving")
        self.runs = {}
        os.makedirs(self.data)

    def store(self):
        return mlmd.open_store(os.path.join(self.out, "metadata.sqlite"))

    def nodes(self, run_id: str):
        with self.store() as store:
            return mlmd.run_nodes(store, run_id)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("ct"))
    common = ["--data", w.data, "--output-root", w.out, *STEPS]

    add_span(w.data, 1)
    first = cli("run", *common)
    assert first.returncode == 0, first.stdout + first.stderr
    w.runs[1] = first

    add_span(w.data, 2)
    second = cli("run", *common)
    assert second.returncode == 0, second.stdout + second.stderr
    w.runs[2] = second

    # The watcher starts with nothing new, waits, and picks up span 3 when it lands.
    watcher = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", *common, "--watch", "--interval", "1",
         "--max-runs", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    head = []
    for line in watcher.stdout:
        head.append(line)
        if line.startswith("Watching"):
            break
    assert head and head[-1].startswith("Watching"), "".join(head) + watcher.stderr.read()
    add_span(w.data, 3, shuffled_labels(span_file(3)))
    rest, errors = watcher.communicate(timeout=900)
    w.runs[3] = subprocess.CompletedProcess(watcher.args, watcher.returncode,
                                            "".join(head) + rest, errors)
    assert watcher.returncode == 0, w.runs[3].stdout + errors

    # The catalog as it is now: the rollback below changes which row serves.
    w.models = cli("models", "--output-root", w.out, "--json")
    rows = [json.loads(line) for line in w.models.stdout.splitlines() if line.startswith("{")]
    w.shown = cli("models", "show", rows[1]["run_id"], "--output-root", w.out) if len(
        rows) > 1 else None
    return w


def test_run_1_on_span_1_is_blessed_and_pushed_without_a_baseline(world):
    nodes = world.nodes(run_id_of(world.runs[1].stdout))
    (examples,) = nodes["CsvExampleGen"].outputs["examples"]
    assert mlmd.prop(examples, "spans") == "1"
    assert mlmd.prop(nodes["ServingBaseline"].outputs["baseline_model"][0], "has_model") == 0
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 1
    assert mlmd.prop(nodes["Pusher"].outputs["pushed_model"][0], "pushed_version") == "1"
    assert load_report(nodes["DriftCheck"].outputs["drift"][0].uri)["status"] == "no previous span"
    assert "Drift: not measured (no previous span)" in world.runs[1].stdout


def test_run_2_is_evaluated_against_version_1_and_pushed_if_not_worse(world):
    nodes = world.nodes(run_id_of(world.runs[2].stdout))
    baseline = nodes["Evaluator"].inputs["baseline_model"][0]
    assert mlmd.prop(baseline, "has_model") == 1 and mlmd.prop(baseline, "serving_version") == 1
    metric, candidate, baseline_accuracy = catalog.overall_metric(
        nodes["Evaluator"].outputs["evaluation"][0].uri)
    assert metric == "accuracy"
    assert candidate is not None and baseline_accuracy is not None  # the baseline column
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 1
    assert candidate >= baseline_accuracy - 0.02
    assert mlmd.prop(nodes["Pusher"].outputs["pushed_model"][0], "pushed_version") == "2"
    report = load_report(nodes["DriftCheck"].outputs["drift"][0].uri)
    assert report["spans"] == [2] and report["previous_spans"] == [1]
    assert {d["feature"] for d in report["distances"]} >= {"island", "body_mass_g", "species"}
    assert "Drift vs span 1:" in world.runs[2].stdout


def test_run_3_on_shuffled_labels_is_not_blessed_and_serving_is_unchanged(world):
    out = world.runs[3].stdout
    assert "New span 3" in out and "Model: NOT blessed, not pushed" in out
    nodes = world.nodes(run_id_of(out))
    assert mlmd.prop(nodes["CsvExampleGen"].outputs["examples"][0], "span") == 3
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 0
    assert mlmd.prop(nodes["Pusher"].outputs["pushed_model"][0], "pushed") == 0
    assert mlmd.prop(nodes["ServingBaseline"].outputs["baseline_model"][0],
                     "serving_version") == 2


def test_models_lists_three_rows_with_lineage(world):
    result = world.models
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["spans"] for r in rows] == [[1], [2], [3]]
    assert [r["run_id"] for r in rows] == [run_id_of(world.runs[n].stdout) for n in (1, 2, 3)]
    for row in rows:
        (span,) = row["spans"]
        path = os.path.join(world.data, f"span-{span}", "penguins.csv")
        assert row["span_fingerprints"] == {str(span): spans_lib.content_fingerprint([path])}
    assert [r["blessed"] for r in rows] == [True, True, False]
    assert [r["pushed_versions"] for r in rows] == [[1], [2], []]
    assert [r["serving"] for r in rows] == [False, True, False]
    for row in rows:  # the commit the code came from (HEAD may have moved on since)
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", row["git_sha"], "HEAD"],
                                  cwd=ROOT, capture_output=True)
        assert re.fullmatch(r"[0-9a-f]{40}", row["git_sha"]) and ancestor.returncode == 0
        assert row["git_dirty"] in ("true", "false")
    assert {r["user"] for r in rows} == {run_record.current_user()}
    assert len({r["config_hash"] for r in rows}) == 1
    assert rows[2]["accuracy"] < 0.8 <= rows[0]["accuracy"]

    shown = world.shown
    assert shown.returncode == 0, shown.stderr
    for expected in ("produced by Trainer", "produced by Transform", "produced by CsvExampleGen",
                     "produced by ImportSchemaGen",
                     f"span 2: span-2/penguins.csv  content sha256 {rows[1]['span_fingerprints']['2']}"):
        assert expected in shown.stdout


@pytest.fixture(scope="module")
def rolled_back(world):
    result = cli("rollback", "--output-root", world.out, "--reason", "e2e: v2 misbehaves")
    assert result.returncode == 0, result.stderr
    # What the rollback left, before the runs after it (which push nothing) add rows.
    result.serving_version = serving_version(world.serving)
    result.models = cli("models", "--output-root", world.out, "--json")
    return result


def test_rollback_changes_the_serving_version_and_is_recorded(world, rolled_back):
    assert "version 3 (a copy of version 1) now serves instead of version 2" in rolled_back.stdout
    assert rolled_back.serving_version == 3
    with world.store() as store:
        (done,) = catalog.rollbacks(catalog.Graph(store))
    assert (done["from_version"], done["to_version"], done["new_version"]) == (2, 1, 3)
    assert done["reason"] == "e2e: v2 misbehaves"
    rows = [json.loads(line) for line in rolled_back.models.stdout.splitlines()]
    assert rows[0]["pushed_versions"] == [1, 3] and rows[0]["serving"] is True
    assert rows[1]["serving"] is False


def test_monitor_passes_a_clean_batch_and_flags_a_skewed_one(world, rolled_back, tmp_path):
    # Version 3 is a rollback to version 1, so the reference is run 1's span 1 statistics.
    clean = str(tmp_path / "clean.csv")
    write_csv(clean, read_csv(span_file(1)), drop=["species"])  # serving requests: no label
    result = cli("monitor", "--output-root", world.out, "--data", clean,
                 "--report", str(tmp_path / "clean.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a rollback to version 1" in result.stdout and "OK:" in result.stdout
    report = json.load(open(tmp_path / "clean.json"))
    assert report["ok"] is True and report["environment"] == "SERVING"
    assert report["reference"]["run_id"] == run_id_of(world.runs[1].stdout)

    rows = read_csv(span_file(1))
    for row in rows:
        row["island"] = "Dream"
        if row["body_mass_g"] != "NA":
            row["body_mass_g"] = str(int(row["body_mass_g"]) + 1500)
    skewed = str(tmp_path / "skewed.csv")
    write_csv(skewed, rows, drop=["species"])
    result = cli("monitor", "--output-root", world.out, "--data", skewed,
                 "--report", str(tmp_path / "skewed.json"))
    assert result.returncode == 1
    report = json.load(open(tmp_path / "skewed.json"))
    assert set(report["flagged"]) == {"skew:island", "skew:body_mass_g", "drift:island",
                                      "drift:body_mass_g"}
    assert os.path.exists(tmp_path / "skewed.md")


def watch_once(world: World, max_runs: int = 1) -> subprocess.CompletedProcess:
    """``run --watch --interval 0``, as from cron: one check, a run per new span."""
    return cli("run", "--data", world.data, "--output-root", world.out, *STEPS, "--watch",
               "--interval", "0", "--max-runs", str(max_runs))


@pytest.fixture(scope="module")
def after_rollback(world, rolled_back):
    """The watcher from cron after the rollback: nothing new; then span 4 (labels shuffled,
    so it is not pushed and version 3 keeps serving); then span 5, which cannot be read."""
    steps = {"runs_before": set(run_contexts(world.out))}
    steps["nothing_new"] = watch_once(world)
    steps["runs_after_nothing_new"] = set(run_contexts(world.out))
    add_span(world.data, 4, shuffled_labels(span_file(1), seed=11))
    steps["span_4"] = watch_once(world)
    header = open(span_file(1)).readline()
    os.makedirs(os.path.join(world.data, ".staging-5"))
    with open(os.path.join(world.data, ".staging-5", "penguins.csv"), "w") as f:
        f.write(header)  # a header and no rows: CsvExampleGen fails
    os.rename(os.path.join(world.data, ".staging-5"), os.path.join(world.data, "span-5"))
    before_5 = set(run_contexts(world.out))
    steps["span_5"] = watch_once(world, max_runs=2)  # room for a retry it must not make
    steps["runs_of_span_5"] = set(run_contexts(world.out)) - before_5
    return steps


def test_a_watcher_from_cron_with_nothing_new_returns_at_once(world, after_rollback):
    """Span 3 is done (its run was not blessed, but it ran): nothing is new, no run starts,
    and --interval 0 checks once instead of waiting."""
    result = after_rollback["nothing_new"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "New span" not in result.stdout and "Watching" not in result.stdout
    assert after_rollback["runs_after_nothing_new"] == after_rollback["runs_before"]


def test_the_next_run_after_a_rollback_is_evaluated_against_the_rolled_back_model(
        world, after_rollback):
    result = after_rollback["span_4"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "New span 4" in result.stdout and "Model: NOT blessed, not pushed" in result.stdout
    nodes = world.nodes(run_id_of(result.stdout))
    (baseline,) = nodes["ServingBaseline"].outputs["baseline_model"]
    assert [a.id for a in nodes["Evaluator"].inputs["baseline_model"]] == [baseline.id]
    assert mlmd.prop(baseline, "serving_version") == 3
    # Version 3 is version 1 copied back in: the baseline is that model, not version 2.
    copied = os.path.join(baseline.uri, "Format-Serving")
    assert tree_hash(copied) == tree_hash(os.path.join(world.serving, "3"))
    assert tree_hash(copied) != tree_hash(os.path.join(world.serving, "2"))
    assert serving_version(world.serving) == 3


def test_a_span_whose_run_failed_is_not_retried(world, after_rollback):
    result = after_rollback["span_5"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("New span 5") == 1  # tried once, though two runs were allowed
    assert "has a header but no data rows" in result.stderr
    assert len(after_rollback["runs_of_span_5"]) == 1
    (run_id,) = after_rollback["runs_of_span_5"]
    assert world.nodes(run_id)["CsvExampleGen"].state == "FAILED"
