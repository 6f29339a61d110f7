"""End to end under ForkingDagRunner on the bundled data, asserting artifacts and ML Metadata.

Modelled on TFX's own penguin e2e test: every component executed, the blessing and the
pushed model exist, a rerun with nothing changed runs nothing (and with --recheck is served
from TFX's cache), and a span with a schema violation stops at the gate and pushes nothing.
The cold run is the session's ``penguins_run`` (tests/e2e/conftest.py), shared with
test_report.py.
"""
from __future__ import annotations

import os
import shutil

import pytest
import tensorflow as tf

from pipeline import factory
from pipeline.metadata import mlmd
from tests.conftest import DATA
from tests.e2e.helpers import STEPS, cli, nodes_of, run_id_of

pytestmark = pytest.mark.e2e


def run_cli(*args: str):
    return cli("run", *STEPS, *args)


def test_every_component_executes_on_the_latest_span(first_run, output_root):
    nodes = nodes_of(output_root, run_id_of(first_run.stdout))
    assert set(nodes) == set(factory.COMPONENT_IDS)
    assert all(n.state == "COMPLETE" for n in nodes.values())
    (examples,) = nodes["CsvExampleGen"].outputs["examples"]
    assert mlmd.prop(examples, "span") == 3
    assert "train" in mlmd.prop(examples, "split_names")
    # Every downstream consumer read that one Examples artifact.
    assert nodes["StatisticsGen"].inputs["examples"][0].id == examples.id
    assert nodes["Evaluator"].inputs["examples"][0].id == examples.id
    # Transform only analyzes; the Trainer applies its graph to the raw examples.
    assert nodes["Trainer"].inputs["examples"][0].id == examples.id
    assert "transformed_examples" not in nodes["Transform"].outputs
    for line in ("▶ Trainer", "✔ Trainer", "Model: blessed, pushed as version 1"):
        assert line in first_run.stdout


def test_model_is_blessed_and_pushed_without_a_baseline(first_run, output_root):
    nodes = nodes_of(output_root, run_id_of(first_run.stdout))
    (blessing,) = nodes["Evaluator"].outputs["blessing"]
    assert mlmd.prop(blessing, "blessed") == 1
    # The Evaluator's baseline is ServingBaseline's output, which says no model served.
    (baseline,) = nodes["ServingBaseline"].outputs["baseline_model"]
    assert [a.id for a in nodes["Evaluator"].inputs["baseline_model"]] == [baseline.id]
    assert mlmd.prop(baseline, "has_model") == 0
    (pushed,) = nodes["Pusher"].outputs["pushed_model"]
    assert mlmd.prop(pushed, "pushed") == 1
    assert mlmd.prop(pushed, "pushed_version") == "1"
    assert sorted(os.listdir(os.path.join(output_root, "serving"))) == ["1"]


def test_pushed_model_serves_raw_examples(first_run, output_root, tmp_path):
    # From a copy elsewhere: the SavedModel carries the transform graph and its vocabularies.
    copy = str(tmp_path / "served")
    shutil.copytree(os.path.join(output_root, "serving", "1"), copy)
    assert sorted(os.listdir(os.path.join(copy, "assets"))) == ["island", "sex", "species"]
    model = tf.saved_model.load(copy)
    assert {"serving_default", "transform_features"} <= set(model.signatures)
    features = {"island": [b"Biscoe"], "bill_length_mm": [47.5], "bill_depth_mm": [15.0],
                "flipper_length_mm": [218], "body_mass_g": [5200], "sex": [b"male"], "year": [2009]}

    def feature(values):
        if isinstance(values[0], bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if isinstance(values[0], float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    example = tf.train.Example(features=tf.train.Features(
        feature={k: feature(v) for k, v in features.items()}))
    out = model.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    assert out["classes"].numpy()[0] in (b"Adelie", b"Chinstrap", b"Gentoo")
    assert out["probabilities"].shape == (1, 3)
    assert abs(float(tf.reduce_sum(out["probabilities"])) - 1.0) < 1e-5


def test_rerun_with_nothing_changed_runs_nothing(penguins_run):
    """The up-to-date check answers before TFX: no new run in ML Metadata, the same outcome."""
    second = penguins_run.rerun
    assert second.returncode == 0, second.stderr
    first_id = run_id_of(penguins_run.first.stdout)
    assert f"Nothing changed since run {first_id} on span 3" in second.stdout
    assert "Model: blessed, pushed as version 1" in second.stdout
    assert "▶" not in second.stdout  # no component started
    assert penguins_run.runs_after_rerun == penguins_run.runs_before_rerun


def test_recheck_with_nothing_changed_is_served_from_the_cache(first_run, output_root):
    """What the up-to-date check skipped is what TFX's cache gives: every node CACHED. Version
    1 now serves, but it is this very candidate: its evaluation stands."""
    second = run_cli("--output-root", output_root, "--recheck")
    assert second.returncode == 0, second.stderr
    nodes = nodes_of(output_root, run_id_of(second.stdout))
    assert {n.state for n in nodes.values()} == {"CACHED"}, {
        k: n.state for k, n in nodes.items() if n.state != "CACHED"}
    assert sorted(os.listdir(os.path.join(output_root, "serving"))) == ["1"]
    # The state keying the baseline is the one the candidate was evaluated in, not version=1.
    first = nodes_of(output_root, run_id_of(first_run.stdout))
    assert (mlmd.prop(nodes["ServingBaseline"].execution, "serving_state")
            == mlmd.prop(first["ServingBaseline"].execution, "serving_state") == "version=None")


def test_schema_violation_stops_before_trainer_and_pushes_nothing(first_run, output_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    bad = data / "span-4"
    bad.mkdir()
    rows = open(os.path.join(DATA, "span-3", "penguins.csv")).read().splitlines()
    rows[1] = "Adelie,Atlantis,39.1,18.7,181,3750,male,2009"
    (bad / "penguins.csv").write_text("\n".join(rows) + "\n")
    result = run_cli("--output-root", output_root, "--data", str(data))
    assert result.returncode == 1
    failure = [l for l in result.stderr.splitlines() if "✘ ExampleValidator" in l]
    assert len(failure) == 1 and "island" in failure[0] and "Unexpected string values" in failure[0]
    nodes = nodes_of(output_root, run_id_of(result.stdout))
    assert nodes["ExampleValidator"].state == "FAILED"
    assert mlmd.prop(nodes["CsvExampleGen"].outputs["examples"][0], "span") == 4
    assert "Trainer" not in nodes and "Evaluator" not in nodes and "Pusher" not in nodes
    # Transform may have analyzed alongside StatisticsGen; the run waited for it to finish.
    assert all(n.state != "RUNNING" for n in nodes.values())
    assert sorted(os.listdir(os.path.join(output_root, "serving"))) == ["1"]
    assert "Model: not evaluated, not pushed" in result.stdout
    assert not os.path.exists(os.path.join(output_root, "last_run.json"))  # no skip after it
